//! The one public error type of the SMB client.
use crate::smb::auth::AuthError;
use crate::smb::crypto::CryptoError;
use crate::smb::proto::compound::SplitError;
use crate::smb::proto::negotiate::{NegotiateError, VersError};
use crate::smb::wire::nbss::FrameError;
use crate::smb::wire::{Command, DecodeError, NtStatus};
use std::time::Duration;

/// Everything that can go wrong talking to an SMB server, by cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// TCP connect failed (refused, unreachable, name not resolved).
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    /// TCP connect did not complete in time.
    #[error("cannot connect to {addr}: no answer within {after:?}")]
    ConnectTimeout { addr: String, after: Duration },
    /// The connection failed or was closed while in use.
    #[error("connection to the server lost: {0}")]
    Disconnected(String),
    /// A request got no final answer in time.
    #[error("{command} got no answer within {after:?}")]
    TimedOut { command: Command, after: Duration },
    /// The server answered with an error status.
    #[error("{command} failed: {status}")]
    Status { command: Command, status: NtStatus },
    /// A reply could not be decoded.
    #[error("malformed {command} response: {source}")]
    Decode {
        command: Command,
        source: DecodeError,
    },
    /// The server broke the protocol in a way that is not a decoding error.
    #[error("protocol violation: {0}")]
    Protocol(#[from] ProtocolError),
    #[error(transparent)]
    Negotiate(#[from] NegotiateError),
    #[error(transparent)]
    Vers(#[from] VersError),
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthError),
    #[error("{0}")]
    Crypto(#[from] CryptoError),
    /// A request of ours that cannot be made (bad path, option combination, size).
    #[error("{0}")]
    InvalidInput(String),
    /// A feature we do not implement (yet).
    #[error("{0}")]
    Unsupported(&'static str),
}

/// Ways a server can break the protocol, each named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    #[error("bad transport frame: {0}")]
    Frame(#[from] FrameError),
    #[error("bad compound response: {0}")]
    Split(#[from] SplitError),
    #[error("bad SMB2 header: {0}")]
    Header(DecodeError),
    #[error("the server speaks only SMB1 (CIFS 1.0), which is not supported")]
    Smb1Server,
    #[error("received a request, not a response (command {0})")]
    NotAResponse(Command),
    #[error("reply to {sent} came back as {got}")]
    CommandMismatch { sent: Command, got: Command },
    #[error("{command} response is not signed but the session requires signing")]
    Unsigned { command: Command },
    #[error("{command} response has a bad signature")]
    BadSignature { command: Command },
    #[error("{command} response was not encrypted but the session requires encryption")]
    Unencrypted { command: Command },
    #[error("encrypted message for unknown session {0:#x}")]
    UnknownEncryptedSession(u64),
    #[error("encrypted message failed to decrypt (authentication tag mismatch)")]
    DecryptFailed,
    #[error("validate negotiate info mismatch: the connection may have been tampered with")]
    ValidateNegotiateMismatch,
    #[error("server returned {got} bytes where at most {limit} were asked for")]
    TooMuchData { got: usize, limit: usize },
}

impl Error {
    /// The NTSTATUS if the server answered with an error status.
    pub fn status(&self) -> Option<NtStatus> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True if the connection is gone (reconnect may help).
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Self::Disconnected(_) | Self::TimedOut { .. })
    }

    pub(crate) fn decode(command: Command) -> impl FnOnce(DecodeError) -> Self {
        move |source| Self::Decode { command, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
