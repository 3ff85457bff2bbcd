//! An SMB share served as a read-write FUSE filesystem.
//!
//! Every `fuser::Filesystem` method copies its arguments, spawns a task on the tokio runtime and
//! replies from it (the `TokioAdapter` pattern), so the FUSE thread never waits on the network
//! and many operations are in flight on the one SMB connection at once.
mod dirahead;
mod known;
pub mod mfsymlink;
pub mod readahead;
pub mod writebehind;

use crate::fuse::attr::{self, Kind, Ownership, Stat, from_filetime};
use crate::fuse::errno;
use crate::fuse::handles::HandleTable;
use crate::fuse::inode::{InodeTable, ROOT};
use crate::smb::Error as SmbError;
use crate::smb::client::{File, FileInfo, OpenOptions, Tree};
use crate::smb::wire::create::{access, disposition, options};
use crate::smb::wire::fscc::{self, FileBasicInformation};
use bytes::Bytes;
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use readahead::Plan;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// How the filesystem presents the share.
#[derive(Debug, Clone)]
pub struct SmbFsConfig {
    /// Share-relative directory mounted as the root ("" for the share root).
    pub root: String,
    pub own: Ownership,
    /// Refuse every change with EROFS (`ro`).
    pub readonly: bool,
    /// Attribute and entry cache lifetime for files (`actimeo`, `acregmax`).
    pub file_ttl: Duration,
    /// The same for directories (`acdirmax`).
    pub dir_ttl: Duration,
    /// fsync sends SMB2 FLUSH (unless `nostrictsync`).
    pub strictsync: bool,
    /// Minshall+French symlinks (`mfsymlinks`).
    pub mfsymlinks: bool,
    /// Map characters Windows forbids to the SFM private-use range (`mapposix`).
    pub mapposix: bool,
    /// Use the server's file ids to keep inode numbers stable (`serverino`).
    pub serverino: bool,
    /// `cache=none`: bypass the page cache (direct I/O).
    pub direct_io: bool,
    /// `cache=loose`: let the kernel cache writes (writeback cache).
    pub writeback: bool,
    /// `hard`: after losing the server, wait (retrying) until it is back instead of failing.
    pub hard: bool,
    /// Ask for durable handles v2 with a lease on file opens (SMB 3.x), so open files survive a
    /// reconnect as the same server open (`nodurable` turns it off).
    pub durable: bool,
}

/// Builds a new tree connection (new TCP connection, session and tree) after the old one was
/// lost: a server restart or a cut network. Given by the mount, which knows the credentials.
pub type Connector = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<Tree, SmbError>> + Send>>
        + Send
        + Sync,
>;

/// The open file behind a handle. After a reconnect it is reclaimed through its durable handle
/// (MS-SMB2 3.2.4.4) when the server granted one, else reopened by path.
struct FileSlot {
    cur: std::sync::RwLock<(File, u64)>,
    /// One reopen per reconnect, however many operations on the handle noticed the loss.
    reopening: tokio::sync::Mutex<()>,
    /// Share-relative SMB path and how to open it again (never creating or truncating).
    path: String,
    reopen: OpenOptions,
}

impl FileSlot {
    fn new(file: File, generation: u64, path: String, mut reopen: OpenOptions) -> Self {
        reopen.disposition = disposition::OPEN;
        Self {
            cur: std::sync::RwLock::new((file, generation)),
            reopening: tokio::sync::Mutex::new(()),
            path,
            reopen,
        }
    }
    fn get(&self) -> (File, u64) {
        self.cur.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn info(&self) -> FileInfo {
        self.get().0.info().clone()
    }
}

enum Handle {
    /// `ra`: read-ahead state for handles opened read-only (not with `cache=none`);
    /// `wb`: write-behind state for handles that write.
    File {
        file: FileSlot,
        ra: Option<Arc<readahead::ReadAhead>>,
        wb: Arc<writebehind::WriteBehind>,
    },
    Dir {
        ino: u64,
        entries: tokio::sync::Mutex<Option<Arc<Vec<DirItem>>>>,
    },
}

#[derive(Clone)]
struct DirItem {
    name: String,
    stat: Stat,
    server_id: Option<u64>,
}

struct Inner {
    /// The live tree and its generation (bumped by every reconnect).
    tree: std::sync::RwLock<(Tree, u64)>,
    connector: Option<Connector>,
    reconnecting: tokio::sync::Mutex<()>,
    cfg: SmbFsConfig,
    inodes: Mutex<InodeTable<Stat>>,
    handles: HandleTable<Handle>,
    /// Open files reclaimed through durable handles after reconnects.
    reclaimed: std::sync::atomic::AtomicU64,
    /// Size and mtime of each inode as last told to the kernel, which caches them for the
    /// attribute TTL and clamps reads at that size: an open that finds the file changed on the
    /// server (replaced by a rename, written by another client) corrects the kernel.
    told: Mutex<HashMap<u64, (u64, SystemTime)>>,
    /// Set once the session exists: tells the kernel to drop cached attributes and pages.
    notifier: Arc<std::sync::OnceLock<fuser::Notifier>>,
    /// Held (write) while a rename replaces a file that is open elsewhere, which takes three
    /// server calls with a moment where the name is absent; lookups and opens (read) wait so
    /// they never see that moment, as POSIX rename is atomic.
    replacing: tokio::sync::RwLock<()>,
    /// Write-behind queues of the handles that wrote to each inode: getattr drains them first
    /// so the size it reports includes every write the kernel has made (it trusts our size),
    /// and reads through other handles wait for them. Also the read-ahead of the handles
    /// reading each inode, which writes mark stale.
    writers: Mutex<HashMap<u64, Writers>>,
    /// Is the mount still attached? A `hard` mount stops waiting for the server once it is not
    /// (`umount -l`), so the programs blocked on it get EIO and the daemon can exit.
    still_mounted: std::sync::OnceLock<MountedCheck>,
    /// Directories whose every name we know for a moment (see [`known`]).
    known: Mutex<known::Known>,
    /// Directory listings fetched ahead of a tree walk (see [`dirahead`]).
    ahead: Mutex<dirahead::Ahead<DirItem>>,
    /// At most this many listings are fetched ahead at once.
    ahead_permits: Arc<tokio::sync::Semaphore>,
    /// Changes made through the mount (names, sizes, times), counted when each starts and
    /// ends: a listing fetched ahead across one is not used.
    changes: std::sync::atomic::AtomicU64,
    /// Files opened write-only bypass the page cache (see [`Inner::fopen_flags`]); set at
    /// FUSE_INIT when the kernel is one that keeps that coherent.
    direct_writes: std::sync::atomic::AtomicBool,
}

/// The handles writing to one inode, and the read-ahead of those reading it, which every write
/// and truncation through the mount marks stale ([`readahead::ReadAhead::changed`]).
#[derive(Default)]
struct Writers {
    list: Vec<std::sync::Weak<writebehind::WriteBehind>>,
    readers: Vec<std::sync::Weak<readahead::ReadAhead>>,
}

impl Writers {
    /// Forget the handles gone; is anything left to keep the entry for?
    fn prune(&mut self) -> bool {
        self.list.retain(|x| x.strong_count() > 0);
        self.readers.retain(|x| x.strong_count() > 0);
        !self.list.is_empty() || !self.readers.is_empty()
    }
}

/// A read started on the FUSE thread ([`Inner::read_start`]): its handle and plan.
struct ReadStart {
    h: Arc<Handle>,
    plan: Option<Plan>,
}

/// Counts a change when made and when dropped (see [`Inner::changes`]).
struct Change<'a>(&'a std::sync::atomic::AtomicU64);

/// A CREATE sent ahead, whose answer is still to come ([`Inner::create`]).
type EarlyOpen = std::pin::Pin<Box<dyn Future<Output = Result<File, SmbError>> + Send>>;

impl Drop for Change<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// See [`Inner::still_mounted`].
pub type MountedCheck = Box<dyn Fn() -> bool + Send + Sync>;

/// The filesystem handed to fuser.
pub struct SmbFs {
    inner: Arc<Inner>,
    rt: tokio::runtime::Handle,
}

type R<T> = Result<T, Errno>;

fn err(e: crate::smb::Error) -> Errno {
    tracing::debug!(error = %e, "operation failed");
    Errno::from_i32(errno::from_error(&e))
}

/// SFM mapping (mount.cifs `mapposix`): characters Windows forbids in names go to U+F0xx.
fn map_name(name: &str, on: bool) -> String {
    if !on {
        return name.to_string();
    }
    name.chars()
        .map(|c| match c {
            '\u{1}'..='\u{1f}' => char::from_u32(0xF000 + c as u32).unwrap_or(c),
            '"' => '\u{F020}',
            '*' => '\u{F021}',
            ':' => '\u{F022}',
            '<' => '\u{F023}',
            '>' => '\u{F024}',
            '?' => '\u{F025}',
            '\\' => '\u{F026}',
            '|' => '\u{F027}',
            c => c,
        })
        .collect()
}

