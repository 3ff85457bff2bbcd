//! SMB2 SESSION_SETUP (MS-SMB2 2.2.5 request, 2.2.6 response): carries the GSS (SPNEGO/NTLMSSP)
//! tokens of the authentication exchange.
use super::{Command, DecodeError, Put, Reader, RequestBody, SMB2_HEADER_LEN, slice_at};

const REQUEST_STRUCTURE_SIZE: u16 = 25;
const REQUEST_FIXED: usize = 24;
const RESPONSE_STRUCTURE_SIZE: u16 = 9;
const RESPONSE_FIXED: usize = 8;

/// SecurityMode bits of the request (MS-SMB2 2.2.5; one byte here, unlike NEGOTIATE).
pub mod security_mode {
    pub const SIGNING_ENABLED: u8 = 0x01;
    pub const SIGNING_REQUIRED: u8 = 0x02;
}

/// SMB2 SESSION_SETUP Request (MS-SMB2 2.2.5). Channel is always sent as 0 (no RDMA).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SessionSetupRequest {
    /// 0, or [`SessionSetupRequest::BINDING`] to bind a new channel to an existing session.
    pub flags: u8,
    pub security_mode: u8,
    /// Only DFS is defined here ("the client MUST ... ignore" the rest on receipt).
    pub capabilities: u32,
    pub previous_session_id: u64,
    pub security_buffer: Vec<u8>,
}

impl SessionSetupRequest {
    /// SMB2_SESSION_FLAG_BINDING (MS-SMB2 2.2.5 Flags).
    pub const BINDING: u8 = 0x01;

    /// Decode a request from a whole message (header at `msg[0]`), for the test server.
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "SESSION_SETUP request")?;
        r.structure_size("SESSION_SETUP request", REQUEST_STRUCTURE_SIZE)?;
        let flags = r.u8("SESSION_SETUP.Flags")?;
        let security_mode = r.u8("SESSION_SETUP.SecurityMode")?;
        let capabilities = r.u32("SESSION_SETUP.Capabilities")?;
        r.skip(4, "SESSION_SETUP.Channel")?;
        let off = r.u16("SESSION_SETUP.SecurityBufferOffset")?;
        let len = r.u16("SESSION_SETUP.SecurityBufferLength")?;
        let previous_session_id = r.u64("SESSION_SETUP.PreviousSessionId")?;
        let security_buffer = slice_at(
            msg,
            "SESSION_SETUP.Buffer",
            usize::from(off),
            usize::from(len),
        )?
        .to_vec();
        Ok(Self {
            flags,
            security_mode,
            capabilities,
            previous_session_id,
            security_buffer,
        })
    }
}

impl RequestBody for SessionSetupRequest {
    const COMMAND: Command = Command::SESSION_SETUP;

    fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let body = msg.len();
        msg.put_u16(REQUEST_STRUCTURE_SIZE);
        msg.put_u8(self.flags);
        msg.put_u8(self.security_mode);
        msg.put_u32(self.capabilities);
        msg.put_u32(0); // Channel: "MUST NOT be used and MUST be reserved"
        let off_at = msg.len();
        msg.put_u16(0);
        msg.put_u16(len16(self.security_buffer.len()));
        msg.put_u64(self.previous_session_id);
        debug_assert_eq!(msg.len() - body, REQUEST_FIXED);
        msg.set_u16(off_at, len16(msg.len() - hdr));
        msg.put(&self.security_buffer);
        if self.security_buffer.is_empty() {
            msg.put_u8(0);
        }
    }
}

/// SMB2 SESSION_SETUP Response (MS-SMB2 2.2.6). Also sent with STATUS_MORE_PROCESSING_REQUIRED
/// (a success-shaped body, not an ERROR body) during multi-leg authentication.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SessionSetupResponse {
    pub session_flags: u16,
    pub security_buffer: Vec<u8>,
}

