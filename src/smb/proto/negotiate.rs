//! Dialect choice and the checks on the NEGOTIATE response (MS-SMB2 3.2.4.2.2.2, 3.2.5.2).
use crate::smb::wire::negotiate::{Dialect, NegotiateContext, NegotiateResponse, security_mode};
use std::fmt;

/// SHA-512, the only pre-auth integrity hash (MS-SMB2 2.2.3.1.1).
pub const HASH_SHA512: u16 = 0x0001;
/// Signing algorithm ids (MS-SMB2 2.2.3.1.7).
pub const SIGN_HMAC_SHA256: u16 = 0x0000;
pub const SIGN_AES_CMAC: u16 = 0x0001;
pub const SIGN_AES_GMAC: u16 = 0x0002;
/// Cipher ids (MS-SMB2 2.2.3.1.2).
pub const AES_128_CCM: u16 = 0x0001;
pub const AES_128_GCM: u16 = 0x0002;
pub const AES_256_CCM: u16 = 0x0003;
pub const AES_256_GCM: u16 = 0x0004;

/// Our cipher preference: GCM first (several times faster than CCM with AES-NI and PCLMUL, see
/// smb.md §6), 128 before 256 as Windows does. The server picks by its own order anyway.
pub const CIPHERS: [u16; 4] = [AES_128_GCM, AES_256_GCM, AES_128_CCM, AES_256_CCM];
/// Signing preference: GMAC (fast), then CMAC, then HMAC-SHA256.
pub const SIGNING_ALGORITHMS: [u16; 3] = [SIGN_AES_GMAC, SIGN_AES_CMAC, SIGN_HMAC_SHA256];

/// A `vers=` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersError {
    #[error("vers={0}: SMB1 (CIFS 1.0) is not supported; use vers=2.0 or newer")]
    Smb1(String),
    #[error(
        "vers={0}: unknown dialect (use 2.0, 2.1, 3, 3.0, 3.02, 3.0.2, 3.1.1, 3.11 or default)"
    )]
    Unknown(String),
}

/// The dialects to offer for a mount.cifs `vers=` value (mount.cifs(8), kernel fs_context.c):
/// `3` is "3.0 or newer", `default` is "the highest the server supports, at least 2.1".
pub fn dialects_for_vers(vers: Option<&str>) -> Result<Vec<Dialect>, VersError> {
    let d = |v: &[Dialect]| Ok(v.to_vec());
    match vers.map(str::trim) {
        None | Some("default") => d(&[
            Dialect::SMB_2_1,
            Dialect::SMB_3_0,
            Dialect::SMB_3_0_2,
            Dialect::SMB_3_1_1,
        ]),
        Some("2.0") => d(&[Dialect::SMB_2_0_2]),
        Some("2.1") => d(&[Dialect::SMB_2_1]),
        Some("3") => d(&[Dialect::SMB_3_0, Dialect::SMB_3_0_2, Dialect::SMB_3_1_1]),
        Some("3.0") => d(&[Dialect::SMB_3_0]),
        Some("3.02" | "3.0.2") => d(&[Dialect::SMB_3_0_2]),
        Some("3.1.1" | "3.11") => d(&[Dialect::SMB_3_1_1]),
        Some(v @ ("1.0" | "1")) => Err(VersError::Smb1(v.to_string())),
        Some(v) => Err(VersError::Unknown(v.to_string())),
    }
}

/// What the NEGOTIATE exchange settled.
#[derive(Debug, Clone)]
pub struct Negotiated {
    pub dialect: Dialect,
    pub server_guid: [u8; 16],
    pub capabilities: u32,
    pub server_signing_required: bool,
    pub signing_algorithm: u16,
    /// The cipher, if the dialect and the server support encryption.
    pub cipher: Option<u16>,
    pub max_read: u32,
    pub max_write: u32,
    pub max_transact: u32,
    pub security_blob: Vec<u8>,
}

