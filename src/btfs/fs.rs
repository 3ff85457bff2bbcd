//! The read-only FUSE filesystem over an [`Engine`].
//!
//! The tree is built once from the metadata (BEP 3 info dictionary, fetched per BEP 9 for
//! magnets) before the mount is made, so `lookup`, `getattr` and `readdir` answer from memory
//! and never wait on the network. Names are sanitised and BEP 47 pad files hidden. Reads go to
//! the engine with a deadline; every change answers EROFS.
//!
//! Like `smbfs`, each `fuser::Filesystem` method that may wait spawns a task on the tokio
//! runtime and replies from it.
use super::engine::{Access, Engine, EngineError, Stats, TorrentInfo, TorrentKey};
use crate::fuse::attr::{Kind, Ownership, Stat};
use crate::fuse::handles::HandleTable;
use crate::fuse::inode::ROOT;
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr,
    Request, TimeOrNow, WriteFlags,
};
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Name of the status file in the root: not listed, but it can be opened
/// (`cat MNT/.fusevol-status`; `fusevol status MNT` reads it).
pub const STATUS_FILE: &str = ".fusevol-status";
/// Longest name component (bytes), as most Linux filesystems.
const NAME_MAX: usize = 255;
/// Inode of the status file (never a tree index: the tree starts at 1 and grows up).
const STATUS_INO: u64 = u64::MAX - 1;
/// How far from the end of the previous reads a read may start and still be sequential (the
/// kernel's read-ahead window, `set_max_readahead` below).
const SEQ_SLACK: u64 = 4 << 20;
/// Attributes never change: let the kernel cache them for long.
const TTL: Duration = Duration::from_secs(3600);

/// How the filesystem presents the torrents.
#[derive(Debug, Clone)]
pub struct BtfsConfig {
    pub own: Ownership,
    /// A read that got no data by then fails with EIO.
    pub read_timeout: Duration,
}

#[derive(Debug)]
enum NodeKind {
    Dir {
        children: BTreeMap<String, u64>,
    },
    File {
        key: TorrentKey,
        file: usize,
        len: u64,
        exec: bool,
    },
}

#[derive(Debug)]
struct Node {
    parent: u64,
    kind: NodeKind,
}

/// The directory tree of one or more torrents; node `i` has inode `i + 1` (the root is 1).
#[derive(Debug)]
pub struct Tree {
    nodes: Vec<Node>,
    /// `(parent, sanitised metainfo name)` → the directory chosen for it (it may have been
    /// renamed because a file already had that name).
    dir_alias: HashMap<(u64, String), u64>,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new()
    }
}

