//! SMB2 CREATE (MS-SMB2 2.2.13 request, 2.2.14 response) and the create context chain shared by
//! both (MS-SMB2 2.2.13.2 SMB2_CREATE_CONTEXT).
//!
//! Create contexts are kept raw (`name`, `data`): typed views of MxAc, QFid, RqLs, DH2Q and the
//! rest belong to the layer that asks for them.
use super::{
    Command, DecodeError, FileId, Put, Reader, RequestBody, SMB2_HEADER_LEN, from_utf16le,
    slice_at, utf16le,
};

const REQUEST_STRUCTURE_SIZE: u16 = 57;
const REQUEST_FIXED: usize = 56;
const RESPONSE_STRUCTURE_SIZE: u16 = 89;
const RESPONSE_FIXED: usize = 88;
/// Fixed part of an SMB2_CREATE_CONTEXT before its Buffer.
const CONTEXT_FIXED: usize = 16;

/// Most create contexts accepted in one message (a real request carries a handful).
pub const MAX_CREATE_CONTEXTS: usize = 64;

/// Access mask bits for DesiredAccess (MS-SMB2 2.2.13.1.1 file/pipe/printer, 2.2.13.1.2
/// directory; MS-DTYP 2.4.3).
pub mod access {
    pub const FILE_READ_DATA: u32 = 0x0000_0001;
    pub const FILE_LIST_DIRECTORY: u32 = 0x0000_0001;
    pub const FILE_WRITE_DATA: u32 = 0x0000_0002;
    pub const FILE_ADD_FILE: u32 = 0x0000_0002;
    pub const FILE_APPEND_DATA: u32 = 0x0000_0004;
    pub const FILE_ADD_SUBDIRECTORY: u32 = 0x0000_0004;
    pub const FILE_READ_EA: u32 = 0x0000_0008;
    pub const FILE_WRITE_EA: u32 = 0x0000_0010;
    pub const FILE_EXECUTE: u32 = 0x0000_0020;
    pub const FILE_TRAVERSE: u32 = 0x0000_0020;
    pub const FILE_DELETE_CHILD: u32 = 0x0000_0040;
    pub const FILE_READ_ATTRIBUTES: u32 = 0x0000_0080;
    pub const FILE_WRITE_ATTRIBUTES: u32 = 0x0000_0100;
    pub const DELETE: u32 = 0x0001_0000;
    pub const READ_CONTROL: u32 = 0x0002_0000;
    pub const WRITE_DAC: u32 = 0x0004_0000;
    pub const WRITE_OWNER: u32 = 0x0008_0000;
    pub const SYNCHRONIZE: u32 = 0x0010_0000;
    pub const ACCESS_SYSTEM_SECURITY: u32 = 0x0100_0000;
    pub const MAXIMUM_ALLOWED: u32 = 0x0200_0000;
    pub const GENERIC_ALL: u32 = 0x1000_0000;
    pub const GENERIC_EXECUTE: u32 = 0x2000_0000;
    pub const GENERIC_WRITE: u32 = 0x4000_0000;
    pub const GENERIC_READ: u32 = 0x8000_0000;
}

/// ShareAccess bits (MS-SMB2 2.2.13).
pub mod share_access {
    pub const READ: u32 = 0x0000_0001;
    pub const WRITE: u32 = 0x0000_0002;
    pub const DELETE: u32 = 0x0000_0004;
    pub const ALL: u32 = READ | WRITE | DELETE;
}

/// CreateDisposition values (MS-SMB2 2.2.13).
pub mod disposition {
    pub const SUPERSEDE: u32 = 0x0000_0000;
    pub const OPEN: u32 = 0x0000_0001;
    pub const CREATE: u32 = 0x0000_0002;
    pub const OPEN_IF: u32 = 0x0000_0003;
    pub const OVERWRITE: u32 = 0x0000_0004;
    pub const OVERWRITE_IF: u32 = 0x0000_0005;
}

