//! SMB2 WRITE (MS-SMB2 2.2.21 request, 2.2.22 response). The request borrows its data, which
//! is copied once, straight into the message.
use super::{Command, DecodeError, FileId, Put, Reader, RequestBody, SMB2_HEADER_LEN, slice_at};

const REQUEST_STRUCTURE_SIZE: u16 = 49;
const REQUEST_FIXED: usize = 48;
const RESPONSE_STRUCTURE_SIZE: u16 = 17;

/// SMB2 WRITE Request (MS-SMB2 2.2.21). Channel and WriteChannelInfo are sent as 0 (no RDMA);
/// the data follows the 48-byte fixed part (DataOffset 0x70).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WriteRequest<'a> {
    pub offset: u64,
    pub file_id: FileId,
    pub data: &'a [u8],
    pub flags: u32,
    pub remaining_bytes: u32,
}

impl<'a> WriteRequest<'a> {
    /// SMB2_WRITEFLAG_WRITE_THROUGH (2.1+).
    pub const WRITE_THROUGH: u32 = 0x0000_0001;
    /// SMB2_WRITEFLAG_WRITE_UNBUFFERED (3.0.2+).
    pub const WRITE_UNBUFFERED: u32 = 0x0000_0002;

    /// Decode a request from a whole message (header at `msg[0]`); `data` borrows from `msg`.
    pub fn decode(msg: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "WRITE request")?;
        r.structure_size("WRITE request", REQUEST_STRUCTURE_SIZE)?;
        let data_offset = r.u16("WRITE.DataOffset")?;
        let length = r.u32("WRITE.Length")?;
        let offset = r.u64("WRITE.Offset")?;
        let file_id = FileId::decode(&mut r)?;
        r.skip(4, "WRITE.Channel")?;
        let remaining_bytes = r.u32("WRITE.RemainingBytes")?;
        r.skip(4, "WRITE.WriteChannelInfoOffset+Length")?;
        let flags = r.u32("WRITE.Flags")?;
        let data = slice_at(
            msg,
            "WRITE.Buffer",
            usize::from(data_offset),
            length as usize,
        )?;
        Ok(Self {
            offset,
            file_id,
            data,
            flags,
            remaining_bytes,
        })
    }
}

impl WriteRequest<'_> {
    /// The request without its data, which follows it on the wire.
    pub fn head(&self) -> WriteHead {
        WriteHead {
            offset: self.offset,
            file_id: self.file_id,
            len: u32::try_from(self.data.len()).unwrap_or(u32::MAX),
            flags: self.flags,
            remaining_bytes: self.remaining_bytes,
        }
    }
}

impl RequestBody for WriteRequest<'_> {
    const COMMAND: Command = Command::WRITE;

    fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        msg.reserve(REQUEST_FIXED + self.data.len().max(1));
        self.head().encode(msg, hdr);
        msg.put(self.data);
    }

    fn payload_size(&self) -> u32 {
        u32::try_from(self.data.len()).unwrap_or(u32::MAX)
    }
}

/// A WRITE request up to its data: the `len` bytes that follow it are sent from wherever the
/// caller holds them ([`OutFrame::single_with_tail`](crate::smb::proto::compound::OutFrame)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WriteHead {
    pub offset: u64,
    pub file_id: FileId,
    pub len: u32,
    pub flags: u32,
    pub remaining_bytes: u32,
}

impl RequestBody for WriteHead {
    const COMMAND: Command = Command::WRITE;

    fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let body = msg.len();
        msg.put_u16(REQUEST_STRUCTURE_SIZE);
        // DataOffset: "from the beginning of the SMB2 header to the data being written".
        msg.put_u16(u16::try_from(body + REQUEST_FIXED - hdr).unwrap_or(u16::MAX));
        msg.put_u32(self.len);
        msg.put_u64(self.offset);
        self.file_id.encode(msg);
        msg.put_u32(0); // Channel
        msg.put_u32(self.remaining_bytes);
        msg.put_u16(0); // WriteChannelInfoOffset
        msg.put_u16(0); // WriteChannelInfoLength
        msg.put_u32(self.flags);
        debug_assert_eq!(msg.len() - body, REQUEST_FIXED);
        if self.len == 0 {
            // The Buffer field is never empty on the wire.
            msg.put_u8(0);
        }
    }

    fn payload_size(&self) -> u32 {
        self.len
    }
}

