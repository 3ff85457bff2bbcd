//! SMB2 TREE_CONNECT (MS-SMB2 2.2.9 request, 2.2.10 response) and TREE_DISCONNECT (2.2.11
//! request, 2.2.12 response).
use super::{
    Command, DecodeError, Put, Reader, RequestBody, SMB2_HEADER_LEN, from_utf16le, slice_at,
    utf16le,
};

const REQUEST_STRUCTURE_SIZE: u16 = 9;
const REQUEST_FIXED: usize = 8;
const RESPONSE_STRUCTURE_SIZE: u16 = 16;
const DISCONNECT_STRUCTURE_SIZE: u16 = 4;

/// TREE_CONNECT request Flags (MS-SMB2 2.2.9; 3.1.1 only, Reserved before).
pub mod flags {
    pub const CLUSTER_RECONNECT: u16 = 0x0001;
    pub const REDIRECT_TO_OWNER: u16 = 0x0002;
    /// An SMB2_TREE_CONNECT_REQUEST_EXTENSION follows; not produced or parsed by this codec.
    pub const EXTENSION_PRESENT: u16 = 0x0004;
}

/// ShareType (MS-SMB2 2.2.10).
pub mod share_type {
    pub const DISK: u8 = 0x01;
    pub const PIPE: u8 = 0x02;
    pub const PRINT: u8 = 0x03;
}

/// ShareFlags (MS-SMB2 2.2.10). The caching policy is the 2-bit field `CACHING_MASK`.
pub mod share_flags {
    pub const MANUAL_CACHING: u32 = 0x0000_0000;
    pub const AUTO_CACHING: u32 = 0x0000_0010;
    pub const VDO_CACHING: u32 = 0x0000_0020;
    pub const NO_CACHING: u32 = 0x0000_0030;
    pub const CACHING_MASK: u32 = 0x0000_0030;
    pub const DFS: u32 = 0x0000_0001;
    pub const DFS_ROOT: u32 = 0x0000_0002;
    pub const RESTRICT_EXCLUSIVE_OPENS: u32 = 0x0000_0100;
    pub const FORCE_SHARED_DELETE: u32 = 0x0000_0200;
    pub const ALLOW_NAMESPACE_CACHING: u32 = 0x0000_0400;
    pub const ACCESS_BASED_DIRECTORY_ENUM: u32 = 0x0000_0800;
    pub const FORCE_LEVELII_OPLOCK: u32 = 0x0000_1000;
    pub const ENABLE_HASH_V1: u32 = 0x0000_2000;
    pub const ENABLE_HASH_V2: u32 = 0x0000_4000;
    /// SMB2_SHAREFLAG_ENCRYPT_DATA: messages on this tree must be encrypted (3.x).
    pub const ENCRYPT_DATA: u32 = 0x0000_8000;
    pub const IDENTITY_REMOTING: u32 = 0x0004_0000;
    pub const COMPRESS_DATA: u32 = 0x0010_0000;
    pub const ISOLATED_TRANSPORT: u32 = 0x0020_0000;
}

/// Share Capabilities (MS-SMB2 2.2.10).
pub mod share_capabilities {
    pub const DFS: u32 = 0x0000_0008;
    pub const CONTINUOUS_AVAILABILITY: u32 = 0x0000_0010;
    pub const SCALEOUT: u32 = 0x0000_0020;
    pub const CLUSTER: u32 = 0x0000_0040;
    pub const ASYMMETRIC: u32 = 0x0000_0080;
    pub const REDIRECT_TO_OWNER: u32 = 0x0000_0100;
}

/// SMB2 TREE_CONNECT Request (MS-SMB2 2.2.9). `path` is `\\server\share`, sent as UTF-16LE.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TreeConnectRequest {
    pub flags: u16,
    pub path: String,
}

impl TreeConnectRequest {
    /// Decode a request from a whole message (header at `msg[0]`). PathOffset is read as
    /// header-relative (the request extension of 3.1.1 is not supported).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "TREE_CONNECT request")?;
        r.structure_size("TREE_CONNECT request", REQUEST_STRUCTURE_SIZE)?;
        let flags = r.u16("TREE_CONNECT.Flags")?;
        let off = r.u16("TREE_CONNECT.PathOffset")?;
        let len = r.u16("TREE_CONNECT.PathLength")?;
        let path = slice_at(msg, "TREE_CONNECT.Path", usize::from(off), usize::from(len))?;
        Ok(Self {
            flags,
            path: from_utf16le("TREE_CONNECT.Path", path)?,
        })
    }
}

impl RequestBody for TreeConnectRequest {
    const COMMAND: Command = Command::TREE_CONNECT;

    fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let path = utf16le(&self.path);
        let body = msg.len();
        msg.put_u16(REQUEST_STRUCTURE_SIZE);
        msg.put_u16(self.flags);
        // PathOffset: "from the beginning of the SMB2 header to the full share path name".
        msg.put_u16(len16(msg.len() + 4 - hdr));
        msg.put_u16(len16(path.len()));
        debug_assert_eq!(msg.len() - body, REQUEST_FIXED);
        msg.put(&path);
        if path.is_empty() {
            msg.put_u8(0);
        }
    }
}

/// SMB2 TREE_CONNECT Response (MS-SMB2 2.2.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TreeConnectResponse {
    pub share_type: u8,
    pub share_flags: u32,
    pub capabilities: u32,
    /// The access mask the user has on the share root (MS-DTYP ACCESS_MASK).
    pub maximal_access: u32,
}

