//! Encrypting and decrypting SMB2 messages (MS-SMB2 3.1.4.3 "Encrypting the Message",
//! 3.2.5.1.1.1 "Decrypting the Message"), in place.
//!
//! A transformed frame is a TRANSFORM_HEADER (`wire::transform`, 52 bytes) followed by the
//! encrypted SMB2 message (or compound chain). The cipher is Connection.CipherId in 3.1.1 and
//! AES-128-CCM in 3.0.x; its inputs (RFC 5084, RFC 4309):
//!
//! - key: Session.EncryptionKey to send, Session.DecryptionKey to receive;
//! - nonce: the first 11 bytes of the Nonce field (AES_CCM_Nonce) or the first 12 (AES_GCM_Nonce);
//!   the remaining bytes of the field are zero;
//! - associated data: the TRANSFORM_HEADER from Nonce to the end (32 bytes);
//! - plaintext: the SMB2 message(s); the 16-byte tag goes into the header's Signature.
//!
//! Sealing and opening work on the frame buffer itself, with no copy of the message and no
//! allocation (8 MiB READ/WRITE payloads pass through here).
use super::CryptoError;
use crate::smb::wire::SessionId;
use crate::smb::wire::transform::{
    AAD_RANGE, SIGNATURE_RANGE, TRANSFORM_HEADER_LEN, TransformHeader,
};
use aes::{Aes128, Aes256};
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use ccm::Ccm;
use ccm::consts::{U11, U16};
use std::fmt;

type Aes128Ccm = Ccm<Aes128, U16, U11>;
type Aes256Ccm = Ccm<Aes256, U16, U11>;

/// Cipher id (MS-SMB2 2.2.3.1.2 SMB2_ENCRYPTION_CAPABILITIES): an open number type, so an
/// unknown id survives and prints as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cipher(pub u16);

impl Cipher {
    /// AES-128-CCM (3.0, 3.0.2, and negotiable in 3.1.1).
    pub const AES_128_CCM: Self = Self(0x0001);
    /// AES-128-GCM (3.1.1).
    pub const AES_128_GCM: Self = Self(0x0002);
    /// AES-256-CCM (3.1.1).
    pub const AES_256_CCM: Self = Self(0x0003);
    /// AES-256-GCM (3.1.1).
    pub const AES_256_GCM: Self = Self(0x0004);

    /// The spec's name, if this is a known cipher.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::AES_128_CCM => Some("AES-128-CCM"),
            Self::AES_128_GCM => Some("AES-128-GCM"),
            Self::AES_256_CCM => Some("AES-256-CCM"),
            Self::AES_256_GCM => Some("AES-256-GCM"),
            _ => None,
        }
    }

    /// Key length in bytes, if known.
    pub fn key_len(self) -> Option<usize> {
        match self {
            Self::AES_128_CCM | Self::AES_128_GCM => Some(16),
            Self::AES_256_CCM | Self::AES_256_GCM => Some(32),
            _ => None,
        }
    }

    /// How many leading bytes of the Nonce field the cipher uses (MS-SMB2 2.2.41): 11 for CCM,
    /// 12 for GCM.
    pub fn nonce_len(self) -> Option<usize> {
        match self {
            Self::AES_128_CCM | Self::AES_256_CCM => Some(11),
            Self::AES_128_GCM | Self::AES_256_GCM => Some(12),
            _ => None,
        }
    }
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Cipher({:#06x})", self.0),
        }
    }
}

/// One keyed AEAD. The RustCrypto types hold the expanded key and zeroize it on drop.
enum Aead {
    Ccm128(Box<Aes128Ccm>),
    Gcm128(Box<Aes128Gcm>),
    Ccm256(Box<Aes256Ccm>),
    Gcm256(Box<Aes256Gcm>),
}

impl Aead {
    fn new(cipher: Cipher, key: &[u8], what: &'static str) -> Result<Self, CryptoError> {
        let Some(expected) = cipher.key_len() else {
            return Err(CryptoError::UnsupportedCipher(cipher));
        };
        let wrong = || CryptoError::WrongKeyLength {
            what,
            expected,
            got: key.len(),
        };
        Ok(match cipher {
            Cipher::AES_128_CCM => Self::Ccm128(Box::new(
                Aes128Ccm::new_from_slice(key).map_err(|_| wrong())?,
            )),
            Cipher::AES_128_GCM => Self::Gcm128(Box::new(
                Aes128Gcm::new_from_slice(key).map_err(|_| wrong())?,
            )),
            Cipher::AES_256_CCM => Self::Ccm256(Box::new(
                Aes256Ccm::new_from_slice(key).map_err(|_| wrong())?,
            )),
            _ => Self::Gcm256(Box::new(
                Aes256Gcm::new_from_slice(key).map_err(|_| wrong())?,
            )),
        })
    }