/// The `told` entry of an inode whose attributes the kernel was asked to drop.
const UNKNOWN_TO_KERNEL: (u64, SystemTime) = (u64::MAX, SystemTime::UNIX_EPOCH);

/// A hidden name beside `path` (share-relative, `\\`-separated) for a replaced file that is
/// still open elsewhere: `.fusevol-replaced-<random hex>`.
fn silly_name(path: &str) -> String {
    let mut r = [0u8; 8];
    let _ = getrandom::fill(&mut r);
    let tag: String = r.iter().map(|b| format!("{b:02x}")).collect();
    match path.rsplit_once('\\') {
        Some((dir, _)) => format!("{dir}\\.fusevol-replaced-{tag}"),
        None => format!(".fusevol-replaced-{tag}"),
    }
}

fn unmap_name(name: &str, on: bool) -> String {
    if !on {
        return name.to_string();
    }
    name.chars()
        .map(|c| match c as u32 {
            0xF001..=0xF01F => char::from_u32(c as u32 - 0xF000).unwrap_or(c),
            0xF020 => '"',
            0xF021 => '*',
            0xF022 => ':',
            0xF023 => '<',
            0xF024 => '>',
            0xF025 => '?',
            0xF026 => '\\',
            0xF027 => '|',
            _ => c,
        })
        .collect()
}