/// A NEGOTIATE response we must refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiateError {
    #[error("server chose dialect {got}, which we did not offer (offered {offered})")]
    DialectNotOffered { got: Dialect, offered: DialectList },
    #[error("server sent no pre-auth integrity context for SMB 3.1.1 (MS-SMB2 3.2.5.2)")]
    NoPreauthContext,
    #[error("server chose pre-auth hash algorithm {0:#06x}, not SHA-512")]
    BadPreauthHash(u16),
    #[error("server chose cipher {0:#06x}, which we did not offer")]
    CipherNotOffered(u16),
    #[error("server chose signing algorithm {0:#06x}, which we did not offer")]
    SigningNotOffered(u16),
    #[error("server sent {0} contexts of one type where one is allowed")]
    DuplicateContext(&'static str),
    #[error("server's MaxReadSize/MaxWriteSize/MaxTransactSize ({0}) is below 4096")]
    TinyMaxSize(u32),
}

/// Dialects listed for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialectList(pub Vec<Dialect>);

impl fmt::Display for DialectList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Check a NEGOTIATE response against what we offered and settle the connection's parameters.
pub fn settle(offered: &[Dialect], resp: &NegotiateResponse) -> Result<Negotiated, NegotiateError> {
    // "If the DialectRevision in the SMB2 NEGOTIATE Response is not one of the dialects the
    // client requested, the client MUST return an error" — this is also the downgrade check.
    if !offered.contains(&resp.dialect) {
        return Err(NegotiateError::DialectNotOffered {
            got: resp.dialect,
            offered: DialectList(offered.to_vec()),
        });
    }
    let d = resp.dialect;
    let mut signing_algorithm = if d >= Dialect::SMB_3_0 {
        SIGN_AES_CMAC
    } else {
        SIGN_HMAC_SHA256
    };
    let mut cipher = None;
    if d == Dialect::SMB_3_0 || d == Dialect::SMB_3_0_2 {
        // 3.0/3.0.2 encrypt with AES-128-CCM when the server sets SMB2_GLOBAL_CAP_ENCRYPTION.
        if resp.capabilities & crate::smb::wire::negotiate::capabilities::ENCRYPTION != 0 {
            cipher = Some(AES_128_CCM);
        }
    }
    if d == Dialect::SMB_3_1_1 {
        let (mut preauth, mut enc, mut sign) = (0, 0, 0);
        for c in &resp.contexts {
            match c {
                NegotiateContext::PreauthIntegrity {
                    hash_algorithms, ..
                } => {
                    preauth += 1;
                    // "HashAlgorithmCount MUST be 1" in the response, SHA-512.
                    match hash_algorithms.as_slice() {
                        [HASH_SHA512] => {}
                        [h, ..] => return Err(NegotiateError::BadPreauthHash(*h)),
                        [] => return Err(NegotiateError::BadPreauthHash(0)),
                    }
                }
                NegotiateContext::Encryption { ciphers } => {
                    enc += 1;
                    match ciphers.as_slice() {
                        // 0 = the server supports none of ours.
                        [0] | [] => cipher = None,
                        [c] if CIPHERS.contains(c) => cipher = Some(*c),
                        [c, ..] => return Err(NegotiateError::CipherNotOffered(*c)),
                    }
                }
                NegotiateContext::Signing { algorithms } => {
                    sign += 1;
                    match algorithms.as_slice() {
                        [a] if SIGNING_ALGORITHMS.contains(a) => signing_algorithm = *a,
                        [a, ..] => return Err(NegotiateError::SigningNotOffered(*a)),
                        [] => return Err(NegotiateError::SigningNotOffered(0)),
                    }
                }
                NegotiateContext::Other { .. } => {}
            }
        }
        if preauth == 0 {
            return Err(NegotiateError::NoPreauthContext);
        }
        if preauth > 1 {
            return Err(NegotiateError::DuplicateContext("PREAUTH_INTEGRITY"));
        }
        if enc > 1 {
            return Err(NegotiateError::DuplicateContext("ENCRYPTION"));
        }
        if sign > 1 {
            return Err(NegotiateError::DuplicateContext("SIGNING"));
        }
    }
    let min = resp
        .max_read_size
        .min(resp.max_write_size)
        .min(resp.max_transact_size);
    if min < 4096 {
        return Err(NegotiateError::TinyMaxSize(min));
    }
    Ok(Negotiated {
        dialect: d,
        server_guid: resp.server_guid,
        capabilities: resp.capabilities,
        server_signing_required: resp.security_mode & security_mode::SIGNING_REQUIRED != 0,
        signing_algorithm,
        cipher,
        max_read: resp.max_read_size,
        max_write: resp.max_write_size,
        max_transact: resp.max_transact_size,
        security_blob: resp.security_buffer.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(d: Dialect, contexts: Vec<NegotiateContext>) -> NegotiateResponse {
        NegotiateResponse {
            security_mode: security_mode::SIGNING_ENABLED,
            dialect: d,
            server_guid: [1; 16],
            capabilities: 0,
            max_transact_size: 8 << 20,
            max_read_size: 8 << 20,
            max_write_size: 8 << 20,
            system_time: 0,
            server_start_time: 0,
            security_buffer: vec![],
            contexts,
        }
    }

    fn preauth() -> NegotiateContext {
        NegotiateContext::PreauthIntegrity {
            hash_algorithms: vec![HASH_SHA512],
            salt: vec![0; 32],
        }
    }

    #[test]
    fn vers_values_as_mount_cifs_takes_them() {
        use Dialect as D;
        let t = |v| dialects_for_vers(Some(v)).unwrap();
        assert_eq!(t("2.0"), [D::SMB_2_0_2]);
        assert_eq!(t("3"), [D::SMB_3_0, D::SMB_3_0_2, D::SMB_3_1_1]);
        assert_eq!(t("3.02"), t("3.0.2"));
        assert_eq!(t("3.11"), t("3.1.1"));
        assert_eq!(t("default"), dialects_for_vers(None).unwrap());
        assert!(matches!(
            dialects_for_vers(Some("1.0")),
            Err(VersError::Smb1(_))
        ));
        let e = dialects_for_vers(Some("4.0")).unwrap_err();
        assert!(e.to_string().contains("vers=4.0: unknown dialect"), "{e}");
    }

    #[test]
    fn refuses_a_dialect_not_offered() {
        let e = settle(&[Dialect::SMB_3_1_1], &resp(Dialect::SMB_2_1, vec![])).unwrap_err();
        assert!(e.to_string().contains("did not offer"), "{e}");
    }

    #[test]
    fn settles_311_contexts() {
        let r = resp(
            Dialect::SMB_3_1_1,
            vec![
                preauth(),
                NegotiateContext::Encryption {
                    ciphers: vec![AES_256_GCM],
                },
                NegotiateContext::Signing {
                    algorithms: vec![SIGN_AES_GMAC],
                },
            ],
        );
        let n = settle(&[Dialect::SMB_3_1_1], &r).unwrap();
        assert_eq!(n.cipher, Some(AES_256_GCM));
        assert_eq!(n.signing_algorithm, SIGN_AES_GMAC);
    }

    #[test]
    fn refuses_311_without_preauth_or_with_unoffered_choices() {
        let off = [Dialect::SMB_3_1_1];
        assert_eq!(
            settle(&off, &resp(Dialect::SMB_3_1_1, vec![])).unwrap_err(),
            NegotiateError::NoPreauthContext
        );
        let r = resp(
            Dialect::SMB_3_1_1,
            vec![preauth(), NegotiateContext::Encryption { ciphers: vec![9] }],
        );
        assert_eq!(
            settle(&off, &r).unwrap_err(),
            NegotiateError::CipherNotOffered(9)
        );
        let r = resp(Dialect::SMB_3_1_1, vec![preauth(), preauth()]);
        assert!(matches!(
            settle(&off, &r),
            Err(NegotiateError::DuplicateContext(_))
        ));
    }

    #[test]
    fn dialect_defaults_for_signing_and_cipher() {
        let n = settle(&[Dialect::SMB_2_1], &resp(Dialect::SMB_2_1, vec![])).unwrap();
        assert_eq!((n.signing_algorithm, n.cipher), (SIGN_HMAC_SHA256, None));
        let mut r = resp(Dialect::SMB_3_0, vec![]);
        r.capabilities = crate::smb::wire::negotiate::capabilities::ENCRYPTION;
        let n = settle(&[Dialect::SMB_3_0], &r).unwrap();
        assert_eq!(
            (n.signing_algorithm, n.cipher),
            (SIGN_AES_CMAC, Some(AES_128_CCM))
        );
    }
}
