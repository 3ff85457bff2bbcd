//! SMB2 ERROR Response (MS-SMB2 2.2.2), its 3.1.1 error contexts (2.2.2.1) and the Symbolic
//! Link Error Response (2.2.2.2.1) carried with STATUS_STOPPED_ON_SYMLINK.
//!
//! Servers differ in the details, and the decoder copes with all of them:
//! - Samba sends the 9-byte body with ByteCount 0 and one ErrorData byte; the ErrorData is
//!   then empty (ByteCount is what counts).
//! - macOS answers STATUS_STOPPED_ON_SYMLINK with no symlink data at all:
//!   [`ErrorResponse::symlink`] returns `None` and the caller treats the target as unknown.
use super::fscc::IO_REPARSE_TAG_SYMLINK;
use super::{DecodeError, Put, Reader, SMB2_HEADER_LEN, from_utf16le, slice_at, utf16le};

const STRUCTURE_SIZE: u16 = 9;

/// ErrorId of an SMB2 ERROR Context (MS-SMB2 2.2.2.1): the default, used for every error the
/// spec does not give its own id.
pub const ERROR_ID_DEFAULT: u32 = 0x0000_0000;
/// ErrorId SMB2_ERROR_ID_SHARE_REDIRECT (MS-SMB2 2.2.2.1).
pub const ERROR_ID_SHARE_REDIRECT: u32 = 0x7264_5253;

/// SMB2 ERROR Response (MS-SMB2 2.2.2): StructureSize 9, ErrorContextCount, Reserved,
/// ByteCount, ErrorData.
///
/// `error_data` holds exactly ByteCount bytes. With `error_context_count > 0` (3.1.1 only) it
/// is a list of [`ErrorContext`]s; otherwise it is the status-specific data of 2.2.2.2.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ErrorResponse {
    pub error_context_count: u8,
    pub error_data: Vec<u8>,
}

impl ErrorResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "ERROR response")?;
        // "The server MUST set this field to 9 ... regardless of how long ErrorData[]
        // actually is".
        r.structure_size("ERROR response", STRUCTURE_SIZE)?;
        let error_context_count = r.u8("ERROR.ErrorContextCount")?;
        r.skip(1, "ERROR.Reserved")?;
        let byte_count = r.u32("ERROR.ByteCount")? as usize;
        let error_data = slice_at(msg, "ERROR.ErrorData", r.pos(), byte_count)?.to_vec();
        Ok(Self {
            error_context_count,
            error_data,
        })
    }

    /// Append the body to `msg` (test server). An empty ErrorData is sent as one zero byte with
    /// ByteCount 0, as Samba and Windows do.
    pub fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        msg.put_u16(STRUCTURE_SIZE);
        msg.put_u8(self.error_context_count);
        msg.put_u8(0);
        msg.put_u32(u32::try_from(self.error_data.len()).unwrap_or(u32::MAX));
        msg.put(&self.error_data);
        if self.error_data.is_empty() {
            msg.put_u8(0);
        }
    }

    /// The 3.1.1 error contexts (empty when ErrorContextCount is 0).
    pub fn contexts(&self) -> Result<Vec<ErrorContext>, DecodeError> {
        decode_contexts(&self.error_data, usize::from(self.error_context_count))
    }

    /// The Symbolic Link Error Response, if this error carries a well-formed one: from the
    /// default error context in 3.1.1, from ErrorData otherwise. `None` when it is missing,
    /// short or malformed (never a panic): the symlink target is then unknown.
    pub fn symlink(&self) -> Option<SymlinkError> {
        if self.error_context_count == 0 {
            return SymlinkError::decode(&self.error_data).ok();
        }
        let contexts = self.contexts().ok()?;
        let c = contexts.iter().find(|c| c.error_id == ERROR_ID_DEFAULT)?;
        SymlinkError::decode(&c.data).ok()
    }

    /// With STATUS_BUFFER_TOO_SMALL, ErrorData is "a 4-byte value indicating the minimum
    /// required buffer length" (MS-SMB2 2.2.2.2).
    pub fn required_buffer_length(&self) -> Option<u32> {
        let data = if self.error_context_count == 0 {
            self.error_data.clone()
        } else {
            let contexts = self.contexts().ok()?;
            contexts
                .into_iter()
                .find(|c| c.error_id == ERROR_ID_DEFAULT)?
                .data
        };
        let b: [u8; 4] = data.get(..4)?.try_into().ok()?;
        Some(u32::from_le_bytes(b))
    }
}

