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
//! (`~`) or a stream (`:`), always goes to the server. A failed change forgets the directory,
//! and a listing taken across one of our changes is not kept.
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
    /// Bumped by every change we make: a listing taken across one is not kept.
    generation: u64,
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
            generation: 0,
        }
    }

    /// The generation to hand back to [`Known::listed`] with a listing taken from now on.
    pub fn generation(&self) -> u64 {
        self.generation
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

    /// `dir` holds exactly `names`, as seen by a listing that started at `since` when the
    /// generation was `generation` (or by our own mkdir: no names).
    pub fn listed<'a>(
        &mut self,
        dir: u64,
        names: impl IntoIterator<Item = &'a str>,
        since: Instant,
        generation: u64,
    ) {
        if self.ttl.is_zero() || generation != self.generation {
            return;
        }
        if self.dirs.len() >= MAX_DIRS {
            let ttl = self.ttl;
            self.dirs
                .retain(|_, d| since.saturating_duration_since(d.since) < ttl);
            if self.dirs.len() >= MAX_DIRS
                && let Some(oldest) = self.dirs.iter().min_by_key(|(_, d)| d.since).map(|e| *e.0)
            {
                self.dirs.remove(&oldest);
            }
        }
        let mut map = HashMap::new();
        for n in names {
            // A name we cannot fold is never answered locally; it need not be counted.
            if let Some(k) = fold(n) {
                *map.entry(k).or_insert(0) += 1;
            }
        }
        self.dirs.insert(dir, Dir { names: map, since });
    }

    /// We added `name` to `dir`.
    pub fn added(&mut self, dir: u64, name: &str) {
        self.generation += 1;
        if let (Some(d), Some(k)) = (self.dirs.get_mut(&dir), fold(name)) {
            *d.names.entry(k).or_insert(0) += 1;
        }
    }

    /// We removed `name` from `dir`.
    pub fn removed(&mut self, dir: u64, name: &str) {
        self.generation += 1;
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
        self.generation += 1;
        self.dirs.remove(&dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(1);

    #[test]
    fn absent_only_while_fresh_and_unlisted() {
        let mut k = Known::new(TTL);
        let t = Instant::now();
        assert!(!k.absent(1, "a", t), "unknown directory");
        let g = k.generation();
        k.listed(1, ["Readme.TXT", "b"], t, g);
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
        k.listed(1, [], t, k.generation());
        assert!(k.absent(1, "x", t));
        for n in ["LONGFI~1.TXT", "f:stream", "é", ""] {
            assert!(!k.absent(1, n, t), "{n:?}");
        }
    }

    #[test]
    fn our_changes_keep_it_current() {
        let mut k = Known::new(TTL);
        let t = Instant::now();
        k.listed(1, ["a", "A"], t, k.generation());
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
    fn a_listing_across_a_change_is_not_kept() {
        let mut k = Known::new(TTL);
        let t = Instant::now();
        let g = k.generation();
        k.added(2, "made-while-listing");
        k.listed(1, ["a"], t, g);
        assert!(!k.absent(1, "b", t));
        assert!(!Known::new(Duration::ZERO).absent(1, "b", t));
        let mut z = Known::new(Duration::ZERO);
        z.listed(1, [], t, 0);
        assert!(!z.absent(1, "b", t), "actimeo=0 keeps nothing");
    }

    #[test]
    fn bounded() {
        let mut k = Known::new(TTL);
        let t = Instant::now();
        for d in 0..(MAX_DIRS as u64 + 10) {
            k.listed(d, [], t + Duration::from_nanos(d), k.generation());
        }
        assert!(k.dirs.len() <= MAX_DIRS);
        assert!(k.absent(MAX_DIRS as u64 + 9, "x", t + Duration::from_millis(1)));
    }
}
