//! SMB2 CLOSE (MS-SMB2 2.2.15 request, 2.2.16 response).
use super::{Command, DecodeError, FileId, Put, Reader, RequestBody, SMB2_HEADER_LEN};

const REQUEST_STRUCTURE_SIZE: u16 = 24;
const RESPONSE_STRUCTURE_SIZE: u16 = 60;

/// SMB2 CLOSE Request (MS-SMB2 2.2.15).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CloseRequest {
    /// 0 or [`CloseRequest::POSTQUERY_ATTRIB`].
    pub flags: u16,
    pub file_id: FileId,
}

impl CloseRequest {
    /// SMB2_CLOSE_FLAG_POSTQUERY_ATTRIB: ask for the attributes in the response (otherwise the
    /// server zeroes them).
    pub const POSTQUERY_ATTRIB: u16 = 0x0001;

    /// Decode a request from a whole message (header at `msg[0]`).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "CLOSE request")?;
        r.structure_size("CLOSE request", REQUEST_STRUCTURE_SIZE)?;
        let flags = r.u16("CLOSE.Flags")?;
        r.skip(4, "CLOSE.Reserved")?;
        Ok(Self {
            flags,
            file_id: FileId::decode(&mut r)?,
        })
    }
}

impl RequestBody for CloseRequest {
    const COMMAND: Command = Command::CLOSE;

    fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        msg.put_u16(REQUEST_STRUCTURE_SIZE);
        msg.put_u16(self.flags);
        msg.put_u32(0); // Reserved
        self.file_id.encode(msg);
    }
}

/// SMB2 CLOSE Response (MS-SMB2 2.2.16). Without POSTQUERY_ATTRIB in the request every field
/// but `flags` "MUST be set to zero". Times are FILETIMEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CloseResponse {
    pub flags: u16,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub allocation_size: u64,
    pub end_of_file: u64,
    pub file_attributes: u32,
}

impl CloseResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "CLOSE response")?;
        r.structure_size("CLOSE response", RESPONSE_STRUCTURE_SIZE)?;
        let flags = r.u16("CLOSE.Flags")?;
        r.skip(4, "CLOSE.Reserved")?;
        Ok(Self {
            flags,
            creation_time: r.u64("CLOSE.CreationTime")?,
            last_access_time: r.u64("CLOSE.LastAccessTime")?,
            last_write_time: r.u64("CLOSE.LastWriteTime")?,
            change_time: r.u64("CLOSE.ChangeTime")?,
            allocation_size: r.u64("CLOSE.AllocationSize")?,
            end_of_file: r.u64("CLOSE.EndofFile")?,
            file_attributes: r.u32("CLOSE.FileAttributes")?,
        })
    }

    /// Append the body to `msg` (test server).
    pub fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        msg.put_u16(RESPONSE_STRUCTURE_SIZE);
        msg.put_u16(self.flags);
        msg.put_u32(0);
        msg.put_u64(self.creation_time);
        msg.put_u64(self.last_access_time);
        msg.put_u64(self.last_write_time);
        msg.put_u64(self.change_time);
        msg.put_u64(self.allocation_size);
        msg.put_u64(self.end_of_file);
        msg.put_u32(self.file_attributes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::Header;
    use hex_literal::hex;

    fn header() -> Vec<u8> {
        let mut m = Vec::new();
        Header::request(Command::CLOSE).encode(&mut m);
        m
    }

    #[test]
    fn request_round_trips_and_matches_layout() {
        let req = CloseRequest {
            flags: CloseRequest::POSTQUERY_ATTRIB,
            file_id: FileId {
                persistent: 1,
                volatile: 2,
            },
        };
        let mut m = header();
        req.encode(&mut m, 0);
        assert_eq!(
            &m[64..],
            &hex!("1800 0100 00000000 0100000000000000 0200000000000000")
        );
        assert_eq!(CloseRequest::decode(&m).unwrap(), req);
        for n in 0..m.len() {
            assert!(CloseRequest::decode(&m[..n]).is_err());
        }
    }

    #[test]
    fn response_round_trips_and_rejects_bad_input() {
        let r = CloseResponse {
            flags: CloseRequest::POSTQUERY_ATTRIB,
            creation_time: 1,
            last_access_time: 2,
            last_write_time: 3,
            change_time: 4,
            allocation_size: 4096,
            end_of_file: 10,
            file_attributes: 0x20,
        };
        let mut m = header();
        r.encode(&mut m, 0);
        assert_eq!(m.len(), 64 + 60);
        assert_eq!(&m[64..72], &hex!("3c00 0100 00000000"));
        assert_eq!(&m[120..124], &hex!("20000000"));
        assert_eq!(CloseResponse::decode(&m).unwrap(), r);
        for n in 0..m.len() {
            assert!(CloseResponse::decode(&m[..n]).is_err());
        }
        m[64] = 61;
        assert!(matches!(
            CloseResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
    }
}
