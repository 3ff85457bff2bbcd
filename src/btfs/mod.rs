//! BitTorrent as a read-only filesystem: a magnet link (BEP 9), a `.torrent` file (BEP 3) or an
//! http(s) URL of one becomes a directory tree; reading a file fetches the pieces under the
//! reader first and nothing else unless asked (`fetch_all`).
//!
//! - [`engine`]: the small engine interface the filesystem uses (add, files, read with a
//!   deadline, stats, remove);
//! - [`rqbit`]: that interface on librqbit;
//! - [`fs`]: the FUSE filesystem (tree built once from metadata, names sanitised, BEP 47 pad
//!   files hidden, reads with a deadline, EROFS for every change);
//! - [`options`]: the `-o` options, in johang/btfs' vocabulary.
pub mod engine;
pub mod fs;
pub mod options;
pub mod rqbit;
