//! SMB2 QUERY_DIRECTORY (MS-SMB2 2.2.33 request, 2.2.34 response). The output buffer is a
//! chain of MS-FSCC directory entries; see [`super::fscc::parse_id_both_directory`].
use super::{
    Command, DecodeError, FileId, Put, Reader, RequestBody, SMB2_HEADER_LEN, from_utf16le,
    slice_at, utf16le,
};

const REQUEST_STRUCTURE_SIZE: u16 = 33;
const REQUEST_FIXED: usize = 32;
const RESPONSE_STRUCTURE_SIZE: u16 = 9;
const RESPONSE_FIXED: usize = 8;

/// SMB2 QUERY_DIRECTORY Request (MS-SMB2 2.2.33).
///
/// `pattern` is the search pattern ("*" lists everything). "FileNameOffset ... MUST be 0 if no
/// search pattern is provided", so an empty pattern is sent with offset and length 0.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QueryDirectoryRequest {
    /// An MS-FSCC class, e.g. [`super::fscc::info_class::FILE_ID_BOTH_DIRECTORY_INFORMATION`].
    pub file_information_class: u8,
    pub flags: u8,
    /// Resume index, only with [`QueryDirectoryRequest::INDEX_SPECIFIED`].
    pub file_index: u32,
    pub file_id: FileId,
    pub pattern: String,
    pub output_buffer_length: u32,
}

impl QueryDirectoryRequest {
    /// SMB2_RESTART_SCANS: start the enumeration over.
    pub const RESTART_SCANS: u8 = 0x01;
    /// SMB2_RETURN_SINGLE_ENTRY: at most one entry.
    pub const RETURN_SINGLE_ENTRY: u8 = 0x02;
    /// SMB2_INDEX_SPECIFIED: resume at `file_index`.
    pub const INDEX_SPECIFIED: u8 = 0x04;
    /// SMB2_REOPEN: restart with a new pattern (the server closes and reopens the search).
    pub const REOPEN: u8 = 0x10;

    /// Decode a request from a whole message (header at `msg[0]`).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "QUERY_DIRECTORY request")?;
        r.structure_size("QUERY_DIRECTORY request", REQUEST_STRUCTURE_SIZE)?;
        let file_information_class = r.u8("QUERY_DIRECTORY.FileInformationClass")?;
        let flags = r.u8("QUERY_DIRECTORY.Flags")?;
        let file_index = r.u32("QUERY_DIRECTORY.FileIndex")?;
        let file_id = FileId::decode(&mut r)?;
        let off = r.u16("QUERY_DIRECTORY.FileNameOffset")?;
        let len = r.u16("QUERY_DIRECTORY.FileNameLength")?;
        let output_buffer_length = r.u32("QUERY_DIRECTORY.OutputBufferLength")?;
        let name = slice_at(
            msg,
            "QUERY_DIRECTORY.FileName",
            usize::from(off),
            usize::from(len),
        )?;
        Ok(Self {
            file_information_class,
            flags,
            file_index,
            file_id,
            pattern: from_utf16le("QUERY_DIRECTORY.FileName", name)?,
            output_buffer_length,
        })
    }
}

impl RequestBody for QueryDirectoryRequest {
    const COMMAND: Command = Command::QUERY_DIRECTORY;

    fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let pattern = utf16le(&self.pattern);
        let body = msg.len();
        msg.put_u16(REQUEST_STRUCTURE_SIZE);
        msg.put_u8(self.file_information_class);
        msg.put_u8(self.flags);
        msg.put_u32(self.file_index);
        self.file_id.encode(msg);
        let off = if pattern.is_empty() {
            0
        } else {
            body + REQUEST_FIXED - hdr
        };
        msg.put_u16(len16(off));
        msg.put_u16(len16(pattern.len()));
        msg.put_u32(self.output_buffer_length);
        debug_assert_eq!(msg.len() - body, REQUEST_FIXED);
        msg.put(&pattern);
        if pattern.is_empty() {
            msg.put_u8(0);
        }
    }

    fn payload_size(&self) -> u32 {
        self.output_buffer_length
    }
}

/// SMB2 QUERY_DIRECTORY Response (MS-SMB2 2.2.34): the raw output buffer.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct QueryDirectoryResponse {
    pub buffer: Vec<u8>,
}

