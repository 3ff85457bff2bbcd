//! NTSTATUS values (MS-ERREF 2.3): an open number type with names for the codes SMB2 uses.
use std::fmt;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NtStatus(pub u32);

macro_rules! statuses {
    ($($name:ident = $v:expr),* $(,)?) => {
        impl NtStatus {
            $(pub const $name: Self = Self($v);)*
            /// The MS-ERREF name without the `STATUS_` prefix, if known.
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $($v => Some(stringify!($name)),)* _ => None }
            }
        }
    };
}

statuses! {
    SUCCESS = 0x0000_0000,
    PENDING = 0x0000_0103,
    NOTIFY_ENUM_DIR = 0x0000_010C,
    BUFFER_OVERFLOW = 0x8000_0005,
    NO_MORE_FILES = 0x8000_0006,
    STOPPED_ON_SYMLINK = 0x8000_002D,
    UNSUCCESSFUL = 0xC000_0001,
    NOT_IMPLEMENTED = 0xC000_0002,
    INVALID_INFO_CLASS = 0xC000_0003,
    INFO_LENGTH_MISMATCH = 0xC000_0004,
    INVALID_HANDLE = 0xC000_0008,
    INVALID_PARAMETER = 0xC000_000D,
    NO_SUCH_FILE = 0xC000_000F,
    INVALID_DEVICE_REQUEST = 0xC000_0010,
    END_OF_FILE = 0xC000_0011,
    MORE_PROCESSING_REQUIRED = 0xC000_0016,
    ACCESS_DENIED = 0xC000_0022,
    BUFFER_TOO_SMALL = 0xC000_0023,
    OBJECT_NAME_INVALID = 0xC000_0033,
    OBJECT_NAME_NOT_FOUND = 0xC000_0034,
    OBJECT_NAME_COLLISION = 0xC000_0035,
    OBJECT_PATH_INVALID = 0xC000_0039,
    OBJECT_PATH_NOT_FOUND = 0xC000_003A,
    OBJECT_PATH_SYNTAX_BAD = 0xC000_003B,
    SHARING_VIOLATION = 0xC000_0043,
    DELETE_PENDING = 0xC000_0056,
    PRIVILEGE_NOT_HELD = 0xC000_0061,
    WRONG_PASSWORD = 0xC000_006A,
    LOGON_FAILURE = 0xC000_006D,
    ACCOUNT_RESTRICTION = 0xC000_006E,
    PASSWORD_EXPIRED = 0xC000_0071,
    ACCOUNT_DISABLED = 0xC000_0072,
    NONE_MAPPED = 0xC000_0073,
    RANGE_NOT_LOCKED = 0xC000_007E,
    DISK_FULL = 0xC000_007F,
    INSUFFICIENT_RESOURCES = 0xC000_009A,
    FILE_IS_A_DIRECTORY = 0xC000_00BA,
    NOT_SUPPORTED = 0xC000_00BB,
    NETWORK_NAME_DELETED = 0xC000_00C9,
    NETWORK_ACCESS_DENIED = 0xC000_00CA,
    BAD_NETWORK_NAME = 0xC000_00CC,
    REQUEST_NOT_ACCEPTED = 0xC000_00D0,
    DIRECTORY_NOT_EMPTY = 0xC000_0101,
    NOT_A_DIRECTORY = 0xC000_0103,
    CANCELLED = 0xC000_0120,
    FILE_CLOSED = 0xC000_0128,
    LOGON_TYPE_NOT_GRANTED = 0xC000_015B,
    IO_TIMEOUT = 0xC000_00B5,
    FILE_INVALID = 0xC000_0098,
    CANNOT_DELETE = 0xC000_0121,
    USER_SESSION_DELETED = 0xC000_0203,
    NETWORK_SESSION_EXPIRED = 0xC000_035C,
    NOT_A_REPARSE_POINT = 0xC000_0275,
    FS_DRIVER_REQUIRED = 0xC000_019C,
    INVALID_NETWORK_RESPONSE = 0xC000_00C3,
    CONNECTION_DISCONNECTED = 0xC000_020C,
    DUPLICATE_NAME = 0xC000_00BD,
    BAD_IMPERSONATION_LEVEL = 0xC000_00A5,
    OBJECT_NAME_EXISTS = 0x4000_0000,
    LOCK_NOT_GRANTED = 0xC000_0055,
    FILE_LOCK_CONFLICT = 0xC000_0054,
    MEDIA_WRITE_PROTECTED = 0xC000_00A2,
    TOO_MANY_OPENED_FILES = 0xC000_011F,
    QUOTA_EXCEEDED = 0xC000_0044,
    NAME_TOO_LONG = 0xC000_0106,
}

