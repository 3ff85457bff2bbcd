//! Building outgoing frames, compounds included (MS-SMB2 3.2.4.1.4), and splitting incoming ones
//! (MS-SMB2 3.2.5.1.9).
//!
//! An [`OutFrame`] is built once, in the caller's task, with room in front for the Direct TCP
//! header and a TRANSFORM_HEADER so that sealing happens in place and the 8 MiB payload of a
//! WRITE is never copied again. The driver then stamps ids, credits and the session into each
//! header ([`OutFrame::stamp`]) and signs or seals.
//!
//! A WRITE's payload may also stay where the caller holds it, shared ([`OutFrame::tail`]): the
//! frame is then sent as its head and that tail, and the caller keeps the bytes to send again
//! after a reconnect without a copy of its own. Signing and sealing need the message in one
//! piece and join them first ([`OutFrame::flatten`]).
use crate::smb::wire::header::{FLAGS_OFFSET, NEXT_COMMAND_OFFSET};
use crate::smb::wire::{
    Command, Header, HeaderFlags, MessageId, Put, RequestBody, SMB2_HEADER_LEN, SessionId, TreeId,
    credit_charge,
};
use bytes::Bytes;
use std::ops::Range;

/// Room before the first SMB2 header: 4 bytes of Direct TCP header + 52 of TRANSFORM_HEADER.
pub const PREFIX: usize = 4 + 52;
/// Most messages we accept in one compound response (Samba answers at most what we sent).
pub const MAX_COMPOUND: usize = 32;

const CREDIT_CHARGE_OFFSET: usize = 6;
const CREDIT_REQUEST_OFFSET: usize = 14;
const MESSAGE_ID_OFFSET: usize = 24;
const TREE_ID_OFFSET: usize = 36;
const SESSION_ID_OFFSET: usize = 40;

/// One message inside an [`OutFrame`].
#[derive(Debug, Clone)]
pub struct Slot {
    /// Header start .. end of this message including the padding before the next one.
    pub range: Range<usize>,
    pub command: Command,
    pub charge: u16,
}

/// An outgoing frame of one message or a compound chain.
#[derive(Debug)]
pub struct OutFrame {
    pub buf: Vec<u8>,
    pub slots: Vec<Slot>,
    /// The rest of the last message, after `buf` ([`OutFrame::single_with_tail`]); empty but
    /// for a WRITE built that way.
    pub tail: Bytes,
}

impl Default for OutFrame {
    fn default() -> Self {
        Self::new()
    }
}

impl OutFrame {
    pub fn new() -> Self {
        Self::with_capacity(512)
    }

    pub fn with_capacity(body: usize) -> Self {
        let mut buf = Vec::with_capacity(PREFIX + SMB2_HEADER_LEN + body);
        buf.resize(PREFIX, 0);
        Self {
            buf,
            slots: Vec::new(),
            tail: Bytes::new(),
        }
    }

    /// A frame holding one request.
    pub fn single<R: RequestBody>(req: &R, tree: TreeId) -> Self {
        let mut f = Self::with_capacity(req.payload_size() as usize + 128);
        f.push(req, tree);
        f
    }

    /// A frame holding one request whose last `tail.len()` bytes are `tail`, sent from where it
    /// is (`req` encodes everything before it, and counts it in its payload size).
    pub fn single_with_tail<R: RequestBody>(req: &R, tree: TreeId, tail: Bytes) -> Self {
        let mut f = Self::single(req, tree);
        f.tail = tail;
        f
    }

    /// Bytes on the wire after the prefix: `buf` and `tail`.
    pub fn len(&self) -> usize {
        self.buf.len() + self.tail.len()
    }

    /// Never empty on the wire (the prefix alone is room, not a message).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Join the tail to `buf`, for code that needs the messages in one piece (signing,
    /// sealing, a copy of what was sent).
    pub fn flatten(&mut self) {
        if self.tail.is_empty() {
            return;
        }
        self.buf.extend_from_slice(&self.tail);
        self.tail = Bytes::new();
        if let Some(last) = self.slots.last_mut() {
            last.range.end = self.buf.len();
        }
    }

