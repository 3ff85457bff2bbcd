//! SMB2 QUERY_INFO (MS-SMB2 2.2.37 request, 2.2.38 response). The output buffer holds one
//! MS-FSCC structure (see [`super::fscc`]), a security descriptor, or quota entries.
use super::{Command, DecodeError, FileId, Put, Reader, RequestBody, SMB2_HEADER_LEN, slice_at};

const REQUEST_STRUCTURE_SIZE: u16 = 41;
const REQUEST_FIXED: usize = 40;
const RESPONSE_STRUCTURE_SIZE: u16 = 9;
const RESPONSE_FIXED: usize = 8;

/// InfoType (MS-SMB2 2.2.37), shared with SET_INFO.
pub mod info_type {
    pub const FILE: u8 = 0x01;
    pub const FILESYSTEM: u8 = 0x02;
    pub const SECURITY: u8 = 0x03;
    pub const QUOTA: u8 = 0x04;
}

/// AdditionalInformation for InfoType SECURITY (MS-SMB2 2.2.37).
pub mod additional_information {
    pub const OWNER_SECURITY_INFORMATION: u32 = 0x0000_0001;
    pub const GROUP_SECURITY_INFORMATION: u32 = 0x0000_0002;
    pub const DACL_SECURITY_INFORMATION: u32 = 0x0000_0004;
    pub const SACL_SECURITY_INFORMATION: u32 = 0x0000_0008;
    pub const LABEL_SECURITY_INFORMATION: u32 = 0x0000_0010;
    pub const ATTRIBUTE_SECURITY_INFORMATION: u32 = 0x0000_0020;
    pub const SCOPE_SECURITY_INFORMATION: u32 = 0x0000_0040;
    pub const BACKUP_SECURITY_INFORMATION: u32 = 0x0001_0000;
}

/// SMB2 QUERY_INFO Request (MS-SMB2 2.2.37).
///
/// `input` is the quota query or EA list some classes take; for the others it is empty and
/// InputBufferOffset "SHOULD be set to 0", as the encoder does.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QueryInfoRequest {
    /// [`info_type`].
    pub info_type: u8,
    pub file_info_class: u8,
    pub output_buffer_length: u32,
    pub additional_information: u32,
    /// SL_RESTART_SCAN and friends (quota and EA queries).
    pub flags: u32,
    pub file_id: FileId,
    pub input: Vec<u8>,
}

impl QueryInfoRequest {
    /// SL_RESTART_SCAN.
    pub const RESTART_SCAN: u32 = 0x0000_0001;
    /// SL_RETURN_SINGLE_ENTRY.
    pub const RETURN_SINGLE_ENTRY: u32 = 0x0000_0002;
    /// SL_INDEX_SPECIFIED.
    pub const INDEX_SPECIFIED: u32 = 0x0000_0004;

    /// Decode a request from a whole message (header at `msg[0]`).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "QUERY_INFO request")?;
        r.structure_size("QUERY_INFO request", REQUEST_STRUCTURE_SIZE)?;
        let info_type = r.u8("QUERY_INFO.InfoType")?;
        let file_info_class = r.u8("QUERY_INFO.FileInfoClass")?;
        let output_buffer_length = r.u32("QUERY_INFO.OutputBufferLength")?;
        let in_off = r.u16("QUERY_INFO.InputBufferOffset")?;
        r.skip(2, "QUERY_INFO.Reserved")?;
        let in_len = r.u32("QUERY_INFO.InputBufferLength")?;
        let additional_information = r.u32("QUERY_INFO.AdditionalInformation")?;
        let flags = r.u32("QUERY_INFO.Flags")?;
        let file_id = FileId::decode(&mut r)?;
        let input = slice_at(
            msg,
            "QUERY_INFO.InputBuffer",
            usize::from(in_off),
            in_len as usize,
        )?;
        Ok(Self {
            info_type,
            file_info_class,
            output_buffer_length,
            additional_information,
            flags,
            file_id,
            input: input.to_vec(),
        })
    }
}

impl RequestBody for QueryInfoRequest {
    const COMMAND: Command = Command::QUERY_INFO;

    fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let body = msg.len();
        msg.put_u16(REQUEST_STRUCTURE_SIZE);
        msg.put_u8(self.info_type);
        msg.put_u8(self.file_info_class);
        msg.put_u32(self.output_buffer_length);
        let off = if self.input.is_empty() {
            0
        } else {
            body + REQUEST_FIXED - hdr
        };
        msg.put_u16(u16::try_from(off).unwrap_or(u16::MAX));
        msg.put_u16(0); // Reserved
        msg.put_u32(u32::try_from(self.input.len()).unwrap_or(u32::MAX));
        msg.put_u32(self.additional_information);
        msg.put_u32(self.flags);
        self.file_id.encode(msg);
        debug_assert_eq!(msg.len() - body, REQUEST_FIXED);
        msg.put(&self.input);
        if self.input.is_empty() {
            msg.put_u8(0);
        }
    }

    /// The larger of input sent and output asked for (MS-SMB2 3.1.5.2). MS-SMB2 3.2.4.1.5 does
    /// not list QUERY_INFO among the multi-credit requests ("the client MUST set CreditCharge to
    /// 1"), so keep `output_buffer_length` at or below 64 KiB and this charges 1.
    fn payload_size(&self) -> u32 {
        let input = u32::try_from(self.input.len()).unwrap_or(u32::MAX);
        self.output_buffer_length.max(input)
    }
}

