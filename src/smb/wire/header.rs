//! The SMB2 packet header (MS-SMB2 2.2.1), sync and async forms.
use super::ids::{AsyncId, MessageId, SessionId, TreeId};
use super::{DecodeError, NtStatus, Put, Reader};
use std::fmt;

/// Length of the SMB2 header; every body starts here.
pub const SMB2_HEADER_LEN: usize = 64;
/// ProtocolId of an SMB2 message: 0xFE 'S' 'M' 'B'.
pub const PROTOCOL_ID: [u8; 4] = [0xFE, b'S', b'M', b'B'];
/// ProtocolId of an SMB2 TRANSFORM_HEADER (MS-SMB2 2.2.41): 0xFD 'S' 'M' 'B'.
pub const TRANSFORM_PROTOCOL_ID: [u8; 4] = [0xFD, b'S', b'M', b'B'];
/// ProtocolId of an SMB1 message: 0xFF 'S' 'M' 'B' (a server that only speaks SMB1 answers so).
pub const SMB1_PROTOCOL_ID: [u8; 4] = [0xFF, b'S', b'M', b'B'];

/// Command (MS-SMB2 2.2.1.2): an open number type, so unknown codes survive and print as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Command(pub u16);

macro_rules! commands {
    ($($name:ident = $v:expr),* $(,)?) => {
        impl Command {
            $(pub const $name: Self = Self($v);)*
            /// The spec's name, if this is a known command.
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $($v => Some(stringify!($name)),)* _ => None }
            }
        }
    };
}
commands! {
    NEGOTIATE = 0x0000, SESSION_SETUP = 0x0001, LOGOFF = 0x0002, TREE_CONNECT = 0x0003,
    TREE_DISCONNECT = 0x0004, CREATE = 0x0005, CLOSE = 0x0006, FLUSH = 0x0007, READ = 0x0008,
    WRITE = 0x0009, LOCK = 0x000A, IOCTL = 0x000B, CANCEL = 0x000C, ECHO = 0x000D,
    QUERY_DIRECTORY = 0x000E, CHANGE_NOTIFY = 0x000F, QUERY_INFO = 0x0010, SET_INFO = 0x0011,
    OPLOCK_BREAK = 0x0012,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Command({:#06x})", self.0),
        }
    }
}
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Header Flags (MS-SMB2 2.2.1.2).
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct HeaderFlags(pub u32);

impl HeaderFlags {
    pub const SERVER_TO_REDIR: u32 = 0x0000_0001;
    pub const ASYNC_COMMAND: u32 = 0x0000_0002;
    pub const RELATED_OPERATIONS: u32 = 0x0000_0004;
    pub const SIGNED: u32 = 0x0000_0008;
    pub const PRIORITY_MASK: u32 = 0x0000_0070;
    pub const DFS_OPERATIONS: u32 = 0x1000_0000;
    pub const REPLAY_OPERATION: u32 = 0x2000_0000;

    pub fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }
    pub fn set(&mut self, bit: u32, on: bool) {
        if on {
            self.0 |= bit;
        } else {
            self.0 &= !bit;
        }
    }
}

/// A decoded or to-be-encoded SMB2 header.
///
/// In requests `status` carries ChannelSequence/Reserved (we always send 0); in the async form the
/// 8 bytes of Reserved + TreeId hold the AsyncId instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub credit_charge: u16,
    pub status: NtStatus,
    pub command: Command,
    /// CreditRequest in a request, CreditResponse (credits granted) in a response.
    pub credits: u16,
    pub flags: HeaderFlags,
    /// Offset from this header to the next one in a compound, 0 for the last (8-byte aligned).
    pub next_command: u32,
    pub message_id: MessageId,
    /// `Some` in the async form (SMB2_FLAGS_ASYNC_COMMAND).
    pub async_id: Option<AsyncId>,
    pub tree_id: TreeId,
    pub session_id: SessionId,
    pub signature: [u8; 16],
}

/// Byte offset of the Signature field inside the header.
pub const SIGNATURE_OFFSET: usize = 48;
/// Byte offset of the Flags field inside the header.
pub const FLAGS_OFFSET: usize = 16;
/// Byte offset of the NextCommand field inside the header.
pub const NEXT_COMMAND_OFFSET: usize = 20;

