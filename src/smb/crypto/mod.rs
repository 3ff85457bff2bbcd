//! SMB2/3 cryptography (MS-SMB2 3.1.4): key derivation, the 3.1.1 pre-authentication integrity
//! hash, message signing and message encryption.
//!
//! Pure: no I/O, no clock, no randomness. Nonces for encryption are passed in by the caller,
//! which owns their uniqueness per session (MS-SMB2 2.2.41: the Nonce "MUST NOT be reused").
//!
//! - [`kdf`]: SP800-108 counter-mode KDF with HMAC-SHA256 (MS-SMB2 3.1.4.2).
//! - [`preauth`]: the 3.1.1 SHA-512 pre-authentication integrity hash (MS-SMB2 3.2.5.2,
//!   3.2.5.3.1).
//! - [`keys`]: a session's signing, encryption, decryption and application keys (MS-SMB2
//!   3.2.5.3.1, 3.3.5.5.3).
//! - [`signing`]: sign/verify one SMB2 message in place (MS-SMB2 3.1.4.1, 3.1.5.1).
//! - [`encryption`]: seal/open a TRANSFORM_HEADER frame in place (MS-SMB2 3.1.4.3, 3.2.5.1.1.1);
//!   the header codec is `wire::transform`.
//!
//! Every type that holds key material zeroizes it on drop and prints it as `<redacted>`.
pub mod encryption;
pub mod kdf;
pub mod keys;
pub mod preauth;
pub mod signing;

pub use encryption::{Cipher, Opener, Sealer};
pub use keys::{SessionKeys, derive_session_keys};
pub use preauth::PreauthHash;
pub use signing::{Signer, SigningAlgorithm};

use crate::smb::wire::DecodeError;
use std::fmt;
use zeroize::Zeroize;

/// Why a cryptographic operation failed. Never carries key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The signature in an SMB2 header does not match the message (MS-SMB2 3.1.5.1).
    #[error("bad SMB2 message signature")]
    BadSignature,
    /// AEAD decryption failed: the tag in the TRANSFORM_HEADER does not authenticate the frame
    /// (MS-SMB2 3.2.5.1.1.1).
    #[error("decryption failed: the encrypted message does not authenticate")]
    DecryptionFailed,
    /// The AEAD refused to encrypt (message too long for the cipher).
    #[error("encryption failed")]
    EncryptionFailed,
    /// A key of the wrong size for its algorithm.
    #[error("{what}: key is {got} bytes, expected {expected}")]
    WrongKeyLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// The session key from authentication is empty (an anonymous or guest session has no
    /// keys to derive).
    #[error("empty session key")]
    EmptySessionKey,
    /// A dialect with no key derivation here (only 2.0.2, 2.1, 3.0, 3.0.2 and 3.1.1 exist).
    #[error("unsupported dialect {0:#06x}")]
    UnsupportedDialect(u16),
    /// A cipher id unknown to us.
    #[error("unsupported cipher {0:?}")]
    UnsupportedCipher(Cipher),
    /// A known cipher the dialect does not have (3.0.x has only AES-128-CCM; 2.x has no
    /// encryption).
    #[error("cipher {cipher:?} is not available in dialect {dialect:#06x}")]
    CipherNotInDialect { cipher: Cipher, dialect: u16 },
    /// A signing algorithm unknown to us.
    #[error("unsupported signing algorithm {0:?}")]
    UnsupportedSigningAlgorithm(SigningAlgorithm),
    /// SMB 3.1.1 keys need the session's pre-authentication integrity hash.
    #[error("SMB 3.1.1 key derivation needs the pre-authentication integrity hash")]
    MissingPreauthHash,
    /// The buffer is too short for what it must hold (an SMB2 header to sign, a
    /// TRANSFORM_HEADER to fill).
    #[error("{what}: {got} bytes, need at least {need}")]
    TooShort {
        what: &'static str,
        need: usize,
        got: usize,
    },
    /// The message is larger than OriginalMessageSize (u32) can describe.
    #[error("message of {0} bytes is too large to encrypt")]
    TooLarge(usize),
    /// The TRANSFORM_HEADER of a received frame is malformed (names the field).
    #[error("malformed TRANSFORM_HEADER: {0}")]
    Transform(#[from] DecodeError),
}

/// Key material of 16 or 32 bytes: zeroized on drop, `<redacted>` in `Debug`.
#[derive(Clone)]
pub struct SecretKey {
    bytes: [u8; 32],
    len: usize,
}

impl SecretKey {
    /// Copy `key` (at most 32 bytes: every SMB2 key is 16 or 32).
    pub(crate) fn from_slice(what: &'static str, key: &[u8]) -> Result<Self, CryptoError> {
        if key.len() > 32 {
            return Err(CryptoError::WrongKeyLength {
                what,
                expected: 32,
                got: key.len(),
            });
        }
        let mut bytes = [0u8; 32];
        bytes[..key.len()].copy_from_slice(key);
        Ok(Self {
            bytes,
            len: key.len(),
        })
    }

    /// The key bytes (16 or 32 of them).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true for a derived key; here for the `len` convention.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({} bytes, <redacted>)", self.len)
    }
}

/// Compare two tags without an early exit (the time taken does not depend on where they
/// differ).
fn tags_equal(a: &[u8; 16], b: &[u8; 16]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_key_debug_redacts() {
        let k = SecretKey::from_slice("test", &[0x42; 16]).unwrap();
        let s = format!("{k:?}");
        assert!(!s.contains("42") && !s.contains("66"), "{s}");
        assert_eq!(k.as_bytes(), &[0x42; 16]);
        assert!(SecretKey::from_slice("test", &[0; 33]).is_err());
    }

    #[test]
    fn tags_equal_compares_every_byte() {
        let a = [7u8; 16];
        let mut b = a;
        assert!(tags_equal(&a, &b));
        b[15] ^= 1;
        assert!(!tags_equal(&a, &b));
        b = a;
        b[0] ^= 0x80;
        assert!(!tags_equal(&a, &b));
    }
}
