//! SMB2 SET_INFO (MS-SMB2 2.2.39 request, 2.2.40 response): rename, delete-on-close, truncate,
//! times and attributes, via the MS-FSCC structures in [`super::fscc`].
use super::{Command, DecodeError, FileId, Put, Reader, RequestBody, SMB2_HEADER_LEN, slice_at};

pub use super::query_info::info_type;

const REQUEST_STRUCTURE_SIZE: u16 = 33;
const REQUEST_FIXED: usize = 32;
const RESPONSE_STRUCTURE_SIZE: u16 = 2;

/// SMB2 SET_INFO Request (MS-SMB2 2.2.39). The buffer follows the fixed part (BufferOffset
/// 0x60).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SetInfoRequest {
    /// [`info_type`].
    pub info_type: u8,
    pub file_info_class: u8,
    pub additional_information: u32,
    pub file_id: FileId,
    pub buffer: Vec<u8>,
}

impl SetInfoRequest {
    /// Decode a request from a whole message (header at `msg[0]`).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "SET_INFO request")?;
        r.structure_size("SET_INFO request", REQUEST_STRUCTURE_SIZE)?;
        let info_type = r.u8("SET_INFO.InfoType")?;
        let file_info_class = r.u8("SET_INFO.FileInfoClass")?;
        let len = r.u32("SET_INFO.BufferLength")?;
        let off = r.u16("SET_INFO.BufferOffset")?;
        r.skip(2, "SET_INFO.Reserved")?;
        let additional_information = r.u32("SET_INFO.AdditionalInformation")?;
        let file_id = FileId::decode(&mut r)?;
        let buffer = slice_at(msg, "SET_INFO.Buffer", usize::from(off), len as usize)?;
        Ok(Self {
            info_type,
            file_info_class,
            additional_information,
            file_id,
            buffer: buffer.to_vec(),
        })
    }
}

impl RequestBody for SetInfoRequest {
    const COMMAND: Command = Command::SET_INFO;

    fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let body = msg.len();
        msg.put_u16(REQUEST_STRUCTURE_SIZE);
        msg.put_u8(self.info_type);
        msg.put_u8(self.file_info_class);
        msg.put_u32(u32::try_from(self.buffer.len()).unwrap_or(u32::MAX));
        // BufferOffset: "from the beginning of the SMB2 header to the information to be set".
        msg.put_u16(u16::try_from(body + REQUEST_FIXED - hdr).unwrap_or(u16::MAX));
        msg.put_u16(0); // Reserved
        msg.put_u32(self.additional_information);
        self.file_id.encode(msg);
        debug_assert_eq!(msg.len() - body, REQUEST_FIXED);
        msg.put(&self.buffer);
        if self.buffer.is_empty() {
            msg.put_u8(0);
        }
    }

    // No payload_size: MS-SMB2 3.2.4.1.5 makes only READ, WRITE, IOCTL and QUERY_DIRECTORY
    // multi-credit ("For all other requests, the client MUST set CreditCharge to 1").
}

/// SMB2 SET_INFO Response (MS-SMB2 2.2.40): StructureSize 2 and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SetInfoResponse;

impl SetInfoResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "SET_INFO response")?;
        r.structure_size("SET_INFO response", RESPONSE_STRUCTURE_SIZE)?;
        Ok(Self)
    }

    /// Append the body to `msg` (test server).
    pub fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        msg.put_u16(RESPONSE_STRUCTURE_SIZE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::Header;
    use crate::smb::wire::fscc::FileRenameInformation;
    use hex_literal::hex;

    fn header() -> Vec<u8> {
        let mut m = Vec::new();
        Header::request(Command::SET_INFO).encode(&mut m);
        m
    }

    #[test]
    fn request_round_trips_and_matches_layout() {
        let mut buffer = Vec::new();
        FileRenameInformation {
            replace_if_exists: false,
            root_directory: 0,
            file_name: "b".into(),
        }
        .encode(&mut buffer);
        let req = SetInfoRequest {
            info_type: info_type::FILE,
            file_info_class: FileRenameInformation::CLASS,
            additional_information: 0,
            file_id: FileId {
                persistent: 1,
                volatile: 1,
            },
            buffer,
        };
        let mut m = header();
        req.encode(&mut m, 0);
        let expected = [
            &hex!("2100 01 0a 16000000 6000 0000 00000000")[..],
            &hex!("0100000000000000 0100000000000000"),
            &hex!("00 00000000000000 0000000000000000 02000000 6200"),
        ]
        .concat();
        assert_eq!(&m[64..], &expected[..]);
        assert_eq!(SetInfoRequest::decode(&m).unwrap(), req);
        assert_eq!(req.payload_size(), 0, "charged 1 credit");
        let empty = SetInfoRequest::default();
        let mut m = header();
        empty.encode(&mut m, 0);
        assert_eq!(SetInfoRequest::decode(&m).unwrap(), empty);
    }

    #[test]
    fn response_and_hostile_input() {
        let mut m = header();
        SetInfoResponse.encode(&mut m, 0);
        assert_eq!(&m[64..], &[2, 0]);
        assert_eq!(SetInfoResponse::decode(&m), Ok(SetInfoResponse));
        assert!(SetInfoResponse::decode(&m[..65]).is_err());
        m[64] = 9;
        assert!(matches!(
            SetInfoResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
        let mut q = header();
        SetInfoRequest {
            buffer: vec![1; 8],
            ..Default::default()
        }
        .encode(&mut q, 0);
        for n in 0..q.len() {
            assert!(SetInfoRequest::decode(&q[..n]).is_err());
        }
        q[68..72].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            SetInfoRequest::decode(&q),
            Err(DecodeError::OutOfBounds { .. })
        ));
    }
}