impl SessionSetupResponse {
    /// SMB2_SESSION_FLAG_IS_GUEST: logged in as guest (no signing key).
    pub const IS_GUEST: u16 = 0x0001;
    /// SMB2_SESSION_FLAG_IS_NULL: anonymous session.
    pub const IS_NULL: u16 = 0x0002;
    /// SMB2_SESSION_FLAG_ENCRYPT_DATA (3.x): every message of the session must be encrypted.
    pub const ENCRYPT_DATA: u16 = 0x0004;

    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "SESSION_SETUP response")?;
        r.structure_size("SESSION_SETUP response", RESPONSE_STRUCTURE_SIZE)?;
        let session_flags = r.u16("SESSION_SETUP.SessionFlags")?;
        let off = r.u16("SESSION_SETUP.SecurityBufferOffset")?;
        let len = r.u16("SESSION_SETUP.SecurityBufferLength")?;
        let security_buffer = slice_at(
            msg,
            "SESSION_SETUP.Buffer",
            usize::from(off),
            usize::from(len),
        )?
        .to_vec();
        Ok(Self {
            session_flags,
            security_buffer,
        })
    }

    /// Append the body to `msg`, whose header starts at `hdr` (test server).
    pub fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let body = msg.len();
        msg.put_u16(RESPONSE_STRUCTURE_SIZE);
        msg.put_u16(self.session_flags);
        let off_at = msg.len();
        msg.put_u16(0);
        msg.put_u16(len16(self.security_buffer.len()));
        debug_assert_eq!(msg.len() - body, RESPONSE_FIXED);
        msg.set_u16(off_at, len16(msg.len() - hdr));
        msg.put(&self.security_buffer);
        if self.security_buffer.is_empty() {
            msg.put_u8(0);
        }
    }
}

/// A length or offset for a u16 field; an oversized one saturates (encoders cannot fail, and
/// GSS tokens are far below 64 KiB).
fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::Header;
    use hex_literal::hex;

    fn header(cmd: Command) -> Vec<u8> {
        let mut m = Vec::new();
        Header::request(cmd).encode(&mut m);
        m
    }

    fn request() -> SessionSetupRequest {
        SessionSetupRequest {
            flags: 0,
            security_mode: security_mode::SIGNING_ENABLED,
            capabilities: 1,
            previous_session_id: 0x1122_3344_5566_7788,
            security_buffer: b"NTLMSSP\0\x01\0\0\0".to_vec(),
        }
    }

    #[test]
    fn request_round_trips_and_matches_layout() {
        let req = request();
        let mut m = header(Command::SESSION_SETUP);
        req.encode(&mut m, 0);
        assert_eq!(
            &m[64..88],
            &hex!("1900 00 01 01000000 00000000 5800 0c00 8877665544332211")
        );
        assert_eq!(&m[88..], b"NTLMSSP\0\x01\0\0\0");
        assert_eq!(SessionSetupRequest::decode(&m).unwrap(), req);
        let empty = SessionSetupRequest::default();
        let mut m = header(Command::SESSION_SETUP);
        empty.encode(&mut m, 0);
        assert_eq!(m.len(), 64 + 25);
        assert_eq!(SessionSetupRequest::decode(&m).unwrap(), empty);
    }

    #[test]
    fn offsets_count_from_the_header_not_the_buffer_start() {
        let mut m = vec![0xEE; 8]; // a previous message in a compound
        let mut h = Vec::new();
        Header::request(Command::SESSION_SETUP).encode(&mut h);
        m.extend_from_slice(&h);
        request().encode(&mut m, 8);
        assert_eq!(SessionSetupRequest::decode(&m[8..]).unwrap(), request());
    }

    #[test]
    fn response_round_trips_and_matches_layout() {
        let r = SessionSetupResponse {
            session_flags: SessionSetupResponse::IS_GUEST,
            security_buffer: vec![0xA1, 0x07, 0x30, 0x05],
        };
        let mut m = header(Command::SESSION_SETUP);
        r.encode(&mut m, 0);
        assert_eq!(&m[64..], &hex!("0900 0100 4800 0400 a1073005"));
        assert_eq!(SessionSetupResponse::decode(&m).unwrap(), r);
        let e = SessionSetupResponse::default();
        let mut m = header(Command::SESSION_SETUP);
        e.encode(&mut m, 0);
        assert_eq!(SessionSetupResponse::decode(&m).unwrap(), e);
    }

    #[test]
    fn rejects_hostile_responses() {
        let mut good = header(Command::SESSION_SETUP);
        SessionSetupResponse {
            session_flags: 0,
            security_buffer: vec![1; 40],
        }
        .encode(&mut good, 0);
        for n in 0..good.len() {
            assert!(
                SessionSetupResponse::decode(&good[..n]).is_err(),
                "prefix {n}"
            );
            let _ = SessionSetupRequest::decode(&good[..n]);
        }
        let mut m = good.clone();
        m[64] = 8;
        assert!(matches!(
            SessionSetupResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
        let mut m = good.clone();
        m[68..70].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert!(matches!(
            SessionSetupResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        let mut m = good;
        m[70..72].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert!(matches!(
            SessionSetupResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        let mut m = header(Command::SESSION_SETUP);
        request().encode(&mut m, 0);
        m[64 + 12..64 + 14].copy_from_slice(&0xFFF0u16.to_le_bytes());
        assert!(SessionSetupRequest::decode(&m).is_err());
    }
}
