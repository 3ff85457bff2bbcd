//! SMB2 session authentication: NTLMSSP ([MS-NLMP]) inside SPNEGO ([MS-SPNG], RFC 4178).
//!
//! Everything here is pure: no I/O, no clock, no randomness. The caller passes the client
//! challenge and the random session key in ([`AuthRandom`]) and the current time into
//! [`SpnegoNtlm::step`], so the MS-NLMP 4.2 test vectors reproduce exactly.
//!
//! - [`ntlm`]: the three NTLM messages, the NTLMv1/NTLMv2 responses and keys, and NTLM session
//!   security (the message signature SPNEGO's mechListMIC needs).
//! - [`spnego`]: a small bounded DER reader/writer and the NegTokenInit / NegTokenResp tokens.
//! - [`SpnegoNtlm`]: the client state machine tying both together; its
//!   [`session_key`](SpnegoNtlm::session_key) is the SMB2 session key.
//!
//! Secrets (password, keys) are zeroized on drop and never appear in `Debug` output or errors.
mod context;
pub mod ntlm;
mod primitives;
pub mod spnego;

pub use context::{AuthRandom, NtlmMode, SpnegoNtlm};
pub use spnego::{Oid, check_server_hint, server_mechanisms};

use crate::smb::wire::DecodeError;
use zeroize::Zeroizing;

/// Who we authenticate as. The password is zeroized on drop and `Debug` never prints it.
#[derive(Clone)]
pub struct Credentials {
    user: String,
    domain: String,
    password: Zeroizing<String>,
}

impl Credentials {
    /// A named user in `domain` (the NetBIOS domain or workgroup; may be empty).
    pub fn new(
        user: impl Into<String>,
        domain: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            user: user.into(),
            domain: domain.into(),
            password: Zeroizing::new(password.into()),
        }
    }

    /// A user written as `DOMAIN\user` or `DOMAIN/user` (as mount.cifs accepts it); anything else
    /// (including `user@realm`) is taken as the user name with an empty domain.
    pub fn from_qualified_user(spec: &str, password: impl Into<String>) -> Self {
        match spec.split_once(['\\', '/']) {
            Some((domain, user)) => Self::new(user, domain, password),
            None => Self::new(spec, "", password),
        }
    }

    /// The anonymous (null session) identity: empty user and password (MS-NLMP 3.1.5.1.2).
    pub fn anonymous() -> Self {
        Self::new("", "", "")
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub(crate) fn password(&self) -> &str {
        &self.password
    }

    /// MS-NLMP 3.1.5.1.2: "If (User is set to "" AND Passwd is set to "")" the client performs
    /// anonymous authentication.
    pub fn is_anonymous(&self) -> bool {
        self.user.is_empty() && self.password.is_empty()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("domain", &self.domain)
            .field("password", &format_args!("<redacted>"))
            .finish()
    }
}

/// Why authentication could not proceed. Messages name the field or rule at fault and never
/// carry secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A SPNEGO/DER token from the server is malformed.
    #[error("malformed SPNEGO token: {what}: {reason}")]
    MalformedToken {
        what: &'static str,
        reason: &'static str,
    },
    /// An NTLM message from the server is malformed.
    #[error("malformed NTLM message: {0}")]
    MalformedNtlm(#[from] DecodeError),
    /// The server answered negState reject (RFC 4178 4.2.2).
    #[error("the server rejected the authentication (SPNEGO negState reject)")]
    Rejected,
    /// A negState that makes no sense at this step (e.g. accept-incomplete in the final token).
    #[error("unexpected SPNEGO negState {0} at this step")]
    UnexpectedNegState(u8),
    /// The server selected or offers only mechanisms other than NTLMSSP.
    #[error("the server chose mechanism {oid}, not NTLMSSP (1.3.6.1.4.1.311.2.2.10)")]
    UnsupportedMechanism { oid: String },
    /// The server's mechListMIC does not verify (RFC 4178 5: a downgrade or a wrong key).
    #[error("the server's SPNEGO mechListMIC does not verify")]
    MechListMicMismatch,
    /// The server sent a token where the exchange is already complete.
    #[error("unexpected {0} from the server after NTLM completed")]
    UnexpectedToken(&'static str),
    /// The server's CHALLENGE does not allow what this client requires.
    #[error("the server's NTLM CHALLENGE is not acceptable: {0}")]
    Incompatible(&'static str),
    /// A name is too long to fit an NTLM length field (u16 bytes).
    #[error("{0} is too long for an NTLM message")]
    TooLong(&'static str),
    /// A method was called in the wrong order (e.g. `step` before `initial_token`).
    #[error("authentication used out of order: {0}")]
    OutOfOrder(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_debug_redacts_the_password() {
        let c = Credentials::new("alice", "WORKGROUP", "hunter2-secret");
        let s = format!("{c:?}");
        assert!(s.contains("alice") && s.contains("WORKGROUP"), "{s}");
        assert!(s.contains("password: <redacted>"), "{s}");
        assert!(!s.contains("hunter2"), "{s}");
    }

    #[test]
    fn anonymous_and_qualified_users() {
        assert!(Credentials::anonymous().is_anonymous());
        assert!(!Credentials::new("guest", "", "").is_anonymous());
        let c = Credentials::from_qualified_user("DOM\\bob", "pw");
        assert_eq!((c.user(), c.domain(), c.password()), ("bob", "DOM", "pw"));
        let c = Credentials::from_qualified_user("DOM/bob", "pw");
        assert_eq!((c.user(), c.domain()), ("bob", "DOM"));
        let c = Credentials::from_qualified_user("bob@example.com", "pw");
        assert_eq!((c.user(), c.domain()), ("bob@example.com", ""));
    }

    #[test]
    fn errors_print_without_secrets() {
        let e = AuthError::MalformedToken {
            what: "negState",
            reason: "truncated",
        };
        assert_eq!(e.to_string(), "malformed SPNEGO token: negState: truncated");
    }
}