    fn nonce_len(&self) -> usize {
        match self {
            Self::Ccm128(_) | Self::Ccm256(_) => 11,
            Self::Gcm128(_) | Self::Gcm256(_) => 12,
        }
    }

    /// Encrypt `body` in place; the tag.
    fn seal(&self, nonce: &[u8; 16], aad: &[u8], body: &mut [u8]) -> Result<[u8; 16], ()> {
        let tag = match self {
            Self::Ccm128(a) => a.encrypt_inout_detached(&ccm_nonce(nonce), aad, body.into()),
            Self::Ccm256(a) => a.encrypt_inout_detached(&ccm_nonce(nonce), aad, body.into()),
            Self::Gcm128(a) => a.encrypt_inout_detached(&gcm_nonce(nonce), aad, body.into()),
            Self::Gcm256(a) => a.encrypt_inout_detached(&gcm_nonce(nonce), aad, body.into()),
        }
        .map_err(|_| ())?;
        let mut out = [0u8; 16];
        out.copy_from_slice(&tag);
        Ok(out)
    }

    /// Decrypt `body` in place if `tag` authenticates it.
    fn open(
        &self,
        nonce: &[u8; 16],
        aad: &[u8],
        body: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), ()> {
        let tag = (*tag).into();
        match self {
            Self::Ccm128(a) => a.decrypt_inout_detached(&ccm_nonce(nonce), aad, body.into(), &tag),
            Self::Ccm256(a) => a.decrypt_inout_detached(&ccm_nonce(nonce), aad, body.into(), &tag),
            Self::Gcm128(a) => a.decrypt_inout_detached(&gcm_nonce(nonce), aad, body.into(), &tag),
            Self::Gcm256(a) => a.decrypt_inout_detached(&gcm_nonce(nonce), aad, body.into(), &tag),
        }
        .map_err(|_| ())
    }
}

fn ccm_nonce(field: &[u8; 16]) -> ccm::Nonce<U11> {
    let n: [u8; 11] = core::array::from_fn(|i| field[i]);
    n.into()
}

fn gcm_nonce(field: &[u8; 16]) -> aes_gcm::Nonce<aes_gcm::aead::consts::U12> {
    let n: [u8; 12] = core::array::from_fn(|i| field[i]);
    n.into()
}

/// Encrypts outgoing messages with Session.EncryptionKey (MS-SMB2 3.1.4.3).
pub struct Sealer {
    cipher: Cipher,
    aead: Aead,
}

impl Sealer {
    /// A sealer for `cipher` keyed with `key` (16 bytes for AES-128, 32 for AES-256).
    pub fn new(cipher: Cipher, key: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self {
            cipher,
            aead: Aead::new(cipher, key, "encryption key")?,
        })
    }

    /// The cipher this sealer uses.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// Seal one frame in place. `buf` is 52 bytes of room for the TRANSFORM_HEADER followed by
    /// the plaintext SMB2 message(s). Fills the header (ProtocolId, Nonce, OriginalMessageSize,
    /// Flags = 0x0001, SessionId), encrypts the rest in place and writes the tag into Signature.
    ///
    /// `nonce` must never repeat within the session under this key (MS-SMB2 2.2.41); only its
    /// first 11 (CCM) or 12 (GCM) bytes are used, the rest of the Nonce field is written as
    /// zero.
    pub fn seal(
        &self,
        session_id: SessionId,
        nonce: [u8; 16],
        buf: &mut [u8],
    ) -> Result<(), CryptoError> {
        let got = buf.len();
        let Some((hdr, body)) = buf.split_first_chunk_mut::<TRANSFORM_HEADER_LEN>() else {
            return Err(too_short(got));
        };
        if body.is_empty() {
            return Err(too_short(got));
        }
        let size = u32::try_from(body.len()).map_err(|_| CryptoError::TooLarge(body.len()))?;
        let mut field = [0u8; 16];
        let n = self.aead.nonce_len();
        field[..n].copy_from_slice(&nonce[..n]);
        TransformHeader {
            signature: [0; 16],
            nonce: field,
            original_message_size: size,
            flags: TransformHeader::FLAGS_ENCRYPTED,
            session_id,
        }
        .write_to(hdr);
        let tag = self
            .aead
            .seal(&field, &hdr[AAD_RANGE], body)
            .map_err(|()| CryptoError::EncryptionFailed)?;
        hdr[SIGNATURE_RANGE].copy_from_slice(&tag);
        Ok(())
    }
}

