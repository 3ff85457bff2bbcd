//! SMB2 LOGOFF (MS-SMB2 2.2.7 request, 2.2.8 response): StructureSize 4 and a reserved u16.
use super::{Command, DecodeError, Put, Reader, RequestBody, SMB2_HEADER_LEN};

const STRUCTURE_SIZE: u16 = 4;

/// SMB2 LOGOFF Request (MS-SMB2 2.2.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LogoffRequest;

/// SMB2 LOGOFF Response (MS-SMB2 2.2.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LogoffResponse;

fn decode_empty(msg: &[u8], what: &'static str) -> Result<(), DecodeError> {
    let mut r = Reader::at(msg, SMB2_HEADER_LEN, what)?;
    r.structure_size(what, STRUCTURE_SIZE)?;
    r.skip(2, "LOGOFF.Reserved")
}

fn encode_empty(msg: &mut Vec<u8>) {
    msg.put_u16(STRUCTURE_SIZE);
    msg.put_u16(0); // Reserved
}

impl LogoffRequest {
    /// Decode a request from a whole message (header at `msg[0]`).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        decode_empty(msg, "LOGOFF request").map(|()| Self)
    }
}

impl RequestBody for LogoffRequest {
    const COMMAND: Command = Command::LOGOFF;

    fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        encode_empty(msg);
    }
}

impl LogoffResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        decode_empty(msg, "LOGOFF response").map(|()| Self)
    }

    /// Append the body to `msg` (test server).
    pub fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        encode_empty(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::Header;

    #[test]
    fn round_trips_golden_and_rejects_bad_input() {
        let mut m = Vec::new();
        Header::request(Command::LOGOFF).encode(&mut m);
        let mut req = m.clone();
        LogoffRequest.encode(&mut req, 0);
        assert_eq!(&req[64..], &[4, 0, 0, 0]);
        assert_eq!(LogoffRequest::decode(&req), Ok(LogoffRequest));
        LogoffResponse.encode(&mut m, 0);
        assert_eq!(LogoffResponse::decode(&m), Ok(LogoffResponse));
        for n in 0..m.len() {
            assert!(LogoffResponse::decode(&m[..n]).is_err());
        }
        m[64] = 9;
        assert!(matches!(
            LogoffResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
    }
}
