//! Building FUSE attributes from what a server says about a file.
use fuser::{FileAttr, FileType, INodeNo};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Ownership and modes shown for files (mount.cifs `uid=`, `gid=`, `file_mode=`, `dir_mode=`;
/// without POSIX extensions the server does not tell us these).
#[derive(Debug, Clone, Copy)]
pub struct Ownership {
    pub uid: u32,
    pub gid: u32,
    pub file_mode: u16,
    pub dir_mode: u16,
}

/// What one file looks like, independent of the protocol behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub kind: Kind,
    pub size: u64,
    /// Bytes allocated on the server (for `st_blocks`).
    pub allocated: u64,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    pub crtime: SystemTime,
    /// No write permission (the DOS read-only attribute, or a read-only filesystem).
    pub readonly: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
}

/// `st_blksize`: what `cp` and friends size their buffers by (mount.cifs `bsize`, 1 MiB).
pub const BLKSIZE: u32 = 1 << 20;

impl Stat {
    pub fn to_attr(&self, ino: u64, own: &Ownership) -> FileAttr {
        let (kind, mode, nlink) = match self.kind {
            Kind::Dir => (FileType::Directory, own.dir_mode, 2),
            Kind::File => (FileType::RegularFile, own.file_mode, 1),
            Kind::Symlink => (FileType::Symlink, 0o777, 1),
        };
        let perm = if self.readonly && self.kind == Kind::File {
            mode & !0o222
        } else {
            mode
        };
        FileAttr {
            ino: INodeNo(ino),
            size: self.size,
            blocks: self.allocated.div_ceil(512),
            atime: self.atime,
            mtime: self.mtime,
            ctime: self.ctime,
            crtime: self.crtime,
            kind,
            perm,
            nlink,
            uid: own.uid,
            gid: own.gid,
            rdev: 0,
            blksize: BLKSIZE,
            flags: 0,
        }
    }
}

/// A FILETIME (100 ns since 1601) as SystemTime; 0 (unknown) is the Unix epoch.
pub fn from_filetime(ft: u64) -> SystemTime {
    const EPOCH_DIFF: u64 = 116_444_736_000_000_000;
    if ft <= EPOCH_DIFF {
        return UNIX_EPOCH;
    }
    let t = ft - EPOCH_DIFF;
    UNIX_EPOCH + Duration::new(t / 10_000_000, ((t % 10_000_000) * 100) as u32)
}

/// The attributes of a negative entry: a LOOKUP answered with node id 0 and an entry timeout
/// makes the kernel remember that the name does not exist for that long (`fuse_lookup_name`:
/// "Zero nodeid is same as -ENOENT, but with valid timeout"); a create through the kernel
/// replaces it at once.
pub fn negative_entry() -> FileAttr {
    FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: UNIX_EPOCH,
        mtime: UNIX_EPOCH,
        ctime: UNIX_EPOCH,
        crtime: UNIX_EPOCH,
        kind: FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: BLKSIZE,
        flags: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_conversion() {
        assert_eq!(from_filetime(0), UNIX_EPOCH);
        let t = from_filetime(116_444_736_000_000_000 + 10_000_000 * 5 + 3);
        assert_eq!(t, UNIX_EPOCH + Duration::new(5, 300));
    }

    #[test]
    fn readonly_files_lose_write_bits_and_dirs_keep_theirs() {
        let own = Ownership {
            uid: 1,
            gid: 2,
            file_mode: 0o644,
            dir_mode: 0o755,
        };
        let mut s = Stat {
            kind: Kind::File,
            size: 1000,
            allocated: 4096,
            atime: UNIX_EPOCH,
            mtime: UNIX_EPOCH,
            ctime: UNIX_EPOCH,
            crtime: UNIX_EPOCH,
            readonly: true,
        };
        let a = s.to_attr(9, &own);
        assert_eq!(
            (a.perm, a.uid, a.gid, a.blocks, a.nlink),
            (0o444, 1, 2, 8, 1)
        );
        s.kind = Kind::Dir;
        assert_eq!(s.to_attr(9, &own).perm, 0o755);
    }
}
