//! Directories whose every name we know, for a short time: a lookup of a name such a directory
//! lacks is answered ENOENT without a round trip.
//!
//! A directory is known from the moment we make it (mkdir: it is empty), for the directory
//! cache time (`actimeo`/`acdirmax`, 1 s by default), during which our own changes keep its
//! names up to date. The win is on the commonest write pattern of all — make a directory, then
//! create files in it (`cp -r`, `tar x`, `git checkout`, `unzip`) — where the kernel looks up
//! every new name before creating it: one round trip less per file. The cost: a name another
//! client puts into a directory we made less than that time ago is found only once the time is
//! up, the staleness the attribute and entry caches already allow. Listed directories are not
//! taken as known (unlike a new one, others may well be filling them; cifs.ko too finds a name
//! it never looked up at once).
//!
//! Conservative by construction: names are compared case-insensitively (Samba matches names
//! that way by default), and a name that is not plain ASCII, or could be an 8.3 short name
//! (`~`) or a stream (`:`), always goes to the server. A failed change forgets the directory.
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// At most this many known directories; the oldest go first.
const MAX_DIRS: usize = 1024;

struct Dir {
    /// Case-folded names and how many entries fold to each.
    names: HashMap<String, u32>,
    since: Instant,
}

/// The known directories of one mount, by inode number.
pub struct Known {
    ttl: Duration,
    dirs: HashMap<u64, Dir>,
}

fn fold(name: &str) -> Option<String> {
    if name.is_empty() || !name.is_ascii() || name.contains(['~', ':']) {
        return None;
    }
    Some(name.to_ascii_lowercase())
}

impl Known {
    pub fn new(ttl: Duration) -> Self {
        Known {
            ttl,
            dirs: HashMap::new(),
        }
    }

    /// Is `name` certainly not in `dir` (known, fresh, and no entry of that name)?
    pub fn absent(&mut self, dir: u64, name: &str, now: Instant) -> bool {
        let Some(key) = fold(name) else { return false };
        match self.dirs.get(&dir) {
            Some(d) if now.saturating_duration_since(d.since) < self.ttl => {
                !d.names.contains_key(&key)
            }
            Some(_) => {
                self.dirs.remove(&dir);
                false
            }
            None => false,
        }
    }

    /// We just made `dir`: it is empty.
    pub fn made(&mut self, dir: u64, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        if self.dirs.len() >= MAX_DIRS {
            let ttl = self.ttl;
            self.dirs
                .retain(|_, d| now.saturating_duration_since(d.since) < ttl);
            if self.dirs.len() >= MAX_DIRS
                && let Some(oldest) = self.dirs.iter().min_by_key(|(_, d)| d.since).map(|e| *e.0)
            {
                self.dirs.remove(&oldest);
            }
        }
        self.dirs.insert(
            dir,
            Dir {
                names: HashMap::new(),
                since: now,
            },
        );
    }

    /// We added `name` to `dir`.
    pub fn added(&mut self, dir: u64, name: &str) {
        if let (Some(d), Some(k)) = (self.dirs.get_mut(&dir), fold(name)) {
            *d.names.entry(k).or_insert(0) += 1;
        }
    }

    /// We removed `name` from `dir`.
    pub fn removed(&mut self, dir: u64, name: &str) {
        if let (Some(d), Some(k)) = (self.dirs.get_mut(&dir), fold(name))
            && let Some(n) = d.names.get_mut(&k)
        {
            *n -= 1;
            if *n == 0 {
                d.names.remove(&k);
            }
        }
    }

    /// A change to `dir` failed or had an unknown outcome: know nothing of it.
    pub fn forget(&mut self, dir: u64) {
        self.dirs.remove(&dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(1);

    #[test]
    fn absent_only_while_fresh_and_not_ours() {
        let mut k = Known::new(TTL);
        let t = Instant::now();
        assert!(!k.absent(1, "a", t), "unknown directory");
        k.made(1, t);
        k.added(1, "Readme.TXT");
        k.added(1, "b");
        assert!(k.absent(1, "c", t));
        assert!(!k.absent(1, "readme.txt", t), "case-insensitive match");
        assert!(!k.absent(1, "b", t));
        assert!(!k.absent(1, "c", t + TTL), "stale");
        assert!(!k.absent(1, "c", t), "a stale directory is dropped");
    }

    #[test]
    fn names_that_may_alias_go_to_the_server() {
        let mut k = Known::new(TTL);
        let t = Instant::now();
        k.made(1, t);
        assert!(k.absent(1, "x", t));
        for n in ["LONGFI~1.TXT", "f:stream", "é", ""] {
            assert!(!k.absent(1, n, t), "{n:?}");
        }
    }

    #[test]
    fn our_changes_keep_it_current() {
        let mut k = Known::new(TTL);
        let t = Instant::now();
        k.made(1, t);
        k.added(1, "a");
        k.added(1, "A");
        k.added(1, "new");
        assert!(!k.absent(1, "new", t));
        k.removed(1, "a");
        assert!(!k.absent(1, "a", t), "'A' is still there");
        k.removed(1, "A");
        assert!(k.absent(1, "a", t));
        k.forget(1);
        assert!(!k.absent(1, "zzz", t));
    }

    #[test]
    fn nothing_kept_without_ttl() {
        let mut z = Known::new(Duration::ZERO);
        let t = Instant::now();
        z.made(1, t);
        assert!(!z.absent(1, "b", t), "actimeo=0 keeps nothing");
    }

    #[test]
    fn bounded() {
        let mut k = Known::new(TTL);
        let t = Instant::now();
        for d in 0..(MAX_DIRS as u64 + 10) {
            k.made(d, t + Duration::from_nanos(d));
        }
        assert!(k.dirs.len() <= MAX_DIRS);
        assert!(k.absent(MAX_DIRS as u64 + 9, "x", t + Duration::from_millis(1)));
    }
}