/// Decrypts incoming messages with Session.DecryptionKey (MS-SMB2 3.2.5.1.1.1).
pub struct Opener {
    cipher: Cipher,
    aead: Aead,
}

impl Opener {
    /// An opener for `cipher` keyed with `key` (16 bytes for AES-128, 32 for AES-256).
    pub fn new(cipher: Cipher, key: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self {
            cipher,
            aead: Aead::new(cipher, key, "decryption key")?,
        })
    }

    /// The cipher this opener uses.
    pub fn cipher(&self) -> Cipher {
        self.cipher
    }

    /// Open one received frame in place: `buf` is the TRANSFORM_HEADER followed by the
    /// ciphertext. The header is checked first ([`TransformHeader::decode`]: ProtocolId, Flags,
    /// OriginalMessageSize equal to what follows); on success `buf[52..]` holds the plaintext.
    /// On failure `buf[52..]` holds no plaintext (still ciphertext, or zeros).
    ///
    /// The caller picks the session (hence this opener) by the header's SessionId, which it can
    /// read with [`TransformHeader::decode`] beforehand.
    pub fn open(&self, buf: &mut [u8]) -> Result<(), CryptoError> {
        let header = TransformHeader::decode(buf)?;
        let got = buf.len();
        let Some((hdr, body)) = buf.split_first_chunk_mut::<TRANSFORM_HEADER_LEN>() else {
            return Err(too_short(got));
        };
        self.aead
            .open(&header.nonce, &hdr[AAD_RANGE], body, &header.signature)
            .map_err(|()| CryptoError::DecryptionFailed)
    }
}