/// CreateOptions bits (MS-SMB2 2.2.13).
pub mod options {
    pub const DIRECTORY_FILE: u32 = 0x0000_0001;
    pub const WRITE_THROUGH: u32 = 0x0000_0002;
    pub const SEQUENTIAL_ONLY: u32 = 0x0000_0004;
    pub const NO_INTERMEDIATE_BUFFERING: u32 = 0x0000_0008;
    pub const SYNCHRONOUS_IO_ALERT: u32 = 0x0000_0010;
    pub const SYNCHRONOUS_IO_NONALERT: u32 = 0x0000_0020;
    pub const NON_DIRECTORY_FILE: u32 = 0x0000_0040;
    pub const COMPLETE_IF_OPLOCKED: u32 = 0x0000_0100;
    pub const NO_EA_KNOWLEDGE: u32 = 0x0000_0200;
    pub const OPEN_REMOTE_INSTANCE: u32 = 0x0000_0400;
    pub const RANDOM_ACCESS: u32 = 0x0000_0800;
    pub const DELETE_ON_CLOSE: u32 = 0x0000_1000;
    pub const OPEN_BY_FILE_ID: u32 = 0x0000_2000;
    pub const OPEN_FOR_BACKUP_INTENT: u32 = 0x0000_4000;
    pub const NO_COMPRESSION: u32 = 0x0000_8000;
    pub const OPEN_REQUIRING_OPLOCK: u32 = 0x0001_0000;
    pub const DISALLOW_EXCLUSIVE: u32 = 0x0002_0000;
    pub const RESERVE_OPFILTER: u32 = 0x0010_0000;
    pub const OPEN_REPARSE_POINT: u32 = 0x0020_0000;
    pub const OPEN_NO_RECALL: u32 = 0x0040_0000;
    pub const OPEN_FOR_FREE_SPACE_QUERY: u32 = 0x0080_0000;
}

/// RequestedOplockLevel / OplockLevel (MS-SMB2 2.2.13, 2.2.14).
pub mod oplock {
    pub const NONE: u8 = 0x00;
    pub const LEVEL_II: u8 = 0x01;
    pub const EXCLUSIVE: u8 = 0x08;
    pub const BATCH: u8 = 0x09;
    /// A lease is requested: an RqLs context must be present (not valid on 2.0.2).
    pub const LEASE: u8 = 0xFF;
}

/// ImpersonationLevel (MS-SMB2 2.2.13).
pub mod impersonation {
    pub const ANONYMOUS: u32 = 0;
    pub const IDENTIFICATION: u32 = 1;
    pub const IMPERSONATION: u32 = 2;
    pub const DELEGATE: u32 = 3;
}

/// CreateAction (MS-SMB2 2.2.14).
pub mod create_action {
    pub const SUPERSEDED: u32 = 0;
    pub const OPENED: u32 = 1;
    pub const CREATED: u32 = 2;
    pub const OVERWRITTEN: u32 = 3;
}

/// Create context names (MS-SMB2 2.2.13.2): 4-byte ASCII tags, sent without terminator.
pub mod context_name {
    pub const EA_BUFFER: &[u8] = b"ExtA";
    pub const SD_BUFFER: &[u8] = b"SecD";
    pub const DURABLE_HANDLE_REQUEST: &[u8] = b"DHnQ";
    pub const DURABLE_HANDLE_RECONNECT: &[u8] = b"DHnC";
    pub const ALLOCATION_SIZE: &[u8] = b"AlSi";
    pub const QUERY_MAXIMAL_ACCESS_REQUEST: &[u8] = b"MxAc";
    pub const TIMEWARP_TOKEN: &[u8] = b"TWrp";
    pub const QUERY_ON_DISK_ID: &[u8] = b"QFid";
    pub const REQUEST_LEASE: &[u8] = b"RqLs";
    pub const DURABLE_HANDLE_REQUEST_V2: &[u8] = b"DH2Q";
    pub const DURABLE_HANDLE_RECONNECT_V2: &[u8] = b"DH2C";
}

/// One SMB2_CREATE_CONTEXT (MS-SMB2 2.2.13.2), name and data kept raw.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CreateContext {
    pub name: Vec<u8>,
    pub data: Vec<u8>,
}

impl CreateContext {
    pub fn new(name: &[u8], data: Vec<u8>) -> Self {
        Self {
            name: name.to_vec(),
            data,
        }
    }
}

/// Find a context by name.
pub fn find_context<'a>(contexts: &'a [CreateContext], name: &[u8]) -> Option<&'a CreateContext> {
    contexts.iter().find(|c| c.name == name)
}

