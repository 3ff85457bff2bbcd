//! [`Engine`] on librqbit 9.1 (one `Session` per process, several torrents in it).
//!
//! Measured traps this module works around (see shared/notes/btfs.md):
//! - every open `FileStream` holds a permit of the session's blocking semaphore
//!   (`runtime_worker_threads`) that piece writes need too: streams come from a small bounded
//!   pool (LRU, keyed by file and next offset) and the worker count is set well above its size;
//! - adding a magnet waits for metadata (BEP 9) forever without peers, and a stream read pends
//!   forever: both are wrapped in timeouts;
//! - with `only_files = []` (nothing selected: on demand) peers holding everything may be
//!   dropped between reads; a new stream reconnects them, and pooled streams stay open while a
//!   file is in use.
//!
//! A file whose pieces are all verified is read with `pread` straight from the data directory.
use super::engine::{
    Access, AddOptions, BoxFut, Engine, EngineError, FileEntry, Source, Stats, TorrentInfo,
    TorrentKey,
};
use librqbit::{
    AddTorrent, AddTorrentOptions, AddTorrentResponse, ListenerMode, ListenerOptions,
    ManagedTorrent, Session, SessionOptions, api::TorrentIdOrHash, limits::LimitsConfig,
};
use std::collections::HashMap;
use std::io::SeekFrom;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type Handle = Arc<ManagedTorrent>;

/// Session settings.
#[derive(Debug, Clone)]
pub struct RqbitConfig {
    /// Parent of the per-infohash data folders.
    pub data_dir: PathBuf,
    pub listen: IpAddr,
    /// Port range to listen on (0..=0: any free port).
    pub min_port: u16,
    pub max_port: u16,
    pub dht: bool,
    pub download_bps: Option<u32>,
    pub upload_bps: Option<u32>,
    /// At most this many `FileStream`s open at once.
    pub stream_pool: usize,
}

impl RqbitConfig {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            listen: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            min_port: 0,
            max_port: 0,
            dht: false,
            download_bps: None,
            upload_bps: None,
            stream_pool: 8,
        }
    }
}

/// Stall detection of one torrent (see [`RqbitEngine::unstick`]).
struct Watch {
    /// The torrent's received-bytes counter when last looked at, and when it last changed.
    fetched: u64,
    changed: Instant,
    /// When the torrent was last restarted, and how many restarts in a row brought nothing.
    kicked: Option<Instant>,
    strikes: u32,
}

/// A read that has got nothing while the whole torrent received nothing for a while restarts
/// the torrent's peer connections. The while is four average piece times, within
/// [`MIN_PATIENCE`, `PATIENCE`] (500 ms before any piece arrived), doubled per restart that
/// brought nothing, up to [`MAX_PATIENCE`].
const MIN_PATIENCE: Duration = Duration::from_millis(100);
const PATIENCE: Duration = Duration::from_millis(500);
const MAX_PATIENCE: Duration = Duration::from_secs(30);
/// How often a waiting read looks at the torrent's progress.
const TICK: Duration = Duration::from_millis(100);

/// A file read sequentially for this long is fetched whole in the background (librqbit's
/// piece requester idles once a stream's 32 MiB window is requested, and nothing wakes it when
/// the window moves; a selected file always has pieces to request). Its last reader closing it
/// deselects it again.
const SELECT_AFTER: u64 = 8 << 20;

struct Torrent {
    handle: Handle,
    watch: Mutex<Watch>,
    kicking: std::sync::atomic::AtomicBool,
    /// Bytes fetched before the last restart (librqbit's live counters start again at 0).
    fetched_before: std::sync::atomic::AtomicU64,
    /// Absolute paths of the files on disk and their lengths.
    files: Vec<(PathBuf, u64)>,
    /// Where each file starts in the torrent (BEP 3: the files are concatenated).
    starts: Vec<u64>,
    piece_len: u64,
    /// The data files, opened for pread on first use.
    fds: Vec<Mutex<Option<Arc<std::fs::File>>>>,
    /// Files known to be complete (read with pread).
    complete: Vec<std::sync::atomic::AtomicBool>,
    /// On demand: the files selected for a whole fetch because they are being streamed (see
    /// [`SELECT_AFTER`]). `None` with `fetch_all` (everything is selected).
    selected: Option<Mutex<std::collections::BTreeSet<usize>>>,
    /// Bytes read sequentially per file since its last random read.
    streak: Mutex<HashMap<usize, u64>>,
    data_dir: PathBuf,
}

/// librqbit's `FileStream` (the type is not exported, only its traits).
trait StreamIo: tokio::io::AsyncRead + tokio::io::AsyncSeek + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncSeek + Send + Unpin> StreamIo for T {}

struct Pooled {
    key: (TorrentKey, usize),
    stream: Box<dyn StreamIo>,
    /// The stream's position.
    pos: u64,
    last_used: Instant,
    _permit: OwnedSemaphorePermit,
}

