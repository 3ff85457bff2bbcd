//! SMB2 TRANSFORM_HEADER (MS-SMB2 2.2.41): the 52-byte header in front of an encrypted message.
//!
//! ```text
//!  0  ProtocolId            0xFD 'S' 'M' 'B'
//!  4  Signature             16 bytes (the AEAD tag)
//! 20  Nonce                 16 bytes (11 used by AES-CCM, 12 by AES-GCM, the rest zero)
//! 36  OriginalMessageSize   u32
//! 40  Reserved              u16
//! 42  Flags/EncryptionAlgorithm  u16 = 0x0001
//! 44  SessionId             u64
//! 52  encrypted SMB2 message(s)
//! ```
//!
//! The AEAD's associated data is the header from Nonce to the end, bytes 20..52 (MS-SMB2 3.1.4.3:
//! "The SMB2 TRANSFORM_HEADER, excluding the ProtocolId and Signature fields").
//! Sealing and opening live in `smb::crypto::encryption`; this file only moves bytes.
use super::header::TRANSFORM_PROTOCOL_ID;
use super::{DecodeError, Put, Reader, SessionId};
use std::ops::Range;

/// Size of the TRANSFORM_HEADER.
pub const TRANSFORM_HEADER_LEN: usize = 52;
/// Where the Signature field lies in the header.
pub const SIGNATURE_RANGE: Range<usize> = 4..20;
/// Where the Nonce field lies in the header.
pub const NONCE_RANGE: Range<usize> = 20..36;
/// The part of the header that is authenticated: Nonce through SessionId (MS-SMB2 3.1.4.3).
pub const AAD_RANGE: Range<usize> = 20..TRANSFORM_HEADER_LEN;

/// A decoded or to-be-encoded TRANSFORM_HEADER (MS-SMB2 2.2.41). Reserved is not stored: it is
/// written as zero and ignored on receipt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransformHeader {
    /// The AEAD tag over the associated data and the encrypted message.
    pub signature: [u8; 16],
    /// The per-message nonce; bytes past the cipher's nonce length are zero.
    pub nonce: [u8; 16],
    /// The size of the SMB2 message that follows, before encryption (the same after: the tag
    /// travels in Signature).
    pub original_message_size: u32,
    /// Flags (3.1.1) / EncryptionAlgorithm (3.0.x): 0x0001 in both.
    pub flags: u16,
    /// The session whose keys protect the message.
    pub session_id: SessionId,
}

impl TransformHeader {
    /// Flags value meaning "encrypted with the negotiated cipher" (3.1.1); in 3.0.x the same
    /// number is EncryptionAlgorithm SMB2_ENCRYPTION_AES128_CCM.
    pub const FLAGS_ENCRYPTED: u16 = 0x0001;

    /// Write the 52 header bytes in place (the sealer fills the room left at the front of an
    /// outgoing frame).
    pub fn write_to(&self, out: &mut [u8; TRANSFORM_HEADER_LEN]) {
        out[0..4].copy_from_slice(&TRANSFORM_PROTOCOL_ID);
        out[SIGNATURE_RANGE].copy_from_slice(&self.signature);
        out[NONCE_RANGE].copy_from_slice(&self.nonce);
        out[36..40].copy_from_slice(&self.original_message_size.to_le_bytes());
        out[40..42].copy_from_slice(&0u16.to_le_bytes());
        out[42..44].copy_from_slice(&self.flags.to_le_bytes());
        out[44..52].copy_from_slice(&self.session_id.0.to_le_bytes());
    }