/// Append a context chain at the current end of `msg` (which must already be 8-byte aligned
/// relative to `hdr`); returns its length (CreateContextsLength), 0 for none.
///
/// Layout per context: Next, NameOffset (16), NameLength, Reserved, DataOffset, DataLength,
/// name, padding to 8, data. "Next: The offset from the beginning of this Create Context to the
/// beginning of a subsequent 8-byte aligned Create Context. This field MUST be set to 0 if
/// there are no subsequent contexts."
pub fn encode_contexts(msg: &mut Vec<u8>, hdr: usize, contexts: &[CreateContext]) -> usize {
    let start = msg.len();
    let mut prev: Option<usize> = None;
    for c in contexts {
        msg.pad_to(hdr, 8);
        let this = msg.len();
        if let Some(p) = prev {
            msg.set_u32(p, len32(this - p));
        }
        prev = Some(this);
        msg.put_u32(0); // Next, patched when a successor is written
        msg.put_u16(CONTEXT_FIXED as u16); // NameOffset
        msg.put_u16(len16(c.name.len()));
        msg.put_u16(0); // Reserved
        let data_off_at = msg.len();
        msg.put_u16(0); // DataOffset
        msg.put_u32(len32(c.data.len()));
        msg.put(&c.name);
        if !c.data.is_empty() {
            // "DataOffset: The offset from the beginning of this structure to the 8-byte
            // aligned data payload."
            msg.pad_to(hdr, 8);
            msg.set_u16(data_off_at, len16(msg.len() - this));
            msg.put(&c.data);
        }
    }
    msg.len() - start
}

/// Decode the context chain `msg[offset..offset + len]`. Every Next, NameOffset and DataOffset
/// is bounded by its own context (the bytes up to the next one, or to the end of the chain).
pub fn decode_contexts(
    msg: &[u8],
    offset: usize,
    len: usize,
) -> Result<Vec<CreateContext>, DecodeError> {
    let chain = slice_at(msg, "CreateContexts", offset, len)?;
    let mut out = Vec::new();
    let mut pos = 0usize;
    while !chain.is_empty() {
        if out.len() == MAX_CREATE_CONTEXTS {
            return Err(DecodeError::TooLarge {
                what: "CreateContexts",
                value: out.len() as u64 + 1,
                limit: MAX_CREATE_CONTEXTS as u64,
            });
        }
        let mut r = Reader::at(chain, pos, "CreateContext")?;
        let next = r.u32("CreateContext.Next")? as usize;
        let name_off = r.u16("CreateContext.NameOffset")?;
        let name_len = r.u16("CreateContext.NameLength")?;
        r.skip(2, "CreateContext.Reserved")?;
        let data_off = r.u16("CreateContext.DataOffset")?;
        let data_len = r.u32("CreateContext.DataLength")?;
        let end = if next == 0 {
            chain.len()
        } else {
            // Each context holds at least its 16-byte fixed part, so the chain strictly
            // advances; a Next past the chain is out of bounds.
            if next < CONTEXT_FIXED {
                return Err(DecodeError::Invalid {
                    what: "CreateContext.Next",
                    value: next as u64,
                });
            }
            match pos.checked_add(next) {
                Some(e) if e <= chain.len() => e,
                _ => {
                    return Err(DecodeError::OutOfBounds {
                        what: "CreateContext.Next",
                        offset: pos,
                        len: next,
                        msg_len: chain.len(),
                    });
                }
            }
        };
        let this = chain.get(pos..end).unwrap_or_default();
        let name = slice_at(
            this,
            "CreateContext.Name",
            usize::from(name_off),
            usize::from(name_len),
        )?;
        let data = slice_at(
            this,
            "CreateContext.Data",
            usize::from(data_off),
            data_len as usize,
        )?;
        out.push(CreateContext {
            name: name.to_vec(),
            data: data.to_vec(),
        });
        if next == 0 {
            break;
        }
        pos = end;
    }
    Ok(out)
}

