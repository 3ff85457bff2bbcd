//! SMB2 READ (MS-SMB2 2.2.19 request, 2.2.20 response). The response is zero-copy: decoding
//! only validates where the data lies, and [`ReadResponse::data`] borrows it from the message.
use super::{Command, DecodeError, FileId, Put, Reader, RequestBody, SMB2_HEADER_LEN, slice_at};

const REQUEST_STRUCTURE_SIZE: u16 = 49;
const REQUEST_FIXED: usize = 48;
const RESPONSE_STRUCTURE_SIZE: u16 = 17;
const RESPONSE_FIXED: usize = 16;

/// SMB2 READ Request (MS-SMB2 2.2.19). Channel and ReadChannelInfo are sent as 0 (no RDMA).
///
/// StructureSize is 49 although the fixed part is 48 bytes: "Buffer (variable): A
/// variable-length buffer that contains the read channel information ... The client MUST set
/// one byte of this field to 0", so the encoder always appends that byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReadRequest {
    /// Where the server should place the data in its response, from the header (a hint; 0x50
    /// puts it right after the response's fixed part).
    pub padding: u8,
    pub flags: u8,
    pub length: u32,
    pub offset: u64,
    pub file_id: FileId,
    pub minimum_count: u32,
    pub remaining_bytes: u32,
}

impl ReadRequest {
    /// SMB2_READFLAG_READ_UNBUFFERED (3.0.2+).
    pub const READ_UNBUFFERED: u8 = 0x01;
    /// SMB2_READFLAG_REQUEST_COMPRESSED (3.1.1).
    pub const REQUEST_COMPRESSED: u8 = 0x02;

    /// Decode a request from a whole message (header at `msg[0]`).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "READ request")?;
        r.structure_size("READ request", REQUEST_STRUCTURE_SIZE)?;
        let padding = r.u8("READ.Padding")?;
        let flags = r.u8("READ.Flags")?;
        let length = r.u32("READ.Length")?;
        let offset = r.u64("READ.Offset")?;
        let file_id = FileId::decode(&mut r)?;
        let minimum_count = r.u32("READ.MinimumCount")?;
        r.skip(4, "READ.Channel")?;
        let remaining_bytes = r.u32("READ.RemainingBytes")?;
        r.skip(4, "READ.ReadChannelInfoOffset+Length")?;
        Ok(Self {
            padding,
            flags,
            length,
            offset,
            file_id,
            minimum_count,
            remaining_bytes,
        })
    }
}

impl RequestBody for ReadRequest {
    const COMMAND: Command = Command::READ;

    fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        let body = msg.len();
        msg.put_u16(REQUEST_STRUCTURE_SIZE);
        msg.put_u8(self.padding);
        msg.put_u8(self.flags);
        msg.put_u32(self.length);
        msg.put_u64(self.offset);
        self.file_id.encode(msg);
        msg.put_u32(self.minimum_count);
        msg.put_u32(0); // Channel: SMB2_CHANNEL_NONE
        msg.put_u32(self.remaining_bytes);
        msg.put_u16(0); // ReadChannelInfoOffset
        msg.put_u16(0); // ReadChannelInfoLength
        debug_assert_eq!(msg.len() - body, REQUEST_FIXED);
        msg.put_u8(0); // the one Buffer byte
    }

    fn payload_size(&self) -> u32 {
        self.length
    }
}

/// SMB2 READ Response (MS-SMB2 2.2.20), zero-copy: the data stays in the message.
///
/// `decode` has checked that `data_offset..data_offset + data_length` lies inside the message
/// it was given; [`ReadResponse::data`] slices that same message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ReadResponse {
    /// From the start of the header (DataOffset).
    pub data_offset: usize,
    pub data_length: usize,
    pub data_remaining: u32,
}