    /// Append the 52 header bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put(&TRANSFORM_PROTOCOL_ID);
        out.put(&self.signature);
        out.put(&self.nonce);
        out.put_u32(self.original_message_size);
        out.put_u16(0);
        out.put_u16(self.flags);
        out.put_u64(self.session_id.0);
    }

    /// Decode the header at the start of a whole transformed frame and check it against the
    /// frame: the message after the header must be exactly OriginalMessageSize bytes.
    ///
    /// MS-SMB2 3.2.5.1.1.1: "If the size of the message received from the server is not greater
    /// than the size of SMB2 TRANSFORM_HEADER ... If the Flags/EncryptionAlgorithm in the SMB2
    /// TRANSFORM_HEADER is not 0x0001, the client MUST disconnect the connection".
    pub fn decode(frame: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(frame);
        let proto: [u8; 4] = r.array("TransformHeader.ProtocolId")?;
        if proto != TRANSFORM_PROTOCOL_ID {
            return Err(DecodeError::Invalid {
                what: "TransformHeader.ProtocolId",
                value: u64::from(u32::from_be_bytes(proto)),
            });
        }
        let signature = r.array("TransformHeader.Signature")?;
        let nonce = r.array("TransformHeader.Nonce")?;
        let original_message_size = r.u32("TransformHeader.OriginalMessageSize")?;
        r.skip(2, "TransformHeader.Reserved")?;
        let flags = r.u16("TransformHeader.Flags")?;
        let session_id = SessionId(r.u64("TransformHeader.SessionId")?);
        if flags != Self::FLAGS_ENCRYPTED {
            return Err(DecodeError::Invalid {
                what: "TransformHeader.Flags",
                value: u64::from(flags),
            });
        }
        let remaining = r.remaining();
        if remaining == 0 {
            return Err(DecodeError::Truncated {
                what: "TransformHeader encrypted message",
                at: TRANSFORM_HEADER_LEN,
                need: 1,
                len: frame.len(),
            });
        }
        let size = usize::try_from(original_message_size).unwrap_or(usize::MAX);
        if size > remaining {
            return Err(DecodeError::OutOfBounds {
                what: "TransformHeader.OriginalMessageSize",
                offset: TRANSFORM_HEADER_LEN,
                len: size,
                msg_len: frame.len(),
            });
        }
        if size < remaining {
            // Trailing bytes after the encrypted message: the peer and we disagree on the frame.
            return Err(DecodeError::Invalid {
                what: "TransformHeader.OriginalMessageSize",
                value: u64::from(original_message_size),
            });
        }
        Ok(Self {
            signature,
            nonce,
            original_message_size,
            flags,
            session_id,
        })
    }

    /// Whether a frame starts like a TRANSFORM_HEADER (ProtocolId 0xFD 'S' 'M' 'B'), for the
    /// receive path to choose between decrypting and decoding a plain SMB2 message.
    pub fn is_transform(frame: &[u8]) -> bool {
        frame.get(0..4) == Some(&TRANSFORM_PROTOCOL_ID[..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TransformHeader {
        TransformHeader {
            signature: [0xAA; 16],
            nonce: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0],
            original_message_size: 5,
            flags: TransformHeader::FLAGS_ENCRYPTED,
            session_id: SessionId(0x1000_0000_0025),
        }
    }

    fn frame(h: &TransformHeader, body_len: usize) -> Vec<u8> {
        let mut f = Vec::new();
        h.encode(&mut f);
        f.resize(f.len() + body_len, 0x5A);
        f
    }

    #[test]
    fn round_trips_and_both_encoders_agree() {
        let h = sample();
        let f = frame(&h, 5);
        assert_eq!(f.len(), TRANSFORM_HEADER_LEN + 5);
        assert_eq!(TransformHeader::decode(&f).unwrap(), h);
        let mut fixed = [0u8; TRANSFORM_HEADER_LEN];
        h.write_to(&mut fixed);
        assert_eq!(&fixed[..], &f[..TRANSFORM_HEADER_LEN]);
        assert!(TransformHeader::is_transform(&f));
        assert!(!TransformHeader::is_transform(&[0xFE, b'S', b'M', b'B']));
        assert!(!TransformHeader::is_transform(&[0xFD]));
    }

    #[test]
    fn decodes_the_published_gcm_write_header() {
        // "SMB 3.1.1 Encryption in Windows 10", Appendix A.1, WRITE request transform_header.
        let f = hex_literal::hex!(
            "FD534D42BD73D97D2BC9001BCAFAC0FDFF5FEEBCC7D6822D269CAF48904C664C0000000087000000"
            "000001002500000000100000"
        );
        let mut whole = f.to_vec();
        whole.resize(TRANSFORM_HEADER_LEN + 0x87, 0);
        let h = TransformHeader::decode(&whole).unwrap();
        assert_eq!(
            h.signature,
            hex_literal::hex!("BD73D97D2BC9001BCAFAC0FDFF5FEEBC")
        );
        assert_eq!(
            h.nonce,
            hex_literal::hex!("C7D6822D269CAF48904C664C00000000")
        );
        assert_eq!(h.original_message_size, 0x87);
        assert_eq!(h.session_id, SessionId(0x1000_0000_0025));
    }

    #[test]
    fn every_truncation_is_an_error_naming_a_field() {
        let f = frame(&sample(), 5);
        for n in 0..f.len() {
            let e = TransformHeader::decode(&f[..n]).unwrap_err();
            match e {
                DecodeError::Truncated { what, .. }
                | DecodeError::OutOfBounds { what, .. }
                | DecodeError::Invalid { what, .. } => assert!(what.starts_with("TransformHeader")),
                other => panic!("unexpected {other:?}"),
            }
        }
        let e = TransformHeader::decode(&f[..30]).unwrap_err();
        assert!(matches!(
            e,
            DecodeError::Truncated {
                what: "TransformHeader.Nonce",
                ..
            }
        ));
    }

    #[test]
    fn rejects_header_without_message() {
        let mut h = sample();
        h.original_message_size = 0;
        let e = TransformHeader::decode(&frame(&h, 0)).unwrap_err();
        assert!(matches!(
            e,
            DecodeError::Truncated {
                at: TRANSFORM_HEADER_LEN,
                ..
            }
        ));
    }

    #[test]
    fn rejects_size_mismatch_both_ways() {
        let mut h = sample();
        h.original_message_size = 6;
        assert!(matches!(
            TransformHeader::decode(&frame(&h, 5)).unwrap_err(),
            DecodeError::OutOfBounds {
                what: "TransformHeader.OriginalMessageSize",
                ..
            }
        ));
        h.original_message_size = 4;
        assert!(matches!(
            TransformHeader::decode(&frame(&h, 5)).unwrap_err(),
            DecodeError::Invalid {
                what: "TransformHeader.OriginalMessageSize",
                value: 4
            }
        ));
        h.original_message_size = u32::MAX;
        assert!(TransformHeader::decode(&frame(&h, 5)).is_err());
    }

    #[test]
    fn rejects_unknown_flags_and_other_protocol_ids() {
        for flags in [0u16, 2, 3, 0x8001, u16::MAX] {
            let mut h = sample();
            h.flags = flags;
            assert_eq!(
                TransformHeader::decode(&frame(&h, 5)).unwrap_err(),
                DecodeError::Invalid {
                    what: "TransformHeader.Flags",
                    value: u64::from(flags)
                }
            );
        }
        for first in [0xFE, 0xFC, 0xFF, 0x00] {
            let mut f = frame(&sample(), 5);
            f[0] = first;
            assert!(matches!(
                TransformHeader::decode(&f).unwrap_err(),
                DecodeError::Invalid {
                    what: "TransformHeader.ProtocolId",
                    ..
                }
            ));
        }
    }

    #[test]
    fn reserved_is_ignored_on_receipt() {
        let mut f = frame(&sample(), 5);
        f[40] = 0x12;
        f[41] = 0x34;
        assert_eq!(TransformHeader::decode(&f).unwrap(), sample());
    }
}