impl QueryDirectoryResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "QUERY_DIRECTORY response")?;
        r.structure_size("QUERY_DIRECTORY response", RESPONSE_STRUCTURE_SIZE)?;
        let off = r.u16("QUERY_DIRECTORY.OutputBufferOffset")?;
        let len = r.u32("QUERY_DIRECTORY.OutputBufferLength")?;
        let buffer = slice_at(
            msg,
            "QUERY_DIRECTORY.Buffer",
            usize::from(off),
            len as usize,
        )?;
        Ok(Self {
            buffer: buffer.to_vec(),
        })
    }

    /// Append the body to `msg`, whose header starts at `hdr` (test server).
    pub fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let body = msg.len();
        msg.put_u16(RESPONSE_STRUCTURE_SIZE);
        msg.put_u16(len16(body + RESPONSE_FIXED - hdr));
        msg.put_u32(u32::try_from(self.buffer.len()).unwrap_or(u32::MAX));
        msg.put(&self.buffer);
        if self.buffer.is_empty() {
            msg.put_u8(0);
        }
    }
}

fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::Header;
    use crate::smb::wire::fscc::{DirEntry, encode_id_both_directory, info_class};
    use hex_literal::hex;

    fn header() -> Vec<u8> {
        let mut m = Vec::new();
        Header::request(Command::QUERY_DIRECTORY).encode(&mut m);
        m
    }

    #[test]
    fn request_round_trips_and_matches_layout() {
        let req = QueryDirectoryRequest {
            file_information_class: info_class::FILE_ID_BOTH_DIRECTORY_INFORMATION,
            flags: QueryDirectoryRequest::RESTART_SCANS,
            file_index: 0,
            file_id: FileId {
                persistent: 5,
                volatile: 6,
            },
            pattern: "*".into(),
            output_buffer_length: 65536,
        };
        let mut m = header();
        req.encode(&mut m, 0);
        let expected = [
            &hex!("2100 25 01 00000000 0500000000000000 0600000000000000")[..],
            &hex!("6000 0200 00000100 2a00"),
        ]
        .concat();
        assert_eq!(&m[64..], &expected[..]);
        assert_eq!(QueryDirectoryRequest::decode(&m).unwrap(), req);
        assert_eq!(req.payload_size(), 65536);
        let empty = QueryDirectoryRequest {
            pattern: String::new(),
            ..req
        };
        let mut m = header();
        empty.encode(&mut m, 0);
        assert_eq!(&m[64 + 24..64 + 28], &hex!("0000 0000"));
        assert_eq!(m.len(), 64 + 33);
        assert_eq!(QueryDirectoryRequest::decode(&m).unwrap(), empty);
    }

    #[test]
    fn response_round_trips_with_entries() {
        let mut buffer = Vec::new();
        encode_id_both_directory(
            &[DirEntry {
                name: "a.txt".into(),
                ..Default::default()
            }],
            &mut buffer,
        );
        let r = QueryDirectoryResponse { buffer };
        let mut m = header();
        r.encode(&mut m, 0);
        assert_eq!(&m[64..72], &hex!("0900 4800 72000000"));
        assert_eq!(QueryDirectoryResponse::decode(&m).unwrap(), r);
        let e = QueryDirectoryResponse::default();
        let mut m = header();
        e.encode(&mut m, 0);
        assert_eq!(QueryDirectoryResponse::decode(&m).unwrap(), e);
    }

    #[test]
    fn rejects_hostile_input() {
        let mut good = header();
        QueryDirectoryResponse {
            buffer: vec![7; 200],
        }
        .encode(&mut good, 0);
        for n in 0..good.len() {
            assert!(QueryDirectoryResponse::decode(&good[..n]).is_err());
        }
        let mut m = good.clone();
        m[68..72].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            QueryDirectoryResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        let mut m = good.clone();
        m[66..68].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(QueryDirectoryResponse::decode(&m).is_err());
        let mut m = good;
        m[64] = 8;
        assert!(matches!(
            QueryDirectoryResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
        let mut q = header();
        QueryDirectoryRequest {
            pattern: "*.txt".into(),
            ..Default::default()
        }
        .encode(&mut q, 0);
        for n in 0..q.len() {
            assert!(QueryDirectoryRequest::decode(&q[..n]).is_err());
        }
    }
}