/// SMB2 WRITE Response (MS-SMB2 2.2.22).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WriteResponse {
    /// Bytes written.
    pub count: u32,
    /// Reserved in SMB2 ("MUST be set to 0"), kept for round trips.
    pub remaining: u32,
}

impl WriteResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "WRITE response")?;
        r.structure_size("WRITE response", RESPONSE_STRUCTURE_SIZE)?;
        r.skip(2, "WRITE.Reserved")?;
        let count = r.u32("WRITE.Count")?;
        let remaining = r.u32("WRITE.Remaining")?;
        r.skip(4, "WRITE.WriteChannelInfoOffset+Length")?;
        Ok(Self { count, remaining })
    }

    /// Append the body to `msg` (test server).
    pub fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        msg.put_u16(RESPONSE_STRUCTURE_SIZE);
        msg.put_u16(0);
        msg.put_u32(self.count);
        msg.put_u32(self.remaining);
        msg.put_u16(0);
        msg.put_u16(0);
        msg.put_u8(0); // StructureSize 17 counts one Buffer byte
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::Header;
    use hex_literal::hex;

    fn header() -> Vec<u8> {
        let mut m = Vec::new();
        Header::request(Command::WRITE).encode(&mut m);
        m
    }

    #[test]
    fn request_round_trips_and_matches_layout() {
        let data = b"hello, world";
        let req = WriteRequest {
            offset: 10,
            file_id: FileId {
                persistent: 1,
                volatile: 2,
            },
            data,
            flags: WriteRequest::WRITE_THROUGH,
            remaining_bytes: 0,
        };
        let mut m = header();
        req.encode(&mut m, 0);
        let expected = [
            &hex!("3100 7000 0c000000 0a00000000000000")[..],
            &hex!("0100000000000000 0200000000000000"),
            &hex!("00000000 00000000 0000 0000 01000000"),
            data,
        ]
        .concat();
        assert_eq!(&m[64..], &expected[..]);
        assert_eq!(WriteRequest::decode(&m).unwrap(), req);
        assert_eq!(req.payload_size(), 12);
        let empty = WriteRequest::default();
        let mut m = header();
        empty.encode(&mut m, 0);
        assert_eq!(m.len(), 64 + 49);
        assert_eq!(WriteRequest::decode(&m).unwrap(), empty);
    }

    #[test]
    fn head_and_data_are_the_request() {
        for data in [&b""[..], b"x", &[7; 5000]] {
            let req = WriteRequest {
                offset: 1 << 33,
                file_id: FileId {
                    persistent: 3,
                    volatile: 4,
                },
                data,
                flags: WriteRequest::WRITE_UNBUFFERED,
                remaining_bytes: 5,
            };
            let mut whole = header();
            req.encode(&mut whole, 0);
            let mut split = header();
            req.head().encode(&mut split, 0);
            assert_eq!(req.head().payload_size(), req.payload_size());
            split.extend_from_slice(data);
            assert_eq!(split, whole, "{} bytes", data.len());
        }
    }

    #[test]
    fn request_offsets_count_from_the_header() {
        let req = WriteRequest {
            data: &[9; 100],
            ..Default::default()
        };
        let mut m = vec![0; 8];
        m.extend_from_slice(&header());
        req.encode(&mut m, 8);
        assert_eq!(WriteRequest::decode(&m[8..]).unwrap(), req);
    }

    #[test]
    fn response_round_trips_and_rejects_bad_input() {
        let r = WriteResponse {
            count: 65536,
            remaining: 0,
        };
        let mut m = header();
        r.encode(&mut m, 0);
        assert_eq!(&m[64..], &hex!("1100 0000 00000100 00000000 0000 0000 00"));
        assert_eq!(WriteResponse::decode(&m).unwrap(), r);
        for n in 0..m.len() - 1 {
            assert!(WriteResponse::decode(&m[..n]).is_err());
        }
        m[64] = 16;
        assert!(matches!(
            WriteResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
    }

    #[test]
    fn rejects_hostile_requests() {
        let mut good = header();
        WriteRequest {
            data: &[1; 32],
            ..Default::default()
        }
        .encode(&mut good, 0);
        for n in 0..good.len() {
            assert!(WriteRequest::decode(&good[..n]).is_err());
        }
        let mut m = good.clone();
        m[68..72].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            WriteRequest::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        let mut m = good;
        m[66..68].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(matches!(
            WriteRequest::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
    }
}
