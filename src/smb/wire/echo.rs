//! SMB2 ECHO (MS-SMB2 2.2.28 request, 2.2.29 response): StructureSize 4 and a reserved u16.
//! Used as the keep-alive behind `echo_interval=`.
use super::{Command, DecodeError, Put, Reader, RequestBody, SMB2_HEADER_LEN};

const STRUCTURE_SIZE: u16 = 4;

/// SMB2 ECHO Request (MS-SMB2 2.2.28).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EchoRequest;

/// SMB2 ECHO Response (MS-SMB2 2.2.29).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EchoResponse;

fn decode_empty(msg: &[u8], what: &'static str) -> Result<(), DecodeError> {
    let mut r = Reader::at(msg, SMB2_HEADER_LEN, what)?;
    r.structure_size(what, STRUCTURE_SIZE)?;
    r.skip(2, "ECHO.Reserved")
}

fn encode_empty(msg: &mut Vec<u8>) {
    msg.put_u16(STRUCTURE_SIZE);
    msg.put_u16(0); // Reserved
}

impl EchoRequest {
    /// Decode a request from a whole message (header at `msg[0]`).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        decode_empty(msg, "ECHO request").map(|()| Self)
    }
}

impl RequestBody for EchoRequest {
    const COMMAND: Command = Command::ECHO;

    fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        encode_empty(msg);
    }
}

impl EchoResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        decode_empty(msg, "ECHO response").map(|()| Self)
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
        Header::request(Command::ECHO).encode(&mut m);
        let mut req = m.clone();
        EchoRequest.encode(&mut req, 0);
        assert_eq!(&req[64..], &[4, 0, 0, 0]);
        assert_eq!(EchoRequest::decode(&req), Ok(EchoRequest));
        EchoResponse.encode(&mut m, 0);
        assert_eq!(EchoResponse::decode(&m), Ok(EchoResponse));
        for n in 0..m.len() {
            assert!(EchoResponse::decode(&m[..n]).is_err());
        }
        m[64] = 0;
        assert!(matches!(
            EchoResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
    }
}