impl ReadResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "READ response")?;
        r.structure_size("READ response", RESPONSE_STRUCTURE_SIZE)?;
        let data_offset = usize::from(r.u8("READ.DataOffset")?);
        r.skip(1, "READ.Reserved")?;
        let data_length = r.u32("READ.DataLength")? as usize;
        let data_remaining = r.u32("READ.DataRemaining")?;
        r.skip(4, "READ.Flags")?;
        slice_at(msg, "READ.Buffer", data_offset, data_length)?;
        Ok(Self {
            data_offset,
            data_length,
            data_remaining,
        })
    }

    /// The data read, borrowed from `msg` (the message this was decoded from; any other slice
    /// that is too short yields an empty slice rather than a panic).
    pub fn data<'a>(&self, msg: &'a [u8]) -> &'a [u8] {
        if self.data_length == 0 {
            return &[];
        }
        self.data_offset
            .checked_add(self.data_length)
            .and_then(|end| msg.get(self.data_offset..end))
            .unwrap_or_default()
    }

    /// Append a response carrying `data` (right after the fixed part, DataOffset 0x50 when the
    /// header is at `hdr`) and return the descriptor [`ReadResponse::decode`] will give
    /// (test server). Differs from the other `encode`s: this type does not own its data.
    pub fn encode(msg: &mut Vec<u8>, hdr: usize, data: &[u8], data_remaining: u32) -> Self {
        let body = msg.len();
        let data_offset = body + RESPONSE_FIXED - hdr;
        msg.put_u16(RESPONSE_STRUCTURE_SIZE);
        msg.put_u8(u8::try_from(data_offset).unwrap_or(u8::MAX));
        msg.put_u8(0); // Reserved
        msg.put_u32(u32::try_from(data.len()).unwrap_or(u32::MAX));
        msg.put_u32(data_remaining);
        msg.put_u32(0); // Flags / Reserved2
        msg.put(data);
        if data.is_empty() {
            msg.put_u8(0);
        }
        Self {
            data_offset,
            data_length: data.len(),
            data_remaining,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::Header;
    use hex_literal::hex;

    fn header() -> Vec<u8> {
        let mut m = Vec::new();
        Header::request(Command::READ).encode(&mut m);
        m
    }

    #[test]
    fn request_has_the_one_byte_buffer_and_round_trips() {
        let req = ReadRequest {
            padding: 0x50,
            flags: 0,
            length: 1 << 20,
            offset: 0x1_0000_0000,
            file_id: FileId {
                persistent: 3,
                volatile: 4,
            },
            minimum_count: 0,
            remaining_bytes: 0,
        };
        let mut m = header();
        req.encode(&mut m, 0);
        assert_eq!(m.len(), 64 + 49);
        let expected = [
            &hex!("3100 50 00 00001000 0000000001000000")[..],
            &hex!("0300000000000000 0400000000000000"),
            &hex!("00000000 00000000 00000000 0000 0000 00"),
        ]
        .concat();
        assert_eq!(&m[64..], &expected[..]);
        assert_eq!(ReadRequest::decode(&m).unwrap(), req);
        assert_eq!(req.payload_size(), 1 << 20);
        assert_eq!(crate::smb::wire::credit_charge(req.payload_size()), 16);
    }

    #[test]
    fn response_is_zero_copy_and_round_trips() {
        let data: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        let mut m = header();
        let enc = ReadResponse::encode(&mut m, 0, &data, 7);
        assert_eq!(&m[64..80], &hex!("1100 50 00 b80b0000 07000000 00000000"));
        let dec = ReadResponse::decode(&m).unwrap();
        assert_eq!(dec, enc);
        assert_eq!(dec.data(&m), &data[..]);
        assert_eq!(
            dec.data(&m[..100]),
            &[] as &[u8],
            "wrong message: empty, no panic"
        );
        let mut m = header();
        let e = ReadResponse::encode(&mut m, 0, &[], 0);
        assert_eq!(ReadResponse::decode(&m).unwrap(), e);
        assert!(e.data(&m).is_empty());
    }

    #[test]
    fn rejects_hostile_responses() {
        let mut good = header();
        ReadResponse::encode(&mut good, 0, &[1, 2, 3, 4], 0);
        for n in 0..good.len() {
            assert!(ReadResponse::decode(&good[..n]).is_err(), "prefix {n}");
        }
        let mut m = good.clone();
        m[66] = 0xFF; // DataOffset past the end
        assert!(matches!(
            ReadResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        let mut m = good.clone();
        m[68..72].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            ReadResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        let mut m = good;
        m[64] = 16;
        assert!(matches!(
            ReadResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
        let mut r = header();
        ReadRequest::default().encode(&mut r, 0);
        for n in 0..r.len() - 1 {
            assert!(ReadRequest::decode(&r[..n]).is_err());
        }
    }
}