/// One path component from metainfo made safe: no `/` or NUL, never `.`, `..` or empty, at
/// most 255 bytes. Returns `None` for components to drop (empty, `.`: they come from absolute or
/// doubled separators).
pub fn sanitise(c: &str) -> Option<String> {
    if c.is_empty() || c == "." {
        return None;
    }
    let mut s: String = c
        .chars()
        .map(|ch| if ch == '/' || ch == '\0' { '_' } else { ch })
        .collect();
    if s == ".." {
        s = "_..".into();
    }
    truncate(&mut s, NAME_MAX);
    Some(s)
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// A BEP 47 pad file: the `p` attribute, or the conventional `.pad/N` path.
fn is_pad(path: &[String], padding_attr: bool) -> bool {
    padding_attr
        || (path.len() == 2 && path[0] == ".pad" && path[1].bytes().all(|b| b.is_ascii_digit()))
}

impl Tree {
    pub fn new() -> Self {
        Self {
            nodes: vec![Node {
                parent: ROOT,
                kind: NodeKind::Dir {
                    children: BTreeMap::new(),
                },
            }],
            dir_alias: HashMap::new(),
        }
    }

    fn node(&self, ino: u64) -> Option<&Node> {
        self.nodes.get(usize::try_from(ino.checked_sub(1)?).ok()?)
    }

    fn children_mut(&mut self, dir: u64) -> Option<&mut BTreeMap<String, u64>> {
        let i = usize::try_from(dir.checked_sub(1)?).ok()?;
        match &mut self.nodes.get_mut(i)?.kind {
            NodeKind::Dir { children } => Some(children),
            NodeKind::File { .. } => None,
        }
    }

    /// `name`, or `name (2)`, `name (3)`… whichever is free in `dir`.
    fn free_name(&self, dir: u64, name: &str) -> String {
        let taken = |n: &str| {
            (dir == ROOT && n == STATUS_FILE)
                || matches!(self.node(dir), Some(Node { kind: NodeKind::Dir { children }, .. }) if children.contains_key(n))
        };
        if !taken(name) {
            return name.to_string();
        }
        for i in 2u64.. {
            let suffix = format!(" ({i})");
            let mut base = name.to_string();
            truncate(&mut base, NAME_MAX - suffix.len());
            let cand = base + &suffix;
            if !taken(&cand) {
                return cand;
            }
        }
        unreachable!("u64 names exhausted")
    }

    fn push(&mut self, parent: u64, name: String, kind: NodeKind) -> u64 {
        self.nodes.push(Node { parent, kind });
        let ino = self.nodes.len() as u64;
        if let Some(c) = self.children_mut(parent) {
            c.insert(name, ino);
        }
        ino
    }

    /// The directory for metainfo name `name` in `parent`, created if needed.
    fn dir(&mut self, parent: u64, name: &str) -> u64 {
        if let Some(&d) = self.dir_alias.get(&(parent, name.to_string())) {
            return d;
        }
        let real = self.free_name(parent, name);
        let d = self.push(
            parent,
            real,
            NodeKind::Dir {
                children: BTreeMap::new(),
            },
        );
        self.dir_alias.insert((parent, name.to_string()), d);
        d
    }

    /// Add a torrent's files: a single-file torrent's file goes in the root, a multi-file
    /// torrent's files below a directory named after it (as btfs shows them).
    pub fn add_torrent(&mut self, info: &TorrentInfo) {
        let top = if info.multi_file {
            let name = sanitise(&info.name).unwrap_or_else(|| info.info_hash.clone());
            // A new directory per torrent, even if two torrents have the same name.
            let real = self.free_name(ROOT, &name);
            self.push(
                ROOT,
                real,
                NodeKind::Dir {
                    children: BTreeMap::new(),
                },
            )
        } else {
            ROOT
        };
        for f in &info.files {
            if is_pad(&f.path, f.padding) {
                continue;
            }
            let mut parts: Vec<String> = f.path.iter().filter_map(|c| sanitise(c)).collect();
            let Some(leaf) = parts.pop() else {
                // A file with no usable name at all.
                let name = self.free_name(top, &format!("file-{}", f.index));
                self.push(top, name, file_kind(info.key, f));
                continue;
            };
            let mut dir = top;
            for p in &parts {
                dir = self.dir(dir, p);
            }
            let name = self.free_name(dir, &leaf);
            self.push(dir, name, file_kind(info.key, f));
        }
    }

    pub fn lookup(&self, parent: u64, name: &str) -> Option<u64> {
        match &self.node(parent)?.kind {
            NodeKind::Dir { children } => children.get(name).copied(),
            NodeKind::File { .. } => None,
        }
    }

    /// Every file: (path, torrent, file index, length) — for tests and `status`.
    pub fn files(&self) -> Vec<(String, TorrentKey, usize, u64)> {
        let mut out = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let NodeKind::File { key, file, len, .. } = n.kind {
                out.push((self.path(i as u64 + 1), key, file, len));
            }
        }
        out.sort();
        out
    }

    fn path(&self, ino: u64) -> String {
        let mut parts = Vec::new();
        let mut cur = ino;
        while cur != ROOT {
            let Some(n) = self.node(cur) else { break };
            if let Some(NodeKind::Dir { children }) = self.node(n.parent).map(|p| &p.kind)
                && let Some((name, _)) = children.iter().find(|(_, v)| **v == cur)
            {
                parts.push(name.clone());
            }
            cur = n.parent;
        }
        parts.reverse();
        parts.join("/")
    }
}