/// The librqbit engine.
pub struct RqbitEngine {
    session: Arc<Session>,
    /// For the have-bitfield (`api_dump_haves`), which `ManagedTorrent` does not expose.
    api: librqbit::Api,
    /// The runtime, for work started from FUSE threads (deselecting a closed file).
    rt: tokio::runtime::Handle,
    cfg: RqbitConfig,
    torrents: Mutex<HashMap<TorrentKey, Arc<Torrent>>>,
    idle: Mutex<Vec<Pooled>>,
    streams: Arc<Semaphore>,
}

fn eng(e: impl std::fmt::Display) -> EngineError {
    EngineError::Engine(e.to_string())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Most file indexes the BEP 53 `so=` (select-only) ranges of a magnet may name together.
pub const MAX_SELECT_ONLY: u128 = 1 << 16;

/// Refuse a magnet librqbit must not parse: `Magnet::parse` (librqbit-core 9.1.0) collects every
/// index of every BEP 53 `so=` range into one `Vec`, so `so=0-4000000000` asks for 32 GB and a
/// wider range overflows (found by `cargo fuzz run magnet`). The query is read exactly as
/// librqbit reads it (`url::Url::query_pairs`, percent- and form-decoded), before it does.
pub fn check_magnet(uri: &str) -> Result<(), String> {
    let url = url::Url::parse(uri).map_err(|e| format!("magnet: not a valid URL ({e})"))?;
    let mut total: u128 = 0;
    for (k, v) in url.query_pairs() {
        if k != "so" {
            continue;
        }
        for d in v.split(',').filter(|d| !d.is_empty()) {
            total += match d.split_once('-') {
                Some((a, b)) => match (a.parse::<usize>(), b.parse::<usize>()) {
                    (Ok(a), Ok(b)) => (b as u128 + 1).saturating_sub(a as u128),
                    _ => 0,
                },
                None => 1,
            };
        }
    }
    if total > MAX_SELECT_ONLY {
        return Err(format!(
            "magnet: its so= (BEP 53 select-only) ranges name {total} file indexes; at most \
             {MAX_SELECT_ONLY} are accepted"
        ));
    }
    Ok(())
}

/// The `x.pe=` peer hints of a magnet (librqbit ignores them), and the infohash (BEP 9 `xt`);
/// no infohash for a magnet [`check_magnet`] refuses.
pub fn magnet_extras(uri: &str) -> (Vec<SocketAddr>, Option<String>) {
    let mut peers = Vec::new();
    let query = uri.split_once('?').map(|(_, q)| q).unwrap_or("");
    for kv in query.split('&') {
        if let Some(v) = kv.strip_prefix("x.pe=") {
            let v = percent_decode(v);
            if let Ok(a) = super::options::parse_peer(&v) {
                peers.push(a);
            }
        }
    }
    if check_magnet(uri).is_err() {
        return (peers, None);
    }
    let hash = librqbit::Magnet::parse(uri)
        .ok()
        .and_then(|m| m.as_id20())
        .map(|h| h.as_string());
    (peers, hash)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        // Two hex digits (`from_str_radix` alone would also take "+1").
        let hex = b
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl RqbitEngine {
    /// Start the session, listening on the first free port of the range.
    pub async fn start(cfg: RqbitConfig) -> Result<Self, EngineError> {
        std::fs::create_dir_all(&cfg.data_dir).map_err(|e| {
            EngineError::Engine(format!(
                "cannot create data directory '{}': {e}",
                cfg.data_dir.display()
            ))
        })?;
        let pool = cfg.stream_pool.max(1);
        let mut last_err = None;
        for port in cfg.min_port..=cfg.max_port {
            let opts = SessionOptions {
                dht: if cfg.dht {
                    Some(librqbit::DhtSessionConfig::default())
                } else {
                    None
                },
                persistence: None,
                fastresume: false,
                disable_local_service_discovery: true,
                listen: Some(ListenerOptions {
                    mode: ListenerMode::TcpOnly,
                    listen_addr: SocketAddr::new(cfg.listen, port),
                    enable_upnp_port_forwarding: false,
                    ipv4_only: cfg.listen.is_ipv4(),
                    ..Default::default()
                }),
                // Stream permits + piece writes share this semaphore (trap 1).
                runtime_worker_threads: Some((pool * 8).max(64)),
                ratelimits: LimitsConfig {
                    download_bps: cfg.download_bps.and_then(NonZeroU32::new),
                    upload_bps: cfg.upload_bps.and_then(NonZeroU32::new),
                },
                ipv4_only: cfg.listen.is_ipv4(),
                ..Default::default()
            };
            match Session::new_with_opts(cfg.data_dir.clone(), opts).await {
                Ok(session) => {
                    return Ok(Self {
                        api: librqbit::Api::new(session.clone(), None),
                        rt: tokio::runtime::Handle::current(),
                        session,
                        cfg,
                        torrents: Mutex::new(HashMap::new()),
                        idle: Mutex::new(Vec::new()),
                        streams: Arc::new(Semaphore::new(pool)),
                    });
                }
                Err(e) => last_err = Some(format!("{e:#}")),
            }
        }
        Err(EngineError::Engine(format!(
            "cannot start the BitTorrent session on {} ports {}-{}: {}",
            cfg.listen,
            cfg.min_port,
            cfg.max_port,
            last_err.unwrap_or_default()
        )))
    }

    fn torrent(&self, key: TorrentKey) -> Result<Arc<Torrent>, EngineError> {
        lock(&self.torrents)
            .get(&key)
            .cloned()
            .ok_or(EngineError::NotFound)
    }

    async fn add_inner(&self, source: Source, o: AddOptions) -> Result<TorrentInfo, EngineError> {
        let started = Instant::now();
        let deadline = started + o.metadata_timeout;
        let mut peers = o.peers.clone();
        let (add, hash) = match source {
            Source::Magnet(m) => {
                check_magnet(&m).map_err(EngineError::BadSource)?;
                let (pe, hash) = magnet_extras(&m);
                peers.extend(pe);
                let hash = hash.ok_or_else(|| {
                    EngineError::BadSource(
                        "magnet: no 'xt=urn:btih:' (v1 infohash) in it; btmh-only (v2) magnets \
                         are not supported"
                            .into(),
                    )
                })?;
                (AddTorrent::from_url(m), hash)
            }
            Source::Path(p) => {
                let b = std::fs::read(&p).map_err(|e| {
                    EngineError::BadSource(format!("cannot read '{}': {e}", p.display()))
                })?;
                let h = info_hash_of(&b)
                    .map_err(|e| EngineError::BadSource(format!("'{}': {e}", p.display())))?;
                (AddTorrent::from_bytes(b), h)
            }
            Source::Bytes(b) => {
                let h = info_hash_of(&b).map_err(EngineError::BadSource)?;
                (AddTorrent::from_bytes(b), h)
            }
            Source::Url(u) => {
                // Fetch the .torrent first (list_only) to learn the infohash for the data dir.
                let r = tokio::time::timeout_at(
                    deadline.into(),
                    self.session.add_torrent(
                        AddTorrent::from_url(u.clone()),
                        Some(AddTorrentOptions {
                            list_only: true,
                            ..Default::default()
                        }),
                    ),
                )
                .await
                .map_err(|_| EngineError::MetadataTimeout(o.metadata_timeout))?
                .map_err(|e| EngineError::BadSource(format!("cannot fetch '{u}': {e:#}")))?;
                let AddTorrentResponse::ListOnly(l) = r else {
                    return Err(eng("list_only add did not list"));
                };
                (
                    AddTorrent::from_bytes(l.torrent_bytes),
                    l.info_hash.as_string(),
                )
            }
        };
        let out = self.cfg.data_dir.join(&hash);
        let opts = AddTorrentOptions {
            paused: false,
            only_files: if o.fetch_all { None } else { Some(Vec::new()) },
            overwrite: true,
            output_folder: Some(out.to_string_lossy().into_owned()),
            initial_peers: (!peers.is_empty()).then_some(peers),
            trackers: (!o.trackers.is_empty()).then(|| o.trackers.clone()),
            ..Default::default()
        };
        let timed_out = || EngineError::MetadataTimeout(o.metadata_timeout);
        let resp =
            tokio::time::timeout_at(deadline.into(), self.session.add_torrent(add, Some(opts)))
                .await
                .map_err(|_| timed_out())?
                .map_err(|e| EngineError::BadSource(format!("{e:#}")))?;
        let (id, handle) = match resp {
            AddTorrentResponse::Added(id, h) | AddTorrentResponse::AlreadyManaged(id, h) => (id, h),
            AddTorrentResponse::ListOnly(_) => return Err(eng("torrent was only listed")),
        };
        let init = tokio::time::timeout_at(deadline.into(), handle.wait_until_initialized()).await;
        match init {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = self.session.delete(TorrentIdOrHash::Id(id), false).await;
                return Err(eng(format!("torrent failed to start: {e:#}")));
            }
            Err(_) => {
                let _ = self.session.delete(TorrentIdOrHash::Id(id), false).await;
                return Err(timed_out());
            }
        }
        let key = TorrentKey(id);
        let info = handle
            .with_metadata(|m| {
                let disk: Vec<(PathBuf, u64)> = m
                    .file_infos
                    .iter()
                    .map(|f| (handle.output_folder().join(&f.relative_filename), f.len))
                    .collect();
                let starts: Vec<u64> = m.file_infos.iter().map(|f| f.offset_in_torrent).collect();
                (describe(key, &hash, &m.info), disk, starts)
            })
            .map_err(eng)?;
        let (info, disk, starts) = info;
        tracing::info!(
            hash = %info.info_hash,
            files = info.files.len(),
            ms = started.elapsed().as_millis() as u64,
            "torrent added"
        );
        let complete = disk
            .iter()
            .map(|_| std::sync::atomic::AtomicBool::new(false))
            .collect();
        lock(&self.torrents).insert(
            key,
            Arc::new(Torrent {
                handle,
                watch: Mutex::new(Watch {
                    fetched: 0,
                    changed: Instant::now(),
                    kicked: None,
                    strikes: 0,
                }),
                kicking: std::sync::atomic::AtomicBool::new(false),
                fetched_before: std::sync::atomic::AtomicU64::new(0),
                fds: disk.iter().map(|_| Mutex::new(None)).collect(),
                files: disk,
                starts,
                piece_len: info.piece_length.max(1),
                complete,
                selected: (!o.fetch_all).then(|| Mutex::new(Default::default())),
                streak: Mutex::new(HashMap::new()),
                data_dir: out,
            }),
        );
        Ok(info)
    }

    /// Take a stream for `(key, file)` at `offset` from the pool, or open one.
    async fn checkout(
        &self,
        t: &Torrent,
        key: TorrentKey,
        file: usize,
        offset: u64,
        deadline: Instant,
    ) -> Result<Pooled, EngineError> {
        let found = {
            let mut idle = lock(&self.idle);
            let exact = idle
                .iter()
                .position(|p| p.key == (key, file) && p.pos == offset);
            let any = exact.or_else(|| idle.iter().position(|p| p.key == (key, file)));
            any.map(|i| idle.swap_remove(i))
        };
        let mut p = match found {
            Some(p) => p,
            None => {
                let permit = loop {
                    if let Ok(p) = self.streams.clone().try_acquire_owned() {
                        break p;
                    }
                    // Pool full: close the least recently used idle stream, or wait a little.
                    // (A read that ends puts its stream back in `idle` with its permit, which
                    // does not wake a waiter on the semaphore: look at `idle` again soon.)
                    let victim = {
                        let mut idle = lock(&self.idle);
                        let lru = idle
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, p)| p.last_used)
                            .map(|(i, _)| i);
                        lru.map(|i| idle.swap_remove(i))
                    };
                    if victim.is_some() {
                        continue;
                    }
                    if Instant::now() >= deadline {
                        tracing::debug!(file, "timed out waiting for a free stream (pool full)");
                        return Err(EngineError::ReadTimeout(Duration::ZERO));
                    }
                    let soon = (Instant::now() + Duration::from_millis(20)).min(deadline);
                    if let Ok(p) =
                        tokio::time::timeout_at(soon.into(), self.streams.clone().acquire_owned())
                            .await
                    {
                        break p.map_err(eng)?;
                    }
                };
                let stream =
                    tokio::time::timeout_at(deadline.into(), t.handle.clone().stream(file))
                        .await
                        .map_err(|_| {
                            tracing::debug!(file, "timed out opening a stream");
                            EngineError::ReadTimeout(Duration::ZERO)
                        })?
                        .map_err(|e| eng(format!("cannot open stream: {e:#}")))?;
                Pooled {
                    key: (key, file),
                    stream: Box::new(stream),
                    pos: 0,
                    last_used: Instant::now(),
                    _permit: permit,
                }
            }
        };
        if p.pos != offset {
            p.pos = p.stream.seek(SeekFrom::Start(offset)).await?;
        }
        Ok(p)
    }

    async fn read_inner(
        &self,
        key: TorrentKey,
        file: usize,
        offset: u64,
        len: usize,
        deadline: Instant,
        access: Access,
    ) -> Result<Vec<u8>, EngineError> {
        let t = self.torrent(key)?;
        let &(_, flen) = t.files.get(file).ok_or(EngineError::NotFound)?;
        if offset >= flen || len == 0 {
            return Ok(Vec::new());
        }
        let len = len.min(usize::try_from(flen - offset).unwrap_or(usize::MAX));
        self.note_access(&t, file, len as u64, access).await;
        // Verified pieces are read straight from the data files.
        if self.is_complete(&t, file) || self.have_range(&t, file, offset, len as u64) {
            return pread(t.clone(), file, offset, len).await;
        }
        let mut p = self.checkout(&t, key, file, offset, deadline).await?;
        let mut buf = vec![0u8; len];
        let mut got = 0;
        let mut waiting_since = Instant::now();
        while got < len {
            let tick = (Instant::now() + TICK).min(deadline);
            match tokio::time::timeout_at(tick.into(), p.stream.read(&mut buf[got..])).await {
                Ok(Ok(0)) => break,
                Ok(Ok(n)) => {
                    got += n;
                    p.pos += n as u64;
                    waiting_since = Instant::now();
                }
                Ok(Err(e)) => return Err(EngineError::Io(e)),
                Err(_) if Instant::now() >= deadline => {
                    tracing::debug!(file, pos = p.pos, "timed out waiting for data");
                    return Err(EngineError::ReadTimeout(Duration::ZERO));
                }
                Err(_) => self.unstick(&t, waiting_since).await,
            }
        }
        buf.truncate(got);
        // A sequential reader keeps its stream (and so librqbit's look-ahead window after
        // it); a random read closes it, so a probe does not pull in the file behind it.
        if access == Access::Sequential && p.pos < flen {
            p.last_used = Instant::now();
            lock(&self.idle).push(p);
        }
        Ok(buf)
    }

    /// A read is waiting for a piece: if the torrent as a whole has received nothing for a
    /// while, restart its peer connections (pause + unpause).
    ///
    /// librqbit 9.1 can strand a piece: when an on-demand torrent has every selected piece and
    /// no stream is open, it drops the peers that have everything, and the pieces they still
    /// had in flight stay reserved for their address. A new connection to the same address
    /// never requests them again until it times out (10 s), and then waits out a reconnect
    /// backoff (≥ 10 s). Its piece requester also sleeps up to 5 s when it saw nothing to
    /// request, and nothing wakes it when a stream starts or seeks. Pausing requeues every
    /// in-flight piece; unpausing re-announces and dials the known peers again at once.
    async fn unstick(&self, t: &Torrent, waiting_since: Instant) {
        let now = Instant::now();
        // Not live (paused, or stopped by an error): no progress; a restart starts it again.
        let snap = t.handle.live().map(|l| l.stats_snapshot());
        let fetched = snap.as_ref().map_or(0, |s| s.fetched_bytes);
        let base = snap
            .and_then(|s| s.average_piece_download_time())
            .map_or(PATIENCE, |p| (p * 4).clamp(MIN_PATIENCE, PATIENCE));
        {
            let mut w = lock(&t.watch);
            // (The counter starts again at 0 after a restart.)
            if fetched > w.fetched {
                w.fetched = fetched;
                w.changed = now;
                w.strikes = 0;
                return;
            }
            w.fetched = fetched;
            let patience = base
                .saturating_mul(1 << w.strikes.min(16))
                .min(MAX_PATIENCE);
            let quiet_since = w.changed.max(waiting_since);
            let since_kick = w.kicked.map_or(Duration::MAX, |k| now - k);
            if now - quiet_since < patience || since_kick < patience {
                return;
            }
            w.kicked = Some(now);
            w.strikes += 1;
        }
        tracing::debug!(
            torrent = t.handle.id(),
            state = %t.handle.stats().state,
            waited_ms = (now - waiting_since).as_millis() as u64,
            "no data is arriving: restarting the peer connections"
        );
        self.restart(t).await;
    }

    /// Pause and unpause: in-flight pieces are requeued, peers dialed again, and their piece
    /// requesters start awake.
    async fn restart(&self, t: &Torrent) {
        use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
        /// Clears the flag however this future ends.
        struct Kicking<'a>(&'a AtomicBool);
        impl Drop for Kicking<'_> {
            fn drop(&mut self) {
                self.0.store(false, SeqCst);
            }
        }
        if t.kicking.swap(true, SeqCst) {
            return;
        }
        let _guard = Kicking(&t.kicking);
        lock(&t.watch).fetched = 0;
        if let Some(l) = t.handle.live() {
            t.fetched_before
                .fetch_add(l.stats_snapshot().fetched_bytes, SeqCst);
        }
        if let Err(e) = self.session.pause(&t.handle).await {
            tracing::debug!(error = %e, "pause failed");
        }
        if let Err(e) = self.session.unpause(&t.handle).await {
            tracing::warn!(error = %e, "cannot restart the torrent");
        }
    }

    /// Count sequential bytes per file; a file streamed for [`SELECT_AFTER`] is selected.
    async fn note_access(&self, t: &Torrent, file: usize, len: u64, access: Access) {
        let Some(selected) = &t.selected else { return };
        let streamed = {
            let mut streak = lock(&t.streak);
            let s = streak.entry(file).or_insert(0);
            *s = match access {
                Access::Sequential => s.saturating_add(len),
                Access::Random => 0,
            };
            *s >= SELECT_AFTER
        };
        if !streamed || self.is_complete(t, file) {
            return;
        }
        let set = {
            let mut sel = lock(selected);
            if !sel.insert(file) {
                return;
            }
            sel.iter().copied().collect()
        };
        tracing::debug!(file, "streamed: fetching the whole file");
        if let Err(e) = self.session.update_only_files(&t.handle, &set).await {
            tracing::warn!(file, error = %e, "cannot select the file");
        }
        // Idle piece requesters do not notice the selection for up to 5 s.
        self.restart(t).await;
    }

    /// Are all pieces under `[offset, offset + len)` of `file` verified?
    fn have_range(&self, t: &Torrent, file: usize, offset: u64, len: u64) -> bool {
        let Some(&start) = t.starts.get(file) else {
            return false;
        };
        let (a, b) = (start + offset, start + offset + len.max(1));
        let Ok((bits, _)) = self.api.api_dump_haves(TorrentIdOrHash::Id(t.handle.id())) else {
            return false;
        };
        (a / t.piece_len..=(b - 1) / t.piece_len).all(|i| {
            usize::try_from(i)
                .ok()
                .and_then(|i| bits.get(i).map(|b| *b))
                .unwrap_or(false)
        })
    }

    fn is_complete(&self, t: &Torrent, file: usize) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(flag) = t.complete.get(file) else {
            return false;
        };
        if flag.load(Relaxed) {
            return true;
        }
        let len = t.files.get(file).map(|f| f.1).unwrap_or(u64::MAX);
        let done = t.handle.stats().file_progress.get(file).copied() == Some(len);
        if done {
            flag.store(true, Relaxed);
        }
        done
    }

    /// The last reader of `file` went away: stop fetching it whole.
    fn deselect(&self, key: TorrentKey, file: usize) {
        let Ok(t) = self.torrent(key) else { return };
        lock(&t.streak).remove(&file);
        let Some(selected) = &t.selected else { return };
        let set: std::collections::HashSet<usize> = {
            let mut sel = lock(selected);
            if !sel.remove(&file) {
                return;
            }
            sel.iter().copied().collect()
        };
        let session = self.session.clone();
        self.rt.spawn(async move {
            if let Err(e) = session.update_only_files(&t.handle, &set).await {
                tracing::debug!(file, error = %e, "cannot deselect the file");
            }
        });
    }

    fn drop_streams(&self, key: TorrentKey, file: Option<usize>) {
        let gone: Vec<Pooled> = {
            let mut idle = lock(&self.idle);
            let (gone, keep) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|p| p.key.0 == key && file.is_none_or(|f| p.key.1 == f));
            *idle = keep;
            gone
        };
        drop(gone);
    }

    async fn remove_inner(&self, key: TorrentKey, keep: bool) -> Result<(), EngineError> {
        self.drop_streams(key, None);
        let t = lock(&self.torrents).remove(&key);
        let Some(t) = t else {
            return Err(EngineError::NotFound);
        };
        let id = t.handle.id();
        drop(t.handle.clone());
        let r = tokio::time::timeout(
            Duration::from_secs(1),
            self.session.delete(TorrentIdOrHash::Id(id), false),
        )
        .await;
        if let Ok(Err(e)) = r {
            tracing::warn!(error = %e, "removing torrent from the session failed");
        }
        if !keep {
            remove_dir(&t.data_dir);
        }
        Ok(())
    }
}