impl TreeConnectResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "TREE_CONNECT response")?;
        r.structure_size("TREE_CONNECT response", RESPONSE_STRUCTURE_SIZE)?;
        let share_type = r.u8("TREE_CONNECT.ShareType")?;
        r.skip(1, "TREE_CONNECT.Reserved")?;
        Ok(Self {
            share_type,
            share_flags: r.u32("TREE_CONNECT.ShareFlags")?,
            capabilities: r.u32("TREE_CONNECT.Capabilities")?,
            maximal_access: r.u32("TREE_CONNECT.MaximalAccess")?,
        })
    }

    /// Append the body to `msg` (test server).
    pub fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        msg.put_u16(RESPONSE_STRUCTURE_SIZE);
        msg.put_u8(self.share_type);
        msg.put_u8(0);
        msg.put_u32(self.share_flags);
        msg.put_u32(self.capabilities);
        msg.put_u32(self.maximal_access);
    }
}

/// SMB2 TREE_DISCONNECT Request (MS-SMB2 2.2.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TreeDisconnectRequest;

/// SMB2 TREE_DISCONNECT Response (MS-SMB2 2.2.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TreeDisconnectResponse;

fn decode_disconnect(msg: &[u8], what: &'static str) -> Result<(), DecodeError> {
    let mut r = Reader::at(msg, SMB2_HEADER_LEN, what)?;
    r.structure_size(what, DISCONNECT_STRUCTURE_SIZE)?;
    r.skip(2, "TREE_DISCONNECT.Reserved")
}

fn encode_disconnect(msg: &mut Vec<u8>) {
    msg.put_u16(DISCONNECT_STRUCTURE_SIZE);
    msg.put_u16(0);
}

impl TreeDisconnectRequest {
    /// Decode a request from a whole message (header at `msg[0]`).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        decode_disconnect(msg, "TREE_DISCONNECT request").map(|()| Self)
    }
}

impl RequestBody for TreeDisconnectRequest {
    const COMMAND: Command = Command::TREE_DISCONNECT;

    fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        encode_disconnect(msg);
    }
}

impl TreeDisconnectResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        decode_disconnect(msg, "TREE_DISCONNECT response").map(|()| Self)
    }

    /// Append the body to `msg` (test server).
    pub fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        encode_disconnect(msg);
    }
}

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

    #[test]
    fn request_round_trips_and_matches_layout() {
        let req = TreeConnectRequest {
            flags: 0,
            path: r"\\srv\share".into(),
        };
        let mut m = header(Command::TREE_CONNECT);
        req.encode(&mut m, 0);
        assert_eq!(&m[64..72], &hex!("0900 0000 4800 1600"));
        assert_eq!(&m[72..], &utf16le(r"\\srv\share")[..]);
        assert_eq!(TreeConnectRequest::decode(&m).unwrap(), req);
        let empty = TreeConnectRequest::default();
        let mut m = header(Command::TREE_CONNECT);
        empty.encode(&mut m, 0);
        assert_eq!(m.len(), 64 + 9);
        assert_eq!(TreeConnectRequest::decode(&m).unwrap(), empty);
    }

    #[test]
    fn response_round_trips_and_matches_layout() {
        let r = TreeConnectResponse {
            share_type: share_type::DISK,
            share_flags: share_flags::ENCRYPT_DATA | share_flags::NO_CACHING,
            capabilities: 0,
            maximal_access: 0x001F_01FF,
        };
        let mut m = header(Command::TREE_CONNECT);
        r.encode(&mut m, 0);
        assert_eq!(&m[64..], &hex!("1000 01 00 30800000 00000000 ff011f00"));
        assert_eq!(TreeConnectResponse::decode(&m).unwrap(), r);
        for n in 0..m.len() {
            assert!(TreeConnectResponse::decode(&m[..n]).is_err());
        }
        m[64] = 17;
        assert!(matches!(
            TreeConnectResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
    }

    #[test]
    fn disconnect_round_trips() {
        let mut m = header(Command::TREE_DISCONNECT);
        TreeDisconnectRequest.encode(&mut m, 0);
        assert_eq!(&m[64..], &[4, 0, 0, 0]);
        assert_eq!(TreeDisconnectRequest::decode(&m), Ok(TreeDisconnectRequest));
        let mut m = header(Command::TREE_DISCONNECT);
        TreeDisconnectResponse.encode(&mut m, 0);
        assert_eq!(
            TreeDisconnectResponse::decode(&m),
            Ok(TreeDisconnectResponse)
        );
        assert!(TreeDisconnectResponse::decode(&m[..66]).is_err());
    }

    #[test]
    fn rejects_hostile_requests() {
        let mut m = header(Command::TREE_CONNECT);
        TreeConnectRequest {
            flags: 0,
            path: r"\\a\b".into(),
        }
        .encode(&mut m, 0);
        for n in 0..m.len() {
            assert!(TreeConnectRequest::decode(&m[..n]).is_err());
        }
        let mut x = m.clone();
        x[68..70].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert!(matches!(
            TreeConnectRequest::decode(&x),
            Err(DecodeError::OutOfBounds { .. })
        ));
        let mut x = m;
        x[70] = 3; // odd path length
        assert!(TreeConnectRequest::decode(&x).is_err());
    }
}
