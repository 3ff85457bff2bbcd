//! Bounded readers and little-endian writers shared by every codec.
//!
//! [`Reader`] is the rustls idea: a cursor that can never read past the end of the slice it was
//! given, built on nom's `complete` number parsers; [`slice_at`] is the one place where a
//! peer-supplied Offset/Length pair is turned into a slice of the message.
use nom::Parser;
use nom::bytes::complete::take;
use nom::number::complete::{le_u8, le_u16, le_u32, le_u64};

/// Why a message could not be decoded. Names the field at fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the field needs.
    #[error("{what}: truncated (need {need} bytes at offset {at}, message has {len})")]
    Truncated {
        what: &'static str,
        at: usize,
        need: usize,
        len: usize,
    },
    /// An Offset/Length pair points outside the message.
    #[error("{what}: offset {offset} + length {len} lies outside the {msg_len}-byte message")]
    OutOfBounds {
        what: &'static str,
        offset: usize,
        len: usize,
        msg_len: usize,
    },
    /// The fixed StructureSize field is not the one the spec gives.
    #[error("{what}: StructureSize is {got}, expected {expected}")]
    BadStructureSize {
        what: &'static str,
        expected: u16,
        got: u16,
    },
    /// A count or size larger than we accept (caps allocation sized by the peer).
    #[error("{what}: {value} exceeds the limit of {limit}")]
    TooLarge {
        what: &'static str,
        value: u64,
        limit: u64,
    },
    /// A value the field cannot hold.
    #[error("{what}: invalid value {value:#x}")]
    Invalid { what: &'static str, value: u64 },
}

/// A cursor over a byte slice that never reads past its end.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

type NomErr<'a> = nom::Err<nom::error::Error<&'a [u8]>>;

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// A reader positioned at `at` (an error if `at` is past the end).
    pub fn at(buf: &'a [u8], at: usize, what: &'static str) -> Result<Self, DecodeError> {
        if at > buf.len() {
            return Err(DecodeError::Truncated {
                what,
                at,
                need: 0,
                len: buf.len(),
            });
        }
        Ok(Self { buf, pos: at })
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn run<T>(
        &mut self,
        what: &'static str,
        need: usize,
        mut p: impl FnMut(&'a [u8]) -> Result<(&'a [u8], T), NomErr<'a>>,
    ) -> Result<T, DecodeError> {
        let rest = &self.buf[self.pos..];
        match p(rest) {
            Ok((after, v)) => {
                self.pos += rest.len() - after.len();
                Ok(v)
            }
            Err(_) => Err(DecodeError::Truncated {
                what,
                at: self.pos,
                need,
                len: self.buf.len(),
            }),
        }
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        self.run(what, 1, |i| le_u8.parse(i))
    }
    pub fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        self.run(what, 2, |i| le_u16.parse(i))
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        self.run(what, 4, |i| le_u32.parse(i))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        self.run(what, 8, |i| le_u64.parse(i))
    }
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        self.run(what, n, |i| take(n).parse(i))
    }
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let b = self.bytes(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }
    pub fn skip(&mut self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        self.bytes(n, what).map(|_| ())
    }
    /// Read the StructureSize field and check it (MS-SMB2: "The client MUST set this field to
    /// N" / the server likewise; we hold the server to it).
    pub fn structure_size(&mut self, what: &'static str, expected: u16) -> Result<(), DecodeError> {
        let got = self.u16(what)?;
        if got != expected {
            return Err(DecodeError::BadStructureSize {
                what,
                expected,
                got,
            });
        }
        Ok(())
    }
}

/// The slice `msg[offset..offset + len]`, or an error naming the field. `offset == 0 && len ==
/// 0` (an absent buffer) gives an empty slice.
pub fn slice_at<'a>(
    msg: &'a [u8],
    what: &'static str,
    offset: usize,
    len: usize,
) -> Result<&'a [u8], DecodeError> {
    if len == 0 {
        return Ok(&[]);
    }
    let end = offset.checked_add(len);
    match end {
        Some(end) if end <= msg.len() => Ok(&msg[offset..end]),
        _ => Err(DecodeError::OutOfBounds {
            what,
            offset,
            len,
            msg_len: msg.len(),
        }),
    }
}

/// Little-endian appends for encoders (encoding cannot fail).
pub trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u16(&mut self, v: u16);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put(&mut self, b: &[u8]);
    fn put_zeros(&mut self, n: usize);
    /// Pad with zeros until `(len - base)` is a multiple of `align`.
    fn pad_to(&mut self, base: usize, align: usize);
    /// Overwrite a u16/u32 written earlier (offset and length fields filled in afterwards).
    fn set_u16(&mut self, at: usize, v: u16);
    fn set_u32(&mut self, at: usize, v: u32);
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
    fn put_zeros(&mut self, n: usize) {
        self.resize(self.len() + n, 0);
    }
    fn pad_to(&mut self, base: usize, align: usize) {
        while !(self.len() - base).is_multiple_of(align) {
            self.push(0);
        }
    }
    fn set_u16(&mut self, at: usize, v: u16) {
        self[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
    fn set_u32(&mut self, at: usize, v: u32) {
        self[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_stops_at_end_and_names_the_field() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16("a").unwrap(), 0x0201);
        let e = r.u16("b").unwrap_err();
        assert_eq!(
            e,
            DecodeError::Truncated {
                what: "b",
                at: 2,
                need: 2,
                len: 3
            }
        );
        assert_eq!(r.u8("c").unwrap(), 3);
        assert!(r.u8("d").is_err());
    }

    #[test]
    fn slice_at_rejects_overflow_and_past_end() {
        let m = [0u8; 10];
        assert_eq!(slice_at(&m, "x", 8, 2).unwrap().len(), 2);
        assert!(slice_at(&m, "x", 9, 2).is_err());
        assert!(slice_at(&m, "x", usize::MAX, 2).is_err());
        assert!(slice_at(&m, "x", 400, 0).unwrap().is_empty());
    }

    #[test]
    fn structure_size_is_checked() {
        let mut r = Reader::new(&[9, 0]);
        assert_eq!(
            r.structure_size("ERROR", 17).unwrap_err(),
            DecodeError::BadStructureSize {
                what: "ERROR",
                expected: 17,
                got: 9
            }
        );
    }
}
