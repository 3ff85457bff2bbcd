//! SMB2 FLUSH (MS-SMB2 2.2.17 request, 2.2.18 response): `fsync` on an open.
use super::{Command, DecodeError, FileId, Put, Reader, RequestBody, SMB2_HEADER_LEN};

const REQUEST_STRUCTURE_SIZE: u16 = 24;
const RESPONSE_STRUCTURE_SIZE: u16 = 4;

/// SMB2 FLUSH Request (MS-SMB2 2.2.17): Reserved1 (2), Reserved2 (4), FileId.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlushRequest {
    pub file_id: FileId,
}

impl FlushRequest {
    /// Decode a request from a whole message (header at `msg[0]`).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "FLUSH request")?;
        r.structure_size("FLUSH request", REQUEST_STRUCTURE_SIZE)?;
        r.skip(6, "FLUSH.Reserved")?;
        Ok(Self {
            file_id: FileId::decode(&mut r)?,
        })
    }
}

impl RequestBody for FlushRequest {
    const COMMAND: Command = Command::FLUSH;

    fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        msg.put_u16(REQUEST_STRUCTURE_SIZE);
        msg.put_u16(0); // Reserved1
        msg.put_u32(0); // Reserved2
        self.file_id.encode(msg);
    }
}

/// SMB2 FLUSH Response (MS-SMB2 2.2.18).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlushResponse;

impl FlushResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "FLUSH response")?;
        r.structure_size("FLUSH response", RESPONSE_STRUCTURE_SIZE)?;
        r.skip(2, "FLUSH.Reserved")?;
        Ok(Self)
    }

    /// Append the body to `msg` (test server).
    pub fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        msg.put_u16(RESPONSE_STRUCTURE_SIZE);
        msg.put_u16(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::Header;
    use hex_literal::hex;

    fn header() -> Vec<u8> {
        let mut m = Vec::new();
        Header::request(Command::FLUSH).encode(&mut m);
        m
    }

    #[test]
    fn round_trips_golden_and_rejects_bad_input() {
        let req = FlushRequest {
            file_id: FileId {
                persistent: 0xAA,
                volatile: 0xBB,
            },
        };
        let mut m = header();
        req.encode(&mut m, 0);
        assert_eq!(
            &m[64..],
            &hex!("1800 0000 00000000 aa00000000000000 bb00000000000000")
        );
        assert_eq!(FlushRequest::decode(&m).unwrap(), req);
        for n in 0..m.len() {
            assert!(FlushRequest::decode(&m[..n]).is_err());
        }
        let mut m = header();
        FlushResponse.encode(&mut m, 0);
        assert_eq!(&m[64..], &[4, 0, 0, 0]);
        assert_eq!(FlushResponse::decode(&m), Ok(FlushResponse));
        assert!(FlushResponse::decode(&m[..67]).is_err());
        m[64] = 2;
        assert!(matches!(
            FlushResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
    }
}