/// SMB2 QUERY_INFO Response (MS-SMB2 2.2.38): the raw output buffer. Also the body of a
/// STATUS_BUFFER_OVERFLOW reply (truncated data, not an ERROR body).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QueryInfoResponse {
    pub buffer: Vec<u8>,
}

impl QueryInfoResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "QUERY_INFO response")?;
        r.structure_size("QUERY_INFO response", RESPONSE_STRUCTURE_SIZE)?;
        let off = r.u16("QUERY_INFO.OutputBufferOffset")?;
        let len = r.u32("QUERY_INFO.OutputBufferLength")?;
        let buffer = slice_at(msg, "QUERY_INFO.Buffer", usize::from(off), len as usize)?;
        Ok(Self {
            buffer: buffer.to_vec(),
        })
    }

    /// Append the body to `msg`, whose header starts at `hdr` (test server).
    pub fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let body = msg.len();
        msg.put_u16(RESPONSE_STRUCTURE_SIZE);
        msg.put_u16(u16::try_from(body + RESPONSE_FIXED - hdr).unwrap_or(u16::MAX));
        msg.put_u32(u32::try_from(self.buffer.len()).unwrap_or(u32::MAX));
        msg.put(&self.buffer);
        if self.buffer.is_empty() {
            msg.put_u8(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::Header;
    use crate::smb::wire::fscc::{FileNetworkOpenInformation, info_class};
    use hex_literal::hex;

    fn header() -> Vec<u8> {
        let mut m = Vec::new();
        Header::request(Command::QUERY_INFO).encode(&mut m);
        m
    }

    #[test]
    fn request_round_trips_and_matches_layout() {
        let req = QueryInfoRequest {
            info_type: info_type::FILE,
            file_info_class: info_class::FILE_ALL_INFORMATION,
            output_buffer_length: 4096,
            additional_information: 0,
            flags: 0,
            file_id: FileId {
                persistent: 7,
                volatile: 8,
            },
            input: vec![],
        };
        let mut m = header();
        req.encode(&mut m, 0);
        let expected = [
            &hex!("2900 01 12 00100000 0000 0000 00000000 00000000 00000000")[..],
            &hex!("0700000000000000 0800000000000000 00"),
        ]
        .concat();
        assert_eq!(&m[64..], &expected[..]);
        assert_eq!(QueryInfoRequest::decode(&m).unwrap(), req);
        assert_eq!(req.payload_size(), 4096);
        let quota = QueryInfoRequest {
            info_type: info_type::QUOTA,
            input: vec![1; 24],
            flags: QueryInfoRequest::RESTART_SCAN,
            ..req
        };
        let mut m = header();
        quota.encode(&mut m, 0);
        assert_eq!(&m[72..74], &hex!("6800"));
        assert_eq!(QueryInfoRequest::decode(&m).unwrap(), quota);
    }

    #[test]
    fn response_round_trips() {
        let mut buffer = Vec::new();
        FileNetworkOpenInformation {
            end_of_file: 9,
            ..Default::default()
        }
        .encode(&mut buffer);
        let r = QueryInfoResponse { buffer };
        let mut m = header();
        r.encode(&mut m, 0);
        assert_eq!(&m[64..72], &hex!("0900 4800 38000000"));
        let d = QueryInfoResponse::decode(&m).unwrap();
        assert_eq!(d, r);
        assert_eq!(
            FileNetworkOpenInformation::decode(&d.buffer)
                .unwrap()
                .end_of_file,
            9
        );
    }

    #[test]
    fn rejects_hostile_input() {
        let mut good = header();
        QueryInfoResponse {
            buffer: vec![1; 56],
        }
        .encode(&mut good, 0);
        for n in 0..good.len() {
            assert!(QueryInfoResponse::decode(&good[..n]).is_err());
        }
        let mut m = good.clone();
        m[68..72].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            QueryInfoResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        let mut m = good;
        m[64] = 0;
        assert!(matches!(
            QueryInfoResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
        let mut q = header();
        QueryInfoRequest {
            input: vec![3; 8],
            ..Default::default()
        }
        .encode(&mut q, 0);
        for n in 0..q.len() {
            assert!(QueryInfoRequest::decode(&q[..n]).is_err());
        }
        q[76..80].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            QueryInfoRequest::decode(&q),
            Err(DecodeError::OutOfBounds { .. })
        ));
    }
}
