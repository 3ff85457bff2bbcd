//! FUSE plumbing shared by the SMB and (later) BTFS filesystems: the inode table, the handle
//! table, the one place where errors become errno values, and attribute building.
//!
//! The bridge pattern follows fuser's `TokioAdapter`: each `Filesystem` method copies its
//! borrowed arguments, clones an `Arc` of the filesystem state, spawns a task on the tokio
//! runtime and answers the kernel from that task, so the FUSE thread never waits on the network.
pub mod attr;
pub mod errno;
pub mod handles;
pub mod inode;
