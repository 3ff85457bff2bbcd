//! The one place where errors become errno values, as programs expect them.
use crate::smb::Error;
use crate::smb::wire::NtStatus;

/// errno for an NTSTATUS (what a POSIX program would get from a local filesystem).
pub fn from_status(s: NtStatus) -> i32 {
    use libc::*;
    match s {
        NtStatus::OBJECT_NAME_NOT_FOUND
        | NtStatus::OBJECT_PATH_NOT_FOUND
        | NtStatus::NO_SUCH_FILE
        | NtStatus::DELETE_PENDING => ENOENT,
        NtStatus::OBJECT_NAME_COLLISION | NtStatus::OBJECT_NAME_EXISTS => EEXIST,
        NtStatus::ACCESS_DENIED
        | NtStatus::NETWORK_ACCESS_DENIED
        | NtStatus::CANNOT_DELETE
        | NtStatus::PRIVILEGE_NOT_HELD
        | NtStatus::LOGON_FAILURE => EACCES,
        NtStatus::SHARING_VIOLATION => EBUSY,
        NtStatus::DIRECTORY_NOT_EMPTY => ENOTEMPTY,
        NtStatus::NOT_A_DIRECTORY => ENOTDIR,
        NtStatus::FILE_IS_A_DIRECTORY => EISDIR,
        NtStatus::DISK_FULL => ENOSPC,
        NtStatus::QUOTA_EXCEEDED => EDQUOT,
        NtStatus::MEDIA_WRITE_PROTECTED => EROFS,
        // A name the server cannot hold (`HEAD:x`, a stream syntax) names nothing: ENOENT, as
        // the kernel client answers, so `lstat` probes (git's) behave.
        NtStatus::OBJECT_NAME_INVALID => ENOENT,
        NtStatus::OBJECT_PATH_INVALID
        | NtStatus::OBJECT_PATH_SYNTAX_BAD
        | NtStatus::INVALID_PARAMETER
        | NtStatus::INVALID_INFO_CLASS
        | NtStatus::INFO_LENGTH_MISMATCH => EINVAL,
        NtStatus::NAME_TOO_LONG => ENAMETOOLONG,
        NtStatus::NOT_SUPPORTED | NtStatus::NOT_IMPLEMENTED | NtStatus::INVALID_DEVICE_REQUEST => {
            EOPNOTSUPP
        }
        NtStatus::FILE_LOCK_CONFLICT | NtStatus::LOCK_NOT_GRANTED => EAGAIN,
        NtStatus::TOO_MANY_OPENED_FILES => EMFILE,
        NtStatus::INSUFFICIENT_RESOURCES => ENOMEM,
        NtStatus::INVALID_HANDLE | NtStatus::FILE_CLOSED => EBADF,
        NtStatus::IO_TIMEOUT => ETIMEDOUT,
        _ => EIO,
    }
}

/// errno for any client error. A server that is gone (disconnected, timed out) is EIO, as the
/// kernel client's `soft` mounts answer.
pub fn from_error(e: &Error) -> i32 {
    match e {
        Error::Status { status, .. } => from_status(*status),
        Error::InvalidInput(_) => libc::EINVAL,
        Error::Unsupported(_) => libc::EOPNOTSUPP,
        Error::Auth(_) => libc::EACCES,
        _ => libc::EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::Command;

    #[test]
    fn status_table() {
        let table = [
            (NtStatus::OBJECT_NAME_NOT_FOUND, libc::ENOENT),
            (NtStatus::OBJECT_PATH_NOT_FOUND, libc::ENOENT),
            (NtStatus::OBJECT_NAME_COLLISION, libc::EEXIST),
            (NtStatus::DIRECTORY_NOT_EMPTY, libc::ENOTEMPTY),
            (NtStatus::ACCESS_DENIED, libc::EACCES),
            (NtStatus::MEDIA_WRITE_PROTECTED, libc::EROFS),
            (NtStatus::DISK_FULL, libc::ENOSPC),
            (NtStatus::NOT_A_DIRECTORY, libc::ENOTDIR),
            (NtStatus::FILE_IS_A_DIRECTORY, libc::EISDIR),
            (NtStatus::SHARING_VIOLATION, libc::EBUSY),
            (NtStatus::NAME_TOO_LONG, libc::ENAMETOOLONG),
            (NtStatus::NOT_SUPPORTED, libc::EOPNOTSUPP),
            (NtStatus::QUOTA_EXCEEDED, libc::EDQUOT),
            (NtStatus(0xC0AB_CDEF), libc::EIO),
        ];
        for (s, e) in table {
            assert_eq!(from_status(s), e, "{s}");
            let err = Error::Status {
                command: Command::CREATE,
                status: s,
            };
            assert_eq!(from_error(&err), e);
        }
    }

    #[test]
    fn lost_server_is_eio() {
        assert_eq!(from_error(&Error::Disconnected("x".into())), libc::EIO);
        let t = Error::TimedOut {
            command: Command::READ,
            after: std::time::Duration::ZERO,
        };
        assert_eq!(from_error(&t), libc::EIO);
        assert_eq!(from_error(&Error::InvalidInput("x".into())), libc::EINVAL);
    }
}
