//! Signing and verifying one SMB2 message (MS-SMB2 3.1.4.1 "Signing An Outgoing Message",
//! 3.1.5.1 "Verifying an Incoming Message").
//!
//! The signature is computed over the whole message, SMB2 header first, with the 16-byte
//! Signature field (header bytes 48..64) taken as zero; in a compound, "the message" is one
//! element of the chain, from its header to the next one's (padding included). The algorithms:
//!
//! - 2.0.2, 2.1: HMAC-SHA256 keyed with Session.SessionKey, truncated to 16 bytes.
//! - 3.0, 3.0.2: AES-128-CMAC (RFC 4493).
//! - 3.1.1: the algorithm negotiated in SMB2_SIGNING_CAPABILITIES (2.2.3.1.7), AES-128-CMAC when
//!   none was. AES-128-GMAC (RFC 4543) authenticates the message as associated data with an
//!   empty plaintext, under a 12-byte nonce: MessageId (8 bytes, little-endian as in the header),
//!   then 4 bytes whose least significant bit is 1 when the sender is the server and whose next
//!   bit is 1 for an SMB2 CANCEL request; the other 30 bits are zero.
//!
//! The message is never copied: the MAC is fed the bytes before the signature, 16 zero bytes,
//! and the bytes after it. A `Signer` is immutable and `Sync`; each call clones the keyed state
//! (a few hundred bytes on the stack, no heap allocation).
use super::kdf::hmac_sha256;
use super::{CryptoError, tags_equal};
use crate::smb::wire::SMB2_HEADER_LEN;
use crate::smb::wire::header::{Command, FLAGS_OFFSET, HeaderFlags, SIGNATURE_OFFSET};
use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use cmac::Cmac;
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

const SIGNATURE_END: usize = SIGNATURE_OFFSET + 16;
const COMMAND_OFFSET: usize = 12;
const MESSAGE_ID_OFFSET: usize = 24;

/// SigningAlgorithmId (MS-SMB2 2.2.3.1.7): an open number type, so an unknown id survives and
/// prints as hex. The same numbers name the per-dialect defaults of 3.1.4.1.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SigningAlgorithm(pub u16);

impl SigningAlgorithm {
    /// HMAC-SHA256 truncated to 16 bytes (dialects 2.0.2 and 2.1; negotiable in 3.1.1).
    pub const HMAC_SHA256: Self = Self(0x0000);
    /// AES-128-CMAC (RFC 4493; dialects 3.0 and 3.0.2, 3.1.1 by default).
    pub const AES_CMAC: Self = Self(0x0001);
    /// AES-128-GMAC (RFC 4543; negotiable in 3.1.1).
    pub const AES_GMAC: Self = Self(0x0002);

    /// The spec's name, if this is a known algorithm.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::HMAC_SHA256 => Some("HMAC-SHA256"),
            Self::AES_CMAC => Some("AES-CMAC"),
            Self::AES_GMAC => Some("AES-GMAC"),
            _ => None,
        }
    }

    /// The algorithm a connection signs with (MS-SMB2 3.1.4.1): HMAC-SHA256 for 2.0.2 and 2.1,
    /// AES-CMAC for 3.0 and 3.0.2, and for 3.1.1 the negotiated one (`negotiated`, from the
    /// SMB2_SIGNING_CAPABILITIES response context) or AES-CMAC without one. `negotiated` is
    /// ignored below 3.1.1.
    pub fn for_dialect(dialect: u16, negotiated: Option<Self>) -> Result<Self, CryptoError> {
        match dialect {
            0x0202 | 0x0210 => Ok(Self::HMAC_SHA256),
            0x0300 | 0x0302 => Ok(Self::AES_CMAC),
            0x0311 => Ok(negotiated.unwrap_or(Self::AES_CMAC)),
            other => Err(CryptoError::UnsupportedDialect(other)),
        }
    }
}

