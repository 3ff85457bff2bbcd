//! Minshall+French symlinks (`mfsymlinks`): a symlink stored as a 1067-byte regular file, the
//! format the Linux kernel client and macOS write, so links made here are links there too.
//!
//! Layout: `XSym\n` + 4-digit target length + `\n` + MD5 of the target as 32 lowercase hex digits
//! + `\n` + target + `\n` + spaces up to 1067 bytes.
use md5::{Digest, Md5};

pub const FILE_SIZE: usize = 1067;
pub const MAX_TARGET: usize = 1024;
const LINK_OFFSET: usize = 43;

fn md5_hex(target: &[u8]) -> String {
    let d = Md5::digest(target);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file content for a link to `target`, or `None` if the target is too long.
pub fn encode(target: &str) -> Option<Vec<u8>> {
    let t = target.as_bytes();
    if t.is_empty() || t.len() > MAX_TARGET {
        return None;
    }
    let mut v = format!("XSym\n{:04}\n{}\n", t.len(), md5_hex(t)).into_bytes();
    v.extend_from_slice(t);
    if v.len() < FILE_SIZE {
        v.push(b'\n');
    }
    v.resize(FILE_SIZE, b' ');
    Some(v)
}

/// The target if `data` is a well-formed symlink file (length, header and MD5 all match).
pub fn decode(data: &[u8]) -> Option<String> {
    if data.len() != FILE_SIZE || !data.starts_with(b"XSym\n") {
        return None;
    }
    let len: usize = std::str::from_utf8(data.get(5..9)?).ok()?.parse().ok()?;
    if data.get(9) != Some(&b'\n') || data.get(42) != Some(&b'\n') || len == 0 || len > MAX_TARGET {
        return None;
    }
    let target = data.get(LINK_OFFSET..LINK_OFFSET + len)?;
    if data.get(10..42)? != md5_hex(target).as_bytes() {
        return None;
    }
    String::from_utf8(target.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let f = encode("../some/target").unwrap();
        assert_eq!(f.len(), FILE_SIZE);
        assert!(f.starts_with(b"XSym\n0014\n"));
        assert_eq!(decode(&f).unwrap(), "../some/target");
    }

    #[test]
    fn rejects_tampering_and_other_files() {
        let mut f = encode("abc").unwrap();
        f[LINK_OFFSET] = b'x';
        assert_eq!(decode(&f), None, "md5 no longer matches");
        assert_eq!(decode(b"XSym\n"), None);
        assert_eq!(decode(&vec![b' '; FILE_SIZE]), None);
        assert!(encode(&"a".repeat(1025)).is_none());
        let max = "b".repeat(1024);
        assert_eq!(decode(&encode(&max).unwrap()).unwrap(), max);
    }
}