fn file_kind(key: TorrentKey, f: &super::engine::FileEntry) -> NodeKind {
    NodeKind::File {
        key,
        file: f.index,
        len: f.len,
        exec: f.executable,
    }
}

struct OpenFile {
    key: TorrentKey,
    file: usize,
    len: u64,
    /// Where the next sequential read starts.
    next: AtomicU64,
    /// The last read that ran out of time: `(when, offset, end)`. The kernel retries a failed
    /// read-ahead with a synchronous read of the same pages at once; that retry fails at once
    /// instead of waiting a second deadline.
    timed_out: Mutex<Option<(Instant, u64, u64)>>,
}

struct Inner {
    engine: Arc<dyn Engine>,
    tree: Tree,
    torrents: Vec<TorrentInfo>,
    cfg: BtfsConfig,
    handles: HandleTable<OpenFile>,
    /// Open handles per file (the engine drops look-ahead when the last one closes).
    open: Mutex<HashMap<(TorrentKey, usize), usize>>,
    mounted_at: SystemTime,
    /// Set at shutdown: pending reads answer EIO at once, so readers let go of the mount.
    stopping: tokio::sync::watch::Receiver<bool>,
}

/// The filesystem handed to fuser.
pub struct BtfsFs {
    inner: Arc<Inner>,
    rt: tokio::runtime::Handle,
    stop: Arc<tokio::sync::watch::Sender<bool>>,
}

fn errno_of(e: &EngineError) -> Errno {
    match e {
        EngineError::NotFound => Errno::ENOENT,
        _ => Errno::EIO,
    }
}

impl Inner {
    fn stat(&self, ino: u64) -> Option<Stat> {
        let t = self.mounted_at;
        let (kind, size, exec) = if ino == STATUS_INO {
            (Kind::File, self.status_text().len() as u64, false)
        } else {
            match &self.tree.node(ino)?.kind {
                NodeKind::Dir { .. } => (Kind::Dir, 0, false),
                NodeKind::File { len, exec, .. } => (Kind::File, *len, *exec),
            }
        };
        let _ = exec;
        Some(Stat {
            kind,
            size,
            allocated: size,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            readonly: true,
        })
    }

    fn attr(&self, ino: u64) -> Option<FileAttr> {
        let s = self.stat(ino)?;
        let mut a = s.to_attr(ino, &self.cfg.own);
        if let Some(Node {
            kind: NodeKind::File { exec: true, .. },
            ..
        }) = self.tree.node(ino)
        {
            a.perm |= (a.perm & 0o444) >> 2;
        }
        Some(a)
    }

    /// `fusevol status` text: per torrent, peers and bytes; per file, verified bytes.
    fn status_text(&self) -> String {
        let mut s = String::new();
        for t in &self.torrents {
            let st = self
                .engine
                .stats(t.key)
                .unwrap_or_else(|_| Stats::default());
            s += &format!(
                "torrent {} {}\nstate {}\npeers {} (seen {})\nfetched_bytes {}\nuploaded_bytes {}\n\
                 have_bytes {} of {}\npiece_length {}\n",
                t.info_hash,
                t.name,
                st.state,
                st.peers,
                st.peers_seen,
                st.fetched_bytes,
                st.uploaded_bytes,
                st.have_bytes,
                st.total_bytes,
                t.piece_length,
            );
            for f in &t.files {
                if is_pad(&f.path, f.padding) {
                    continue;
                }
                let have = st.file_have.get(f.index).copied().unwrap_or(0);
                let pl = t.piece_length.max(1);
                s += &format!(
                    "file {} have {} of {} pieces_done {} of {}\n",
                    f.path.join("/"),
                    have,
                    f.len,
                    have / pl,
                    f.len.div_ceil(pl)
                );
            }
        }
        s
    }