/// SMB2 CREATE Request (MS-SMB2 2.2.13). SecurityFlags, SmbCreateFlags and Reserved are sent
/// as 0.
///
/// `name` is relative to the share root, without a leading backslash; the empty name opens the
/// root itself. "In the request, the Buffer field MUST be at least one byte in length", so an
/// empty name without contexts still sends one zero byte (NameOffset 0x78, NameLength 0).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CreateRequest {
    pub requested_oplock_level: u8,
    pub impersonation_level: u32,
    pub desired_access: u32,
    pub file_attributes: u32,
    pub share_access: u32,
    pub create_disposition: u32,
    pub create_options: u32,
    pub name: String,
    pub contexts: Vec<CreateContext>,
}

impl CreateRequest {
    /// Decode a request from a whole message (header at `msg[0]`), for the test server.
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "CREATE request")?;
        r.structure_size("CREATE request", REQUEST_STRUCTURE_SIZE)?;
        r.skip(1, "CREATE.SecurityFlags")?;
        let requested_oplock_level = r.u8("CREATE.RequestedOplockLevel")?;
        let impersonation_level = r.u32("CREATE.ImpersonationLevel")?;
        r.skip(16, "CREATE.SmbCreateFlags+Reserved")?;
        let desired_access = r.u32("CREATE.DesiredAccess")?;
        let file_attributes = r.u32("CREATE.FileAttributes")?;
        let share_access = r.u32("CREATE.ShareAccess")?;
        let create_disposition = r.u32("CREATE.CreateDisposition")?;
        let create_options = r.u32("CREATE.CreateOptions")?;
        let name_off = r.u16("CREATE.NameOffset")?;
        let name_len = r.u16("CREATE.NameLength")?;
        let ctx_off = r.u32("CREATE.CreateContextsOffset")?;
        let ctx_len = r.u32("CREATE.CreateContextsLength")?;
        let name = slice_at(
            msg,
            "CREATE.Name",
            usize::from(name_off),
            usize::from(name_len),
        )?;
        Ok(Self {
            requested_oplock_level,
            impersonation_level,
            desired_access,
            file_attributes,
            share_access,
            create_disposition,
            create_options,
            name: from_utf16le("CREATE.Name", name)?,
            contexts: decode_contexts(msg, ctx_off as usize, ctx_len as usize)?,
        })
    }
}

impl RequestBody for CreateRequest {
    const COMMAND: Command = Command::CREATE;

    fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let name = utf16le(&self.name);
        let body = msg.len();
        msg.put_u16(REQUEST_STRUCTURE_SIZE);
        msg.put_u8(0); // SecurityFlags
        msg.put_u8(self.requested_oplock_level);
        msg.put_u32(self.impersonation_level);
        msg.put_u64(0); // SmbCreateFlags
        msg.put_u64(0); // Reserved
        msg.put_u32(self.desired_access);
        msg.put_u32(self.file_attributes);
        msg.put_u32(self.share_access);
        msg.put_u32(self.create_disposition);
        msg.put_u32(self.create_options);
        let name_at = msg.len();
        msg.put_u16(0);
        msg.put_u16(len16(name.len()));
        let ctx_at = msg.len();
        msg.put_u32(0);
        msg.put_u32(0);
        debug_assert_eq!(msg.len() - body, REQUEST_FIXED);
        // NameOffset: "from the beginning of the SMB2 header to the 8-byte aligned file name".
        msg.pad_to(hdr, 8);
        msg.set_u16(name_at, len16(msg.len() - hdr));
        msg.put(&name);
        if !self.contexts.is_empty() {
            msg.pad_to(hdr, 8);
            msg.set_u32(ctx_at, len32(msg.len() - hdr));
            let len = encode_contexts(msg, hdr, &self.contexts);
            msg.set_u32(ctx_at + 4, len32(len));
        }
        if msg.len() - body == REQUEST_FIXED {
            msg.put_u8(0);
        }
    }
}

/// SMB2 CREATE Response (MS-SMB2 2.2.14). Times are FILETIMEs.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CreateResponse {
    pub oplock_level: u8,
    /// SMB2_CREATE_FLAG_REPARSEPOINT (3.1.1) or 0.
    pub flags: u8,
    pub create_action: u32,
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub allocation_size: u64,
    pub end_of_file: u64,
    pub file_attributes: u32,
    pub file_id: FileId,
    pub contexts: Vec<CreateContext>,
}

