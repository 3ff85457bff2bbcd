//! fusevol: mount SMB2/3 shares (and, later, torrents) as ordinary directories through FUSE,
//! without root.
//!
//! The SMB client lives in [`smb`]: pure codecs (`wire`), authentication (`auth`), cryptography
//! (`crypto`) and the sans-IO connection state (`proto`), driven by one small tokio task.
pub mod smb;