    async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>, Errno> {
        let h = self.handles.get(fh).ok_or(Errno::EBADF)?;
        if h.file == usize::MAX {
            let text = self.status_text().into_bytes();
            let start = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(text.len());
            let end = start.saturating_add(size as usize).min(text.len());
            return Ok(text[start..end].to_vec());
        }
        if offset >= h.len {
            return Ok(Vec::new());
        }
        // The kernel's read-ahead sends several reads at once, not always in order: a read
        // near where the previous ones ended counts as sequential.
        let end = offset + u64::from(size);
        let access = if offset.abs_diff(h.next.load(Ordering::Relaxed)) <= SEQ_SLACK {
            h.next.fetch_max(end, Ordering::Relaxed);
            Access::Sequential
        } else {
            h.next.store(end, Ordering::Relaxed);
            Access::Random
        };
        let started = Instant::now();
        {
            let t = h.timed_out.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, from, to)) = *t
                && started.duration_since(at) < self.cfg.read_timeout.min(Duration::from_secs(5))
                && offset >= from
                && offset < to
            {
                return Err(Errno::EIO);
            }
        }
        let deadline = started + self.cfg.read_timeout;
        let mut stopping = self.stopping.clone();
        if *stopping.borrow() {
            return Err(Errno::EIO);
        }
        let read = self
            .engine
            .read_at(h.key, h.file, offset, size as usize, deadline, access);
        let r = tokio::select! {
            r = read => r,
            _ = stopping.wait_for(|s| *s) => return Err(Errno::EIO),
        };
        match r {
            Ok(d) => Ok(d),
            Err(e) => {
                let e = match e {
                    EngineError::ReadTimeout(_) => {
                        *h.timed_out.lock().unwrap_or_else(|p| p.into_inner()) =
                            Some((Instant::now(), offset, offset + u64::from(size)));
                        EngineError::ReadTimeout(self.cfg.read_timeout)
                    }
                    e => e,
                };
                tracing::warn!(file = h.file, offset, size, error = %e, "read failed");
                Err(errno_of(&e))
            }
        }
    }

    fn release(&self, fh: u64) {
        let Some(h) = self.handles.remove(fh) else {
            return;
        };
        if h.file == usize::MAX {
            return;
        }
        let last = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let k = (h.key, h.file);
            let n = open.get(&k).copied().unwrap_or(1).saturating_sub(1);
            if n == 0 {
                open.remove(&k);
            } else {
                open.insert(k, n);
            }
            n == 0
        };
        if last {
            self.engine.file_closed(h.key, h.file);
        }
    }
}

impl BtfsFs {
    pub fn new(
        engine: Arc<dyn Engine>,
        torrents: Vec<TorrentInfo>,
        cfg: BtfsConfig,
        rt: tokio::runtime::Handle,
    ) -> Self {
        let mut tree = Tree::new();
        for t in &torrents {
            tree.add_torrent(t);
        }
        let (stop, stopping) = tokio::sync::watch::channel(false);
        Self {
            stop: Arc::new(stop),
            inner: Arc::new(Inner {
                engine,
                tree,
                torrents,
                cfg,
                handles: HandleTable::default(),
                open: Mutex::new(HashMap::new()),
                mounted_at: SystemTime::now(),
                stopping,
            }),
            rt,
        }
    }

    /// A switch that makes every pending and later read fail with EIO (for shutdown: a reader
    /// blocked in the mount must not keep it, or the process, alive).
    pub fn stopper(&self) -> Arc<tokio::sync::watch::Sender<bool>> {
        self.stop.clone()
    }

    /// Every file shown: (path, torrent, file index, length).
    pub fn files(&self) -> Vec<(String, TorrentKey, usize, u64)> {
        self.inner.tree.files()
    }
}

fn file_type(n: &Node) -> FileType {
    match n.kind {
        NodeKind::Dir { .. } => FileType::Directory,
        NodeKind::File { .. } => FileType::RegularFile,
    }
}

