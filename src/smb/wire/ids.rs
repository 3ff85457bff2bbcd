//! Identifier newtypes (MS-SMB2 2.2.1, 2.2.14.1). They are opaque: arithmetic on them is a bug
//! except for message ids, which `proto::credits` allocates.
use std::fmt;

macro_rules! id_newtype {
    ($(#[$m:meta])* $name:ident($t:ty)) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $t);
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
    };
}

id_newtype!(
    /// MessageId (MS-SMB2 2.2.1.1): one per credit consumed, never reused on a connection.
    MessageId(u64)
);
id_newtype!(
    /// SessionId (MS-SMB2 2.2.1.2), chosen by the server in SESSION_SETUP.
    SessionId(u64)
);
id_newtype!(
    /// TreeId (MS-SMB2 2.2.1.2), chosen by the server in TREE_CONNECT.
    TreeId(u32)
);
id_newtype!(
    /// AsyncId (MS-SMB2 2.2.1.1), given by an interim STATUS_PENDING response.
    AsyncId(u64)
);

/// SMB2_FILEID (MS-SMB2 2.2.14.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FileId {
    pub persistent: u64,
    pub volatile: u64,
}

impl FileId {
    /// The id that means "the file opened by the previous request in this related compound"
    /// (MS-SMB2 3.2.4.1.4: all 0xFF).
    pub const COMPOUND: Self = Self {
        persistent: u64::MAX,
        volatile: u64::MAX,
    };

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.persistent.to_le_bytes());
        out.extend_from_slice(&self.volatile.to_le_bytes());
    }

    pub fn decode(r: &mut super::Reader<'_>) -> Result<Self, super::DecodeError> {
        Ok(Self {
            persistent: r.u64("FileId.Persistent")?,
            volatile: r.u64("FileId.Volatile")?,
        })
    }
}

impl fmt::Debug for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FileId({:#x}:{:#x})", self.persistent, self.volatile)
    }
}
