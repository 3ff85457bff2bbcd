//! fusevol: mount SMB2/3 shares (and, later, torrents) as ordinary directories through FUSE,
//! without root.
//!
//! - [`smb`]: the SMB2/3 client — pure codecs (`wire`), authentication (`auth`), cryptography
//!   (`crypto`) and connection state (`proto`), driven by one small tokio driver, under a typed
//!   async API ([`smb::Client`] → [`smb::Session`] → [`smb::Tree`] → [`smb::File`]).
//! - [`btfs`]: torrents (magnet, `.torrent`, URL) as read-only directories, fetched on demand.
//! - [`options`]: mount.cifs options, credential files and the environment.
//! - [`cli`]: the command-line front end (`main.rs` only parses arguments).
pub mod btfs;
pub mod cli;
pub mod docker;
pub mod fuse;
#[doc(hidden)]
pub mod fuzzing;
pub mod options;
pub mod smb;
pub mod smbfs;
pub mod task;