impl Header {
    /// A request header with everything but the command zeroed; `proto` fills in ids and credits.
    pub fn request(command: Command) -> Self {
        Self {
            credit_charge: 0,
            status: NtStatus::SUCCESS,
            command,
            credits: 0,
            flags: HeaderFlags::default(),
            next_command: 0,
            message_id: MessageId(0),
            async_id: None,
            tree_id: TreeId(0),
            session_id: SessionId(0),
            signature: [0; 16],
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put(&PROTOCOL_ID);
        out.put_u16(SMB2_HEADER_LEN as u16);
        out.put_u16(self.credit_charge);
        out.put_u32(self.status.0);
        out.put_u16(self.command.0);
        out.put_u16(self.credits);
        let mut flags = self.flags;
        flags.set(HeaderFlags::ASYNC_COMMAND, self.async_id.is_some());
        out.put_u32(flags.0);
        out.put_u32(self.next_command);
        out.put_u64(self.message_id.0);
        match self.async_id {
            Some(a) => out.put_u64(a.0),
            None => {
                out.put_u32(0);
                out.put_u32(self.tree_id.0);
            }
        }
        out.put_u64(self.session_id.0);
        out.put(&self.signature);
    }

    /// Decode the header at the start of `msg` (MS-SMB2 2.2.1).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(msg);
        let proto: [u8; 4] = r.array("Header.ProtocolId")?;
        if proto != PROTOCOL_ID {
            return Err(DecodeError::Invalid {
                what: "Header.ProtocolId",
                value: u64::from(u32::from_be_bytes(proto)),
            });
        }
        r.structure_size("Header", SMB2_HEADER_LEN as u16)?;
        let credit_charge = r.u16("Header.CreditCharge")?;
        let status = NtStatus(r.u32("Header.Status")?);
        let command = Command(r.u16("Header.Command")?);
        let credits = r.u16("Header.Credit")?;
        let flags = HeaderFlags(r.u32("Header.Flags")?);
        let next_command = r.u32("Header.NextCommand")?;
        let message_id = MessageId(r.u64("Header.MessageId")?);
        let (async_id, tree_id) = if flags.has(HeaderFlags::ASYNC_COMMAND) {
            (Some(AsyncId(r.u64("Header.AsyncId")?)), TreeId(0))
        } else {
            r.skip(4, "Header.Reserved")?;
            (None, TreeId(r.u32("Header.TreeId")?))
        };
        let session_id = SessionId(r.u64("Header.SessionId")?);
        let signature = r.array("Header.Signature")?;
        Ok(Self {
            credit_charge,
            status,
            command,
            credits,
            flags,
            next_command,
            message_id,
            async_id,
            tree_id,
            session_id,
            signature,
        })
    }

    pub fn is_response(&self) -> bool {
        self.flags.has(HeaderFlags::SERVER_TO_REDIR)
    }
    pub fn is_signed(&self) -> bool {
        self.flags.has(HeaderFlags::SIGNED)
    }
    pub fn is_async(&self) -> bool {
        self.async_id.is_some()
    }
    /// An interim response (MS-SMB2 3.3.4.2): async, STATUS_PENDING; the final one follows.
    pub fn is_interim(&self) -> bool {
        self.is_async() && self.status == NtStatus::PENDING
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Header {
        Header {
            credit_charge: 3,
            status: NtStatus::SUCCESS,
            command: Command::READ,
            credits: 64,
            flags: HeaderFlags(HeaderFlags::SIGNED),
            next_command: 0,
            message_id: MessageId(0x1122),
            async_id: None,
            tree_id: TreeId(7),
            session_id: SessionId(0xdead_beef),
            signature: [9; 16],
        }
    }

    #[test]
    fn round_trips_sync_and_async_forms() {
        let mut h = sample();
        let mut b = Vec::new();
        h.encode(&mut b);
        assert_eq!(b.len(), SMB2_HEADER_LEN);
        assert_eq!(Header::decode(&b).unwrap(), h);

        h.async_id = Some(AsyncId(0x55));
        h.tree_id = TreeId(0);
        h.flags.set(HeaderFlags::ASYNC_COMMAND, true);
        let mut b = Vec::new();
        h.encode(&mut b);
        let d = Header::decode(&b).unwrap();
        assert_eq!(d, h);
        assert!(d.is_async());
    }

    #[test]
    fn rejects_smb1_and_short_headers() {
        let mut b = Vec::new();
        sample().encode(&mut b);
        assert!(Header::decode(&b[..63]).is_err());
        b[0] = 0xFF;
        assert!(matches!(
            Header::decode(&b),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn unknown_command_prints_as_hex() {
        assert_eq!(format!("{:?}", Command(0x99)), "Command(0x0099)");
        assert_eq!(format!("{}", Command::QUERY_DIRECTORY), "QUERY_DIRECTORY");
    }
}
