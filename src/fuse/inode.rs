//! The inode table: FUSE node ids ↔ share-relative paths, with the kernel's lookup counts.
//!
//! Invariants:
//! - node 1 is the root and is never removed;
//! - every other node has a parent and a name; its path is found by walking up (so renaming a
//!   directory moves its whole subtree with one update);
//! - `(parent, name)` maps to at most one node; a node detached by unlink or by a rename over it
//!   keeps living (without a name) until the kernel forgets it;
//! - with server inode numbers (`serverino`, the default) a server file id always maps to the
//!   same node while the node lives, so inode numbers are stable for the life of the mount even
//!   across renames made by other clients.
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The root's node id (FUSE_ROOT_ID).
pub const ROOT: u64 = 1;

#[derive(Debug, Clone)]
struct Node<A> {
    parent: u64,
    /// Empty for the root and for detached nodes.
    name: String,
    attached: bool,
    nlookup: u64,
    server_id: Option<u64>,
    attr: Option<(A, Instant)>,
    /// Where the node was when a rename replaced it: the name now holds another file.
    replaced_at: Option<(u64, String)>,
}

/// Node ids and paths; `A` is the cached attribute type.
#[derive(Debug)]
pub struct InodeTable<A> {
    nodes: HashMap<u64, Node<A>>,
    by_name: HashMap<(u64, String), u64>,
    by_server_id: HashMap<u64, u64>,
    next: u64,
}

impl<A: Clone> Default for InodeTable<A> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Clone> InodeTable<A> {
    pub fn new() -> Self {
        let mut nodes = HashMap::new();
        nodes.insert(
            ROOT,
            Node {
                parent: ROOT,
                name: String::new(),
                attached: true,
                nlookup: 1,
                server_id: None,
                attr: None,
                replaced_at: None,
            },
        );
        Self {
            nodes,
            by_name: HashMap::new(),
            by_server_id: HashMap::new(),
            next: ROOT + 1,
        }
    }

    /// Number of live nodes (the root included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The node's path relative to the mount root, `/`-separated, "" for the root; `None` if
    /// the node is unknown or detached (unlinked while open).
    pub fn path(&self, ino: u64) -> Option<String> {
        let mut parts = Vec::new();
        let mut cur = ino;
        // Depth bound: a cycle would be a bug; never loop forever on one.
        for _ in 0..4096 {
            if cur == ROOT {
                parts.reverse();
                return Some(parts.join("/"));
            }
            let n = self.nodes.get(&cur)?;
            if !n.attached {
                return None;
            }
            parts.push(n.name.as_str());
            cur = n.parent;
        }
        None
    }

    /// Did a rename through the mount put another file where this node was? Its name then
    /// holds a different file, and a kernel that looked the name up just before the rename
    /// must look again rather than open the replacement under this node: one inode showing
    /// two files' contents and sizes to its readers is what corrupts the page cache.
    pub fn was_replaced(&self, ino: u64) -> bool {
        self.nodes
            .get(&ino)
            .is_some_and(|n| n.replaced_at.is_some())
    }

    /// The path of `name` inside directory `parent`.
    pub fn child_path(&self, parent: u64, name: &str) -> Option<String> {
        let p = self.path(parent)?;
        Some(if p.is_empty() {
            name.to_string()
        } else {
            format!("{p}/{name}")
        })
    }

