//! Directory read-ahead for tree walks (`ls -lR`, `find`, `du`, `cp -r` from the share).
//!
//! A walk lists a directory, then each of its subdirectories in turn; every listing is a round
//! trip, and the server answers them one after the other while the walker waits. Once a walk is
//! seen — a directory is listed less than the directory cache time after its parent — the
//! listings of the directory's subdirectories and of its next sibling directories are fetched
//! in the background (a few at once), and a walker that opens one of them within that time takes
//! the listing (or waits for the fetch already under way) instead of asking again.
//!
//! A listing fetched ahead is used once, and only while it is younger than the directory cache
//! time (`actimeo`/`acdirmax`), the staleness directory attributes may already have; a change
//! made through the mount (of names, sizes or times: the caller counts them) after a fetch was
//! started makes its listing unusable. Memory is bounded: at most
//! [`MAX_AHEAD`] listings wait, and [`MAX_RECENT`] recent listings are kept for walk detection.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Listings waiting to be taken, at most.
pub const MAX_AHEAD: usize = 256;
/// Recently listed directories remembered for walk detection, at most.
pub const MAX_RECENT: usize = 64;
/// Directories fetched ahead per listing: subdirectories, and the next sibling directories.
pub const PER_LISTING: usize = 16;

/// A listing being fetched ahead, or fetched: `None` if the fetch failed.
pub type Cell<T> = Arc<OnceCell<Option<Arc<Vec<T>>>>>;

pub struct Ahead<T> {
    ttl: Duration,
    /// Listings fetched ahead: when, and the count of changes then.
    cells: HashMap<String, (Instant, u64, Cell<T>)>,
    recent: HashMap<String, (Instant, Arc<Vec<T>>)>,
}

/// The mount-relative path of a directory's parent (`None` for the root).
pub fn parent_of(rel: &str) -> Option<&str> {
    if rel.is_empty() {
        return None;
    }
    Some(rel.rsplit_once('/').map_or("", |(p, _)| p))
}

/// `rel/name` (or `name` at the root).
pub fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

impl<T> Ahead<T> {
    pub fn new(ttl: Duration) -> Self {
        Ahead {
            ttl,
            cells: HashMap::new(),
            recent: HashMap::new(),
        }
    }

    /// The listing fetched ahead for `rel`, if one is young enough and no change was made
    /// since its fetch started (`changes` is the count of changes now); it is taken (used once).
    pub fn take(&mut self, rel: &str, now: Instant, changes: u64) -> Option<Cell<T>> {
        let (at, seen, cell) = self.cells.remove(rel)?;
        (now.saturating_duration_since(at) < self.ttl && seen == changes).then_some(cell)
    }