/// One SMB2 ERROR Context (MS-SMB2 2.2.2.1): ErrorDataLength, ErrorId, ErrorContextData.
/// "Each SMB2 ERROR Context MUST start at an 8-byte aligned boundary relative to the start of
/// the SMB2 ERROR Response", i.e. of ErrorData, which sits 8 bytes into the body.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ErrorContext {
    pub error_id: u32,
    pub data: Vec<u8>,
}

impl ErrorContext {
    /// Encode contexts as ErrorData (8-byte aligned, no trailing padding).
    pub fn encode_all(contexts: &[ErrorContext], out: &mut Vec<u8>) {
        let base = out.len();
        for c in contexts {
            out.pad_to(base, 8);
            out.put_u32(u32::try_from(c.data.len()).unwrap_or(u32::MAX));
            out.put_u32(c.error_id);
            out.put(&c.data);
        }
    }
}

fn decode_contexts(data: &[u8], count: usize) -> Result<Vec<ErrorContext>, DecodeError> {
    // count <= 255 and each context needs 8 bytes: preallocation is bounded by both.
    let mut out = Vec::with_capacity(count.min(data.len() / 8));
    let mut pos = 0usize;
    for i in 0..count {
        if i > 0 {
            pos = pos.next_multiple_of(8); // pos <= data.len(): no overflow
        }
        let mut r = Reader::at(data, pos, "ErrorContext")?;
        let len = r.u32("ErrorContext.ErrorDataLength")? as usize;
        let error_id = r.u32("ErrorContext.ErrorId")?;
        let body = r.bytes(len, "ErrorContext.ErrorContextData")?;
        out.push(ErrorContext {
            error_id,
            data: body.to_vec(),
        });
        pos = r.pos();
    }
    Ok(out)
}

/// Symbolic Link Error Response (MS-SMB2 2.2.2.2.1): where a CREATE stopped on a symlink and
/// what the link points to.
///
/// Layout: SymLinkLength (4), SymLinkErrorTag (4, 0x4C4D5953 "SYML"), ReparseTag (4,
/// 0xA000000C), ReparseDataLength (2), UnparsedPathLength (2), SubstituteNameOffset (2),
/// SubstituteNameLength (2), PrintNameOffset (2), PrintNameLength (2), Flags (4), PathBuffer.
/// Name offsets count from the start of PathBuffer. SymLinkLength is not trusted (as the
/// Linux client does not): the names are bounded by the ErrorData that holds them.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SymlinkError {
    /// Bytes at the end of the requested path that were not yet parsed when the link was hit.
    pub unparsed_path_length: u16,
    pub substitute_name: String,
    pub print_name: String,
    /// [`SymlinkError::RELATIVE`] or 0 (absolute).
    pub flags: u32,
}

impl SymlinkError {
    /// SymLinkErrorTag: "The server MUST set this field to 0x4C4D5953".
    pub const ERROR_TAG: u32 = 0x4C4D_5953;
    /// SYMLINK_FLAG_RELATIVE: the substitute name is relative to the link's directory.
    pub const RELATIVE: u32 = 0x0000_0001;
    const FIXED: usize = 28;