impl Inner {
    fn tree(&self) -> (Tree, u64) {
        self.tree.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replace a lost connection (once per generation, however many operations noticed).
    /// `soft`: one attempt, its error returned; `hard`: retried with backoff until it works.
    async fn reconnect(&self, seen: u64) -> Result<(), SmbError> {
        let Some(connect) = &self.connector else {
            return Err(SmbError::Disconnected(
                "connection lost (no reconnect)".into(),
            ));
        };
        let _one = self.reconnecting.lock().await;
        if self.tree().1 != seen {
            return Ok(());
        }
        let mut delay = Duration::from_millis(250);
        loop {
            match connect().await {
                Ok(t) => {
                    tracing::info!("reconnected to the server");
                    *self.tree.write().unwrap_or_else(|p| p.into_inner()) = (t, seen + 1);
                    return Ok(());
                }
                Err(e) if self.cfg.hard => {
                    if self.still_mounted.get().is_some_and(|f| !f()) {
                        return Err(SmbError::Disconnected(format!(
                            "{e}; the mount was detached, no longer waiting"
                        )));
                    }
                    tracing::warn!(error = %e, "server still unreachable (hard mount): retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Run `op` on the tree; if the connection turns out lost, reconnect and run it again: once
    /// (`soft`), or for as long as it keeps losing the connection (`hard`).
    async fn on_tree<T, F, Fut>(&self, op: F) -> Result<T, SmbError>
    where
        F: Fn(Tree) -> Fut,
        Fut: Future<Output = Result<T, SmbError>>,
    {
        let mut tries = 0;
        loop {
            let (t, g) = self.tree();
            match op(t).await {
                Err(e)
                    if e.is_disconnect() && self.connector.is_some() && self.retry(&mut tries) =>
                {
                    tracing::debug!(error = %e, "connection lost; reconnecting");
                    self.reconnect(g).await?;
                }
                r => return r,
            }
        }
    }

    /// Another attempt after a lost connection? One for `soft` mounts, always for `hard`.
    fn retry(&self, tries: &mut u32) -> bool {
        *tries += 1;
        self.cfg.hard || *tries == 1
    }

    /// Run `op` on an open file; after a lost connection, reconnect, bring the file back
    /// ([`reopen`](Self::reopen)) and run it again, as [`on_tree`](Self::on_tree) does.
    async fn on_file<T, F, Fut>(&self, slot: &FileSlot, op: F) -> Result<T, SmbError>
    where
        F: Fn(File) -> Fut,
        Fut: Future<Output = Result<T, SmbError>>,
    {
        let mut tries = 0;
        let (mut f, mut g) = slot.get();
        loop {
            match op(f).await {
                Err(e)
                    if e.is_disconnect() && self.connector.is_some() && self.retry(&mut tries) =>
                {
                    tracing::debug!(error = %e, path = %slot.path, "connection lost; reopening");
                    // `g`: the generation of the connection seen failing.
                    loop {
                        self.reconnect(g).await?;
                        match self.reopen(slot).await {
                            Ok(nf) => {
                                (f, g) = (nf, slot.get().1);
                                break;
                            }
                            Err(e) if e.is_disconnect() && self.cfg.hard => g = self.tree().1,
                            Err(e) => return Err(e),
                        }
                    }
                }
                r => return r,
            }
        }
    }

    /// Reclaim a durable open. The server may not have noticed the old connection's end yet
    /// (Samba answers OBJECT_NAME_NOT_FOUND until it has marked the open disconnected), so a
    /// refusal is retried for up to 5 s before giving up on the handle. Samba took over 1.5 s
    /// after a second cut that landed during a reclaim (a CI run of the reconnect test), longer
    /// than the 2 s budget this had, and the handle is reclaimable for far longer (its durable
    /// timeout, 60 s by default).
    async fn reclaim(
        &self,
        t: &Tree,
        slot: &FileSlot,
        tok: &crate::smb::DurableToken,
    ) -> Result<File, SmbError> {
        let mut delay = Duration::from_millis(50);
        let give_up = Instant::now() + Duration::from_secs(5);
        loop {
            match t.reclaim(&slot.path, &slot.reopen, tok).await {
                Err(e)
                    if e.status() == Some(crate::smb::wire::NtStatus::OBJECT_NAME_NOT_FOUND)
                        && Instant::now() + delay < give_up =>
                {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                r => return r,
            }
        }
    }

    /// Bring an open file onto the current connection: reclaim its durable handle (the same
    /// open, with its share modes, on the server) or, failing that, open the path again.
    async fn reopen(&self, slot: &FileSlot) -> Result<File, SmbError> {
        let _one = slot.reopening.lock().await;
        let (old, og) = slot.get();
        let (t, tg) = self.tree();
        if og == tg {
            return Ok(old);
        }
        let nf = match old.durable() {
            Some(tok) => match self.reclaim(&t, slot, &tok).await {
                Ok(nf) => {
                    self.reclaimed
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(path = %slot.path, "durable handle reclaimed");
                    nf
                }
                Err(e) if e.is_disconnect() => {
                    tracing::warn!(error = %e, path = %slot.path, "connection lost again while reclaiming");
                    return Err(e);
                }
                Err(e) => {
                    tracing::info!(error = %e, path = %slot.path, "durable handle not reclaimed; reopening by path");
                    t.open(&slot.path, &slot.reopen).await?
                }
            },
            None => t.open(&slot.path, &slot.reopen).await?,
        };
        *slot.cur.write().unwrap_or_else(|p| p.into_inner()) = (nf.clone(), tg);
        Ok(nf)
    }

    fn ttl(&self, s: &Stat) -> Duration {
        if s.kind == Kind::Dir {
            self.cfg.dir_ttl
        } else {
            self.cfg.file_ttl
        }
    }

    fn attr(&self, ino: u64, s: &Stat) -> FileAttr {
        if s.kind == Kind::File {
            self.told
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(ino, (s.size, s.mtime));
        }
        let mut a = s.to_attr(ino, &self.cfg.own);
        if self.cfg.readonly {
            a.perm &= !0o222;
        }
        a
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InodeTable<Stat>> {
        self.inodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Does some open handle have writes (possibly queued) to `ino`?
    fn is_being_written(&self, ino: u64) -> bool {
        self.writers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ino)
            .is_some_and(|w| w.list.iter().any(|w| w.strong_count() > 0))
    }

    fn known(&self) -> std::sync::MutexGuard<'_, known::Known> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ahead(&self) -> std::sync::MutexGuard<'_, dirahead::Ahead<DirItem>> {
        self.ahead.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A change through the mount begins; it is counted again when the guard drops.
    fn change(&self) -> Change<'_> {
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Change(&self.changes)
    }

    /// A name from the kernel, checked and mapped for the server.
    fn name(&self, name: &OsStr) -> R<String> {
        let s = name.to_str().ok_or(Errno::EINVAL)?;
        if s.len() > 255 {
            return Err(Errno::ENAMETOOLONG);
        }
        if !self.cfg.mapposix && s.contains('\\') {
            // A backslash is the SMB path separator: it cannot be part of a name.
            return Err(Errno::EINVAL);
        }
        Ok(s.to_string())
    }

    /// Share-relative SMB path of a mount-relative path.
    fn smb(&self, rel: &str) -> String {
        let rel = map_name(rel, self.cfg.mapposix);
        match (self.cfg.root.is_empty(), rel.is_empty()) {
            (true, _) => rel,
            (false, true) => self.cfg.root.clone(),
            (false, false) => format!("{}/{}", self.cfg.root, rel),
        }
    }

    fn path(&self, ino: u64) -> R<String> {
        self.lock().path(ino).ok_or(Errno::ENOENT)
    }

    fn child(&self, parent: u64, name: &str) -> R<String> {
        self.lock().child_path(parent, name).ok_or(Errno::ENOENT)
    }

    fn ro(&self) -> R<()> {
        if self.cfg.readonly {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    fn stat_of(info: &FileInfo) -> Stat {
        Stat {
            kind: if info.is_dir() { Kind::Dir } else { Kind::File },
            size: info.size,
            allocated: info.allocation_size,
            atime: from_filetime(info.last_access_time),
            mtime: from_filetime(info.last_write_time),
            ctime: from_filetime(info.change_time),
            crtime: from_filetime(info.creation_time),
            readonly: info.is_readonly(),
        }
    }

    /// A Minshall+French link's target, if `path` is one.
    async fn symlink_target(&self, smb_path: &str) -> Option<String> {
        let data = self
            .on_tree(|t| async move {
                let f = t.open(smb_path, &OpenOptions::read()).await?;
                let data = f.read_at(0, mfsymlink::FILE_SIZE).await;
                let _ = f.close().await;
                data
            })
            .await
            .ok()?;
        mfsymlink::decode(&data)
    }

    /// Attributes of a share-relative path, symlinks recognised.
    async fn stat_path(&self, smb_path: &str) -> R<(Stat, Option<u64>)> {
        let info = self
            .on_tree(|t| async move { t.stat(smb_path).await })
            .await
            .map_err(err)?;
        let mut s = Self::stat_of(&info);
        self.fix_symlink(smb_path, &mut s).await;
        let id = if self.cfg.serverino {
            info.file_index
        } else {
            None
        };
        Ok((s, id))
    }

    async fn fix_symlink(&self, smb_path: &str, s: &mut Stat) {
        if self.cfg.mfsymlinks
            && s.kind == Kind::File
            && s.size == mfsymlink::FILE_SIZE as u64
            && let Some(t) = self.symlink_target(smb_path).await
        {
            s.kind = Kind::Symlink;
            s.size = t.len() as u64;
        }
    }

    async fn lookup(&self, parent: u64, name: &OsStr) -> R<(FileAttr, Duration)> {
        let name = self.name(name)?;
        let rel = self.child(parent, &name)?;
        if self.known().absent(parent, &name, Instant::now()) {
            return Err(Errno::ENOENT);
        }
        // A file open for writing here: its size on the server must include queued writes
        // before the kernel is told it (it would take a smaller one and clamp reads at it).
        let existing = self.lock().find(parent, &name);
        if let Some(ino) = existing {
            self.settle_writers(ino).await;
        }
        // The table is updated under the same guard as the server was asked: a rename that
        // replaced the name in between must not leave it naming the file it replaced.
        let (s, ino) = {
            let _r = self.replacing.read().await;
            let (s, id) = self.stat_path(&self.smb(&rel)).await?;
            (s, self.lock().lookup(parent, &name, id, s))
        };
        Ok((self.attr(ino, &s), self.ttl(&s)))
    }

    /// Wait for the queued writes of every handle writing to `ino` (their errors stay queued
    /// for the writer's next write, flush or fsync). Were there any?
    async fn settle_writers(&self, ino: u64) -> bool {
        let writers = self.writers_of(ino);
        let any = !writers.is_empty();
        for wb in writers {
            wb.settle().await;
        }
        any
    }

    /// The live write-behind queues of `ino`.
    fn writers_of(&self, ino: u64) -> Vec<Arc<writebehind::WriteBehind>> {
        let mut w = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        let Some(e) = w.get_mut(&ino) else {
            return Vec::new();
        };
        let live: Vec<_> = e.list.iter().filter_map(|x| x.upgrade()).collect();
        if !e.prune() {
            w.remove(&ino);
        }
        live
    }

    /// A handle reading `ino` with `ra` is released: writes need not mark it any more.
    fn forget_reader(&self, ino: u64, ra: &Arc<readahead::ReadAhead>) {
        let mut w = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = w.get_mut(&ino) {
            e.readers
                .retain(|r| !std::ptr::eq(r.as_ptr(), Arc::as_ptr(ra)));
            if !e.prune() {
                w.remove(&ino);
            }
        }
    }

    /// The contents of `ino` change through the mount (a write, a truncation): what other
    /// handles read ahead of it is stale.
    fn contents_change(w: &mut HashMap<u64, Writers>, ino: u64) -> &mut Writers {
        let e = w.entry(ino).or_default();
        e.readers.retain(|r| match r.upgrade() {
            Some(ra) => {
                ra.changed();
                true
            }
            None => false,
        });
        e
    }

    async fn getattr(&self, ino: u64) -> R<(FileAttr, Duration)> {
        let ttl = self.cfg.file_ttl.min(self.cfg.dir_ttl);
        // Open for writing here: the server's size must include what is still queued.
        if !self.settle_writers(ino).await
            && let Some(s) = self.lock().attr(ino, ttl)
        {
            return Ok((self.attr(ino, &s), self.ttl(&s)));
        }
        let rel = self.path(ino)?;
        let (s, _) = self.stat_path(&self.smb(&rel)).await?;
        self.lock().set_attr(ino, s);
        Ok((self.attr(ino, &s), self.ttl(&s)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn setattr(
        &self,
        ino: u64,
        mode: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        fh: Option<u64>,
    ) -> R<(FileAttr, Duration)> {
        let _change = self.change();
        if mode.is_some() || size.is_some() || atime.is_some() || mtime.is_some() {
            self.ro()?;
        }
        let rel = self.path(ino)?;
        let path = self.smb(&rel);
        let handle = fh.and_then(|f| self.handles.get(f));
        let open_file = match handle.as_deref() {
            Some(Handle::File { file, wb, .. }) => {
                wb.drain().await.map_err(Errno::from_i32)?;
                Some(file)
            }
            _ => None,
        };
        let path = path.as_str();
        if let Some(len) = size {
            Self::contents_change(
                &mut self.writers.lock().unwrap_or_else(|p| p.into_inner()),
                ino,
            );
            match open_file {
                Some(slot) => self
                    .on_file(slot, |f| async move { f.set_len(len).await })
                    .await
                    .map_err(err)?,
                None => {
                    let o = &OpenOptions {
                        access: access::FILE_WRITE_DATA
                            | access::FILE_READ_ATTRIBUTES
                            | access::SYNCHRONIZE,
                        ..OpenOptions::read()
                    };
                    self.on_tree(|t| async move {
                        let f = t.open(path, o).await?;
                        let r = f.set_len(len).await;
                        let _ = f.close().await;
                        r
                    })
                    .await
                    .map_err(err)?;
                }
            }
        }
        let ft = |t: Option<TimeOrNow>| match t {
            Some(TimeOrNow::SpecificTime(t)) => fscc::system_time_to_filetime(t),
            Some(TimeOrNow::Now) => fscc::system_time_to_filetime(SystemTime::now()),
            None => 0,
        };
        let mut attributes = 0u32;
        if let Some(m) = mode {
            let cur = self
                .on_tree(|t| async move { t.stat(path).await })
                .await
                .map_err(err)?;
            if !cur.is_dir() {
                let ro = m & 0o222 == 0;
                let mut a =
                    cur.attributes & !fscc::attributes::READONLY & !fscc::attributes::NORMAL;
                if ro {
                    a |= fscc::attributes::READONLY;
                }
                if a != cur.attributes {
                    attributes = if a == 0 { fscc::attributes::NORMAL } else { a };
                }
            }
        }
        let times = (ft(atime), ft(mtime));
        if times != (0, 0) || attributes != 0 {
            let info = FileBasicInformation {
                creation_time: 0,
                last_access_time: times.0,
                last_write_time: times.1,
                change_time: 0,
                file_attributes: attributes,
            };
            match open_file {
                Some(slot) => self
                    .on_file(slot, |f| async move { f.set_basic(info).await })
                    .await
                    .map_err(err)?,
                None => {
                    let o = &OpenOptions {
                        access: access::FILE_WRITE_ATTRIBUTES
                            | access::FILE_READ_ATTRIBUTES
                            | access::SYNCHRONIZE,
                        ..OpenOptions::read()
                    };
                    self.on_tree(|t| async move {
                        let f = t.open(path, o).await?;
                        let r = f.set_basic(info).await;
                        let _ = f.close().await;
                        r
                    })
                    .await
                    .map_err(err)?;
                }
            }
        }
        let (s, _) = self.stat_path(path).await?;
        self.lock().set_attr(ino, s);
        Ok((self.attr(ino, &s), self.ttl(&s)))
    }

    async fn readlink(&self, ino: u64) -> R<Vec<u8>> {
        if !self.cfg.mfsymlinks {
            return Err(Errno::EINVAL);
        }
        let rel = self.path(ino)?;
        self.symlink_target(&self.smb(&rel))
            .await
            .map(String::into_bytes)
            .ok_or(Errno::EINVAL)
    }

    async fn mkdir(&self, parent: u64, name: &OsStr) -> R<(FileAttr, Duration)> {
        let _change = self.change();
        self.ro()?;
        let name = self.name(name)?;
        let rel = self.child(parent, &name)?;
        let path = self.smb(&rel);
        let p = path.as_str();
        let info = self
            .on_tree(|t| async move { t.mkdir(p).await })
            .await
            .map_err(|e| {
                self.known().forget(parent);
                err(e)
            })?;
        let mut s = Self::stat_of(&info);
        s.kind = Kind::Dir;
        let id = info.file_index.filter(|_| self.cfg.serverino);
        let ino = self.lock().lookup(parent, &name, id, s);
        {
            // New, so empty.
            let mut k = self.known();
            k.added(parent, &name);
            k.made(ino, Instant::now());
        }
        self.lock().invalidate(parent);
        Ok((self.attr(ino, &s), self.ttl(&s)))
    }

    async fn symlink(&self, parent: u64, name: &OsStr, target: &Path) -> R<(FileAttr, Duration)> {
        let _change = self.change();
        self.ro()?;
        if !self.cfg.mfsymlinks {
            return Err(Errno::EPERM);
        }
        let name = self.name(name)?;
        let target = target.to_str().ok_or(Errno::EINVAL)?;
        let data = mfsymlink::encode(target).ok_or(Errno::ENAMETOOLONG)?;
        let rel = self.child(parent, &name)?;
        let path = self.smb(&rel);
        let (p, d) = (path.as_str(), data.as_slice());
        self.on_tree(|t| async move {
            let f = t.open(p, &OpenOptions::create_new()).await?;
            let w = f.write_at(0, d).await;
            let _ = f.close().await;
            w
        })
        .await
        .map_err(|e| {
            self.known().forget(parent);
            err(e)
        })?;
        self.known().added(parent, &name);
        let (s, id) = self.stat_path(&path).await?;
        let ino = self.lock().lookup(parent, &name, id, s);
        Ok((self.attr(ino, &s), self.ttl(&s)))
    }

    async fn unlink(&self, parent: u64, name: &OsStr, dir: bool) -> R<()> {
        let _change = self.change();
        self.ro()?;
        let name = self.name(name)?;
        let path = self.smb(&self.child(parent, &name)?);
        let p = path.as_str();
        let r = self
            .on_tree(|t| async move {
                if dir {
                    t.rmdir(p).await
                } else {
                    t.remove(p).await
                }
            })
            .await;
        r.map_err(|e| {
            self.known().forget(parent);
            err(e)
        })?;
        {
            let mut k = self.known();
            k.removed(parent, &name);
            if let Some(child) = dir.then(|| self.lock().find(parent, &name)).flatten() {
                k.forget(child);
            }
        }
        let mut t = self.lock();
        t.unlink(parent, &name);
        t.invalidate(parent);
        Ok(())
    }

    async fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> R<()> {
        let _change = self.change();
        let r = self
            .rename_inner(parent, name, newparent, newname, flags)
            .await;
        let mut k = self.known();
        match (&r, name.to_str(), newname.to_str()) {
            (Ok(()), Some(a), Some(b)) => {
                k.removed(parent, a);
                k.added(newparent, b);
            }
            _ => {
                k.forget(parent);
                k.forget(newparent);
            }
        }
        r
    }

    async fn rename_inner(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: RenameFlags,
    ) -> R<()> {
        self.ro()?;
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            return Err(Errno::EINVAL);
        }
        let name = self.name(name)?;
        let newname = self.name(newname)?;
        let from = self.smb(&self.child(parent, &name)?);
        let to = self.smb(&self.child(newparent, &newname)?);
        let replace = !flags.contains(RenameFlags::RENAME_NOREPLACE);
        // Opens and lookups wait while a rename may replace a name: the server's rename and the
        // table's must look like one step to them. Otherwise an open of the replaced node that
        // read its path just before would open the new file under the old node, and the old
        // node's readers would see its size change under them (cut reads in the load test).
        let _w = if replace {
            Some(self.replacing.write().await)
        } else {
            None
        };
        let (f, t2) = (from.as_str(), to.as_str());
        match self
            .on_tree(|t| async move { t.rename(f, t2, replace).await })
            .await
        {
            Ok(()) => {}
            // POSIX rename replaces an empty directory; SMB refuses with ACCESS_DENIED or
            // COLLISION. Retry once after removing an empty destination directory.
            Err(e) if replace && e.status().is_some() => {
                let dest = self.on_tree(|t| async move { t.stat(t2).await }).await;
                match dest {
                    Ok(d) if d.is_dir() => {
                        self.on_tree(|t| async move {
                            t.rmdir(t2).await?;
                            t.rename(f, t2, replace).await
                        })
                        .await
                        .map_err(err)?;
                    }
                    // The destination is a file someone holds open: SMB refuses to replace it
                    // (ACCESS_DENIED), POSIX replaces it and the holders keep reading the old
                    // contents. Move it aside under a hidden name, delete it there (it goes
                    // when its last handle closes), then rename: what cifs.ko and NFS clients
                    // call a silly rename.
                    Ok(_) => {
                        let aside = silly_name(t2);
                        let a = aside.as_str();
                        self.on_tree(|t| async move { t.rename(t2, a, false).await })
                            .await
                            .map_err(|_| err(e))?;
                        let moved = self
                            .on_tree(|t| async move { t.rename(f, t2, false).await })
                            .await;
                        if let Err(e2) = moved {
                            // Put the destination back; the rename failed for its own reason.
                            let _ = self
                                .on_tree(|t| async move { t.rename(a, t2, false).await })
                                .await;
                            return Err(err(e2));
                        }
                        if let Err(e3) = self.on_tree(|t| async move { t.remove(a).await }).await {
                            tracing::warn!(error = %e3, path = a, "replaced file left aside");
                        }
                    }
                    _ => return Err(err(e)),
                }
            }
            Err(e) => return Err(err(e)),
        }
        let mut t = self.lock();
        t.rename(parent, &name, newparent, &newname);
        t.invalidate(parent);
        t.invalidate(newparent);
        Ok(())
    }

    fn open_options(flags: i32) -> OpenOptions {
        let write = flags & libc::O_ACCMODE != libc::O_RDONLY;
        let mut o = if write {
            OpenOptions::read_write()
        } else {
            OpenOptions::read()
        };
        if write && flags & libc::O_TRUNC != 0 {
            o.disposition = disposition::OVERWRITE;
        }
        o
    }

    /// The open flags of a new handle. A write-only handle bypasses the page cache
    /// (FOPEN_DIRECT_IO) where the kernel allows it ([`Inner::direct_writes`]): nothing can read
    /// it back through that handle (nor map it), and the kernel's own write path would copy the
    /// data twice, into the page cache and out again to us. That copy is half the writer's CPU
    /// for a 1 GiB `dd` (0.36 → 0.15 s) and fills 1 GiB of page cache nobody asked for.
    fn fopen_flags(&self, flags: i32) -> FopenFlags {
        let direct_write = flags & libc::O_ACCMODE == libc::O_WRONLY
            && self
                .direct_writes
                .load(std::sync::atomic::Ordering::Relaxed);
        if self.cfg.direct_io || direct_write {
            FopenFlags::FOPEN_DIRECT_IO
        } else {
            FopenFlags::empty()
        }
    }

    async fn open(&self, ino: u64, flags: i32) -> R<(u64, bool)> {
        let write = flags & libc::O_ACCMODE != libc::O_RDONLY;
        if write || flags & libc::O_TRUNC != 0 {
            self.ro()?;
        }
        let replacing = self.replacing.read().await;
        let path = {
            let t = self.lock();
            match t.path(ino) {
                Some(p) => p,
                // The kernel looked the name up just before a rename through the mount put
                // another file there. ESTALE makes the VFS walk the path again with
                // LOOKUP_REVAL (do_filp_open), which asks us afresh and opens the file that is
                // there now under its own node, as NFS clients do.
                None if t.was_replaced(ino) => return Err(Errno::ESTALE),
                None => return Err(Errno::ENOENT),
            }
        };
        let path = self.smb(&path);
        let mut o = Self::open_options(flags);
        o.durable = self.cfg.durable;
        let (p, or) = (path.as_str(), &o);
        let file = self
            .on_tree(|t| async move { t.open(p, or).await })
            .await
            .map_err(err)?;
        drop(replacing);
        if flags & libc::O_TRUNC != 0 {
            self.lock().invalidate(ino);
        }
        let direct = flags & libc::O_TRUNC == 0 && self.changed_on_server(ino, file.info());
        tracing::trace!(ino, path, size = file.info().size, direct, "opened");
        let ra = (!write && !self.cfg.direct_io).then(|| {
            let ra = Arc::<readahead::ReadAhead>::default();
            let mut w = self.writers.lock().unwrap_or_else(|p| p.into_inner());
            let e = w.entry(ino).or_default();
            e.prune();
            e.readers.push(Arc::downgrade(&ra));
            ra
        });
        let file = FileSlot::new(file, self.tree().1, path, o);
        let fh = self.handles.insert(Handle::File {
            file,
            ra,
            wb: Arc::default(),
        });
        Ok((fh, direct))
    }

    /// Does the file just opened differ from what the kernel was last told (another client
    /// wrote it, or a rename replaced it between the kernel's lookup and this open)? Then the
    /// cache is corrected: our attributes now, the kernel's by an invalidation sent after this
    /// reply. Returns whether the size differs, in which case the handle must bypass the page
    /// cache (the kernel clamps cached reads at the size it knows).
    fn changed_on_server(&self, ino: u64, info: &FileInfo) -> bool {
        let now = Self::stat_of(info);
        let told = self
            .told
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&ino)
            .copied();
        let Some((size, mtime)) = told else {
            return false;
        };
        if size == now.size && mtime == now.mtime {
            return false;
        }
        tracing::debug!(
            ino,
            size,
            now = now.size,
            "file changed on the server since the kernel looked"
        );
        self.lock().set_attr(ino, now);
        // Until the kernel asks again (getattr, lookup: `attr` records what it is told), its
        // view is unknown: later opens bypass the page cache too.
        self.told
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ino, UNKNOWN_TO_KERNEL);
        if let Some(n) = self.notifier.get().cloned() {
            // Not from inside this request (the kernel may be waiting on it): afterwards.
            tokio::spawn(async move {
                let _ =
                    tokio::task::spawn_blocking(move || n.inval_inode(INodeNo(ino), 0, 0)).await;
            });
        }
        size != now.size || (size, mtime) == UNKNOWN_TO_KERNEL
    }

    /// What a create asks the server for: the checked name, the SMB path and the options.
    fn create_request(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
    ) -> R<(String, String, OpenOptions)> {
        self.ro()?;
        let name = self.name(name)?;
        let rel = self.child(parent, &name)?;
        let path = self.smb(&rel);
        let mut o = OpenOptions::create_truncate();
        o.disposition = if flags & libc::O_EXCL != 0 {
            disposition::CREATE
        } else if flags & libc::O_TRUNC != 0 {
            disposition::OVERWRITE_IF
        } else {
            disposition::OPEN_IF
        };
        o.options = options::NON_DIRECTORY_FILE;
        o.durable = self.cfg.durable;
        if mode & 0o222 == 0 {
            o.attributes = fscc::attributes::READONLY;
        }
        Ok((name, path, o))
    }

    /// Create a file. `early`: the CREATE already sent (from the FUSE thread, see
    /// [`Tree::open_indexed_now`]) on the connection of that generation; lost with its
    /// connection, it is sent again as usual. The change began when the request was made
    /// (`changes` counted then).
    async fn create(
        &self,
        parent: u64,
        (name, path, o): (String, String, OpenOptions),
        early: Option<(EarlyOpen, u64)>,
    ) -> R<(FileAttr, Duration, u64)> {
        let _change = Change(&self.changes);
        let (p, or) = (path.as_str(), &o);
        // With `serverino`, the file id (for stable inode numbers) comes in the same round trip.
        let serverino = self.cfg.serverino;
        let again = || {
            self.on_tree(|t| async move {
                if serverino {
                    t.open_indexed(p, or).await
                } else {
                    t.open(p, or).await
                }
            })
        };
        let (file, generation) = match early {
            Some((sent, g)) => match sent.await {
                Err(e) if e.is_disconnect() => (again().await, None),
                r => (r, Some(g)),
            },
            None => (again().await, None),
        };
        let file = file.map_err(|e| {
            // EEXIST and the like: someone else changed the directory.
            self.known().forget(parent);
            err(e)
        })?;
        self.known().added(parent, &name);
        let info = file.info().clone();
        let mut s = Self::stat_of(&info);
        if info.is_dir() {
            s.kind = Kind::Dir;
        }
        let id = info.file_index;
        let ino = {
            let mut t = self.lock();
            t.invalidate(parent);
            t.lookup(parent, &name, id, s)
        };
        let o = OpenOptions {
            access: o.access,
            durable: o.durable,
            ..OpenOptions::read()
        };
        let generation = generation.unwrap_or_else(|| self.tree().1);
        let file = FileSlot::new(file, generation, path, o);
        let fh = self.handles.insert(Handle::File {
            file,
            ra: None,
            wb: Arc::default(),
        });
        Ok((self.attr(ino, &s), self.ttl(&s), fh))
    }

    async fn read(&self, ino: u64, fh: u64, offset: u64, size: u32) -> R<Vec<u8>> {
        let h = self.handles.get(fh).ok_or(Errno::EBADF)?;
        let Handle::File { ra, wb, .. } = &*h else {
            return Err(Errno::EBADF);
        };
        // A read sees every write made through this handle before it, and every write made
        // through the mount that was answered before it: other handles' too, which the kernel
        // no longer has in its page cache when they bypass it (write-only handles), and which
        // may still be on their way to the server (write-behind).
        wb.drain().await.map_err(Errno::from_i32)?;
        // Taken before waiting: a write that starts while this one waits marks it again.
        let seen = ra.as_ref().map(|ra| ra.changes());
        for other in self.writers_of(ino) {
            other.settle().await;
        }
        let plan = Self::plan_read(&h, seen, offset, size);
        self.read_planned(&h, plan, offset, size).await
    }

    /// [`read`](Self::read) up to its plan, from the calling (FUSE) thread, when nothing is to
    /// be waited for first: no write in flight through this handle or another of the inode.
    /// `None`: take [`read`](Self::read).
    fn read_start(&self, ino: u64, fh: u64, offset: u64, size: u32) -> Option<ReadStart> {
        let h = self.handles.get(fh)?;
        let Handle::File { ra, wb, .. } = &*h else {
            return None;
        };
        let seen = ra.as_ref().map(|ra| ra.changes());
        if !wb.idle() || !self.writers_of(ino).iter().all(|w| w.idle()) {
            return None;
        }
        let plan = Self::plan_read(&h, seen, offset, size);
        Some(ReadStart { h, plan })
    }

    /// The read-ahead plan of a read (`None`: the handle reads directly), once the chunks
    /// fetched before change `seen` are dropped.
    fn plan_read(h: &Handle, seen: Option<u64>, offset: u64, size: u32) -> Option<Plan> {
        let Handle::File { file: slot, ra, .. } = h else {
            return None;
        };
        let ra = ra.as_ref()?;
        // Chunks fetched before the file last changed through the mount are stale.
        if let Some(seen) = seen {
            ra.catch_up(seen);
        }
        Some(ra.plan(offset, u64::from(size), slot.info().size))
    }

    /// A read once planned: directly (`plan` is `None` or says so) or from read-ahead chunks.
    async fn read_planned(
        &self,
        h: &Handle,
        plan: Option<Plan>,
        offset: u64,
        size: u32,
    ) -> R<Vec<u8>> {
        let Handle::File { file: slot, ra, .. } = h else {
            return Err(Errno::EBADF);
        };
        let direct = || async {
            self.on_file(
                slot,
                |f| async move { f.read_at(offset, size as usize).await },
            )
            .await
            .map_err(err)
        };
        let (Some(ra), Some(plan)) = (ra, plan) else {
            return direct().await;
        };
        if plan.direct {
            return direct().await;
        }
        let fetch = |f: File, at: u64| async move {
            f.start_read(at, readahead::CHUNK as u32)
                .wait()
                .await
                .map_err(|e| errno::from_error(&e))
        };
        let file = slot.get().0;
        tracing::trace!(
            offset,
            size,
            fetch = plan.to_fetch.len(),
            need = plan.needed.len(),
            "read"
        );
        for (at, cell) in plan.to_fetch {
            let f = file.clone();
            self_spawn(async move {
                cell.get_or_init(|| fetch(f, at)).await;
            });
        }
        let mut parts = Vec::with_capacity(plan.needed.len());
        for (at, cell) in plan.needed {
            match cell.get_or_init(|| fetch(file.clone(), at)).await {
                Ok(b) => parts.push((at, b.clone())),
                Err(_) => {
                    // Whatever failed (a lost connection included), forget the window and read
                    // directly: that path reconnects and reopens the file when it can.
                    ra.clear();
                    return direct().await;
                }
            }
        }
        Ok(readahead::assemble(&parts, offset, u64::from(size)))
    }

    /// Answered once the WRITE is on its way (write-behind); its outcome is reported by a later
    /// write, flush (close), fsync or release. A lost connection is handled in the background
    /// like any other operation (reconnect, reopen, resend).
    async fn write(self: &Arc<Self>, ino: u64, fh: u64, offset: u64, data: Bytes) -> R<u32> {
        let _change = self.change();
        let (h, wb, n) = self.write_begin(ino, fh, data.len())?;
        let ticket = wb
            .admit(offset, data.len())
            .await
            .map_err(Errno::from_i32)?;
        self.write_launch(
            &tokio::runtime::Handle::current(),
            ino,
            h,
            wb,
            ticket,
            offset,
            data,
        );
        Ok(n)
    }

    /// As [`write`](Self::write) without leaving the calling (FUSE) thread when
    /// [`WriteBehind::try_admit`](writebehind::WriteBehind::try_admit) queues it at once (a
    /// small write, no overlap, half the budget free). `None`: take the asynchronous path.
    /// Saves a thread hop per write (small files: create, write, close).
    fn write_now(
        self: &Arc<Self>,
        rt: &tokio::runtime::Handle,
        ino: u64,
        fh: u64,
        offset: u64,
        data: &[u8],
    ) -> Option<R<u32>> {
        let _change = self.change();
        let (h, wb, n) = match self.write_begin(ino, fh, data.len()) {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        let ticket = match wb.try_admit(offset, data.len())? {
            Ok(t) => t,
            Err(e) => return Some(Err(Errno::from_i32(e))),
        };
        let Handle::File { file: slot, .. } = &*h else {
            return Some(Err(Errno::EBADF));
        };
        // The WRITE goes on the wire from this thread (no wake-up of a runtime thread before
        // it leaves), and the thread that reads its response records the outcome: no task.
        let data = Bytes::copy_from_slice(data);
        let fs = self.clone();
        let rt2 = rt.clone();
        let file = slot.get().0;
        let resend = data.clone();
        let sent = file.write_now_then(offset, data, move |r| match r {
            // Lost with the connection, or not sent: the usual path (re)connects, reopens and
            // resends.
            Err(e) if e.is_disconnect() => {
                rt2.spawn(async move {
                    let Handle::File { file: slot, .. } = &*h else {
                        return;
                    };
                    let r = fs.write_through(slot, offset, resend).await;
                    fs.landed(&wb, ticket, offset, r);
                });
            }
            r => fs.landed(&wb, ticket, offset, r),
        });
        if let Err(then) = sent {
            then(Err(SmbError::Disconnected(
                "not sent at once (no credits or queue room to spare)".into(),
            )));
        }
        self.lock().invalidate(ino);
        Some(Ok(n))
    }

    /// The checks and bookkeeping of a write, before it is queued.
    fn write_begin(
        &self,
        ino: u64,
        fh: u64,
        len: usize,
    ) -> R<(Arc<Handle>, Arc<writebehind::WriteBehind>, u32)> {
        self.ro()?;
        let h = self.handles.get(fh).ok_or(Errno::EBADF)?;
        let Handle::File { wb, .. } = &*h else {
            return Err(Errno::EBADF);
        };
        let wb = wb.clone();
        let n = u32::try_from(len).map_err(|_| Errno::EINVAL)?;
        {
            let mut w = self.writers.lock().unwrap_or_else(|p| p.into_inner());
            let list = &mut Self::contents_change(&mut w, ino).list;
            if !list
                .iter()
                .any(|x| std::ptr::eq(x.as_ptr(), Arc::as_ptr(&wb)))
            {
                list.retain(|x| x.strong_count() > 0);
                list.push(Arc::downgrade(&wb));
            }
        }
        // Cached attributes predate this write: a getattr must not shrink the kernel's size.
        self.lock().invalidate(ino);
        Ok((h, wb, n))
    }

    /// Send an admitted write in the background; its outcome lands in the handle's queue.
    #[allow(clippy::too_many_arguments)]
    fn write_launch(
        self: &Arc<Self>,
        rt: &tokio::runtime::Handle,
        ino: u64,
        h: Arc<Handle>,
        wb: Arc<writebehind::WriteBehind>,
        ticket: writebehind::Ticket,
        offset: u64,
        data: Bytes,
    ) {
        let fs = self.clone();
        rt.spawn(async move {
            let Handle::File { file: slot, .. } = &*h else {
                return;
            };
            let r = fs.write_through(slot, offset, data).await;
            fs.landed(&wb, ticket, offset, r);
        });
        self.lock().invalidate(ino);
    }

    /// A write on the handle's file, reconnecting and reopening it after a lost connection.
    /// The requests send `data` from where it is, and a resend uses it again: the FUSE
    /// thread's copy out of the kernel's buffer is the only one before the socket.
    async fn write_through(
        &self,
        slot: &FileSlot,
        offset: u64,
        data: Bytes,
    ) -> Result<(), SmbError> {
        let data = &data;
        self.on_file(slot, |f| async move {
            f.write_shared(offset, data.clone()).await
        })
        .await
    }

    /// A write's outcome: logged if it failed, and handed to the handle's write-behind (where
    /// a later write, flush, fsync or release reports it).
    fn landed(
        &self,
        wb: &writebehind::WriteBehind,
        ticket: writebehind::Ticket,
        offset: u64,
        r: Result<(), SmbError>,
    ) {
        let r = r.map_err(|e| {
            tracing::warn!(error = %e, offset, "write failed; reported at the next flush");
            errno::from_error(&e)
        });
        wb.done(ticket, r);
        drop(self.change());
    }

    /// Wait for this handle's writes; report a failure among them.
    async fn settle(&self, fh: u64) -> R<Option<Arc<Handle>>> {
        let h = self.handles.get(fh);
        if let Some(Handle::File { wb, .. }) = h.as_deref() {
            wb.drain().await.map_err(Errno::from_i32)?;
        }
        Ok(h)
    }

    async fn fsync(&self, fh: u64) -> R<()> {
        let h = self.settle(fh).await?;
        if !self.cfg.strictsync || self.cfg.readonly {
            return Ok(());
        }
        match h.as_deref() {
            Some(Handle::File { file, .. }) => self
                .on_file(file, |f| async move { f.flush().await })
                .await
                .map_err(err),
            _ => Err(Errno::EBADF),
        }
    }

    /// A directory's listing: fetched ahead by a tree walk if it was (see [`dirahead`]), else
    /// from the server; then, during a walk, the next listings are fetched ahead.
    async fn list(self: &Arc<Self>, ino: u64) -> R<Arc<Vec<DirItem>>> {
        use std::sync::atomic::Ordering::SeqCst;
        let rel = self.path(ino)?;
        let cell = self
            .ahead()
            .take(&rel, Instant::now(), self.changes.load(SeqCst));
        let mut ahead = None;
        if let Some(c) = cell {
            ahead = c
                .get_or_init(|| async { self.fetch_list(&rel).await.ok() })
                .await
                .clone();
        }
        let from_ahead = ahead.is_some();
        let items = match ahead {
            Some(l) => l,
            None => self.fetch_list(&rel).await?,
        };
        let next = self.ahead().listed(
            &rel,
            &items,
            from_ahead,
            Instant::now(),
            self.changes.load(SeqCst),
            |i| (i.stat.kind == Kind::Dir).then_some(i.name.as_str()),
        );
        for (path, cell) in next {
            let fs = self.clone();
            self_spawn(async move {
                let Ok(_permit) = fs.ahead_permits.clone().acquire_owned().await else {
                    return;
                };
                cell.get_or_init(|| async { fs.fetch_list(&path).await.ok() })
                    .await;
            });
        }
        Ok(items)
    }

    /// A directory's listing from the server (`rel`: mount-relative path).
    async fn fetch_list(&self, rel: &str) -> R<Arc<Vec<DirItem>>> {
        let path = self.smb(rel);
        let p = path.as_str();
        let entries = self
            .on_tree(|t| async move { t.list(p).await })
            .await
            .map_err(err)?;

        let mut items = Vec::with_capacity(entries.len());
        for e in entries {
            let info = FileInfo::from_dir_entry(&e);
            let mut stat = Self::stat_of(&info);
            let name = unmap_name(&e.name, self.cfg.mapposix);
            if self.cfg.mfsymlinks && stat.kind == Kind::File {
                let p = if path.is_empty() {
                    e.name.clone()
                } else {
                    format!("{path}/{}", e.name)
                };
                self.fix_symlink(&p, &mut stat).await;
            }
            let server_id = if self.cfg.serverino {
                info.file_index
            } else {
                None
            };
            items.push(DirItem {
                name,
                stat,
                server_id,
            });
        }
        Ok(Arc::new(items))
    }

    async fn dir_items(self: &Arc<Self>, fh: u64, offset: u64) -> R<(u64, Arc<Vec<DirItem>>)> {
        let h = self.handles.get(fh).ok_or(Errno::EBADF)?;
        let Handle::Dir { ino, entries } = &*h else {
            return Err(Errno::EBADF);
        };
        let mut g = entries.lock().await;
        if offset == 0 || g.is_none() {
            *g = Some(self.list(*ino).await?);
        }
        let items = g.clone().ok_or(Errno::EIO)?;
        Ok((*ino, items))
    }

    async fn statfs(&self) -> R<(u64, u64, u64, u32)> {
        let s = self
            .on_tree(|t| async move { t.statfs().await })
            .await
            .map_err(err)?;
        let unit = u64::from(s.sectors_per_allocation_unit) * u64::from(s.bytes_per_sector);
        let bsize = u32::try_from(unit.clamp(512, 1 << 30)).unwrap_or(4096);
        Ok((
            s.total_allocation_units,
            s.actual_available_allocation_units,
            s.caller_available_allocation_units,
            bsize,
        ))
    }
}

impl SmbFs {
    /// How a `hard` mount tells that it was detached (see [`MountedCheck`]).
    pub fn set_mounted_check(&self, f: MountedCheck) {
        let _ = self.inner.still_mounted.set(f);
    }

    /// Where the mount puts the session's notifier once it exists (cache invalidations).
    pub fn notifier_slot(&self) -> Arc<std::sync::OnceLock<fuser::Notifier>> {
        self.inner.notifier.clone()
    }

    /// `connector` rebuilds the connection after it is lost (`None`: a lost server stays lost).
    pub fn new(
        tree: Tree,
        cfg: SmbFsConfig,
        connector: Option<Connector>,
        rt: tokio::runtime::Handle,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                tree: std::sync::RwLock::new((tree, 0)),
                connector,
                reconnecting: tokio::sync::Mutex::new(()),
                known: Mutex::new(known::Known::new(cfg.dir_ttl)),
                ahead: Mutex::new(dirahead::Ahead::new(cfg.dir_ttl)),
                ahead_permits: Arc::new(tokio::sync::Semaphore::new(4)),
                changes: Default::default(),
                cfg,
                inodes: Mutex::new(InodeTable::new()),
                handles: HandleTable::default(),
                reclaimed: Default::default(),
                told: Default::default(),
                notifier: Default::default(),
                direct_writes: Default::default(),
                replacing: Default::default(),
                writers: Default::default(),
                still_mounted: Default::default(),
            }),
            rt,
        }
    }

    fn spawn<F>(&self, f: impl FnOnce(Arc<Inner>) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.rt.spawn(f(self.inner.clone()));
    }
}

/// Answer a read (and log a short one: the kernel takes a short read of a cached file as its
/// end, and shrinks its size to it).
fn reply_read(reply: ReplyData, ino: u64, offset: u64, size: u32, r: R<&[u8]>) {
    match r {
        Ok(d) => {
            if d.len() < size as usize {
                tracing::debug!(ino, offset, size, got = d.len(), "short read");
            }
            reply.data(d)
        }
        Err(e) => reply.error(e),
    }
}

/// Start a background task on the current runtime (read-ahead fetches outlive the read).
/// Answer the kernel with a write-behind outcome (`Err(errno)`).
fn answer(reply: ReplyEmpty, r: Result<(), i32>) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(Errno::from_i32(e)),
    }
}

fn self_spawn(f: impl Future<Output = ()> + Send + 'static) {
    tokio::spawn(f);
}

fn kind_of(s: &Stat) -> FileType {
    match s.kind {
        Kind::Dir => FileType::Directory,
        Kind::File => FileType::RegularFile,
        Kind::Symlink => FileType::Symlink,
    }
}

impl Filesystem for SmbFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_write(1 << 20);
        let _ = config.set_max_readahead(1 << 20);
        let _ = config.set_max_background(64);
        // Write-only handles bypass the page cache only where a direct write drops the cached
        // pages it overwrites (Linux 6.6, "fuse: invalidate page cache pages before direct
        // write", the release that brought ABI 7.39): on older kernels another handle could
        // keep reading the old bytes. Not with `cache=loose`: there the kernel is to gather
        // small writes in its cache.
        let abi = config.kernel_abi();
        self.inner.direct_writes.store(
            (abi.0, abi.1) >= (7, 39) && !self.inner.cfg.writeback,
            std::sync::atomic::Ordering::Relaxed,
        );
        let mut want = InitFlags::FUSE_ASYNC_READ
            | InitFlags::FUSE_BIG_WRITES
            | InitFlags::FUSE_ATOMIC_O_TRUNC
            | InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_READDIRPLUS_AUTO
            | InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_MAX_PAGES;
        if self.inner.cfg.writeback && !self.inner.cfg.readonly {
            want |= InitFlags::FUSE_WRITEBACK_CACHE;
        }
        for flag in want.iter() {
            let _ = config.add_capabilities(flag);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        // A name known to be missing (a directory made here, within the cache time) is answered
        // from this thread: no task, no wake-up (the create that follows is the round trip).
        let ttl = self.inner.cfg.dir_ttl;
        if !ttl.is_zero()
            && let Ok(n) = self.inner.name(name)
            && self.inner.known().absent(parent.0, &n, Instant::now())
        {
            reply.entry(&ttl, &attr::negative_entry(), Generation(0));
            return;
        }
        let name = name.to_owned();
        self.spawn(|fs| async move {
            match fs.lookup(parent.0, &name).await {
                Ok((a, ttl)) => reply.entry(&ttl, &a, Generation(0)),
                // The kernel may remember a missing name for the directory cache time, as
                // cifs.ko keeps negative dentries (git and make probe many missing names).
                Err(Errno::ENOENT) if !fs.cfg.dir_ttl.is_zero() => {
                    reply.entry(&fs.cfg.dir_ttl, &attr::negative_entry(), Generation(0))
                }
                Err(e) => reply.error(e),
            }
        });
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        let gone = {
            let mut t = self.inner.lock();
            t.forget(ino.0, nlookup);
            !t.contains(ino.0)
        };
        if gone {
            self.inner
                .told
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&ino.0);
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        self.spawn(|fs| async move {
            match fs.getattr(ino.0).await {
                Ok((a, ttl)) => reply.attr(&ttl, &a),
                Err(e) => reply.error(e),
            }
        });
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        // Ownership cannot change without POSIX extensions: like the kernel client without
        // `setuids`, chown is accepted and has no effect (tools that preserve owners keep going).
        self.spawn(|fs| async move {
            match fs
                .setattr(ino.0, mode, size, atime, mtime, fh.map(|f| f.0))
                .await
            {
                Ok((a, ttl)) => reply.attr(&ttl, &a),
                Err(e) => reply.error(e),
            }
        });
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        self.spawn(|fs| async move {
            match fs.readlink(ino.0).await {
                Ok(t) => reply.data(&t),
                Err(e) => reply.error(e),
            }
        });
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let name = name.to_owned();
        self.spawn(|fs| async move {
            match fs.mkdir(parent.0, &name).await {
                Ok((a, ttl)) => reply.entry(&ttl, &a, Generation(0)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.spawn(|fs| async move {
            match fs.unlink(parent.0, &name, false).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let name = name.to_owned();
        self.spawn(|fs| async move {
            match fs.unlink(parent.0, &name, true).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn symlink(
        &self,
        _req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let (name, target) = (link_name.to_owned(), target.to_owned());
        self.spawn(|fs| async move {
            match fs.symlink(parent.0, &name, &target).await {
                Ok((a, ttl)) => reply.entry(&ttl, &a, Generation(0)),
                Err(e) => reply.error(e),
            }
        });
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let (name, newname) = (name.to_owned(), newname.to_owned());
        self.spawn(|fs| async move {
            match fs
                .rename(parent.0, &name, newparent.0, &newname, flags)
                .await
            {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        self.spawn(|fs| async move {
            match fs.open(ino.0, flags.0).await {
                Ok((fh, direct)) => {
                    let mut f = fs.fopen_flags(flags.0);
                    if direct {
                        f |= FopenFlags::FOPEN_DIRECT_IO;
                    }
                    reply.opened(FileHandle(fh), f)
                }
                Err(e) => reply.error(e),
            }
        });
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let Some(ReadStart { h, plan }) = self.inner.read_start(ino.0, fh.0, offset, size) else {
            self.spawn(|fs| async move {
                let r = fs.read(ino.0, fh.0, offset, size).await;
                reply_read(reply, ino.0, offset, size, r.as_deref().map_err(|e| *e));
            });
            return;
        };
        // The planned read, on a runtime task (read-ahead chunks, or the fallback below).
        let fs = self.inner.clone();
        let rt = self.rt.clone();
        let planned = move |h: Arc<Handle>, plan: Option<Plan>, reply: ReplyData| {
            rt.spawn(async move {
                let r = fs.read_planned(&h, plan, offset, size).await;
                reply_read(reply, ino.0, offset, size, r.as_deref().map_err(|e| *e));
            });
        };
        let direct = plan.as_ref().is_none_or(|p| p.direct);
        let (Handle::File { file, .. }, true) = (&*h, direct) else {
            return planned(h, plan, reply);
        };
        // A direct read (random access, or no read-ahead) leaves from this thread, and the
        // thread that reads its response answers the kernel: no task, no hand-off between
        // threads. Any failure takes the usual path, which reconnects and reopens the file.
        let file = file.get().0;
        let sent = file.read_now_then(offset, size, move |r| match r {
            Ok(b) => reply_read(reply, ino.0, offset, size, Ok(&b)),
            Err(_) => planned(h, plan, reply),
        });
        if let Err(then) = sent {
            // No credits to spare now: the usual path waits for them.
            then(Err(SmbError::Disconnected(
                "no credits to spare now".into(),
            )));
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        if let Some(r) = self.inner.write_now(&self.rt, ino.0, fh.0, offset, data) {
            match r {
                Ok(n) => reply.written(n),
                Err(e) => reply.error(e),
            }
            return;
        }
        let data = Bytes::copy_from_slice(data);
        self.spawn(|fs| async move {
            match fs.write(ino.0, fh.0, offset, data).await {
                Ok(n) => reply.written(n),
                Err(e) => reply.error(e),
            }
        });
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // close(2): everything written through this handle must have landed, and a failed write
        // is reported here so the program's close() sees it. Answered from this thread when
        // nothing is in flight, else by whichever thread lands the last write: no task.
        match self.inner.handles.get(fh.0).as_deref() {
            Some(Handle::File { wb, .. }) => wb.when_drained(move |r| answer(reply, r)),
            _ => reply.ok(),
        }
    }

    // No extended attributes (SMB extended attributes are not mapped). ENOSYS, unlike other
    // errors, is remembered by the kernel: it stops asking (and answers EOPNOTSUPP itself), so
    // a write does not first cost a `security.capability` lookup, and nothing is logged.
    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        reply.error(Errno::ENOSYS);
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
        reply.error(Errno::ENOSYS);
    }

    fn removexattr(&self, _req: &Request, _ino: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        reply.error(Errno::ENOSYS);
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        // Once the handle's writes have landed (at once, as a rule: flush waited for them),
        // the CLOSE is sent from the thread that sees it, without a task; its answer is not
        // waited for (the kernel does not wait for release either).
        let Some(h) = self.inner.handles.get(fh.0) else {
            return reply.ok();
        };
        let Handle::File { wb, ra, .. } = &*h else {
            self.inner.handles.remove(fh.0);
            return reply.ok();
        };
        if let Some(ra) = ra {
            self.inner.forget_reader(ino.0, ra);
        }
        let fs = self.inner.clone();
        let rt = self.rt.clone();
        wb.when_drained(move |r| {
            let _change = fs.change();
            if let Some(Handle::File { file, .. }) = fs.handles.remove(fh.0).as_deref() {
                file.get().0.close_soon(&rt);
            }
            answer(reply, r);
        });
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.spawn(|fs| async move {
            match fs.fsync(fh.0).await {
                Ok(()) => reply.ok(),
                Err(e) => reply.error(e),
            }
        });
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let fh = self.inner.handles.insert(Handle::Dir {
            ino: ino.0,
            entries: tokio::sync::Mutex::new(None),
        });
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        self.spawn(|fs| async move {
            let (ino, items) = match fs.dir_items(fh.0, offset).await {
                Ok(v) => v,
                Err(e) => return reply.error(e),
            };
            let parent = fs.lock().parent(ino).unwrap_or(ROOT);
            let mut i = offset;
            loop {
                let full = match i {
                    0 => reply.add(INodeNo(ino), 1, FileType::Directory, "."),
                    1 => reply.add(INodeNo(parent), 2, FileType::Directory, ".."),
                    n => match items.get((n - 2) as usize) {
                        Some(it) => {
                            let child = fs.lock().find(ino, &it.name).unwrap_or(u64::MAX);
                            reply.add(INodeNo(child), n + 1, kind_of(&it.stat), &it.name)
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
        });
    }

    fn readdirplus(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        self.spawn(|fs| async move {
            let (ino, items) = match fs.dir_items(fh.0, offset).await {
                Ok(v) => v,
                Err(e) => return reply.error(e),
            };
            // "." and ".." come first (offsets 1 and 2); the kernel links no dentry for them,
            // so they take no lookup reference.
            if offset < 2 {
                let parent = fs.lock().parent(ino).unwrap_or(ROOT);
                for (n, (name, node)) in [(".", ino), ("..", parent)].into_iter().enumerate() {
                    let n = n as u64;
                    if n < offset {
                        continue;
                    }
                    let attr = match fs.getattr(node).await {
                        Ok((a, _)) => a,
                        Err(e) => return reply.error(e),
                    };
                    if reply.add(
                        INodeNo(node),
                        n + 1,
                        name,
                        &Duration::ZERO,
                        &attr,
                        Generation(0),
                    ) {
                        return reply.ok();
                    }
                }
            }
            let mut i = offset.max(2);
            while let Some(it) = items.get((i - 2) as usize) {
                let child = fs.lock().lookup(ino, &it.name, it.server_id, it.stat);
                // A file open for writing here: the listing may predate queued writes, and
                // the kernel would take its size; getattr settles them first.
                let (attr, ttl) = match fs.is_being_written(child) {
                    false => (fs.attr(child, &it.stat), fs.ttl(&it.stat)),
                    true => match fs.getattr(child).await {
                        Ok(a) => a,
                        Err(_) => (fs.attr(child, &it.stat), Duration::ZERO),
                    },
                };
                if reply.add(INodeNo(child), i + 1, &it.name, &ttl, &attr, Generation(0)) {
                    // Not sent: give back the reference we took.
                    fs.lock().forget(child, 1);
                    break;
                }
                i += 1;
            }
            reply.ok();
        });
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.inner.handles.remove(fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        self.spawn(|fs| async move {
            match fs.statfs().await {
                Ok((blocks, bfree, bavail, bsize)) => {
                    reply.statfs(blocks, bfree, bavail, 0, 0, bsize, 255, bsize)
                }
                Err(e) => reply.error(e),
            }
        });
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let fs = &self.inner;
        let req = match fs.create_request(parent.0, name, mode & !umask, flags) {
            Ok(r) => r,
            Err(e) => return reply.error(e),
        };
        // The change begins now (see `create`).
        fs.changes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // With `serverino` (the default), the CREATE leaves from this thread, before a runtime
        // thread is woken for the task that waits for its answer.
        let early = if fs.cfg.serverino {
            let (t, g) = fs.tree();
            t.open_indexed_now(&req.1, &req.2)
                .map(|f| (Box::pin(f) as EarlyOpen, g))
        } else {
            None
        };
        self.spawn(|fs| async move {
            match fs.create(parent.0, req, early).await {
                Ok((a, ttl, fh)) => reply.created(
                    &ttl,
                    &a,
                    Generation(0),
                    FileHandle(fh),
                    fs.fopen_flags(flags),
                ),
                Err(e) => reply.error(e),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sfm_mapping_round_trips() {
        let n = "a:b*c?d\"e<f>g|h\\i\u{1}";
        let m = map_name(n, true);
        assert!(!m.contains([':', '*', '?', '"', '<', '>', '|', '\\']));
        assert_eq!(unmap_name(&m, true), n);
        assert_eq!(map_name(n, false), n);
    }

    #[test]
    fn open_flags_to_create_options() {
        let o = Inner::open_options(libc::O_RDONLY);
        assert_eq!(o.access, access::GENERIC_READ);
        let o = Inner::open_options(libc::O_WRONLY | libc::O_TRUNC);
        assert_eq!(o.disposition, disposition::OVERWRITE);
        assert_ne!(o.access & access::GENERIC_WRITE, 0);
    }
}