    /// `rel` was just listed (`items`); `ahead` says whether it came from a fetch ahead, and
    /// `changes` is the count of changes now. Returns the directories to fetch ahead now
    /// (mount-relative paths), each with the cell to fill; nothing unless a walk is under way.
    pub fn listed(
        &mut self,
        rel: &str,
        items: &Arc<Vec<T>>,
        ahead: bool,
        now: Instant,
        changes: u64,
        subdirs: impl Fn(&T) -> Option<&str>,
    ) -> Vec<(String, Cell<T>)> {
        if self.ttl.is_zero() {
            return Vec::new();
        }
        let ttl = self.ttl;
        let fresh = |at: &Instant| now.saturating_duration_since(*at) < ttl;
        let parent = parent_of(rel).and_then(|p| {
            self.recent
                .get(p)
                .filter(|(at, _)| fresh(at))
                .map(|(_, l)| (p.to_string(), l.clone()))
        });
        if self.recent.len() >= MAX_RECENT {
            self.recent.retain(|_, (at, _)| fresh(at));
            if self.recent.len() >= MAX_RECENT {
                self.recent.clear();
            }
        }
        self.recent.insert(rel.to_string(), (now, items.clone()));
        if !ahead && parent.is_none() {
            return Vec::new();
        }
        self.cells
            .retain(|_, (at, seen, _)| fresh(at) && *seen == changes);
        let mut want: Vec<String> = items
            .iter()
            .filter_map(&subdirs)
            .take(PER_LISTING)
            .map(|n| join(rel, n))
            .collect();
        if let Some((p, siblings)) = &parent {
            // The walker goes on in the server's order (find, du) or by name (ls): the next
            // siblings in both, alternately.
            let me = rel.rsplit_once('/').map_or(rel, |(_, n)| n);
            let listed: Vec<&str> = siblings.iter().filter_map(&subdirs).collect();
            let mut sorted = listed.clone();
            sorted.sort_unstable();
            let after = |v: &[&'_ str]| -> Vec<String> {
                v.iter()
                    .skip_while(|n| **n != me)
                    .skip(1)
                    .take(PER_LISTING)
                    .map(|n| join(p, n))
                    .collect()
            };
            let (a, b) = (after(&listed), after(&sorted));
            for i in 0..a.len().max(b.len()) {
                for v in [&a, &b] {
                    if let Some(x) = v.get(i)
                        && !want.contains(x)
                    {
                        want.push(x.clone());
                    }
                }
            }
        }
        let mut out = Vec::new();
        for w in want {
            if self.cells.len() >= MAX_AHEAD {
                break;
            }
            if self.cells.contains_key(&w) || self.recent.get(&w).is_some_and(|(at, _)| fresh(at)) {
                continue;
            }
            let cell: Cell<T> = Arc::new(OnceCell::new());
            self.cells.insert(w.clone(), (now, changes, cell.clone()));
            out.push((w, cell));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(1);

    /// Items are names; a name ending in '/' is a directory. (`&String`: the item type is
    /// `String`, and `listed` takes `Fn(&T)`.)
    #[allow(clippy::ptr_arg)]
    fn dirs(i: &String) -> Option<&str> {
        i.strip_suffix('/')
    }

    fn l(names: &[&str]) -> Arc<Vec<String>> {
        Arc::new(names.iter().map(|s| s.to_string()).collect())
    }

    fn paths(v: &[(String, Cell<String>)]) -> Vec<&str> {
        v.iter().map(|(p, _)| p.as_str()).collect()
    }

    #[test]
    fn paths_and_parents() {
        assert_eq!(parent_of(""), None);
        assert_eq!(parent_of("a"), Some(""));
        assert_eq!(parent_of("a/b/c"), Some("a/b"));
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("a/b", "x"), "a/b/x");
    }

    #[test]
    fn a_walk_fetches_children_and_next_siblings() {
        let mut a = Ahead::new(TTL);
        let t = Instant::now();
        // A lone listing is not a walk.
        assert!(
            a.listed("", &l(&["d0/", "d1/", "f", "d2/"]), false, t, 0, dirs)
                .is_empty()
        );
        // Its child listed soon after is.
        let v = a.listed("d0", &l(&["s/", "g"]), false, t, 0, dirs);
        assert_eq!(paths(&v), ["d0/s", "d1", "d2"]);
        // Taken once, while fresh.
        assert!(a.take("d1", t, 0).is_some());
        assert!(a.take("d1", t, 0).is_none());
        assert!(a.take("d2", t + TTL, 0).is_none(), "stale");
        // A listing taken from ahead continues the walk; nothing is fetched twice.
        let v = a.listed("d1", &l(&["x/"]), true, t, 0, dirs);
        assert_eq!(paths(&v), ["d1/x", "d2"]);
        assert!(a.take("d1/x", t, 1).is_none(), "a change since the fetch");
    }

    #[test]
    fn next_siblings_in_server_and_name_order() {
        let mut a = Ahead::new(TTL);
        let t = Instant::now();
        a.listed("", &l(&["c/", "a/", "d/", "b/"]), false, t, 0, dirs);
        let v = a.listed("a", &l(&[]), false, t, 0, dirs);
        // Server order after "a": d, b; by name: b, c, d.
        assert_eq!(paths(&v), ["d", "b", "c"]);
    }

    #[test]
    fn bounded_and_off_without_ttl() {
        let mut z: Ahead<String> = Ahead::new(Duration::ZERO);
        let t = Instant::now();
        z.listed("", &l(&["a/"]), false, t, 0, dirs);
        assert!(z.listed("a", &l(&["b/"]), true, t, 0, dirs).is_empty());
        let mut a = Ahead::new(TTL);
        let many: Vec<String> = (0..1000).map(|i| format!("d{i}/")).collect();
        let many = Arc::new(many);
        a.listed("", &many, false, t, 0, dirs);
        let mut n = 0;
        for i in 0..1000 {
            n += a.listed(&format!("d{i}"), &many, true, t, 0, dirs).len();
        }
        assert!(a.cells.len() <= MAX_AHEAD, "{}", a.cells.len());
        assert!(n <= MAX_AHEAD);
        assert!(a.recent.len() <= MAX_RECENT);
    }
}
