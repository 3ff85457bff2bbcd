//! Pure SMB2/3 wire codecs: bytes in, typed messages out, and back.
//!
//! Conventions (every command file follows them):
//! - One file per command (MS-SMB2 2.2.x): the request type with `encode`, the response type with
//!   `decode`, and tests at the bottom.
//! - Requests implement [`RequestBody`]; `encode` appends the body to `msg`, whose SMB2 header
//!   starts at `hdr` (buffer offsets in SMB2 count from the header, MS-SMB2 2.2.1).
//! - Responses decode from the *whole* message (header included), because every Offset field
//!   counts from the start of the header. Every Offset/Length pair goes through [`slice_at`];
//!   every fixed field through [`Reader`], which never reads past its declared end.
//! - No `unwrap` on anything from the network; allocation sized by the peer is capped.
pub mod close;
mod codec;
pub mod create;
pub mod echo;
pub mod error;
pub mod flush;
pub mod fscc;
pub mod header;
pub mod ids;
pub mod ioctl;
pub mod lease;
pub mod logoff;
pub mod nbss;
pub mod negotiate;
pub mod query_directory;
pub mod query_info;
pub mod read;
pub mod session_setup;
pub mod set_info;
pub mod status;
pub mod transform;
pub mod tree_connect;
pub mod write;

pub use codec::{DecodeError, Put, Reader, slice_at};
pub use header::{Command, Header, HeaderFlags, SMB2_HEADER_LEN};
pub use ids::{AsyncId, FileId, MessageId, SessionId, TreeId};
pub use status::NtStatus;

/// Size of one credit's worth of payload (MS-SMB2 3.1.5.2): a request of N bytes costs
/// `1 + (N - 1) / 65536` credits.
pub const CREDIT_UNIT: u32 = 65536;

/// A request body: what `proto` needs to frame, charge and send it.
pub trait RequestBody {
    /// The command code written in the header.
    const COMMAND: Command;
    /// Append the body to `msg`; the header occupies `msg[hdr..hdr + 64]`.
    fn encode(&self, msg: &mut Vec<u8>, hdr: usize);
    /// The larger of the bytes sent and the bytes asked for (MS-SMB2 3.1.5.2), for CreditCharge.
    fn payload_size(&self) -> u32 {
        0
    }
}

/// CreditCharge for a payload of `size` bytes (MS-SMB2 3.1.5.2), at least 1.
pub fn credit_charge(size: u32) -> u16 {
    let n = size.saturating_sub(1) / CREDIT_UNIT + 1;
    u16::try_from(n).unwrap_or(u16::MAX)
}

/// Encode a UTF-8 string as UTF-16LE (the wire form of every SMB2 name).
pub fn utf16le(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() * 2);
    for u in s.encode_utf16() {
        v.extend_from_slice(&u.to_le_bytes());
    }
    v
}

/// Decode UTF-16LE (odd trailing byte or unpaired surrogates are errors: names must round-trip).
pub fn from_utf16le(what: &'static str, b: &[u8]) -> Result<String, DecodeError> {
    if !b.len().is_multiple_of(2) {
        return Err(DecodeError::Invalid {
            what,
            value: b.len() as u64,
        });
    }
    let units = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|e| DecodeError::Invalid {
            what,
            value: u64::from(e.unpaired_surrogate()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_charge_follows_3_1_5_2() {
        assert_eq!(credit_charge(0), 1);
        assert_eq!(credit_charge(1), 1);
        assert_eq!(credit_charge(65536), 1);
        assert_eq!(credit_charge(65537), 2);
        assert_eq!(credit_charge(8 << 20), 128);
    }

    #[test]
    fn utf16_round_trip_and_rejects_odd_length() {
        let s = "dir\\fïle 😀";
        assert_eq!(from_utf16le("name", &utf16le(s)).unwrap(), s);
        assert!(from_utf16le("name", &[0x41]).is_err());
        assert!(from_utf16le("name", &[0x00, 0xd8]).is_err());
    }
}