    /// Record a successful lookup of `name` in `parent` (the kernel now holds one more
    /// reference) and return its node id.
    pub fn lookup(&mut self, parent: u64, name: &str, server_id: Option<u64>, attr: A) -> u64 {
        let now = Instant::now();
        let key = (parent, name.to_string());
        if let Some(&ino) = self.by_name.get(&key) {
            let same = match (self.nodes.get(&ino).and_then(|n| n.server_id), server_id) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            if same {
                if let Some(n) = self.nodes.get_mut(&ino) {
                    n.nlookup += 1;
                    n.attr = Some((attr, now));
                    if n.server_id.is_none() {
                        n.server_id = server_id;
                    }
                }
                if let Some(s) = server_id {
                    self.by_server_id.insert(s, ino);
                }
                return ino;
            }
            // Another file now has this name (replaced behind our back): detach the old node.
            self.detach(ino);
        }
        if let Some(s) = server_id
            && let Some(&ino) = self.by_server_id.get(&s)
            && ino != ROOT
            && self.nodes.get(&ino).is_some_and(|n| n.attached)
        {
            // The same server file under a new name (renamed by someone else): move it. A
            // detached node (unlinked, or replaced by a rename) is never revived: its server id
            // may already belong to a new file (servers reuse inode numbers), and the kernel
            // still holds the old file's size and pages under that node.
            self.detach(ino);
            if let Some(n) = self.nodes.get_mut(&ino) {
                n.parent = parent;
                n.name = name.to_string();
                n.attached = true;
                n.nlookup += 1;
                n.attr = Some((attr, now));
            }
            self.by_name.insert(key, ino);
            return ino;
        }
        let ino = self.next;
        self.next += 1;
        self.nodes.insert(
            ino,
            Node {
                parent,
                name: name.to_string(),
                attached: true,
                nlookup: 1,
                server_id,
                attr: Some((attr, now)),
                replaced_at: None,
            },
        );
        self.by_name.insert(key, ino);
        if let Some(s) = server_id {
            self.by_server_id.insert(s, ino);
        }
        ino
    }

    /// The node id of `name` in `parent`, if known (no reference taken).
    pub fn find(&self, parent: u64, name: &str) -> Option<u64> {
        self.by_name.get(&(parent, name.to_string())).copied()
    }

    /// Is `ino` still known (not forgotten)?
    pub fn contains(&self, ino: u64) -> bool {
        self.nodes.contains_key(&ino)
    }

    /// The kernel dropped `n` references (FUSE_FORGET).
    pub fn forget(&mut self, ino: u64, n: u64) {
        if ino == ROOT {
            return;
        }
        let gone = match self.nodes.get_mut(&ino) {
            Some(node) => {
                node.nlookup = node.nlookup.saturating_sub(n);
                node.nlookup == 0
            }
            None => false,
        };
        if gone {
            self.detach(ino);
            if let Some(node) = self.nodes.remove(&ino)
                && let Some(s) = node.server_id
                && self.by_server_id.get(&s) == Some(&ino)
            {
                self.by_server_id.remove(&s);
            }
        }
    }

    /// Take the node's name away (unlink, or replaced by a rename).
    fn detach(&mut self, ino: u64) {
        if let Some(n) = self.nodes.get_mut(&ino)
            && n.attached
            && ino != ROOT
        {
            n.attached = false;
            let key = (n.parent, std::mem::take(&mut n.name));
            if self.by_name.get(&key) == Some(&ino) {
                self.by_name.remove(&key);
            }
        }
    }

    /// `name` in `parent` was removed.
    pub fn unlink(&mut self, parent: u64, name: &str) {
        if let Some(ino) = self.find(parent, name) {
            self.detach(ino);
        }
    }

