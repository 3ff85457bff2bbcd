//! A session's keys (MS-SMB2 3.2.5.3.1 "Handling a New Authentication", server side 3.3.5.5.3).
//!
//! Session.SessionKey is the first 16 bytes of the key the authentication protocol returns
//! (right-padded with zeros if shorter, MS-SMB2 3.2.1.3). Then:
//!
//! | dialect | SigningKey | EncryptionKey (client→server) | DecryptionKey (server→client) | ApplicationKey |
//! |---|---|---|---|---|
//! | 2.0.2, 2.1 | SessionKey | — | — | SessionKey |
//! | 3.0, 3.0.2 | KDF(SessionKey, "SMB2AESCMAC\0", "SmbSign\0") | KDF(…, "SMB2AESCCM\0", "ServerIn \0") | KDF(…, "SMB2AESCCM\0", "ServerOut\0") | KDF(…, "SMB2APP\0", "SmbRpc\0") |
//! | 3.1.1 | KDF(SessionKey, "SMBSigningKey\0", H) | KDF(K, "SMBC2SCipherKey\0", H) | KDF(K, "SMBS2CCipherKey\0", H) | KDF(SessionKey, "SMBAppKey\0", H) |
//!
//! with KDF of MS-SMB2 3.1.4.2 and H the session's pre-authentication integrity hash. Signing
//! and application keys are always 128 bits (L = 128). The cipher keys are 128 bits from
//! K = SessionKey for AES-128-CCM/GCM, and 256 bits (L = 256) from K = Session.FullSessionKey,
//! the whole key from authentication, for AES-256-CCM/GCM (3.1.1 only). With NTLM both keys are
//! the same 16 bytes; a Kerberos AES-256 session key is 32. MS-SMB2 3.1.4.2 words L as following
//! the cipher, but the signing key stays L = 128 under AES-256 too: Samba's
//! `smb2_signing_key_create` derives it so, and ksmbd had to change to it after Windows clients
//! rejected its signatures (fs/ksmbd/auth.c `generate_key`: "For signing key, 'L' value should be
//! initialized to 128 if key size is 16bytes").
//!
//! 2.x has no KDF: an application asking for the session key gets Session.SessionKey, 3.x gets
//! Session.ApplicationKey (MS-SMB2 3.2.4.25), so [`SessionKeys::application_key`] is the session
//! key for 2.x.
//!
//! For session binding, only the new channel's signing key is derived (Channel.SigningKey);
//! the cipher keys stay those of the session: take [`SessionKeys::signing_key`] of a derivation
//! with the binding's session key and hash.
use super::kdf::derive;
use super::{Cipher, CryptoError, PreauthHash, SecretKey};
use std::fmt;

const SMB_2_0_2: u16 = 0x0202;
const SMB_2_1: u16 = 0x0210;
const SMB_3_0: u16 = 0x0300;
const SMB_3_0_2: u16 = 0x0302;
const SMB_3_1_1: u16 = 0x0311;

/// The keys of one session (client view). Zeroized on drop; `Debug` shows only lengths.
#[derive(Clone)]
pub struct SessionKeys {
    signing: SecretKey,
    application: SecretKey,
    encryption: Option<(Cipher, SecretKey, SecretKey)>,
}

impl SessionKeys {
    /// Session.SigningKey (3.x) or Session.SessionKey (2.x): the key for
    /// [`super::Signer::new`]. 16 bytes.
    pub fn signing_key(&self) -> &SecretKey {
        &self.signing
    }

    /// The key an application layered on SMB asks for (MS-SMB2 3.2.4.25; e.g. DCE/RPC over named
    /// pipes): Session.ApplicationKey for 3.x, Session.SessionKey for 2.x. 16 bytes.
    pub fn application_key(&self) -> &SecretKey {
        &self.application
    }

