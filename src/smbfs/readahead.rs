//! Userspace read-ahead for one open file.
//!
//! The kernel hands a FUSE filesystem 128 KiB reads (the default `read_ahead_kb`, which only root
//! can raise) one after another, so without help every 128 KiB costs a network round trip. This
//! keeps a window of 1 MiB chunks in flight ahead of a sequential reader, growing from 2 to 16
//! chunks while the access stays sequential and collapsing on a seek. Reads that arrive out of
//! order or concurrently are served from the chunk that covers them, whoever asked first.
//! Memory per file is bounded by the window plus the chunk being consumed.
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// One chunk's bytes (fewer at end of file) or the errno of its failed READ.
pub type ChunkResult = Result<Bytes, i32>;
type Chunk = Arc<OnceCell<ChunkResult>>;

pub const CHUNK: u64 = 1 << 20;
const MIN_WINDOW: u64 = 2;
const MAX_WINDOW: u64 = 16;

#[derive(Default)]
struct State {
    chunks: BTreeMap<u64, Chunk>,
    /// End of the last read: a read starting here is sequential.
    seq_end: u64,
    /// Chunks to keep in flight ahead of the reader (0 = random access, no read-ahead).
    window: u64,
    /// [`ReadAhead::changes`] when the chunks held were planned.
    seen: u64,
}

/// What the caller must do after [`ReadAhead::plan`]: start these fetches, then wait on `needed`.
pub struct Plan {
    pub needed: Vec<(u64, Chunk)>,
    pub to_fetch: Vec<(u64, Chunk)>,
    /// Random access with nothing held for it: read exactly the bytes asked for, no chunk
    /// (a 4 KiB random read must not cost the server a 1 MiB one).
    pub direct: bool,
}

#[derive(Default)]
pub struct ReadAhead {
    state: Mutex<State>,
    /// Changes of the file through other handles ([`ReadAhead::changed`]).
    changes: AtomicU64,
}

impl ReadAhead {
    /// Decide which chunks a read of `len` bytes at `off` needs and which to prefetch, for a file
    /// of `size` bytes (as known at open).
    pub fn plan(&self, off: u64, len: u64, size: u64) -> Plan {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let sequential = off == st.seq_end || (off < st.seq_end && off + len > st.seq_end);
        // The kernel's asynchronous reads arrive slightly out of order: a read just behind the
        // front (within the window) or just ahead of it keeps the window as it is.
        let back = (st.window + 2) * CHUNK;
        let near = off + back >= st.seq_end && off <= st.seq_end + CHUNK;
        st.window = if sequential {
            (st.window * 2).clamp(MIN_WINDOW, MAX_WINDOW)
        } else if near {
            st.window
        } else {
            0
        };
        st.seq_end = st.seq_end.max(off + len);
        if !sequential && !near {
            st.seq_end = off + len;
        }
        let first = off / CHUNK;
        let last = (off + len.max(1) - 1) / CHUNK;
        let ahead_end = if st.window > 0 {
            last + st.window
        } else {
            last
        };
        if st.window == 0 && !(first..=last).any(|k| st.chunks.contains_key(&k)) {
            st.chunks.clear();
            return Plan {
                needed: Vec::new(),
                to_fetch: Vec::new(),
                direct: true,
            };
        }
        let end_chunk = size.div_ceil(CHUNK).max(last + 1);
        // Forget chunks behind the reader and outside the window.
        st.chunks
            .retain(|&k, _| k + 1 >= first && k <= ahead_end.max(last) + 1);
        let mut plan = Plan {
            needed: Vec::new(),
            to_fetch: Vec::new(),
            direct: false,
        };
        for k in first..=ahead_end.min(end_chunk.saturating_sub(1)).max(last) {
            let (c, new) = match st.chunks.get(&k) {
                Some(c) => (c.clone(), false),
                None => {
                    let c: Chunk = Arc::new(OnceCell::new());
                    st.chunks.insert(k, c.clone());
                    (c, true)
                }
            };
            if new {
                plan.to_fetch.push((k * CHUNK, c.clone()));
            }
            if k <= last {
                plan.needed.push((k * CHUNK, c));
            }
        }
        plan
    }

    /// The file changed through another handle (a write, a truncation): what is held may be
    /// stale from the next [`catch_up`](Self::catch_up) on.
    pub fn changed(&self) {
        self.changes.fetch_add(1, Ordering::Release);
    }

    /// How many changes have been seen so far; taken before a read waits for other handles'
    /// writes, and handed to [`catch_up`](Self::catch_up) after.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Drop the chunks planned before change number `seen`: their bytes may predate it. A change
    /// after `seen` is caught at the next read.
    pub fn catch_up(&self, seen: u64) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if st.seen != seen {
            st.seen = seen;
            st.chunks.clear();
        }
    }

    /// Drop everything (the file was written through another path, or an error).
    pub fn clear(&self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.chunks.clear();
        st.window = 0;
    }

    /// Chunks held (for tests and memory accounting).
    pub fn held(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .chunks
            .len()
    }
}