impl NtStatus {
    /// Severity "error" (the top two bits are 11, MS-ERREF 2.3).
    pub fn is_error(self) -> bool {
        self.0 >> 30 == 3
    }
    /// Severity "warning" (top bits 10): e.g. BUFFER_OVERFLOW, NO_MORE_FILES.
    pub fn is_warning(self) -> bool {
        self.0 >> 30 == 2
    }
    pub fn is_success(self) -> bool {
        self.0 >> 30 == 0
    }
}

impl fmt::Debug for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `STATUS_ACCESS_DENIED (0xc0000022)`, or the hex value alone when the code is unknown.
impl fmt::Display for NtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "STATUS_{n} ({:#010x})", self.0),
            None => write!(f, "NTSTATUS {:#010x}", self.0),
        }
    }
}

impl NtStatus {
    /// A short human phrase for messages, in the habit of coreutils ("no such file").
    pub fn describe(self) -> &'static str {
        match self {
            Self::OBJECT_NAME_NOT_FOUND | Self::NO_SUCH_FILE => "no such file",
            Self::OBJECT_PATH_NOT_FOUND => "no such directory in the path",
            Self::OBJECT_NAME_COLLISION | Self::OBJECT_NAME_EXISTS => "file exists",
            Self::ACCESS_DENIED | Self::NETWORK_ACCESS_DENIED => "permission denied",
            Self::DIRECTORY_NOT_EMPTY => "directory not empty",
            Self::NOT_A_DIRECTORY => "not a directory",
            Self::FILE_IS_A_DIRECTORY => "is a directory",
            Self::DISK_FULL => "no space left on the share",
            Self::QUOTA_EXCEEDED => "disk quota exceeded",
            Self::SHARING_VIOLATION => "file is in use by another program",
            Self::DELETE_PENDING => "file is being deleted",
            Self::LOGON_FAILURE | Self::WRONG_PASSWORD => "logon failure (wrong user or password)",
            Self::ACCOUNT_DISABLED => "account disabled",
            Self::PASSWORD_EXPIRED => "password expired",
            Self::ACCOUNT_RESTRICTION => "account restriction",
            Self::BAD_NETWORK_NAME => "no such share",
            Self::OBJECT_NAME_INVALID | Self::OBJECT_PATH_SYNTAX_BAD => "invalid file name",
            Self::NAME_TOO_LONG => "file name too long",
            Self::MEDIA_WRITE_PROTECTED => "read-only share",
            Self::NOT_SUPPORTED | Self::NOT_IMPLEMENTED | Self::INVALID_DEVICE_REQUEST => {
                "operation not supported by the server"
            }
            Self::INSUFFICIENT_RESOURCES | Self::TOO_MANY_OPENED_FILES => "server out of resources",
            Self::NETWORK_NAME_DELETED | Self::USER_SESSION_DELETED => "share or session is gone",
            Self::END_OF_FILE => "end of file",
            _ => "server error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_name_and_hex() {
        assert_eq!(
            NtStatus::ACCESS_DENIED.to_string(),
            "STATUS_ACCESS_DENIED (0xc0000022)"
        );
        assert_eq!(NtStatus(0xC0AB_0001).to_string(), "NTSTATUS 0xc0ab0001");
    }

    #[test]
    fn severity_classes() {
        assert!(NtStatus::LOGON_FAILURE.is_error());
        assert!(NtStatus::NO_MORE_FILES.is_warning());
        assert!(NtStatus::PENDING.is_success());
    }
}