fn remove_dir(p: &Path) {
    match std::fs::remove_dir_all(p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(dir = %p.display(), error = %e, "cannot remove data"),
    }
}

/// What the FUSE layer needs of a validated info dictionary (BEP 3; BEP 47 file attributes).
pub(crate) fn describe<B: AsRef<[u8]>>(
    key: TorrentKey,
    hash: &str,
    info: &librqbit::ValidatedTorrentMetaV1Info<B>,
) -> TorrentInfo {
    let files = info
        .iter_file_details()
        .enumerate()
        .map(|(index, d)| {
            let attrs = d.attrs();
            FileEntry {
                index,
                path: d.filename.to_vec(),
                len: d.len,
                padding: attrs.padding,
                executable: attrs.executable,
            }
        })
        .collect();
    TorrentInfo {
        key,
        info_hash: hash.to_string(),
        name: info
            .name()
            .map(|n| n.into_owned())
            .unwrap_or_else(|| hash.to_string()),
        multi_file: info.info().files.is_some(),
        piece_length: u64::from(info.lengths().default_piece_length()),
        files,
    }
}

/// Parse and validate `.torrent` bytes (BEP 3) without a session. librqbit refuses `..`
/// components, separators inside a component, files without a name and duplicate names;
/// what it accepts is sanitised by the tree (`fs::sanitise`).
pub fn parse_metainfo(b: &[u8]) -> Result<TorrentInfo, String> {
    let t =
        librqbit::torrent_from_bytes(b).map_err(|e| format!("not a valid .torrent file: {e}"))?;
    let hash = t.info_hash.as_string();
    let info = t
        .info
        .data
        .validate()
        .map_err(|e| format!("not a usable .torrent file: {e}"))?;
    Ok(describe(TorrentKey(0), &hash, &info))
}