fn too_short(got: usize) -> CryptoError {
    CryptoError::TooShort {
        what: "transformed frame",
        need: TRANSFORM_HEADER_LEN + 1,
        got,
    }
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealer")
            .field("cipher", &self.cipher)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl fmt::Debug for Opener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Opener")
            .field("cipher", &self.cipher)
            .field("key", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::DecodeError;
    use hex_literal::hex;

    /// One sample transformed message from "SMB 3.1.1 Encryption in Windows 10" (Microsoft Open
    /// Specifications blog), Appendix A.
    struct Sample {
        name: &'static str,
        cipher: Cipher,
        key: [u8; 16],
        plaintext: &'static [u8],
        transformed: &'static [u8],
    }

    const GCM_ENC: [u8; 16] = hex!("A2F5E80E5D59103034F32E52F698E5EC");
    const GCM_DEC: [u8; 16] = hex!("748C50868C90F302962A5C35F5F9A8BF");
    const CCM_ENC: [u8; 16] = hex!("DFAAA31AAE40A2485D47AC4DF09FDA1D");
    const CCM_DEC: [u8; 16] = hex!("95C544AEF6072680DA1CE49A68A97FA6");

    fn samples() -> [Sample; 8] {
        [
            Sample {
                name: "A.1 WRITE request",
                cipher: Cipher::AES_128_GCM,
                key: GCM_ENC,
                plaintext: &hex!(
                    "FE534D4240000100000000000900010008000000000000000500000000000000FFFE000001000000"
                    "25000000001000000000000000000000000000000000000031007000170000000000000000000000"
                    "0600000004000000010000000400000000000000000000007000000000000000536D623320656E63"
                    "72797074696F6E2074657374696E67"
                ),
                transformed: &hex!(
                    "FD534D42BD73D97D2BC9001BCAFAC0FDFF5FEEBCC7D6822D269CAF48904C664C0000000087000000"
                    "0000010025000000001000006ECDD2A7AFC7B47763057A041B8FD4DAFFE990B70C9E09D36C084E02"
                    "D14EF247F8BDE38ACF6256F8B1D3B56F77FBDEB312FEA5E92CBCC1ED8FB2EBBFAA75E49A4A394BB4"
                    "4576545567C24D4C014D47C9FBDFDAFD2C4F9B72F8D256452620A299F48E29E53D6B61D1C13A19E9"
                    "1AF013F00D17E3ABC2FC3D36C8C1B6B93973253852DBD442E46EE8"
                ),
            },
            Sample {
                name: "A.1 WRITE response",
                cipher: Cipher::AES_128_GCM,
                key: GCM_DEC,
                plaintext: &hex!(
                    "FE534D4240000100000000000900010001000000000000000500000000000000FFFE000001000000"
                    "25000000001000000000000000000000000000000000000011000000170000000000000000000000"
                ),
                transformed: &hex!(
                    "FD534D42ACBE1CB7ED343ADF1725EF144D90D4B0E06831DD2E8EB7B4000000000000000050000000"
                    "00000100250000000010000026BBBF949983A6C1C796559D0F2C510CB651D1F7B6AC8DED32A2A0B8"
                    "F2D793A815C6F6B848D69767A215841A42D400AE6DDB5F0B44173A014973321FDD7950DA6179159B"
                    "82E03C9E18A050FF0EA1C967"
                ),
            },
            Sample {
                name: "A.1 READ request",
                cipher: Cipher::AES_128_GCM,
                key: GCM_ENC,
                plaintext: &hex!(
                    "FE534D4240000100000000000800010008000000000000000600000000000000FFFE000001000000"
                    "25000000001000000000000000000000000000000000000031000000170000000000000000000000"
                    "060000000400000001000000040000000000000000000000000000000000000000"
                ),
                transformed: &hex!(
                    "FD534D426DAC0B6FD85A3ED42BB917DA38FE0386D7AA8C6D36859243B715E0A60000000071000000"
                    "00000100250000000010000088A47BF09CA3C3141CDD7306BE9D9475AB24FCCB833D77461C041F8F"
                    "B983D0C188F0729272B31D9D3D0DC6B687C069EEE0CC8EACA2C536D019ACC9E185D1EB630E0FCB79"
                    "3EEECEB06D82A1D77706E700DBEBFB4FEB54D7AD2D97E7288804F90757FE4D08D6A84A3FF433E745"
                    "1E768E4699"
                ),
            },
            Sample {
                name: "A.1 READ response",
                cipher: Cipher::AES_128_GCM,
                key: GCM_DEC,
                plaintext: &hex!(
                    "FE534D4240000100000000000800010001000000000000000600000000000000FFFE000001000000"
                    "25000000001000000000000000000000000000000000000011005000170000000000000000000000"
                    "536D623320656E6372797074696F6E2074657374696E67"
                ),
                transformed: &hex!(
                    "FD534D427F714B3B9D8FA1198584E71C2BAA1CB6E16831DD2E8EB7B4000000000000000067000000"
                    "000001002500000000100000FECEDF4D03BB11A6CC5D8A53BE33D6D8701986342B4197D306E16F9C"
                    "BB218E92F7F8281F51CE68BB85A20D87DE90EBBF80538066D1C37513C0A58D70936D537B624F5500"
                    "202A612B6CD30D448A82791A0B2E049ED512AFAEFB06E98AB3D6F931D7D50DB2DBD36A"
                ),
            },
            Sample {
                name: "A.2 WRITE request",
                cipher: Cipher::AES_128_CCM,
                key: CCM_ENC,
                plaintext: &hex!(
                    "FE534D4240000100000000000900010008000000000000000500000000000000FFFE000001000000"
                    "21000000001000000000000000000000000000000000000031007000170000000000000000000000"
                    "0500000004000000010000000400000000000000000000007000000000000000536D623320656E63"
                    "72797074696F6E2074657374696E67"
                ),
                transformed: &hex!(
                    "FD534D42E89551D666DAB8993488F5A97103116C9F6F1EAAD7E9F24AACD38F000000000087000000"
                    "00000100210000000010000056A74778199A9D2B6E9C3A376FD88D27680694FED253A313BEB07381"
                    "AE8689F973ACDB8D716E4477803BCE53A92E1B81FA3E965AD9AF2C89C08CE66A344664453B8FC881"
                    "18EDC9814CF58E92AA465E6EFB09958A9FDAD96FBD55B36A710C30D5E7C64AD7B9449F9F17EDD024"
                    "FE8BA79154F340A82740D1D5180C69B0A2DE6A4BA893BD55D3210E"
                ),
            },
            Sample {
                name: "A.2 WRITE response",
                cipher: Cipher::AES_128_CCM,
                key: CCM_DEC,
                plaintext: &hex!(
                    "FE534D4240000100000000000900010001000000000000000500000000000000FFFE000001000000"
                    "21000000001000000000000000000000000000000000000011000000170000000000000000000000"
                ),
                transformed: &hex!(
                    "FD534D42DD33EC41A927DD51476FE887C2D3C136D96831DD2E8EB7B4000000000000000050000000"
                    "000001002100000000100000F783157E0F6F1C055D746753CA16D20C21088E2A67564E056C2F68A7"
                    "F14F226C3BD809B7A2D52E5FE4ECF49821BC6001733430CF174E2764B3CCB213AAD8BB9FBAF6C15E"
                    "13D9120965390E004A96A3F7"
                ),
            },
            Sample {
                name: "A.2 READ request",
                cipher: Cipher::AES_128_CCM,
                key: CCM_ENC,
                plaintext: &hex!(
                    "FE534D4240000100000000000800010008000000000000000600000000000000FFFE000001000000"
                    "21000000001000000000000000000000000000000000000031000000170000000000000000000000"
                    "050000000400000001000000040000000000000000000000000000000000000000"
                ),
                transformed: &hex!(
                    "FD534D4235BF9600C841F0CDA9BD1BC3727B7E36A0F92E964EDC3049B86E19000000000071000000"
                    "000001002100000000100000C4CCD3EB483A0638E69C99E391E7F64BCC10D6BEE46FEEA258C4BCAF"
                    "792CB5A6E69283924081806DAB64827E9D14A5345D5221AB6DAFCB0E89FC2606B63D92163F4F6C93"
                    "D1213D86ABF123B93EAD3AEF9A3471EFD68A423A00A6E0064D9AE3C842EFFFAD236A3BF25D37F4CD"
                    "054C97DE18"
                ),
            },
            Sample {
                name: "A.2 READ response",
                cipher: Cipher::AES_128_CCM,
                key: CCM_DEC,
                plaintext: &hex!(
                    "FE534D4240000100000000000800010001000000000000000600000000000000FFFE000001000000"
                    "21000000001000000000000000000000000000000000000011005000170000000000000000000000"
                    "536D623320656E6372797074696F6E2074657374696E67"
                ),
                transformed: &hex!(
                    "FD534D42E241A13C7E1EE42ECF1FD69F3B8668C6DA6831DD2E8EB7B4000000000000000067000000"
                    "00000100210000000010000015D67234FC8358D7BA1BF037ABC8EFD41A0A8F9BB04B16DEB1E85606"
                    "BD8C2770823FE6239A286CB3E3D5762ABBD53FD8DE11ED491FE905E146A8FFCE09414AB741103D63"
                    "7E28B19C6BA759B399DCC21FAE24CF2A455A13B215FC2857ABB513927F9F271D1C208B"
                ),
            },
        ]
    }

    fn frame_for(plaintext: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; TRANSFORM_HEADER_LEN];
        buf.extend_from_slice(plaintext);
        buf
    }

    #[test]
    fn seals_like_windows() {
        // Both directions use the same construction, so every sample checks sealing (with the
        // sample's key, whichever side it was) as well as opening.
        for s in samples() {
            let header = TransformHeader::decode(s.transformed).unwrap();
            let mut buf = frame_for(s.plaintext);
            let sealer = Sealer::new(s.cipher, &s.key).unwrap();
            sealer
                .seal(header.session_id, header.nonce, &mut buf)
                .unwrap();
            assert_eq!(buf, s.transformed, "{}", s.name);
        }
    }

    #[test]
    fn opens_what_windows_sealed() {
        for s in samples() {
            let mut buf = s.transformed.to_vec();
            Opener::new(s.cipher, &s.key)
                .unwrap()
                .open(&mut buf)
                .unwrap();
            assert_eq!(&buf[TRANSFORM_HEADER_LEN..], s.plaintext, "{}", s.name);
        }
    }

    #[test]
    fn seal_ignores_nonce_bytes_the_cipher_does_not_use() {
        let s = &samples()[4]; // CCM: 11 bytes
        let header = TransformHeader::decode(s.transformed).unwrap();
        let mut nonce = header.nonce;
        nonce[11..].fill(0xFF);
        let mut buf = frame_for(s.plaintext);
        Sealer::new(s.cipher, &s.key)
            .unwrap()
            .seal(header.session_id, nonce, &mut buf)
            .unwrap();
        assert_eq!(buf, s.transformed);
    }

    #[test]
    fn tampering_is_detected_for_every_cipher() {
        let ciphers = [
            (Cipher::AES_128_CCM, 16),
            (Cipher::AES_128_GCM, 16),
            (Cipher::AES_256_CCM, 32),
            (Cipher::AES_256_GCM, 32),
        ];
        let plaintext: Vec<u8> = (0..200u8).collect();
        for (cipher, key_len) in ciphers {
            let key: Vec<u8> = (0..key_len).map(|i| i as u8 ^ 0x5C).collect();
            let sealer = Sealer::new(cipher, &key).unwrap();
            let opener = Opener::new(cipher, &key).unwrap();
            let mut sealed = frame_for(&plaintext);
            sealer.seal(SessionId(0x77), [9; 16], &mut sealed).unwrap();
            assert_ne!(
                &sealed[TRANSFORM_HEADER_LEN..],
                &plaintext[..],
                "{cipher:?}"
            );
            let mut ok = sealed.clone();
            opener.open(&mut ok).unwrap();
            assert_eq!(&ok[TRANSFORM_HEADER_LEN..], &plaintext[..], "{cipher:?}");

            // Flip one bit in the signature, the nonce (the unused bytes too: they are part of
            // the associated data), Reserved, SessionId and the body.
            for i in (4..36)
                .chain(40..42)
                .chain(44..52)
                .chain([52, 100, sealed.len() - 1])
            {
                let mut bad = sealed.clone();
                bad[i] ^= 0x04;
                assert_eq!(
                    opener.open(&mut bad),
                    Err(CryptoError::DecryptionFailed),
                    "{cipher:?} byte {i}"
                );
                assert_ne!(
                    &bad[TRANSFORM_HEADER_LEN..],
                    &plaintext[..],
                    "{cipher:?} byte {i}"
                );
            }
            // Header fields whose change the decoder catches before the cipher runs.
            let mut bad = sealed.clone();
            bad[42] ^= 0x02; // Flags
            assert!(matches!(
                opener.open(&mut bad),
                Err(CryptoError::Transform(_))
            ));
            let mut bad = sealed.clone();
            bad[36] ^= 0x01; // OriginalMessageSize
            assert!(matches!(
                opener.open(&mut bad),
                Err(CryptoError::Transform(_))
            ));

            // Another key fails too.
            let other = Opener::new(cipher, &vec![0x11; key_len]).unwrap();
            assert_eq!(
                other.open(&mut sealed.clone()),
                Err(CryptoError::DecryptionFailed)
            );
        }
    }

    #[test]
    fn aes256_matches_an_independent_implementation() {
        // No published SMB AES-256 vector. Computed with Python's `cryptography` (AESCCM with
        // tag_length=16, AESGCM), independent of the RustCrypto crates:
        //   key = bytes(range(32)); pt = bytes(range(100)); sid = 0x1100000000000022
        //   nonce16 = bytes(range(0xA0, 0xB0)); n = nonce16[:11] (CCM) or [:12] (GCM)
        //   field = n + bytes(16 - len(n))
        //   aad = field + (100).to_bytes(4, "little") + bytes(2) + (1).to_bytes(2, "little")
        //         + sid.to_bytes(8, "little")
        //   ct_and_tag = AESxxM(key).encrypt(n, pt, aad)
        //   frame = b"\xfdSMB" + ct_and_tag[-16:] + aad + ct_and_tag[:-16]
        let key: Vec<u8> = (0u8..32).collect();
        let pt: Vec<u8> = (0u8..100).collect();
        let nonce: [u8; 16] = core::array::from_fn(|i| 0xA0 + i as u8);
        let ccm = hex!(
            "FD534D42A8CDD0EDF664DDE78231DBE7ED9E5DDCA0A1A2A3A4A5A6A7A8A9AA000000000064000000"
            "00000100220000000000001198A0418CF557F249E0F23FF93AE8BAE6DADD4CCA8D248447EA925736"
            "5D243B6B71160C3D441F57E87FC9FB9845349C9FB2B19060CA99E87CBEE91F6D0DB14E3C1A0BA3DF"
            "32A83DACE97B8ED7A7B4F490DA302500C9A7D298BBE6B357ADC0E7A78A660C59"
        );
        let gcm = hex!(
            "FD534D424493A8B2FD39AC2E1F310DD7DBDDF8A8A0A1A2A3A4A5A6A7A8A9AAAB0000000064000000"
            "000001002200000000000011E6197E2E41CE04B86A6C8DD80B77CED160BD4B0386A2547B84173C9D"
            "63B66B1EF25765DC8B07751A77B52EE32557ADD6772A747B56E52C4979673165984DBB8FF4FDC72C"
            "74E0A2A7BCABB553C38382F59D5AF9F79194CF2DB62C64C1EDC713CBEFE549C8"
        );
        for (cipher, expect) in [
            (Cipher::AES_256_CCM, &ccm[..]),
            (Cipher::AES_256_GCM, &gcm[..]),
        ] {
            let mut buf = frame_for(&pt);
            let sealer = Sealer::new(cipher, &key).unwrap();
            sealer
                .seal(SessionId(0x1100_0000_0000_0022), nonce, &mut buf)
                .unwrap();
            assert_eq!(buf, expect, "{cipher:?}");
            Opener::new(cipher, &key).unwrap().open(&mut buf).unwrap();
            assert_eq!(&buf[TRANSFORM_HEADER_LEN..], &pt[..], "{cipher:?}");
        }
    }

    #[test]
    fn rejects_short_frames_and_bad_keys() {
        let sealer = Sealer::new(Cipher::AES_128_GCM, &[0; 16]).unwrap();
        for len in [0, 51, 52] {
            let mut buf = vec![0u8; len];
            assert!(matches!(
                sealer.seal(SessionId(1), [0; 16], &mut buf),
                Err(CryptoError::TooShort { need: 53, .. })
            ));
        }
        let opener = Opener::new(Cipher::AES_128_GCM, &[0; 16]).unwrap();
        for len in [0, 3, 51, 52] {
            let mut buf = vec![0u8; len];
            if len >= 4 {
                buf[..4].copy_from_slice(&[0xFD, b'S', b'M', b'B']);
            }
            assert!(
                matches!(opener.open(&mut buf), Err(CryptoError::Transform(_))),
                "{len}"
            );
        }
        let mut plain = frame_for(&[0u8; 70]);
        plain[..4].copy_from_slice(&[0xFE, b'S', b'M', b'B']);
        assert_eq!(
            opener.open(&mut plain),
            Err(CryptoError::Transform(DecodeError::Invalid {
                what: "TransformHeader.ProtocolId",
                value: 0xFE53_4D42
            }))
        );
        assert_eq!(
            Sealer::new(Cipher::AES_256_GCM, &[0; 16]).unwrap_err(),
            CryptoError::WrongKeyLength {
                what: "encryption key",
                expected: 32,
                got: 16
            }
        );
        assert_eq!(
            Opener::new(Cipher::AES_128_CCM, &[0; 32]).unwrap_err(),
            CryptoError::WrongKeyLength {
                what: "decryption key",
                expected: 16,
                got: 32
            }
        );
        assert!(matches!(
            Sealer::new(Cipher(5), &[0; 16]),
            Err(CryptoError::UnsupportedCipher(Cipher(5)))
        ));
        assert_eq!(format!("{:?}", Cipher(5)), "Cipher(0x0005)");
        let s = format!(
            "{:?}",
            Sealer::new(Cipher::AES_128_GCM, &[0x42; 16]).unwrap()
        );
        assert_eq!(s, r#"Sealer { cipher: AES-128-GCM, key: "<redacted>" }"#);
    }

    #[test]
    fn large_message_round_trip() {
        // An 8 MiB + header WRITE-sized frame through each cipher (in place, no copies).
        let len = 8 << 20;
        for (cipher, key_len) in [(Cipher::AES_128_GCM, 16), (Cipher::AES_256_CCM, 32)] {
            let key = vec![0xA5; key_len];
            let mut buf = vec![0u8; TRANSFORM_HEADER_LEN + len];
            for (i, b) in buf[TRANSFORM_HEADER_LEN..].iter_mut().enumerate() {
                *b = (i % 251) as u8;
            }
            Sealer::new(cipher, &key)
                .unwrap()
                .seal(SessionId(5), [1; 16], &mut buf)
                .unwrap();
            Opener::new(cipher, &key).unwrap().open(&mut buf).unwrap();
            assert!(
                buf[TRANSFORM_HEADER_LEN..]
                    .iter()
                    .enumerate()
                    .all(|(i, b)| *b == (i % 251) as u8)
            );
        }
    }
}