impl fmt::Debug for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "SigningAlgorithm({:#06x})", self.0),
        }
    }
}

/// Signs and verifies SMB2 messages with one key and algorithm (MS-SMB2 3.1.4.1, 3.1.5.1).
///
/// The key is Session.SessionKey for 2.x, Session.SigningKey or Channel.SigningKey for 3.x
/// (see [`super::SessionKeys`]): always 16 bytes. Keyed state is zeroized on drop.
pub struct Signer {
    algorithm: SigningAlgorithm,
    imp: Imp,
}

enum Imp {
    Hmac(Box<Hmac<Sha256>>),
    Cmac(Box<Cmac<Aes128>>),
    Gmac(Box<Gmac>),
}

/// AES-128-GMAC as GCM with an empty plaintext: GHASH keyed with H = AES_K(0^128) over the
/// associated data and the length block, masked with AES_K(J0), J0 = nonce || 0^31 || 1
/// (NIST SP 800-38D 7.1, IV of 96 bits).
///
/// Two implementations of the same function: outgoing messages, whose Signature field is zeroed
/// in place, go whole to AES-128-GCM in AWS-LC as associated data (its assembly GHASH is several
/// times faster than the portable crate's, and signing 1 MiB WRITEs is the hot path of a signed
/// share); verifying a received message, which stays untouched, feeds its pieces to `ghash`.
struct Gmac {
    cipher: Aes128,
    ghash: GHash,
    gcm: aws_lc_rs::aead::LessSafeKey,
}

impl Signer {
    /// A signer for `algorithm` keyed with `key` (16 bytes).
    pub fn new(algorithm: SigningAlgorithm, key: &[u8]) -> Result<Self, CryptoError> {
        let key: &[u8; 16] = key.try_into().map_err(|_| CryptoError::WrongKeyLength {
            what: "signing key",
            expected: 16,
            got: key.len(),
        })?;
        let imp = match algorithm {
            SigningAlgorithm::HMAC_SHA256 => Imp::Hmac(Box::new(hmac_sha256(key))),
            SigningAlgorithm::AES_CMAC => {
                Imp::Cmac(Box::new(<Cmac<Aes128> as KeyInit>::new(&(*key).into())))
            }
            SigningAlgorithm::AES_GMAC => {
                let cipher = Aes128::new(&(*key).into());
                let mut h = ghash::Key::default();
                cipher.encrypt_block(&mut h);
                let ghash = GHash::new(&h);
                zeroize::Zeroize::zeroize(h.as_mut_slice());
                let gcm = aws_lc_rs::aead::UnboundKey::new(&aws_lc_rs::aead::AES_128_GCM, key)
                    .map_err(|_| CryptoError::WrongKeyLength {
                        what: "signing key",
                        expected: 16,
                        got: key.len(),
                    })?;
                let gcm = aws_lc_rs::aead::LessSafeKey::new(gcm);
                Imp::Gmac(Box::new(Gmac { cipher, ghash, gcm }))
            }
            other => return Err(CryptoError::UnsupportedSigningAlgorithm(other)),
        };
        Ok(Self { algorithm, imp })
    }

    /// The algorithm this signer uses.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// Sign one SMB2 message in place: set SMB2_FLAGS_SIGNED in its header, zero the Signature
    /// field, compute the signature over the whole slice and write it into bytes 48..64.
    ///
    /// `msg` is exactly one message: in a compound, from its header up to the next header (the
    /// padding that precedes NextCommand's target included, MS-SMB2 3.1.4.1), then sign the next
    /// one separately. Set every other header field (MessageId, NextCommand, ...) first.
    pub fn sign(&self, msg: &mut [u8]) -> Result<(), CryptoError> {
        check_len(msg)?;
        let mut flags = [0u8; 4];
        flags.copy_from_slice(&msg[FLAGS_OFFSET..FLAGS_OFFSET + 4]);
        let flags = u32::from_le_bytes(flags) | HeaderFlags::SIGNED;
        msg[FLAGS_OFFSET..FLAGS_OFFSET + 4].copy_from_slice(&flags.to_le_bytes());
        msg[SIGNATURE_OFFSET..SIGNATURE_END].fill(0);
        let sig = match &self.imp {
            Imp::Gmac(gmac) => gmac.tag_zeroed(msg),
            _ => self.compute(msg),
        };
        msg[SIGNATURE_OFFSET..SIGNATURE_END].copy_from_slice(&sig);
        Ok(())
    }