/// The v1 infohash (BEP 3: SHA-1 of the bencoded info dictionary) of `.torrent` bytes, which
/// must also pass [`parse_metainfo`]'s checks.
fn info_hash_of(b: &[u8]) -> Result<String, String> {
    parse_metainfo(b).map(|i| i.info_hash)
}

/// Read verified data of `file` from its data file. Inline on the runtime's thread: the
/// pieces were just written, so this is a copy from the page cache (a blocking-pool thread per
/// read cost more, and every such thread grew its own malloc arena: peak RSS 100 MiB).
async fn pread(
    t: Arc<Torrent>,
    file: usize,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>, EngineError> {
    (move || {
        use std::os::unix::fs::FileExt;
        let f = {
            let slot = t.fds.get(file).ok_or(std::io::ErrorKind::NotFound)?;
            let mut slot = lock(slot);
            match &*slot {
                Some(f) => f.clone(),
                None => {
                    let path = &t.files.get(file).ok_or(std::io::ErrorKind::NotFound)?.0;
                    let f = Arc::new(std::fs::File::open(path)?);
                    *slot = Some(f.clone());
                    f
                }
            }
        };
        let mut buf = vec![0u8; len];
        let mut got = 0;
        while got < len {
            match f.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(got);
        Ok(buf)
    })()
    .map_err(EngineError::Io)
}

impl Engine for RqbitEngine {
    fn add(
        &self,
        source: Source,
        opts: AddOptions,
    ) -> BoxFut<'_, Result<TorrentInfo, EngineError>> {
        Box::pin(self.add_inner(source, opts))
    }

    fn read_at(
        &self,
        key: TorrentKey,
        file: usize,
        offset: u64,
        len: usize,
        deadline: Instant,
        access: Access,
    ) -> BoxFut<'_, Result<Vec<u8>, EngineError>> {
        Box::pin(self.read_inner(key, file, offset, len, deadline, access))
    }

    fn file_closed(&self, key: TorrentKey, file: usize) {
        self.drop_streams(key, Some(file));
        self.deselect(key, file);
    }

    fn stats(&self, key: TorrentKey) -> Result<Stats, EngineError> {
        use std::sync::atomic::Ordering::SeqCst;
        let t = self.torrent(key)?;
        let s = t.handle.stats();
        // librqbit's own progress and totals count selected files only (none, on demand), and
        // its live counters restart with the torrent: have/total come from the per-file
        // progress, pieces from the have-bitfield, fetched bytes add up across restarts.
        let pieces_total = t
            .handle
            .with_metadata(|m| u64::from(m.info.lengths().total_pieces()))
            .unwrap_or(0);
        let pieces_have = self
            .api
            .api_dump_haves(TorrentIdOrHash::Id(t.handle.id()))
            .map_or(0, |(bits, _)| bits.count_ones() as u64);
        let (peers, seen, fetched) = match &s.live {
            Some(l) => (
                l.snapshot.peer_stats.live as usize,
                l.snapshot.peer_stats.seen as usize,
                l.snapshot.fetched_bytes,
            ),
            None => (0, 0, 0),
        };
        Ok(Stats {
            state: s.state.to_string(),
            peers,
            peers_seen: seen,
            fetched_bytes: t.fetched_before.load(SeqCst) + fetched,
            uploaded_bytes: s.uploaded_bytes,
            have_bytes: s.file_progress.iter().sum(),
            total_bytes: t.files.iter().map(|f| f.1).sum(),
            file_have: s.file_progress,
            pieces_have,
            pieces_total,
        })
    }

    fn remove(&self, key: TorrentKey, keep: bool) -> BoxFut<'_, Result<(), EngineError>> {
        Box::pin(self.remove_inner(key, keep))
    }

    fn shutdown(&self, keep: bool) -> BoxFut<'_, ()> {
        Box::pin(async move {
            lock(&self.idle).clear();
            let keys: Vec<TorrentKey> = lock(&self.torrents).keys().copied().collect();
            for k in keys {
                let _ = self.remove_inner(k, keep).await;
            }
            // Torrents are gone by now; stopping the rest (listener, DHT) must not hold up
            // the exit (it took 1 s in tests).
            let _ = tokio::time::timeout(Duration::from_millis(300), self.session.stop()).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magnet_peer_hints_and_hash() {
        let (peers, hash) = magnet_extras(
            "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=x\
             &x.pe=127.0.0.2:17001&x.pe=%5B%3A%3A1%5D%3A5&x.pe=bad",
        );
        assert_eq!(
            peers,
            vec![
                "127.0.0.2:17001".parse().unwrap(),
                "[::1]:5".parse().unwrap()
            ]
        );
        assert_eq!(
            hash.as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(magnet_extras("magnet:?dn=x").1, None);
        assert_eq!(percent_decode("a%2Fb%zz%4"), "a/b%zz%4");
        assert_eq!(percent_decode("%+1%-1"), "%+1%-1");
    }

    /// BEP 53 `so=`: small selections pass; ranges wider than [`MAX_SELECT_ONLY`] in all (also
    /// spelt with percent escapes or split over several `so=`) are refused before librqbit
    /// would allocate for them, and the magnet then yields no infohash.
    #[test]
    fn magnet_select_only_bounded() {
        let h = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567";
        assert!(check_magnet(&format!("{h}&so=0,2,4-8")).is_ok());
        assert!(check_magnet(&format!("{h}&so=0-65535")).is_ok());
        for bad in [
            "&so=0-65536",
            "&so=0-4000000000",
            "&so=0,2:,4-8888888888888888886",
            "&so=1-18446744073709551615",
            "&s%6F=0-99999999",
            "&so=0-40000&so=0-40000",
            "&so=0-4%30000000",
        ] {
            let m = format!("{h}{bad}");
            let e = check_magnet(&m).unwrap_err();
            assert!(e.contains("so="), "{bad}: {e}");
            assert_eq!(magnet_extras(&m).1, None, "{bad}");
        }
        // A reversed range names nothing (librqbit's `start..=end` is empty).
        assert!(check_magnet(&format!("{h}&so=99999999-0")).is_ok());
        assert!(check_magnet("magnet:?xt=urn:btih:%").is_ok());
        assert!(check_magnet("not a url").is_err());
    }

    /// A bencode value (BEP 3), to craft hostile metainfo.
    enum B {
        I(i64),
        S(Vec<u8>),
        L(Vec<B>),
        D(Vec<(&'static str, B)>),
    }

    fn enc(b: &B, out: &mut Vec<u8>) {
        match b {
            B::I(i) => out.extend(format!("i{i}e").bytes()),
            B::S(s) => {
                out.extend(format!("{}:", s.len()).bytes());
                out.extend(s);
            }
            B::L(l) => {
                out.push(b'l');
                l.iter().for_each(|x| enc(x, out));
                out.push(b'e');
            }
            B::D(d) => {
                let mut d: Vec<_> = d.iter().collect();
                d.sort_by_key(|(k, _)| *k);
                out.push(b'd');
                for (k, v) in d {
                    enc(&B::S(k.as_bytes().to_vec()), out);
                    enc(v, out);
                }
                out.push(b'e');
            }
        }
    }

    /// One file of a crafted torrent: path components, length, BEP 47 `attr`.
    type CraftedFile<'a> = (&'a [&'a [u8]], i64, &'a str);

    /// A multi-file `.torrent` named `name`.
    fn crafted(name: &[u8], files: &[CraftedFile<'_>]) -> Vec<u8> {
        const PL: i64 = 16384;
        let total: i64 = files.iter().map(|f| f.1).sum();
        let pieces = vec![0u8; 20 * (total + PL - 1).div_euclid(PL).max(1) as usize];
        let files = files
            .iter()
            .map(|(path, len, attr)| {
                let mut d = vec![
                    ("length", B::I(*len)),
                    (
                        "path",
                        B::L(path.iter().map(|c| B::S(c.to_vec())).collect()),
                    ),
                ];
                if !attr.is_empty() {
                    d.push(("attr", B::S(attr.as_bytes().to_vec())));
                }
                B::D(d)
            })
            .collect();
        let info = B::D(vec![
            ("name", B::S(name.to_vec())),
            ("piece length", B::I(PL)),
            ("pieces", B::S(pieces)),
            ("files", B::L(files)),
        ]);
        let mut out = Vec::new();
        enc(&B::D(vec![("info", info)]), &mut out);
        out
    }

    #[test]
    fn hostile_metainfo_is_refused_with_a_reason() {
        let cases: [(&[CraftedFile<'_>], &str); 5] = [
            (&[(&[b"..", b"etc", b"passwd"], 10, "")], "path traversal"),
            (&[(&[b"a/b"], 10, "")], "separator"),
            (&[(&[b"a\\b"], 10, "")], "separator"),
            (&[(&[], 10, "")], "no name"),
            (
                &[(&[b"d", b"x"], 10, ""), (&[b"d", b"x"], 5, "")],
                "duplicate",
            ),
        ];
        for (files, why) in cases {
            let e = parse_metainfo(&crafted(b"p", files)).expect_err(why);
            assert!(e.contains(why), "{e} (wanted '{why}')");
            assert!(info_hash_of(&crafted(b"p", files)).is_err());
        }
    }

    #[test]
    fn accepted_metainfo_is_sanitised_and_pads_hidden() {
        let long = vec![b'n'; 300];
        let t = crafted(
            b"..",
            &[
                (&[b"", b"abs", b"x"], 1, ""),
                (&[b"n\0ul"], 2, ""),
                (&[&long], 3, ""),
                (&[b"d"], 4, ""),
                (&[b"d", b"f"], 5, ""),
                (&[b".pad", b"16384"], 16384, "p"),
                (&[b".pad", b"16384"], 16384, "p"),
                (&[b".", b"dot"], 6, ""),
                (&[b"run.sh"], 7, "x"),
            ],
        );
        let info = parse_metainfo(&t).expect("librqbit accepts these");
        assert_eq!(info.name, "..");
        assert!(info.multi_file);
        assert_eq!(info.files.iter().filter(|f| f.padding).count(), 2);
        assert!(info.files.iter().any(|f| f.executable));
        let mut tree = crate::btfs::fs::Tree::new();
        tree.add_torrent(&info);
        let paths: Vec<String> = tree.files().into_iter().map(|f| f.0).collect();
        let long_name = format!("_../{}", "n".repeat(255));
        let want = [
            "_../abs/x",
            "_../d",
            "_../d (2)/f",
            "_../dot",
            "_../n_ul",
            long_name.as_str(),
            "_../run.sh",
        ];
        assert_eq!(paths, want);
        for p in &paths {
            for c in p.split('/') {
                assert!(
                    !c.is_empty() && c != "." && c != ".." && c.len() <= 255,
                    "{p}"
                );
            }
        }
    }

    #[test]
    fn bad_torrent_bytes_are_an_error() {
        assert!(info_hash_of(b"not bencode").is_err());
        assert!(info_hash_of(b"").is_err());
    }
}