    /// The cipher the encryption keys are for, if any were derived.
    pub fn cipher(&self) -> Option<Cipher> {
        self.encryption.as_ref().map(|(c, _, _)| *c)
    }

    /// Session.EncryptionKey: the client seals what it sends with it (client→server; the
    /// server's DecryptionKey). 16 or 32 bytes, for [`super::Sealer::new`].
    pub fn encryption_key(&self) -> Option<&SecretKey> {
        self.encryption.as_ref().map(|(_, c2s, _)| c2s)
    }

    /// Session.DecryptionKey: the client opens what it receives with it (server→client; the
    /// server's EncryptionKey). 16 or 32 bytes, for [`super::Opener::new`].
    pub fn decryption_key(&self) -> Option<&SecretKey> {
        self.encryption.as_ref().map(|(_, _, s2c)| s2c)
    }
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionKeys")
            .field("signing", &self.signing)
            .field("application", &self.application)
            .field("cipher", &self.cipher())
            .finish_non_exhaustive()
    }
}

/// Derive a session's keys (MS-SMB2 3.2.5.3.1).
///
/// - `dialect`: Connection.Dialect (0x0202, 0x0210, 0x0300, 0x0302 or 0x0311).
/// - `full_session_key`: the key the authentication protocol returned (NTLM's
///   ExportedSessionKey, the Kerberos subkey), whole; truncation to Session.SessionKey happens
///   here.
/// - `preauth`: PreauthSession.PreauthIntegrityHashValue after the last SESSION_SETUP request
///   (3.1.1 only; ignored otherwise).
/// - `cipher`: Connection.CipherId if encryption keys are wanted, `None` if not. 3.0 and 3.0.2
///   know only AES-128-CCM; 2.x has no encryption.
pub fn derive_session_keys(
    dialect: u16,
    full_session_key: &[u8],
    preauth: Option<&PreauthHash>,
    cipher: Option<Cipher>,
) -> Result<SessionKeys, CryptoError> {
    if full_session_key.is_empty() {
        return Err(CryptoError::EmptySessionKey);
    }
    // Session.SessionKey: "The first 16 bytes of the cryptographic key for this authenticated
    // context. If the cryptographic key is less than 16 bytes, it is right-padded with zero
    // bytes." (MS-SMB2 3.2.1.3)
    let mut session_key = zeroize::Zeroizing::new([0u8; 16]);
    let n = full_session_key.len().min(16);
    session_key[..n].copy_from_slice(&full_session_key[..n]);
    let session_key: &[u8] = &session_key[..];

    match dialect {
        SMB_2_0_2 | SMB_2_1 => {
            if let Some(c) = cipher {
                return Err(CryptoError::CipherNotInDialect { cipher: c, dialect });
            }
            Ok(SessionKeys {
                signing: SecretKey::from_slice("signing key", session_key)?,
                application: SecretKey::from_slice("application key", session_key)?,
                encryption: None,
            })
        }
        SMB_3_0 | SMB_3_0_2 => {
            let encryption = match cipher {
                None => None,
                Some(Cipher::AES_128_CCM) => Some((
                    Cipher::AES_128_CCM,
                    secret(&derive::<16>(session_key, b"SMB2AESCCM\0", b"ServerIn \0")[..])?,
                    secret(&derive::<16>(session_key, b"SMB2AESCCM\0", b"ServerOut\0")[..])?,
                )),
                Some(c) => return Err(CryptoError::CipherNotInDialect { cipher: c, dialect }),
            };
            Ok(SessionKeys {
                signing: secret(&derive::<16>(session_key, b"SMB2AESCMAC\0", b"SmbSign\0")[..])?,
                application: secret(&derive::<16>(session_key, b"SMB2APP\0", b"SmbRpc\0")[..])?,
                encryption,
            })
        }
        SMB_3_1_1 => {
            let h = preauth.ok_or(CryptoError::MissingPreauthHash)?.as_bytes();
            let encryption = match cipher {
                None => None,
                Some(c @ (Cipher::AES_128_CCM | Cipher::AES_128_GCM)) => Some((
                    c,
                    secret(&derive::<16>(session_key, b"SMBC2SCipherKey\0", h)[..])?,
                    secret(&derive::<16>(session_key, b"SMBS2CCipherKey\0", h)[..])?,
                )),
                Some(c @ (Cipher::AES_256_CCM | Cipher::AES_256_GCM)) => Some((
                    c,
                    secret(&derive::<32>(full_session_key, b"SMBC2SCipherKey\0", h)[..])?,
                    secret(&derive::<32>(full_session_key, b"SMBS2CCipherKey\0", h)[..])?,
                )),
                Some(c) => return Err(CryptoError::UnsupportedCipher(c)),
            };
            Ok(SessionKeys {
                signing: secret(&derive::<16>(session_key, b"SMBSigningKey\0", h)[..])?,
                application: secret(&derive::<16>(session_key, b"SMBAppKey\0", h)[..])?,
                encryption,
            })
        }
        other => Err(CryptoError::UnsupportedDialect(other)),
    }
}

