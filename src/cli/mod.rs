//! Command-line front end. `main.rs` parses arguments with clap and calls in here; everything
//! returns a [`CliError`] carrying the message and exit code, printed coreutils-style as
//! `fusevol: …`.
pub mod btfs;
pub mod docker;
pub mod mount;
pub mod smb;
pub mod task;

use crate::smb::Error as SmbError;
use std::fmt;

/// A failure to report: the message (without the `fusevol: ` prefix) and the exit status.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: i32,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }
    /// A usage error (exit status 2, as coreutils uses for "serious trouble" with arguments).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<crate::options::OptionError> for CliError {
    fn from(e: crate::options::OptionError) -> Self {
        Self::usage(e.to_string())
    }
}

/// `what: reason`, with SMB statuses shown as `no such file (STATUS_OBJECT_NAME_NOT_FOUND)`.
pub fn describe(e: &SmbError) -> String {
    match e {
        SmbError::Status { status, .. } => match status.name() {
            Some(n) => format!("{} (STATUS_{n})", status.describe()),
            None => format!("{} ({status})", status.describe()),
        },
        other => other.to_string(),
    }
}

/// `cannot <verb> '<what>': <reason>`.
pub fn fail(verb: &str, what: &str, e: &SmbError) -> CliError {
    CliError::new(format!("cannot {verb} '{what}': {}", describe(e)))
}
