//! Integration tests against Samba's own `smbd` on loopback (one private instance per variant,
//! started by `samba-docker/native.sh`). Without smbd (or not as root) they print `SKIP` and
//! pass, unless `FUSEVOL_REQUIRE_SAMBA=1` (CI) makes that a failure.
mod btfs;
mod docker;
mod durable;
mod fuse_load;
mod fuse_mount;
mod fuse_reconnect;
mod samba;
mod smb_cli;
mod smb_client;
mod task;
