//! The engine interface the FUSE layer uses: add a torrent, list its files, read bytes with a
//! deadline, report progress, remove it. It hides the BitTorrent library (librqbit today, see
//! [`super::rqbit`]) so that another engine can replace it.
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

/// A boxed, sendable future (the trait is used as `dyn Engine`).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which torrent, within one engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TorrentKey(pub usize);

/// Where the metainfo comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A magnet URI (BEP 9; `xt=urn:btih:`, `tr=`, `x.pe=`, `so=` per BEP 53).
    Magnet(String),
    /// An http(s) URL of a `.torrent` file.
    Url(String),
    /// A `.torrent` file (BEP 3 metainfo) on disk.
    Path(PathBuf),
    /// `.torrent` bytes.
    Bytes(Vec<u8>),
}

impl Source {
    /// Classify a command-line source: `magnet:`, `http(s)://`, otherwise a file path.
    pub fn from_arg(s: &str) -> Self {
        let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
        if lower.starts_with("magnet:") {
            Self::Magnet(s.to_string())
        } else if lower.starts_with("http://") || lower.starts_with("https://") {
            Self::Url(s.to_string())
        } else {
            Self::Path(PathBuf::from(s))
        }
    }
}

/// How to add a torrent.
#[derive(Debug, Clone)]
pub struct AddOptions {
    /// Extra trackers.
    pub trackers: Vec<String>,
    /// Peers to dial at once (like a magnet's `x.pe=`).
    pub peers: Vec<SocketAddr>,
    /// Give up if the metadata is not known within this time.
    pub metadata_timeout: Duration,
    /// Download everything in the background (otherwise only what is read).
    pub fetch_all: bool,
}

/// One file of a torrent, as the metainfo (BEP 3) lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Index in the torrent's file list (what [`Engine::read_at`] takes).
    pub index: usize,
    /// Path components as the metainfo has them (not sanitised: see `fs::sanitise`).
    pub path: Vec<String>,
    pub len: u64,
    /// A BEP 47 pad file (attribute `p`): never shown.
    pub padding: bool,
    pub executable: bool,
}

/// What is known about a torrent once its metadata is there.
#[derive(Debug, Clone)]
pub struct TorrentInfo {
    pub key: TorrentKey,
    /// The v1 infohash, 40 hex digits.
    pub info_hash: String,
    /// The `name` of the info dictionary.
    pub name: String,
    /// Several files (the `files` list of BEP 3): shown below a directory named `name`.
    pub multi_file: bool,
    pub piece_length: u64,
    pub files: Vec<FileEntry>,
}

/// Progress, for `fusevol status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub state: String,
    /// Connected peers.
    pub peers: usize,
    /// Peers known (seen from trackers, DHT, hints).
    pub peers_seen: usize,
    /// Bytes received from peers (including those thrown away).
    pub fetched_bytes: u64,
    pub uploaded_bytes: u64,
    /// Verified bytes on disk, and the torrent's size.
    pub have_bytes: u64,
    pub total_bytes: u64,
    /// Verified bytes per file (same order as [`TorrentInfo::files`]).
    pub file_have: Vec<u64>,
    pub pieces_have: u64,
    pub pieces_total: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no metadata after {}s: no tracker, DHT node or peer supplied it", .0.as_secs_f64())]
    MetadataTimeout(Duration),
    #[error("no data within {}s (no peer has it, or none is reachable)", .0.as_secs_f64())]
    ReadTimeout(Duration),
    #[error("bad torrent source: {0}")]
    BadSource(String),
    #[error("unknown torrent or file")]
    NotFound,
    #[error("engine: {0}")]
    Engine(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How a read is expected to continue (the engine keeps look-ahead only for sequential readers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Sequential,
    Random,
}

/// The engine interface.
pub trait Engine: Send + Sync + 'static {
    /// Add a torrent and wait (at most `opts.metadata_timeout`) for its metadata.
    fn add(&self, source: Source, opts: AddOptions)
    -> BoxFut<'_, Result<TorrentInfo, EngineError>>;

    /// Read up to `len` bytes of file `file` at `offset` (fewer only at the end of the file),
    /// fetching the pieces under it first. Fails with [`EngineError::ReadTimeout`] at `deadline`.
    fn read_at(
        &self,
        key: TorrentKey,
        file: usize,
        offset: u64,
        len: usize,
        deadline: Instant,
        access: Access,
    ) -> BoxFut<'_, Result<Vec<u8>, EngineError>>;

    /// No reader of `file` remains: stop looking ahead in it.
    fn file_closed(&self, key: TorrentKey, file: usize);

    fn stats(&self, key: TorrentKey) -> Result<Stats, EngineError>;

    /// Forget a torrent; its data is deleted unless `keep`.
    fn remove(&self, key: TorrentKey, keep: bool) -> BoxFut<'_, Result<(), EngineError>>;

    /// Stop everything (bounded in time); data is deleted unless `keep`.
    fn shutdown(&self, keep: bool) -> BoxFut<'_, ()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_classification() {
        assert!(matches!(
            Source::from_arg("magnet:?xt=urn:btih:x"),
            Source::Magnet(_)
        ));
        assert!(matches!(
            Source::from_arg("MAGNET:?xt=urn:btih:x"),
            Source::Magnet(_)
        ));
        assert!(matches!(
            Source::from_arg("https://h/x.torrent"),
            Source::Url(_)
        ));
        assert!(matches!(Source::from_arg("a.torrent"), Source::Path(_)));
        assert!(matches!(Source::from_arg("é"), Source::Path(_)));
    }
}