impl CreateResponse {
    /// SMB2_CREATE_FLAG_REPARSEPOINT (MS-SMB2 2.2.14 Flags, 3.1.1): the opened file is a
    /// reparse point.
    pub const FLAG_REPARSEPOINT: u8 = 0x01;

    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "CREATE response")?;
        r.structure_size("CREATE response", RESPONSE_STRUCTURE_SIZE)?;
        let oplock_level = r.u8("CREATE.OplockLevel")?;
        let flags = r.u8("CREATE.Flags")?;
        let create_action = r.u32("CREATE.CreateAction")?;
        let creation_time = r.u64("CREATE.CreationTime")?;
        let last_access_time = r.u64("CREATE.LastAccessTime")?;
        let last_write_time = r.u64("CREATE.LastWriteTime")?;
        let change_time = r.u64("CREATE.ChangeTime")?;
        let allocation_size = r.u64("CREATE.AllocationSize")?;
        let end_of_file = r.u64("CREATE.EndofFile")?;
        let file_attributes = r.u32("CREATE.FileAttributes")?;
        r.skip(4, "CREATE.Reserved2")?;
        let file_id = FileId::decode(&mut r)?;
        let ctx_off = r.u32("CREATE.CreateContextsOffset")?;
        let ctx_len = r.u32("CREATE.CreateContextsLength")?;
        Ok(Self {
            oplock_level,
            flags,
            create_action,
            creation_time,
            last_access_time,
            last_write_time,
            change_time,
            allocation_size,
            end_of_file,
            file_attributes,
            file_id,
            contexts: decode_contexts(msg, ctx_off as usize, ctx_len as usize)?,
        })
    }

    /// Append the body to `msg`, whose header starts at `hdr` (test server).
    pub fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let body = msg.len();
        msg.put_u16(RESPONSE_STRUCTURE_SIZE);
        msg.put_u8(self.oplock_level);
        msg.put_u8(self.flags);
        msg.put_u32(self.create_action);
        msg.put_u64(self.creation_time);
        msg.put_u64(self.last_access_time);
        msg.put_u64(self.last_write_time);
        msg.put_u64(self.change_time);
        msg.put_u64(self.allocation_size);
        msg.put_u64(self.end_of_file);
        msg.put_u32(self.file_attributes);
        msg.put_u32(0); // Reserved2
        self.file_id.encode(msg);
        let ctx_at = msg.len();
        msg.put_u32(0);
        msg.put_u32(0);
        debug_assert_eq!(msg.len() - body, RESPONSE_FIXED);
        if self.contexts.is_empty() {
            msg.put_u8(0);
        } else {
            msg.pad_to(hdr, 8);
            msg.set_u32(ctx_at, len32(msg.len() - hdr));
            let len = encode_contexts(msg, hdr, &self.contexts);
            msg.set_u32(ctx_at + 4, len32(len));
        }
    }
}