impl Filesystem for BtfsFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_readahead(4 << 20);
        let _ = config.set_max_background(64);
        for flag in (InitFlags::FUSE_ASYNC_READ | InitFlags::FUSE_MAX_PAGES).iter() {
            let _ = config.add_capabilities(flag);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let Some(name) = name.to_str() else {
            return reply.error(Errno::ENOENT);
        };
        let ino = if parent.0 == ROOT && name == STATUS_FILE {
            Some(STATUS_INO)
        } else {
            self.inner.tree.lookup(parent.0, name)
        };
        match ino.and_then(|i| self.inner.attr(i)) {
            Some(a) => {
                // The status file changes: no caching.
                let ttl = if a.ino.0 == STATUS_INO {
                    Duration::ZERO
                } else {
                    TTL
                };
                reply.entry(&ttl, &a, Generation(0))
            }
            None => reply.error(Errno::ENOENT),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.inner.attr(ino.0) {
            Some(a) if ino.0 == STATUS_INO => reply.attr(&Duration::ZERO, &a),
            Some(a) => reply.attr(&TTL, &a),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.0 & libc::O_ACCMODE != libc::O_RDONLY
            || flags.0 & (libc::O_TRUNC | libc::O_CREAT) != 0
        {
            return reply.error(Errno::EROFS);
        }
        if ino.0 == STATUS_INO {
            let fh = self.inner.handles.insert(OpenFile {
                key: TorrentKey(usize::MAX),
                file: usize::MAX,
                len: 0,
                next: AtomicU64::new(0),
                timed_out: Mutex::new(None),
            });
            // Fresh text on every open; no page cache, reads of any size.
            return reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO);
        }
        match self.inner.tree.node(ino.0).map(|n| &n.kind) {
            Some(NodeKind::File { key, file, len, .. }) => {
                let fh = self.inner.handles.insert(OpenFile {
                    key: *key,
                    file: *file,
                    len: *len,
                    next: AtomicU64::new(0),
                    timed_out: Mutex::new(None),
                });
                *self
                    .inner
                    .open
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry((*key, *file))
                    .or_insert(0) += 1;
                // Torrent data never changes: keep the page cache across opens.
                reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE)
            }
            Some(NodeKind::Dir { .. }) => reply.error(Errno::EISDIR),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let inner = self.inner.clone();
        self.rt.spawn(async move {
            match inner.read(fh.0, offset, size).await {
                Ok(d) => reply.data(&d),
                Err(e) => reply.error(e),
            }
        });
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.inner.release(fh.0);
        reply.ok();
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.inner.tree.node(ino.0).map(|n| &n.kind) {
            Some(NodeKind::Dir { .. }) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
            Some(NodeKind::File { .. }) => reply.error(Errno::ENOTDIR),
            None => reply.error(Errno::ENOENT),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let tree = &self.inner.tree;
        let Some(node) = tree.node(ino.0) else {
            return reply.error(Errno::ENOENT);
        };
        let NodeKind::Dir { children } = &node.kind else {
            return reply.error(Errno::ENOTDIR);
        };
        let mut i = offset;
        loop {
            let full = match i {
                0 => reply.add(ino, 1, FileType::Directory, "."),
                1 => reply.add(INodeNo(node.parent), 2, FileType::Directory, ".."),
                n => match children.iter().nth((n - 2) as usize) {
                    Some((name, &child)) => {
                        let kind = tree
                            .node(child)
                            .map(file_type)
                            .unwrap_or(FileType::RegularFile);
                        reply.add(INodeNo(child), n + 1, kind, name)
                    }
                    None => break,
                },
            };
            if full {
                break;
            }
            i += 1;
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let total: u64 = self.inner.tree.files().iter().map(|f| f.3).sum();
        let bsize = 4096u32;
        let files = self.inner.tree.nodes.len() as u64;
        reply.statfs(
            total.div_ceil(u64::from(bsize)),
            0,
            0,
            files,
            0,
            bsize,
            NAME_MAX as u32,
            bsize,
        );
    }

    fn access(&self, _req: &Request, ino: INodeNo, mask: fuser::AccessFlags, reply: ReplyEmpty) {
        if self.inner.attr(ino.0).is_none() {
            return reply.error(Errno::ENOENT);
        }
        if mask.contains(fuser::AccessFlags::W_OK) {
            return reply.error(Errno::EROFS);
        }
        reply.ok();
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        reply.error(Errno::ENODATA);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, size: u32, reply: ReplyXattr) {
        if size == 0 {
            reply.size(0);
        } else {
            reply.data(&[]);
        }
    }

    // ---- everything that would change the tree: read-only filesystem ----

    fn setattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn mkdir(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn rmdir(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }

    fn symlink(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _link_name: &OsStr,
        _target: &Path,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn link(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _newparent: INodeNo,
        _newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply.error(Errno::EROFS);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        reply.error(Errno::EROFS);
    }

    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::EROFS);
    }

    fn setxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _value: &[u8],
        _flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::EROFS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::EROFS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btfs::engine::FileEntry;

    fn fe(index: usize, path: &[&str], padding: bool) -> FileEntry {
        FileEntry {
            index,
            path: path.iter().map(|s| s.to_string()).collect(),
            len: 10 + index as u64,
            padding,
            executable: false,
        }
    }

    fn info(multi: bool, name: &str, files: Vec<FileEntry>) -> TorrentInfo {
        TorrentInfo {
            key: TorrentKey(0),
            info_hash: "00".repeat(20),
            name: name.into(),
            multi_file: multi,
            piece_length: 16384,
            files,
        }
    }

    #[test]
    fn sanitising_components() {
        assert_eq!(sanitise(""), None);
        assert_eq!(sanitise("."), None);
        assert_eq!(sanitise("..").as_deref(), Some("_.."));
        assert_eq!(sanitise("a/b\0c").as_deref(), Some("a_b_c"));
        let long = "é".repeat(200);
        let s = sanitise(&long).unwrap();
        assert!(s.len() <= 255 && s.chars().all(|c| c == 'é'));
    }

    #[test]
    fn tree_hides_pads_and_defuses_hostile_names() {
        let t = info(
            true,
            "payload",
            vec![
                fe(0, &["a.bin"], false),
                fe(1, &[".pad", "123"], true),
                fe(2, &["..", "..", "etc", "passwd"], false),
                fe(3, &["", "abs", "x"], false),
                fe(4, &["dup"], false),
                fe(5, &["dup"], false),
                fe(6, &["d", "f"], false),
                fe(7, &["d"], false),
                fe(8, &["d", "g"], false),
                fe(9, &[".pad", "7"], false),
                fe(10, &["", "."], false),
            ],
        );
        let mut tree = Tree::new();
        tree.add_torrent(&t);
        let paths: Vec<String> = tree.files().into_iter().map(|f| f.0).collect();
        assert_eq!(
            paths,
            vec![
                "payload/_../_../etc/passwd",
                "payload/a.bin",
                "payload/abs/x",
                "payload/d (2)",
                "payload/d/f",
                "payload/d/g",
                "payload/dup",
                "payload/dup (2)",
                "payload/file-10",
            ]
        );
        // The same torrent name twice gets two directories; the status name is reserved.
        let mut t2 = info(true, "payload", vec![fe(0, &["x"], false)]);
        t2.key = TorrentKey(1);
        tree.add_torrent(&t2);
        assert!(tree.lookup(ROOT, "payload (2)").is_some());
        let mut tree = Tree::new();
        tree.add_torrent(&info(
            false,
            STATUS_FILE,
            vec![fe(0, &[STATUS_FILE], false)],
        ));
        assert_eq!(tree.files()[0].0, ".fusevol-status (2)");
    }

    #[test]
    fn single_file_torrent_sits_in_the_root() {
        let mut tree = Tree::new();
        tree.add_torrent(&info(false, "big.iso", vec![fe(0, &["big.iso"], false)]));
        let f = tree.lookup(ROOT, "big.iso").unwrap();
        assert!(tree.lookup(f, "x").is_none());
        assert_eq!(tree.files()[0].3, 10);
    }
}