    /// Verify the signature of one received SMB2 message (MS-SMB2 3.1.5.1), comparing in
    /// constant time. Whether a message must be signed at all (SMB2_FLAGS_SIGNED, interim
    /// responses, ...) is the caller's decision.
    pub fn verify(&self, msg: &[u8]) -> Result<(), CryptoError> {
        check_len(msg)?;
        let mut got = [0u8; 16];
        got.copy_from_slice(&msg[SIGNATURE_OFFSET..SIGNATURE_END]);
        if tags_equal(&self.compute(msg), &got) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// The signature of `msg` (at least a header long) with its Signature field read as zero.
    fn compute(&self, msg: &[u8]) -> [u8; 16] {
        let before = &msg[..SIGNATURE_OFFSET];
        let after = &msg[SIGNATURE_END..];
        let mut out = [0u8; 16];
        match &self.imp {
            Imp::Hmac(keyed) => {
                let mut mac = Hmac::clone(keyed);
                mac.update(before);
                mac.update(&[0; 16]);
                mac.update(after);
                out.copy_from_slice(&mac.finalize().into_bytes()[..16]);
            }
            Imp::Cmac(keyed) => {
                let mut mac = Cmac::clone(keyed);
                mac.update(before);
                mac.update(&[0; 16]);
                mac.update(after);
                out.copy_from_slice(&mac.finalize().into_bytes());
            }
            Imp::Gmac(gmac) => out = gmac.tag(msg),
        }
        out
    }
}

/// The GMAC nonce of a message (MS-SMB2 3.1.4.1): MessageId (8 bytes as on the wire), then a
/// 4-byte little-endian word whose bit 0 says "sent by the server" and bit 1 "a CANCEL request".
fn gmac_nonce(msg: &[u8]) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&msg[MESSAGE_ID_OFFSET..MESSAGE_ID_OFFSET + 8]);
    let flags = u32::from_le_bytes([msg[16], msg[17], msg[18], msg[19]]);
    let command = Command(u16::from_le_bytes([
        msg[COMMAND_OFFSET],
        msg[COMMAND_OFFSET + 1],
    ]));
    let mut bits = 0u32;
    if flags & HeaderFlags::SERVER_TO_REDIR != 0 {
        bits |= 1;
    }
    if command == Command::CANCEL {
        bits |= 2;
    }
    nonce[8..].copy_from_slice(&bits.to_le_bytes());
    nonce
}

impl Gmac {
    /// The tag of a message whose Signature field is already zero: AES-128-GCM over an empty
    /// plaintext with the whole message as associated data (RFC 4543 3). Falls back to the
    /// portable path should AWS-LC refuse (it takes associated data of any length we send).
    fn tag_zeroed(&self, msg: &[u8]) -> [u8; 16] {
        use aws_lc_rs::aead::{Aad, Nonce};
        let nonce = Nonce::assume_unique_for_key(gmac_nonce(msg));
        match self
            .gcm
            .seal_in_place_separate_tag(nonce, Aad::from(msg), &mut [])
        {
            Ok(tag) => {
                let mut out = [0u8; 16];
                out.copy_from_slice(tag.as_ref());
                out
            }
            Err(_) => self.tag(msg),
        }
    }