    /// Append a request. The second and later requests are *related* (MS-SMB2 3.2.4.1.4: "the
    /// client MUST set SMB2_FLAGS_RELATED_OPERATIONS" on all but the first, and use FileId
    /// 0xFFFFFFFF_FFFFFFFF to mean the file the previous request opened).
    pub fn push<R: RequestBody>(&mut self, req: &R, tree: TreeId) {
        // A tail belongs to the last message: one after it would land inside.
        self.flatten();
        if let Some(prev) = self.slots.last_mut() {
            // "Each subsequent request MUST be aligned on an 8-byte boundary" (3.2.4.1.4).
            self.buf.pad_to(prev.range.start, 8);
            prev.range.end = self.buf.len();
            let next = (prev.range.end - prev.range.start) as u32;
            self.buf
                .set_u32(prev.range.start + NEXT_COMMAND_OFFSET, next);
        }
        let start = self.buf.len();
        let charge = credit_charge(req.payload_size());
        let mut h = Header::request(R::COMMAND);
        h.credit_charge = charge;
        h.tree_id = tree;
        if !self.slots.is_empty() {
            h.flags.set(HeaderFlags::RELATED_OPERATIONS, true);
        }
        h.encode(&mut self.buf);
        req.encode(&mut self.buf, start);
        self.slots.push(Slot {
            range: start..self.buf.len(),
            command: R::COMMAND,
            charge,
        });
    }

    /// Total credit charge of the frame.
    pub fn charge(&self) -> u32 {
        self.slots.iter().map(|s| u32::from(s.charge)).sum()
    }

    /// Write ids, credit requests and the session into every header. Message ids are
    /// consecutive from `first` by each message's charge (3.2.4.1.5). Returns each message's id.
    pub fn stamp(
        &mut self,
        first: MessageId,
        credit_request: u16,
        session: SessionId,
    ) -> Vec<MessageId> {
        let mut id = first.0;
        let mut ids = Vec::with_capacity(self.slots.len());
        for (i, s) in self.slots.iter().enumerate() {
            let h = s.range.start;
            self.buf.set_u16(h + CREDIT_CHARGE_OFFSET, s.charge);
            // Spread the top-up over the chain: the first message asks for the extra credits.
            let req = if i == 0 {
                credit_request.max(s.charge)
            } else {
                s.charge
            };
            self.buf.set_u16(h + CREDIT_REQUEST_OFFSET, req);
            self.buf[h + MESSAGE_ID_OFFSET..h + MESSAGE_ID_OFFSET + 8]
                .copy_from_slice(&id.to_le_bytes());
            self.buf[h + SESSION_ID_OFFSET..h + SESSION_ID_OFFSET + 8]
                .copy_from_slice(&session.0.to_le_bytes());
            ids.push(MessageId(id));
            id += u64::from(s.charge.max(1));
        }
        ids
    }

    /// Set or clear SMB2_FLAGS_SIGNED on every message.
    pub fn set_signed(&mut self, on: bool) {
        for s in &self.slots {
            let at = s.range.start + FLAGS_OFFSET;
            let mut f = u32::from_le_bytes([
                self.buf[at],
                self.buf[at + 1],
                self.buf[at + 2],
                self.buf[at + 3],
            ]);
            if on {
                f |= HeaderFlags::SIGNED;
            } else {
                f &= !HeaderFlags::SIGNED;
            }
            self.buf.set_u32(at, f);
        }
    }

    /// Override the TreeId of every message (e.g. a tree reconnected under a new id).
    pub fn set_tree(&mut self, tree: TreeId) {
        for s in &self.slots {
            self.buf.set_u32(s.range.start + TREE_ID_OFFSET, tree.0);
        }
    }

    /// The SMB2 messages (without any prefix), as they go on the wire unencrypted; the frame
    /// is [flattened](Self::flatten) first.
    pub fn messages(&mut self) -> &[u8] {
        self.flatten();
        &self.buf[PREFIX..]
    }
}

/// Why an incoming frame could not be split into messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    #[error("NextCommand {next} at offset {at} points outside the {len}-byte frame")]
    BadNextCommand { at: usize, next: u32, len: usize },
    #[error("compound response holds more than {MAX_COMPOUND} messages")]
    TooMany,
}