fn secret(bytes: &[u8]) -> Result<SecretKey, CryptoError> {
    SecretKey::from_slice("derived key", bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::crypto::preauth::tests::BLOG_311_SESSION_HASH;
    use hex_literal::hex;

    fn check(keys: &SessionKeys, signing: &[u8], enc: &[u8], dec: &[u8], app: &[u8]) {
        assert_eq!(keys.signing_key().as_bytes(), signing, "SigningKey");
        assert_eq!(
            keys.encryption_key().unwrap().as_bytes(),
            enc,
            "EncryptionKey"
        );
        assert_eq!(
            keys.decryption_key().unwrap().as_bytes(),
            dec,
            "DecryptionKey"
        );
        assert_eq!(keys.application_key().as_bytes(), app, "ApplicationKey");
    }

    #[test]
    fn smb30_anatomy_blog() {
        // "SMB 2 and SMB 3 security in Windows 10: the anatomy of signing and cryptographic
        // keys", Appendix, "Key derivation example for SMB 3.0 multichannel".
        let keys = derive_session_keys(
            0x0300,
            &hex!("7CD451825D0450D235424E44BA6E78CC"),
            None,
            Some(Cipher::AES_128_CCM),
        )
        .unwrap();
        check(
            &keys,
            &hex!("0B7E9C5CAC36C0F6EA9AB275298CEDCE"),
            &hex!("FAD27796665B313EBB578F388632B4F7"),
            &hex!("B0F0427F7CEB416D1D9DCC0CD4F99447"),
            &hex!("BB23A4575AA26C721AF525AF15A87B4F"),
        );
        // Second channel: its own Channel.SigningKey from its own session key.
        let bound = derive_session_keys(
            0x0300,
            &hex!("4E01A2B313BCF660CC250BEF021AEDE6"),
            None,
            None,
        )
        .unwrap();
        assert_eq!(
            bound.signing_key().as_bytes(),
            hex!("BA1A17DBBFEC349BCA105563D598952F")
        );
        assert!(bound.encryption_key().is_none());
        // 3.0.2 uses the same labels.
        let k302 = derive_session_keys(
            0x0302,
            &hex!("7CD451825D0450D235424E44BA6E78CC"),
            None,
            None,
        )
        .unwrap();
        assert_eq!(k302.signing_key().as_bytes(), keys.signing_key().as_bytes());
    }

    #[test]
    fn smb311_anatomy_blog() {
        // Same blog, "Key derivation example for SMB 3.1.1 multichannel", CypherId 0x0002.
        let h = PreauthHash::from_bytes(BLOG_311_SESSION_HASH);
        let keys = derive_session_keys(
            0x0311,
            &hex!("270E1BA896585EEB7AF3472D3B4C75A7"),
            Some(&h),
            Some(Cipher::AES_128_GCM),
        )
        .unwrap();
        check(
            &keys,
            &hex!("73FE7A9A77BEF0BDE49C650D8CCB5F76"),
            &hex!("629BCBC54422A0F572B97F45989B6073"),
            &hex!("E2AF0DCEFAC68DA71A0DFBD0D1350D74"),
            &hex!("6D7AD7954E9EC61E907B4D473DC178FF"),
        );
        assert_eq!(keys.cipher(), Some(Cipher::AES_128_GCM));

        // Second channel (session binding): Channel.SigningKey from the binding's session key
        // and the binding's own pre-authentication hash.
        let h2 = PreauthHash::from_bytes(hex!(
            "EA3BF912B11CBFEC5B1889E8209614218687F82FA5294521AD3063425E49E88A"
            "10BD022124CE25123BC9111F52D9566BA88BF46344E6063DC5E3FF0389026F6C"
        ));
        let bound = derive_session_keys(
            0x0311,
            &hex!("84B9DBB730116A8FA6E9889555C265F9"),
            Some(&h2),
            None,
        )
        .unwrap();
        assert_eq!(
            bound.signing_key().as_bytes(),
            hex!("C962BCA1A9DD1697B030644199705431")
        );
    }

    #[test]
    fn smb311_encryption_blog() {
        // "SMB 3.1.1 Encryption in Windows 10", Appendix A.1 (AES-128-GCM) and A.2 (AES-128-CCM).
        let gcm = derive_session_keys(
            0x0311,
            &hex!("419FDDF34C1E001909D362AE7FB6AF79"),
            Some(&PreauthHash::from_bytes(hex!(
                "B23F3CBFD69487D9832B79B1594A367CDD950909B774C3A4C412B4FCEA9EDDDB"
                "A7DB256BA2EA30E977F11F9B113247578E0E915C6D2A513B8F2FCA5707DC8770"
            ))),
            Some(Cipher::AES_128_GCM),
        )
        .unwrap();
        check(
            &gcm,
            &hex!("8765949DFEAEE105CE9118B45BE988F0"),
            &hex!("A2F5E80E5D59103034F32E52F698E5EC"),
            &hex!("748C50868C90F302962A5C35F5F9A8BF"),
            &hex!("099D610789FBE82055B313601C3E8CC4"),
        );
        let ccm = derive_session_keys(
            0x0311,
            &hex!("07B7F69C1E2581662DF6987E88F9E891"),
            Some(&PreauthHash::from_bytes(hex!(
                "DECF98A420718718F22090D3580FCC5E484BD310FA1268210C6E86335A8891E7"
                "67F5BCD99FA5A7859D665AD07A73EA94E1BCDB7CFA69A6962A28A244138340B1"
            ))),
            Some(Cipher::AES_128_CCM),
        )
        .unwrap();
        check(
            &ccm,
            &hex!("3DCC82C5795AE27F383242761078C59B"),
            &hex!("DFAAA31AAE40A2485D47AC4DF09FDA1D"),
            &hex!("95C544AEF6072680DA1CE49A68A97FA6"),
            &hex!("7A2F0F73EC2D530879B2913BBFCE242F"),
        );
    }

    #[test]
    fn smb311_aes256_uses_the_full_key_and_l256_for_cipher_keys_only() {
        // No published AES-256 vector. Expected values from Python's hmac (independent of this
        // code), following MS-SMB2 3.1.4.2/3.2.5.3.1 and Samba's smb2_signing_key_create:
        //   full = bytes(range(32)); h = bytes(range(100, 164))
        //   kdf(k, label, L) = hmac.new(k, (1).to_bytes(4, "big") + label + b"\0" + h
        //                               + L.to_bytes(4, "big"), "sha256").digest()[:L // 8]
        //   enc = kdf(full, b"SMBC2SCipherKey\0", 256); dec = kdf(full, b"SMBS2CCipherKey\0", 256)
        //   sig = kdf(full[:16], b"SMBSigningKey\0", 128); app = kdf(full[:16], b"SMBAppKey\0", 128)
        let full: Vec<u8> = (0u8..32).collect();
        let h = PreauthHash::from_bytes(core::array::from_fn(|i| 100 + i as u8));
        for cipher in [Cipher::AES_256_GCM, Cipher::AES_256_CCM] {
            let keys = derive_session_keys(0x0311, &full, Some(&h), Some(cipher)).unwrap();
            check(
                &keys,
                &hex!("9005a390ebdecdc5c8109bba2a413332"),
                &hex!("dc98ef8384bcd4b5ffe5361fbf0198cbd6486382a8fbd6dbca27fb76d496142a"),
                &hex!("62b64d19e9c7c6b6aa1a5bd948e041dd7c80222e14d08ab63bf8571ad397fd3f"),
                &hex!("bf34faf5a173dd1a7d28e64189ceab3a"),
            );
        }
        // The signing key does not depend on the cipher.
        let k128 = derive_session_keys(0x0311, &full, Some(&h), Some(Cipher::AES_128_GCM)).unwrap();
        let k256 = derive_session_keys(0x0311, &full, Some(&h), Some(Cipher::AES_256_GCM)).unwrap();
        assert_eq!(k128.signing_key().as_bytes(), k256.signing_key().as_bytes());
        assert_eq!(k128.encryption_key().unwrap().len(), 16);
    }

    #[test]
    fn smb2x_uses_the_padded_session_key() {
        let keys = derive_session_keys(0x0210, &[0xAB; 8], None, None).unwrap();
        let mut expect = [0u8; 16];
        expect[..8].fill(0xAB);
        assert_eq!(keys.signing_key().as_bytes(), expect);
        assert_eq!(keys.application_key().as_bytes(), expect);
        assert!(keys.cipher().is_none());
        // Longer keys are truncated to 16 bytes.
        let long = derive_session_keys(0x0202, &[0xCD; 32], None, None).unwrap();
        assert_eq!(long.signing_key().as_bytes(), [0xCD; 16]);
    }

    #[test]
    fn rejects_what_the_dialect_cannot_do() {
        let k = [1u8; 16];
        let h = PreauthHash::new();
        assert_eq!(
            derive_session_keys(0x0210, &k, None, Some(Cipher::AES_128_CCM)).unwrap_err(),
            CryptoError::CipherNotInDialect {
                cipher: Cipher::AES_128_CCM,
                dialect: 0x0210
            }
        );
        assert_eq!(
            derive_session_keys(0x0300, &k, None, Some(Cipher::AES_128_GCM)).unwrap_err(),
            CryptoError::CipherNotInDialect {
                cipher: Cipher::AES_128_GCM,
                dialect: 0x0300
            }
        );
        assert_eq!(
            derive_session_keys(0x0311, &k, Some(&h), Some(Cipher(9))).unwrap_err(),
            CryptoError::UnsupportedCipher(Cipher(9))
        );
        assert_eq!(
            derive_session_keys(0x0311, &k, None, None).unwrap_err(),
            CryptoError::MissingPreauthHash
        );
        assert_eq!(
            derive_session_keys(0x02FF, &k, None, None).unwrap_err(),
            CryptoError::UnsupportedDialect(0x02FF)
        );
        assert_eq!(
            derive_session_keys(0x0311, &[], Some(&h), None).unwrap_err(),
            CryptoError::EmptySessionKey
        );
    }

    #[test]
    fn debug_shows_no_key_bytes() {
        let keys = derive_session_keys(0x0210, &[0x5A; 16], None, None).unwrap();
        let s = format!("{keys:?}");
        assert!(!s.to_lowercase().contains("5a") && !s.contains("90"), "{s}");
    }
}