/// Cut `[off, off + len)` out of the chunks returned for a plan (in order, each at its offset).
pub fn assemble(parts: &[(u64, Bytes)], off: u64, len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len as usize);
    let end = off + len;
    for (start, data) in parts {
        let s = off.max(*start);
        let e = end.min(start + data.len() as u64);
        if s >= e {
            if (data.len() as u64) < CHUNK {
                break;
            }
            continue;
        }
        out.extend_from_slice(&data[(s - start) as usize..(e - start) as usize]);
        if (data.len() as u64) < CHUNK {
            // A short chunk is the end of the file.
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_elsewhere_drops_what_was_fetched_before_it() {
        let ra = ReadAhead::default();
        let size = 100 * CHUNK;
        let seen = ra.changes();
        ra.catch_up(seen);
        let p = ra.plan(0, 131072, size);
        assert_eq!(p.to_fetch.len(), 3);
        // Nothing changed: the next read is served from what is held.
        ra.catch_up(ra.changes());
        let p = ra.plan(131072, 131072, size);
        assert!(
            p.to_fetch.iter().all(|(at, _)| *at > 2 * CHUNK),
            "held chunks kept"
        );
        // Another handle writes while this read waits for it: the read took `seen` before, so
        // the held chunks go and are fetched again (after the write landed).
        let seen = ra.changes();
        ra.changed();
        ra.catch_up(seen);
        assert!(ra.held() > 0, "not yet: the change came after `seen`");
        ra.catch_up(ra.changes());
        assert_eq!(ra.held(), 0, "chunks fetched before the change are dropped");
        let p = ra.plan(262144, 131072, size);
        assert!(p.to_fetch.iter().any(|(at, _)| *at == 0), "fetched again");
        assert!(!p.direct, "still sequential: the window is kept");
    }

    #[test]
    fn sequential_reads_grow_the_window_and_random_ones_collapse_it() {
        let ra = ReadAhead::default();
        let size = 100 * CHUNK;
        let p = ra.plan(0, 131072, size);
        assert_eq!(p.needed.len(), 1);
        assert_eq!(p.to_fetch.len(), 3, "chunk 0 plus a window of 2");
        let mut off = 131072;
        let mut fetched = 3;
        for _ in 0..200 {
            let p = ra.plan(off, 131072, size);
            fetched += p.to_fetch.len();
            off += 131072;
        }
        assert!(
            ra.held() <= (MAX_WINDOW + 3) as usize,
            "bounded: {}",
            ra.held()
        );
        assert!(
            fetched as u64 >= off / CHUNK,
            "everything read was fetched once"
        );
        // A seek far away: no read-ahead, no chunk: exactly the bytes asked for.
        let p = ra.plan(90 * CHUNK + 5, 4096, size);
        assert!(p.direct && p.to_fetch.is_empty() && p.needed.is_empty());
        assert_eq!(ra.held(), 0, "chunks of the old stream dropped");
        // Random reads stay direct; reading on from one starts a window again.
        let p = ra.plan(7 * CHUNK, 4096, size);
        assert!(p.direct);
        let p = ra.plan(7 * CHUNK + 4096, 4096, size);
        assert!(!p.direct && p.to_fetch.len() >= 2, "sequential again");
    }

    #[test]
    fn slightly_out_of_order_reads_keep_the_window() {
        let ra = ReadAhead::default();
        let size = 100 * CHUNK;
        let k = 131072;
        for i in 0..6 {
            ra.plan(i * k, k, size);
        }
        // 7 and then 6: the kernel's async reads overtaking each other.
        let p = ra.plan(7 * k, k, size);
        assert!(p.to_fetch.len() <= 16);
        let p = ra.plan(6 * k, k, size);
        assert!(p.to_fetch.is_empty(), "chunk 0 is already in flight");
        let p = ra.plan(8 * k, k, size);
        assert!(!p.to_fetch.is_empty(), "the window still moves forward");
    }

    #[test]
    fn never_prefetches_past_the_end() {
        let ra = ReadAhead::default();
        let p = ra.plan(0, 4096, 1000);
        assert_eq!(p.to_fetch.len(), 1);
        let p = ra.plan(4096, 4096, 1000);
        assert!(p.to_fetch.len() <= 1, "reads past the end still ask once");
    }

    #[test]
    fn assemble_cuts_across_chunks_and_stops_at_a_short_one() {
        let a = Bytes::from(vec![1u8; CHUNK as usize]);
        let b = Bytes::from(vec![2u8; 10]);
        let out = assemble(&[(0, a.clone()), (CHUNK, b)], CHUNK - 2, 100);
        assert_eq!(out, vec![1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]);
        assert!(assemble(&[(0, Bytes::from(vec![0u8; 5]))], 10, 5).is_empty());
    }
}