/// A length or offset for a u16 field; oversized values saturate (encoders cannot fail; names
/// are bounded far below 64 KiB by the caller).
fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::Header;
    use crate::smb::wire::fscc::attributes;
    use hex_literal::hex;

    fn header(cmd: Command) -> Vec<u8> {
        let mut m = Vec::new();
        Header::request(cmd).encode(&mut m);
        m
    }

    fn request() -> CreateRequest {
        CreateRequest {
            requested_oplock_level: oplock::LEASE,
            impersonation_level: impersonation::IMPERSONATION,
            desired_access: access::GENERIC_READ | access::SYNCHRONIZE,
            file_attributes: attributes::NORMAL,
            share_access: share_access::ALL,
            create_disposition: disposition::OPEN_IF,
            create_options: options::NON_DIRECTORY_FILE,
            name: r"dir\fïle.txt".into(),
            contexts: vec![
                CreateContext::new(context_name::QUERY_MAXIMAL_ACCESS_REQUEST, vec![]),
                CreateContext::new(context_name::REQUEST_LEASE, vec![0x42; 52]),
                CreateContext::new(context_name::QUERY_ON_DISK_ID, vec![]),
            ],
        }
    }

    fn response() -> CreateResponse {
        CreateResponse {
            oplock_level: oplock::LEASE,
            flags: 0,
            create_action: create_action::OPENED,
            creation_time: 1,
            last_access_time: 2,
            last_write_time: 3,
            change_time: 4,
            allocation_size: 4096,
            end_of_file: 5,
            file_attributes: attributes::ARCHIVE,
            file_id: FileId {
                persistent: 0x1234,
                volatile: 0x5678,
            },
            contexts: vec![
                CreateContext::new(context_name::QUERY_MAXIMAL_ACCESS_REQUEST, vec![0; 8]),
                CreateContext::new(context_name::QUERY_ON_DISK_ID, vec![9; 32]),
            ],
        }
    }

    fn encode_req(r: &CreateRequest) -> Vec<u8> {
        let mut m = header(Command::CREATE);
        r.encode(&mut m, 0);
        m
    }

    fn encode_resp(r: &CreateResponse) -> Vec<u8> {
        let mut m = header(Command::CREATE);
        r.encode(&mut m, 0);
        m
    }

    #[test]
    fn request_round_trips() {
        let req = request();
        assert_eq!(CreateRequest::decode(&encode_req(&req)).unwrap(), req);
        let mut bare = req.clone();
        bare.contexts.clear();
        assert_eq!(CreateRequest::decode(&encode_req(&bare)).unwrap(), bare);
    }

    /// MS-SMB2 2.2.13: NameOffset 0x78, NameLength 0, and "the Buffer field MUST be at least
    /// one byte in length".
    #[test]
    fn empty_name_encodes_one_buffer_byte() {
        let req = CreateRequest {
            name: String::new(),
            ..Default::default()
        };
        let m = encode_req(&req);
        assert_eq!(m.len(), 64 + 57);
        assert_eq!(&m[64 + 44..64 + 56], &hex!("7800 0000 00000000 00000000"));
        assert_eq!(m[120], 0);
        assert_eq!(CreateRequest::decode(&m).unwrap(), req);
        // With contexts the buffer is not empty, and they start right at 0x78.
        let req = CreateRequest {
            contexts: vec![CreateContext::new(b"MxAc", vec![])],
            ..Default::default()
        };
        let m = encode_req(&req);
        assert_eq!(&m[64 + 44..64 + 56], &hex!("7800 0000 78000000 14000000"));
        assert_eq!(m.len(), 120 + 20, "no padding after the last context");
        assert_eq!(CreateRequest::decode(&m).unwrap(), req);
    }

    /// Hand layout from MS-SMB2 2.2.13 and 2.2.13.2 (a root open asking for MxAc and QFid, as
    /// the Linux client sends them).
    #[test]
    fn golden_request() {
        let req = CreateRequest {
            requested_oplock_level: oplock::NONE,
            impersonation_level: impersonation::IMPERSONATION,
            desired_access: access::FILE_READ_ATTRIBUTES,
            file_attributes: 0,
            share_access: share_access::ALL,
            create_disposition: disposition::OPEN,
            create_options: 0,
            name: "a".into(),
            contexts: vec![
                CreateContext::new(b"MxAc", vec![]),
                CreateContext::new(b"QFid", vec![]),
            ],
        };
        let m = encode_req(&req);
        let expected = [
            &hex!("3900 00 00 02000000 0000000000000000 0000000000000000")[..],
            &hex!("80000000 00000000 07000000 01000000 00000000"),
            &hex!("7800 0200 80000000 2c000000"),
            &hex!("6100 000000000000"),
            // MxAc: Next 24, NameOffset 16, NameLength 4, Reserved, DataOffset 0, DataLength 0
            &hex!("18000000 1000 0400 0000 0000 00000000"),
            b"MxAc",
            &hex!("00000000"),
            &hex!("00000000 1000 0400 0000 0000 00000000"),
            b"QFid",
        ]
        .concat();
        assert_eq!(&m[64..], &expected[..]);
        assert_eq!(CreateRequest::decode(&m).unwrap(), req);
    }

    #[test]
    fn response_round_trips_and_matches_layout() {
        let r = response();
        let m = encode_resp(&r);
        assert_eq!(&m[64..72], &hex!("5900 ff 00 01000000"));
        // contexts start right after the 88-byte fixed part: 64 + 88 = 152 = 0x98
        assert_eq!(&m[64 + 80..64 + 84], &hex!("98000000"));
        assert_eq!(CreateResponse::decode(&m).unwrap(), r);
        let bare = CreateResponse {
            contexts: vec![],
            ..r
        };
        let m = encode_resp(&bare);
        assert_eq!(m.len(), 64 + 89);
        assert_eq!(CreateResponse::decode(&m).unwrap(), bare);
    }

    #[test]
    fn offsets_count_from_the_header() {
        let mut m = vec![0xEE; 16];
        m.extend_from_slice(&header(Command::CREATE));
        request().encode(&mut m, 16);
        assert_eq!(CreateRequest::decode(&m[16..]).unwrap(), request());
        let mut m = vec![0xEE; 24];
        m.extend_from_slice(&header(Command::CREATE));
        response().encode(&mut m, 24);
        assert_eq!(CreateResponse::decode(&m[24..]).unwrap(), response());
    }

    #[test]
    fn rejects_truncation_and_bad_structure_size() {
        let good = encode_resp(&response());
        for n in 0..good.len() {
            assert!(CreateResponse::decode(&good[..n]).is_err(), "prefix {n}");
        }
        let mut m = good;
        m[64] = 88;
        assert!(matches!(
            CreateResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
        let good = encode_req(&request());
        for n in 0..good.len() {
            assert!(CreateRequest::decode(&good[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn rejects_hostile_context_chains() {
        let good = encode_resp(&response());
        let ctx = 152;
        let set32 = |m: &mut Vec<u8>, at: usize, v: u32| {
            m[at..at + 4].copy_from_slice(&v.to_le_bytes());
        };
        let set16 = |m: &mut Vec<u8>, at: usize, v: u16| {
            m[at..at + 2].copy_from_slice(&v.to_le_bytes());
        };
        // CreateContextsOffset/Length past the end, or overflowing.
        let mut m = good.clone();
        set32(&mut m, 64 + 84, 0xFFFF_FFFF);
        assert!(matches!(
            CreateResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        let mut m = good.clone();
        set32(&mut m, 64 + 80, 0xFFFF_FFFF);
        assert!(matches!(
            CreateResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        // Next past the chain.
        let mut m = good.clone();
        set32(&mut m, ctx, 0x1000);
        assert!(matches!(
            CreateResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        // Next that does not advance past the fixed part (would loop or overlap).
        for next in [1u32, 8, 15] {
            let mut m = good.clone();
            set32(&mut m, ctx, next);
            assert!(matches!(
                CreateResponse::decode(&m),
                Err(DecodeError::Invalid { .. })
            ));
        }
        // Name and data must stay inside their own context (bounded by Next).
        let mut m = good.clone();
        set16(&mut m, ctx + 4, 30);
        assert!(matches!(
            CreateResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        let mut m = good.clone();
        set32(&mut m, ctx + 12, 100);
        assert!(matches!(
            CreateResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        let mut m = good;
        set16(&mut m, ctx + 10, 0xFFFF);
        assert!(matches!(
            CreateResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
    }

    #[test]
    fn caps_the_context_count() {
        let many = vec![CreateContext::new(b"X", vec![]); MAX_CREATE_CONTEXTS + 1];
        let r = CreateResponse {
            contexts: many,
            ..response()
        };
        let m = encode_resp(&r);
        assert!(matches!(
            CreateResponse::decode(&m),
            Err(DecodeError::TooLarge { .. })
        ));
        let ok = CreateResponse {
            contexts: vec![CreateContext::new(b"X", vec![]); MAX_CREATE_CONTEXTS],
            ..response()
        };
        assert_eq!(CreateResponse::decode(&encode_resp(&ok)).unwrap(), ok);
    }

    #[test]
    fn decoders_survive_mutation() {
        let req = encode_req(&request());
        let resp = encode_resp(&response());
        let mut seed = 0x9E37_79B9_u32;
        for base in [req, resp] {
            for _ in 0..3000 {
                let mut x = base.clone();
                for _ in 0..3 {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let i = 64 + (seed as usize) % (x.len() - 64);
                    x[i] = (seed >> 24) as u8;
                }
                let _ = CreateRequest::decode(&x);
                let _ = CreateResponse::decode(&x);
            }
        }
    }
}