    /// A rename succeeded: move the node, detaching whatever was at the destination.
    pub fn rename(&mut self, parent: u64, name: &str, new_parent: u64, new_name: &str) {
        let Some(ino) = self.find(parent, name) else {
            return;
        };
        if let Some(victim) = self.find(new_parent, new_name)
            && victim != ino
        {
            self.detach(victim);
            if let Some(v) = self.nodes.get_mut(&victim) {
                v.replaced_at = Some((new_parent, new_name.to_string()));
            }
        }
        self.by_name.remove(&(parent, name.to_string()));
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.parent = new_parent;
            n.name = new_name.to_string();
        }
        self.by_name.insert((new_parent, new_name.to_string()), ino);
    }

    /// Cached attributes younger than `ttl`.
    pub fn attr(&self, ino: u64, ttl: Duration) -> Option<A> {
        let n = self.nodes.get(&ino)?;
        let (a, at) = n.attr.as_ref()?;
        (at.elapsed() < ttl).then(|| a.clone())
    }

    pub fn set_attr(&mut self, ino: u64, attr: A) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.attr = Some((attr, Instant::now()));
        }
    }

    pub fn invalidate(&mut self, ino: u64) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.attr = None;
        }
    }

    /// The parent of a node (the root is its own parent).
    pub fn parent(&self, ino: u64) -> Option<u64> {
        self.nodes.get(&ino).map(|n| n.parent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_renames_of_ancestors() {
        let mut t: InodeTable<()> = InodeTable::new();
        let d = t.lookup(ROOT, "d", Some(10), ());
        let f = t.lookup(d, "f", Some(11), ());
        assert_eq!(t.path(f).unwrap(), "d/f");
        t.rename(ROOT, "d", ROOT, "e");
        assert_eq!(t.path(f).unwrap(), "e/f");
        assert_eq!(t.find(ROOT, "d"), None);
        assert_eq!(t.path(ROOT).unwrap(), "");
    }

    #[test]
    fn same_server_file_keeps_its_inode() {
        let mut t: InodeTable<()> = InodeTable::new();
        let a = t.lookup(ROOT, "a", Some(7), ());
        assert_eq!(t.lookup(ROOT, "a", Some(7), ()), a);
        // Renamed by another client: found under the new name, same inode.
        assert_eq!(t.lookup(ROOT, "b", Some(7), ()), a);
        assert_eq!(t.find(ROOT, "a"), None);
        // A different file under an old name gets a new inode.
        let c = t.lookup(ROOT, "b", Some(8), ());
        assert_ne!(c, a);
    }

    #[test]
    fn unlink_detaches_and_forget_frees() {
        let mut t: InodeTable<()> = InodeTable::new();
        let a = t.lookup(ROOT, "a", None, ());
        t.lookup(ROOT, "a", None, ());
        t.unlink(ROOT, "a");
        assert_eq!(t.path(a), None, "detached while still referenced");
        t.forget(a, 1);
        assert_eq!(t.len(), 2);
        t.forget(a, 1);
        assert_eq!(t.len(), 1);
        t.forget(ROOT, 100);
        assert_eq!(t.path(ROOT).unwrap(), "");
    }

    #[test]
    fn a_reused_server_id_never_revives_a_detached_node() {
        let mut t: InodeTable<u32> = InodeTable::new();
        let old = t.lookup(ROOT, "f", Some(7), 1);
        let tmp = t.lookup(ROOT, "tmp", Some(8), 2);
        t.rename(ROOT, "tmp", ROOT, "f");
        // The server freed inode 7 and gives it to a new file.
        let new = t.lookup(ROOT, "tmp", Some(7), 3);
        assert_ne!(new, old, "a new file gets a new node");
        assert_eq!(t.find(ROOT, "f"), Some(tmp));
        // Renamed elsewhere by another client (still attached here): moved, same node.
        let moved = t.lookup(ROOT, "g", Some(8), 2);
        assert_eq!(moved, tmp);
    }

    #[test]
    fn rename_over_an_existing_name_detaches_the_victim() {
        let mut t: InodeTable<u32> = InodeTable::new();
        let a = t.lookup(ROOT, "a", Some(1), 1);
        let b = t.lookup(ROOT, "b", Some(2), 2);
        t.rename(ROOT, "a", ROOT, "b");
        assert_eq!(t.find(ROOT, "b"), Some(a));
        assert_eq!(t.path(b), None);
        // The replaced node is known as such (its opens get ESTALE); an unlinked one is not.
        assert!(t.was_replaced(b));
        assert!(!t.was_replaced(a));
        t.unlink(ROOT, "b");
        assert_eq!(t.path(a), None);
        assert!(!t.was_replaced(a));
        assert_eq!(t.attr(a, Duration::from_secs(5)), Some(1));
        t.invalidate(a);
        assert_eq!(t.attr(a, Duration::from_secs(5)), None);
    }
}