/// Split a (decrypted) frame into its messages by NextCommand (MS-SMB2 3.2.5.1.9). Each range
/// covers one whole message, header first. The headers themselves are checked later.
pub fn split(frame: &[u8]) -> Result<Vec<Range<usize>>, SplitError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    loop {
        if out.len() == MAX_COMPOUND {
            return Err(SplitError::TooMany);
        }
        let next = frame
            .get(at + NEXT_COMMAND_OFFSET..at + NEXT_COMMAND_OFFSET + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .unwrap_or(0);
        if next == 0 {
            out.push(at..frame.len());
            return Ok(out);
        }
        let end = at
            .checked_add(next as usize)
            .filter(|&e| next as usize >= SMB2_HEADER_LEN && e < frame.len());
        let Some(end) = end else {
            return Err(SplitError::BadNextCommand {
                at,
                next,
                len: frame.len(),
            });
        };
        out.push(at..end);
        at = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::echo::EchoRequest;

    #[test]
    fn compound_is_aligned_related_and_chained() {
        let mut f = OutFrame::new();
        f.push(&EchoRequest, TreeId(5));
        f.push(&EchoRequest, TreeId(5));
        f.push(&EchoRequest, TreeId(5));
        let ids = f.stamp(MessageId(10), 100, SessionId(0x77));
        assert_eq!(ids, vec![MessageId(10), MessageId(11), MessageId(12)]);
        let m = f.messages();
        let parts = split(m).unwrap();
        assert_eq!(parts.len(), 3);
        for (i, r) in parts.iter().enumerate() {
            assert_eq!(r.start % 8, 0);
            let h = Header::decode(&m[r.clone()]).unwrap();
            assert_eq!(h.message_id, MessageId(10 + i as u64));
            assert_eq!(h.session_id, SessionId(0x77));
            assert_eq!(h.tree_id, TreeId(5));
            assert_eq!(h.flags.has(HeaderFlags::RELATED_OPERATIONS), i > 0);
            assert_eq!(h.credits, if i == 0 { 100 } else { 1 });
        }
    }

    #[test]
    fn a_tail_flattens_into_the_frame_built_whole() {
        use crate::smb::wire::write::WriteRequest;
        let data = vec![5u8; 3000];
        let req = WriteRequest {
            offset: 7,
            data: &data,
            ..Default::default()
        };
        let whole = OutFrame::single(&req, TreeId(9));
        let mut split =
            OutFrame::single_with_tail(&req.head(), TreeId(9), Bytes::from(data.clone()));
        assert_eq!(split.len(), whole.len());
        assert_eq!(split.charge(), whole.charge());
        assert_eq!(split.messages(), &whole.buf[PREFIX..]);
        assert!(split.tail.is_empty());
        assert_eq!(split.slots[0].range, whole.slots[0].range);
        // A request pushed after a tail goes after it, not inside the first message.
        let mut f = OutFrame::single_with_tail(&req.head(), TreeId(9), Bytes::from(vec![1; 10]));
        f.push(&EchoRequest, TreeId(9));
        let first = &f.slots[0].range;
        assert_eq!(first.len(), (SMB2_HEADER_LEN + 48 + 10).next_multiple_of(8));
        assert_eq!(&f.buf[first.start + SMB2_HEADER_LEN + 48..][..10], &[1; 10]);
    }

    #[test]
    fn split_rejects_hostile_next_command() {
        let mut f = OutFrame::new();
        f.push(&EchoRequest, TreeId(0));
        let mut m = f.messages().to_vec();
        m.set_u32(NEXT_COMMAND_OFFSET, 8);
        assert!(split(&m).is_err(), "shorter than a header");
        m.set_u32(NEXT_COMMAND_OFFSET, 68);
        assert!(split(&m).is_err(), "past the end");
        m.set_u32(NEXT_COMMAND_OFFSET, u32::MAX);
        assert!(split(&m).is_err(), "overflow");
    }

    #[test]
    fn split_caps_message_count() {
        // 64-byte messages chained forever.
        let mut m = vec![0u8; 64 * 40];
        for i in 0..39 {
            m.set_u32(i * 64 + NEXT_COMMAND_OFFSET, 64);
        }
        assert_eq!(split(&m), Err(SplitError::TooMany));
    }
}