    pub fn is_relative(&self) -> bool {
        self.flags & Self::RELATIVE != 0
    }

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        r.skip(4, "SymLink.SymLinkLength")?;
        let tag = r.u32("SymLink.SymLinkErrorTag")?;
        if tag != Self::ERROR_TAG {
            return Err(DecodeError::Invalid {
                what: "SymLink.SymLinkErrorTag",
                value: tag.into(),
            });
        }
        let reparse_tag = r.u32("SymLink.ReparseTag")?;
        // "The server MUST set this field to 0xA000000C".
        if reparse_tag != IO_REPARSE_TAG_SYMLINK {
            return Err(DecodeError::Invalid {
                what: "SymLink.ReparseTag",
                value: reparse_tag.into(),
            });
        }
        r.skip(2, "SymLink.ReparseDataLength")?;
        let unparsed_path_length = r.u16("SymLink.UnparsedPathLength")?;
        let sub_off = r.u16("SymLink.SubstituteNameOffset")?;
        let sub_len = r.u16("SymLink.SubstituteNameLength")?;
        let print_off = r.u16("SymLink.PrintNameOffset")?;
        let print_len = r.u16("SymLink.PrintNameLength")?;
        let flags = r.u32("SymLink.Flags")?;
        let path = buf.get(Self::FIXED..).unwrap_or_default();
        let sub = slice_at(
            path,
            "SymLink.SubstituteName",
            sub_off.into(),
            sub_len.into(),
        )?;
        let print = slice_at(
            path,
            "SymLink.PrintName",
            print_off.into(),
            print_len.into(),
        )?;
        Ok(Self {
            unparsed_path_length,
            substitute_name: from_utf16le("SymLink.SubstituteName", sub)?,
            print_name: from_utf16le("SymLink.PrintName", print)?,
            flags,
        })
    }

    /// Encode with the substitute name first in PathBuffer, then the print name (test server).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let sub = utf16le(&self.substitute_name);
        let print = utf16le(&self.print_name);
        let path_len = sub.len() + print.len();
        let len16 = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        out.put_u32(u32::try_from(Self::FIXED - 4 + path_len).unwrap_or(u32::MAX));
        out.put_u32(Self::ERROR_TAG);
        out.put_u32(IO_REPARSE_TAG_SYMLINK);
        // ReparseDataLength: from SubstituteNameOffset to the end of PathBuffer.
        out.put_u16(len16(12 + path_len));
        out.put_u16(self.unparsed_path_length);
        out.put_u16(0);
        out.put_u16(len16(sub.len()));
        out.put_u16(len16(sub.len()));
        out.put_u16(len16(print.len()));
        out.put_u32(self.flags);
        out.put(&sub);
        out.put(&print);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::{Command, Header, NtStatus};
    use hex_literal::hex;

    fn header() -> Vec<u8> {
        let mut h = Header::request(Command::CREATE);
        h.status = NtStatus::STOPPED_ON_SYMLINK;
        let mut m = Vec::new();
        h.encode(&mut m);
        m
    }

    fn link() -> SymlinkError {
        SymlinkError {
            unparsed_path_length: 8,
            substitute_name: r"\??\C:\target".into(),
            print_name: r"C:\target".into(),
            flags: 0,
        }
    }

    #[test]
    fn round_trips_plain_error() {
        let e = ErrorResponse {
            error_context_count: 0,
            error_data: vec![1, 2, 3],
        };
        let mut m = header();
        e.encode(&mut m, 0);
        assert_eq!(&m[64..], &hex!("0900 00 00 03000000 010203"));
        assert_eq!(ErrorResponse::decode(&m).unwrap(), e);
    }

    /// Samba's ERROR body: StructureSize 9, ByteCount 0 and one ErrorData byte.
    #[test]
    fn samba_empty_error_has_no_data() {
        let mut m = header();
        m.extend_from_slice(&hex!("0900 00 00 00000000 00"));
        let e = ErrorResponse::decode(&m).unwrap();
        assert_eq!(e, ErrorResponse::default());
        assert_eq!(e.symlink(), None);
        let mut again = header();
        e.encode(&mut again, 0);
        assert_eq!(again, m);
        // Without the pad byte too.
        assert_eq!(ErrorResponse::decode(&m[..72]).unwrap(), e);
    }

    #[test]
    fn symlink_error_round_trips_and_matches_layout() {
        let mut data = Vec::new();
        link().encode(&mut data);
        let path = 2 * (13 + 9);
        assert_eq!(data.len(), 28 + path);
        assert_eq!(&data[..8], &hex!("44000000 53594d4c"));
        assert_eq!(&data[8..16], &hex!("0c0000a0 3800 0800"));
        assert_eq!(&data[16..28], &hex!("0000 1a00 1a00 1200 00000000"));
        assert_eq!(SymlinkError::decode(&data).unwrap(), link());

        let e = ErrorResponse {
            error_context_count: 0,
            error_data: data.clone(),
        };
        let mut m = header();
        e.encode(&mut m, 0);
        let d = ErrorResponse::decode(&m).unwrap();
        assert_eq!(d.symlink(), Some(link()));

        // 3.1.1 form: inside a default error context.
        let mut ctx = Vec::new();
        ErrorContext::encode_all(
            &[
                ErrorContext {
                    error_id: ERROR_ID_SHARE_REDIRECT,
                    data: vec![9; 5],
                },
                ErrorContext {
                    error_id: ERROR_ID_DEFAULT,
                    data,
                },
            ],
            &mut ctx,
        );
        assert_eq!(
            &ctx[16..20],
            &hex!("48000000"),
            "second context 8-byte aligned at 16"
        );
        let e = ErrorResponse {
            error_context_count: 2,
            error_data: ctx,
        };
        let mut m = header();
        e.encode(&mut m, 0);
        let d = ErrorResponse::decode(&m).unwrap();
        assert_eq!(d, e);
        assert_eq!(d.contexts().unwrap().len(), 2);
        assert_eq!(d.symlink(), Some(link()));
        let rel = SymlinkError {
            flags: SymlinkError::RELATIVE,
            ..link()
        };
        assert!(rel.is_relative() && !link().is_relative());
    }

    #[test]
    fn missing_or_broken_symlink_data_is_none() {
        // macOS: ErrorContextCount 0, ByteCount 0, nothing else.
        let mut m = header();
        m.extend_from_slice(&hex!("0900 00 00 00000000"));
        assert_eq!(ErrorResponse::decode(&m).unwrap().symlink(), None);

        let mut good = Vec::new();
        link().encode(&mut good);
        for n in 0..good.len() {
            let e = ErrorResponse {
                error_context_count: 0,
                error_data: good[..n].to_vec(),
            };
            assert_eq!(e.symlink(), None, "prefix {n}");
        }
        let broken = |at: usize, v: &[u8]| {
            let mut d = good.clone();
            d[at..at + v.len()].copy_from_slice(v);
            ErrorResponse {
                error_context_count: 0,
                error_data: d,
            }
            .symlink()
        };
        assert_eq!(broken(4, &[0, 0, 0, 0]), None, "bad SymLinkErrorTag");
        assert_eq!(broken(8, &[0, 0, 0, 0]), None, "bad ReparseTag");
        assert_eq!(
            broken(16, &[0xFF, 0xFF]),
            None,
            "SubstituteNameOffset past the end"
        );
        assert_eq!(
            broken(18, &[0xFF, 0x7F]),
            None,
            "SubstituteNameLength past the end"
        );
        assert_eq!(broken(22, &[0x01, 0x00]), None, "odd PrintNameLength");
        assert!(
            broken(0, &[0xFF, 0xFF, 0xFF, 0xFF]).is_some(),
            "SymLinkLength not trusted"
        );
        // Contexts present but none default, or a context count beyond the data.
        let e = ErrorResponse {
            error_context_count: 3,
            error_data: vec![0; 8],
        };
        assert_eq!(e.symlink(), None);
        assert!(e.contexts().is_err());
    }

    #[test]
    fn buffer_too_small_length() {
        let e = ErrorResponse {
            error_context_count: 0,
            error_data: hex!("00100000").to_vec(),
        };
        assert_eq!(e.required_buffer_length(), Some(4096));
        assert_eq!(ErrorResponse::default().required_buffer_length(), None);
    }

    #[test]
    fn rejects_hostile_bodies() {
        let mut good = header();
        ErrorResponse {
            error_context_count: 0,
            error_data: vec![7; 20],
        }
        .encode(&mut good, 0);
        for n in 0..good.len() {
            assert!(ErrorResponse::decode(&good[..n]).is_err(), "prefix {n}");
        }
        let mut m = good.clone();
        m[68..72].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            ErrorResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        let mut m = good;
        m[64] = 8;
        assert!(matches!(
            ErrorResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
        let mut seed = 0xABCD_1234_u32;
        let mut base = Vec::new();
        link().encode(&mut base);
        for _ in 0..3000 {
            let mut x = base.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let i = (seed as usize) % x.len();
                x[i] = (seed >> 24) as u8;
            }
            let e = ErrorResponse {
                error_context_count: (seed & 3) as u8,
                error_data: x,
            };
            let _ = e.symlink();
            let _ = e.contexts();
            let _ = e.required_buffer_length();
        }
    }
}