    fn tag(&self, msg: &[u8]) -> [u8; 16] {
        // J0 = nonce || 0x00000001 (NIST SP 800-38D 7.1, IV of 96 bits).
        let mut j0 = ghash::Block::default();
        j0[..12].copy_from_slice(&gmac_nonce(msg));
        j0[15] = 1;
        let mut mask = j0;
        self.cipher.encrypt_block(&mut mask);

        // GHASH over A = before || 0^128 || after (C is empty). The Signature field starts at a
        // block boundary (48 = 3 × 16), so feeding the pieces one by one pads only the last.
        let mut gh = self.ghash.clone();
        gh.update_padded(&msg[..SIGNATURE_OFFSET]);
        gh.update(&[ghash::Block::default()]);
        gh.update_padded(&msg[SIGNATURE_END..]);
        let mut lengths = ghash::Block::default();
        let aad_bits = (msg.len() as u64).wrapping_mul(8);
        lengths[..8].copy_from_slice(&aad_bits.to_be_bytes());
        gh.update(&[lengths]);
        let s = gh.finalize();

        let mut out = [0u8; 16];
        for (o, (a, b)) in out.iter_mut().zip(s.iter().zip(mask.iter())) {
            *o = a ^ b;
        }
        out
    }
}

fn check_len(msg: &[u8]) -> Result<(), CryptoError> {
    if msg.len() < SMB2_HEADER_LEN {
        return Err(CryptoError::TooShort {
            what: "SMB2 message to sign or verify",
            need: SMB2_HEADER_LEN,
            got: msg.len(),
        });
    }
    Ok(())
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("algorithm", &self.algorithm)
            .field("key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::crypto::preauth::tests::BLOG_311_SESSION_SETUP_RESPONSE_2;
    use hex_literal::hex;

    /// A made-up message: header with MessageId 0x1122334455, then an odd-sized body.
    fn message(len: usize, flags: u32, command: u16) -> Vec<u8> {
        let mut m: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        m[..4].copy_from_slice(&[0xFE, b'S', b'M', b'B']);
        m[12..14].copy_from_slice(&command.to_le_bytes());
        m[16..20].copy_from_slice(&flags.to_le_bytes());
        m[24..32].copy_from_slice(&0x11_2233_4455u64.to_le_bytes());
        m
    }

    /// Final SESSION_SETUP responses of published 3.1.1 sessions, signed by Windows with
    /// AES-128-CMAC under the session's SigningKey, which the same pages derive.
    fn published_cmac_messages() -> Vec<(&'static str, [u8; 16], Vec<u8>)> {
        vec![
            (
                // "SMB 2 and SMB 3 security in Windows 10: the anatomy of signing and
                // cryptographic keys", Appendix, SMB 3.1.1 master session.
                "anatomy blog, 3.1.1 master session",
                hex!("73FE7A9A77BEF0BDE49C650D8CCB5F76"),
                BLOG_311_SESSION_SETUP_RESPONSE_2.to_vec(),
            ),
            (
                // Same blog, second channel (session binding): signed with Channel.SigningKey.
                "anatomy blog, 3.1.1 bound channel",
                hex!("C962BCA1A9DD1697B030644199705431"),
                hex!(
                    "FE534D4240000100000000000100800009000000000000000300000000000000FFFE000000000000"
                    "19000000001000008D604217FFBACF40635BF9D8729921500900000048001D00A11B3019A0030A01"
                    "00A312041001000000CFB046FC5D368E2200000000"
                )
                .to_vec(),
            ),
            (
                // "SMB 3.1.1 Encryption in Windows 10", Appendix A.1 (AES-GCM session).
                "encryption blog A.1",
                hex!("8765949DFEAEE105CE9118B45BE988F0"),
                hex!(
                    "FE534D4240000100000000000100800009000000000000000200000000000000FFFE000000000000"
                    "25000000001000006B85A4519A0F3EEA35BA946DD3AFE6B80900000048001D00A11B3019A0030A01"
                    "00A3120410010000003932A87523AB660100000000"
                )
                .to_vec(),
            ),
            (
                // Same blog, Appendix A.2 (AES-CCM session).
                "encryption blog A.2",
                hex!("3DCC82C5795AE27F383242761078C59B"),
                hex!(
                    "FE534D4240000100000000000100800009000000000000000200000000000000FFFE000000000000"
                    "21000000001000003676196AEE8CA17E5D50A53642EF2BE40900000048001D00A11B3019A0030A01"
                    "00A3120410010000000F57444342A2717E00000000"
                )
                .to_vec(),
            ),
        ]
    }

    #[test]
    fn cmac_verifies_and_reproduces_published_signatures() {
        for (name, key, msg) in published_cmac_messages() {
            let signer = Signer::new(SigningAlgorithm::AES_CMAC, &key).unwrap();
            signer
                .verify(&msg)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let mut resigned = msg.clone();
            resigned[48..64].fill(0xEE);
            signer.sign(&mut resigned).unwrap();
            assert_eq!(resigned, msg, "{name}");
        }
    }

    #[test]
    fn cmac_binding_request_is_signed_with_the_master_session_key() {
        // Anatomy blog, second channel: the first binding SESSION_SETUP request carries
        // SMB2_FLAGS_SIGNED and is signed with the existing session's SigningKey (MS-SMB2
        // 3.2.4.2.3.1: session binding requests are signed with Session.SigningKey).
        let req = hex!(
            "FE534D4240000100000000000100800008000000000000000200000000000000FFFE000000000000"
            "190000000010000068BD0C58F613CE1334B1EB51C68D39EA19000101010000000000000058004A00"
            "0000000000000000604806062B0601050502A03E303CA00E300C060A2B06010401823702020AA22A"
            "04284E544C4D5353500001000000978208E200000000000000000000000000000000060380250000"
            "000F"
        );
        let master = Signer::new(
            SigningAlgorithm::AES_CMAC,
            &hex!("73FE7A9A77BEF0BDE49C650D8CCB5F76"),
        )
        .unwrap();
        master.verify(&req).unwrap();
    }

    #[test]
    fn tampering_anywhere_breaks_every_algorithm() {
        let key = hex!("000102030405060708090A0B0C0D0E0F");
        for alg in [
            SigningAlgorithm::HMAC_SHA256,
            SigningAlgorithm::AES_CMAC,
            SigningAlgorithm::AES_GMAC,
        ] {
            let signer = Signer::new(alg, &key).unwrap();
            let mut msg = message(64 + 37, 0, 8);
            signer.sign(&mut msg).unwrap();
            assert_eq!(
                u32::from_le_bytes(msg[16..20].try_into().unwrap()) & 8,
                8,
                "{alg:?}"
            );
            signer.verify(&msg).unwrap();
            for i in 0..msg.len() {
                let mut bad = msg.clone();
                bad[i] ^= 0x01;
                assert_eq!(
                    signer.verify(&bad),
                    Err(CryptoError::BadSignature),
                    "{alg:?} byte {i}"
                );
            }
            let mut longer = msg.clone();
            longer.push(0);
            assert_eq!(
                signer.verify(&longer),
                Err(CryptoError::BadSignature),
                "{alg:?}"
            );
            let other = Signer::new(alg, &[0x55; 16]).unwrap();
            assert_eq!(
                other.verify(&msg),
                Err(CryptoError::BadSignature),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn hmac_sha256_matches_an_independent_implementation() {
        // No published 2.x vector; computed with Python's hmac module over the same bytes
        // with bytes 48..64 zeroed and flags |= SIGNED:
        //   m = bytearray((i * 7 + 3) & 0xff for i in range(101)); m[0:4] = b"\xfeSMB"
        //   m[12:14] = (8).to_bytes(2, "little"); m[16:20] = (8).to_bytes(4, "little")
        //   m[24:32] = (0x1122334455).to_bytes(8, "little"); m[48:64] = bytes(16)
        //   hmac.new(bytes(range(16)), bytes(m), "sha256").digest()[:16]
        let signer = Signer::new(
            SigningAlgorithm::HMAC_SHA256,
            &hex!("000102030405060708090A0B0C0D0E0F"),
        )
        .unwrap();
        let mut msg = message(101, 0, 8);
        signer.sign(&mut msg).unwrap();
        assert_eq!(msg[48..64], hex!("337f11bafbc8607a3926abbb1e82646c"));
    }

    #[test]
    fn gmac_matches_an_independent_implementation() {
        // No published SMB GMAC vector. Computed with Python's `cryptography` AESGCM
        // (independent of ghash/aes here): tag = AESGCM(key).encrypt(nonce, b"", aad) where aad is
        // the 101-byte message of `message()` with Flags |= SIGNED and bytes 48..64 zeroed, and
        // the nonce is MessageId (LE) || bits (LE u32) as MS-SMB2 3.1.4.1 describes. Three cases:
        // client request, server response, CANCEL request.
        let key = hex!("000102030405060708090A0B0C0D0E0F");
        let signer = Signer::new(SigningAlgorithm::AES_GMAC, &key).unwrap();
        let cases: [(u32, u16, [u8; 16]); 3] = [
            (
                0x0000_0000,
                0x0008,
                hex!("85c0f0c091b7c7eb0f59f77a4b7fc24c"),
            ),
            (
                0x0000_0001,
                0x0008,
                hex!("c39a9e761d3166b8d62107ef02992e8c"),
            ),
            (
                0x0000_0000,
                0x000C,
                hex!("2fb829f1393a6e74b48f6cf7fdacf500"),
            ),
        ];
        for (flags, command, expect) in cases {
            let mut msg = message(64 + 37, flags, command);
            signer.sign(&mut msg).unwrap();
            assert_eq!(msg[48..64], expect, "flags {flags:#x} command {command:#x}");
        }
    }

    #[test]
    fn gmac_equals_aes_gcm_with_empty_plaintext() {
        // Cross-check the split-input GHASH against the aes-gcm crate fed one contiguous AAD.
        use aes_gcm::{AeadInOut, Aes128Gcm};
        let key = [0x3Cu8; 16];
        let signer = Signer::new(SigningAlgorithm::AES_GMAC, &key).unwrap();
        let gcm = <Aes128Gcm as KeyInit>::new(&key.into());
        for (len, flags, command) in [(64, 1, 5), (65, 0, 12), (64 + 4096 + 3, 9, 9)] {
            let mut msg = message(len, flags, command);
            signer.sign(&mut msg).unwrap();
            let mut aad = msg.clone();
            aad[48..64].fill(0);
            let mut nonce = [0u8; 12];
            nonce[..8].copy_from_slice(&msg[24..32]);
            nonce[8] = u8::from(flags & 1 != 0) | (u8::from(command == 12) << 1);
            let tag = gcm
                .encrypt_inout_detached(&nonce.into(), &aad, (&mut [][..]).into())
                .unwrap();
            assert_eq!(msg[48..64], tag[..], "len {len}");
        }
    }

    #[test]
    fn gmac_signing_and_verifying_paths_agree() {
        // Signing goes through AWS-LC, verifying through `ghash`: every length class (under a
        // block, block-aligned, a 1 MiB WRITE) signed by one must verify with the other.
        let key = [0xA5u8; 16];
        let signer = Signer::new(SigningAlgorithm::AES_GMAC, &key).unwrap();
        let Imp::Gmac(gmac) = &signer.imp else {
            panic!("not GMAC")
        };
        for len in [64, 65, 79, 80, 96, 64 + 48 + 4096, 64 + 48 + (1 << 20)] {
            let mut msg = message(len, 0, 9);
            msg[SIGNATURE_OFFSET..SIGNATURE_END].fill(0);
            assert_eq!(gmac.tag_zeroed(&msg), gmac.tag(&msg), "len {len}");
            signer.sign(&mut msg).unwrap();
            signer.verify(&msg).unwrap();
            msg[len - 1] ^= 1;
            assert!(
                signer.verify(&msg).is_err(),
                "len {len}: altered body verified"
            );
        }
    }

    /// Throughput of the two GMAC paths on 1 MiB messages (a figure, not a check):
    /// `cargo test --release --lib gmac_throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn gmac_throughput() {
        let signer = Signer::new(SigningAlgorithm::AES_GMAC, &[7; 16]).unwrap();
        let Imp::Gmac(gmac) = &signer.imp else {
            panic!("not GMAC")
        };
        let msg = message(64 + (1 << 20), 0, 9);
        let rate = |f: &dyn Fn(&[u8]) -> [u8; 16]| {
            let (n, t) = (300, std::time::Instant::now());
            let x = (0..n).fold(0u8, |x, _| x ^ f(&msg)[0]);
            (
                n as f64 * msg.len() as f64 / 1e6 / t.elapsed().as_secs_f64(),
                x,
            )
        };
        let (fast, _) = rate(&|m| gmac.tag_zeroed(m));
        let (portable, _) = rate(&|m| gmac.tag(m));
        println!("GMAC over 1 MiB: AWS-LC {fast:.0} MB/s, ghash crate {portable:.0} MB/s");
    }

    #[test]
    fn sign_keeps_other_flags_and_rejects_short_messages() {
        let signer = Signer::new(SigningAlgorithm::AES_CMAC, &[1; 16]).unwrap();
        let mut msg = message(80, 0x0000_0005, 5);
        signer.sign(&mut msg).unwrap();
        assert_eq!(
            u32::from_le_bytes(msg[16..20].try_into().unwrap()),
            0x0000_000D
        );
        let mut short = [0u8; 63];
        assert!(matches!(
            signer.sign(&mut short),
            Err(CryptoError::TooShort { need: 64, .. })
        ));
        assert!(matches!(
            signer.verify(&short),
            Err(CryptoError::TooShort { .. })
        ));
    }

    #[test]
    fn rejects_bad_keys_and_unknown_algorithms() {
        assert_eq!(
            Signer::new(SigningAlgorithm::AES_CMAC, &[0; 32]).unwrap_err(),
            CryptoError::WrongKeyLength {
                what: "signing key",
                expected: 16,
                got: 32
            }
        );
        assert_eq!(
            Signer::new(SigningAlgorithm(7), &[0; 16]).unwrap_err(),
            CryptoError::UnsupportedSigningAlgorithm(SigningAlgorithm(7))
        );
        assert_eq!(
            format!("{:?}", SigningAlgorithm(7)),
            "SigningAlgorithm(0x0007)"
        );
        let s = format!(
            "{:?}",
            Signer::new(SigningAlgorithm::AES_GMAC, &[0x42; 16]).unwrap()
        );
        assert_eq!(s, r#"Signer { algorithm: AES-GMAC, key: "<redacted>" }"#);
    }

    #[test]
    fn picks_the_algorithm_per_dialect() {
        use SigningAlgorithm as A;
        assert_eq!(
            A::for_dialect(0x0202, Some(A::AES_GMAC)),
            Ok(A::HMAC_SHA256)
        );
        assert_eq!(A::for_dialect(0x0210, None), Ok(A::HMAC_SHA256));
        assert_eq!(A::for_dialect(0x0300, None), Ok(A::AES_CMAC));
        assert_eq!(A::for_dialect(0x0302, Some(A::AES_GMAC)), Ok(A::AES_CMAC));
        assert_eq!(A::for_dialect(0x0311, None), Ok(A::AES_CMAC));
        assert_eq!(A::for_dialect(0x0311, Some(A::AES_GMAC)), Ok(A::AES_GMAC));
        assert_eq!(
            A::for_dialect(0x02FF, None),
            Err(CryptoError::UnsupportedDialect(0x02FF))
        );
    }
}
