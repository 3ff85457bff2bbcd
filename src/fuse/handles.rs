//! Open file and directory handles, by FUSE file handle number.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Handles are never reused while open; numbers start at 1 (0 means "no handle" to some tools).
#[derive(Debug)]
pub struct HandleTable<T> {
    inner: Mutex<(u64, HashMap<u64, Arc<T>>)>,
}

impl<T> Default for HandleTable<T> {
    fn default() -> Self {
        Self {
            inner: Mutex::new((1, HashMap::new())),
        }
    }
}

impl<T> HandleTable<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<u64, Arc<T>>)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, v: T) -> u64 {
        let mut g = self.lock();
        let fh = g.0;
        g.0 += 1;
        g.1.insert(fh, Arc::new(v));
        fh
    }

    pub fn get(&self, fh: u64) -> Option<Arc<T>> {
        self.lock().1.get(&fh).cloned()
    }

    pub fn remove(&self, fh: u64) -> Option<Arc<T>> {
        self.lock().1.remove(&fh)
    }

    pub fn len(&self) -> usize {
        self.lock().1.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every open handle (for a clean shutdown).
    pub fn drain(&self) -> Vec<Arc<T>> {
        self.lock().1.drain().map(|(_, v)| v).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_not_reused() {
        let t = HandleTable::default();
        let a = t.insert("a");
        let b = t.insert("b");
        assert_ne!(a, b);
        assert_eq!(*t.remove(a).unwrap(), "a");
        let c = t.insert("c");
        assert!(c > b);
        assert!(t.get(a).is_none());
        assert_eq!(t.len(), 2);
    }
}
