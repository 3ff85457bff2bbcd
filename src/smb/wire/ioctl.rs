//! SMB2 IOCTL (MS-SMB2 2.2.31 request, 2.2.32 response) and the VALIDATE_NEGOTIATE_INFO
//! payloads (MS-SMB2 2.2.31.4 request, 2.2.32.6 response).
use super::negotiate::{Dialect, read_u16s};
use super::{Command, DecodeError, FileId, Put, Reader, RequestBody, SMB2_HEADER_LEN, slice_at};

const REQUEST_STRUCTURE_SIZE: u16 = 57;
const REQUEST_FIXED: usize = 56;
const RESPONSE_STRUCTURE_SIZE: u16 = 49;
const RESPONSE_FIXED: usize = 48;

/// FSCTL codes used over SMB2 (MS-SMB2 2.2.31, MS-FSCC 2.3).
pub const FSCTL_DFS_GET_REFERRALS: u32 = 0x0006_0194;
pub const FSCTL_PIPE_PEEK: u32 = 0x0011_400C;
pub const FSCTL_PIPE_WAIT: u32 = 0x0011_0018;
pub const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;
pub const FSCTL_SRV_COPYCHUNK: u32 = 0x0014_40F2;
pub const FSCTL_SRV_ENUMERATE_SNAPSHOTS: u32 = 0x0014_4064;
pub const FSCTL_SRV_REQUEST_RESUME_KEY: u32 = 0x0014_0078;
pub const FSCTL_SRV_COPYCHUNK_WRITE: u32 = 0x0014_80F2;
pub const FSCTL_QUERY_NETWORK_INTERFACE_INFO: u32 = 0x0014_01FC;
pub const FSCTL_SET_REPARSE_POINT: u32 = 0x0009_00A4;
pub const FSCTL_GET_REPARSE_POINT: u32 = 0x0009_00A8;
pub const FSCTL_SET_SPARSE: u32 = 0x0009_00C4;
pub const FSCTL_SET_ZERO_DATA: u32 = 0x0009_80C8;
pub const FSCTL_QUERY_ALLOCATED_RANGES: u32 = 0x0009_40CF;
pub const FSCTL_DUPLICATE_EXTENTS_TO_FILE: u32 = 0x0009_8344;
pub const FSCTL_VALIDATE_NEGOTIATE_INFO: u32 = 0x0014_0204;

/// SMB2 IOCTL Request (MS-SMB2 2.2.31). The input follows the fixed part (InputOffset 0x78);
/// OutputOffset/OutputCount are sent as 0 ("The client MUST set this field to 0").
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IoctlRequest {
    pub ctl_code: u32,
    /// All 0xFF for FSCTLs that are not about an open (VALIDATE_NEGOTIATE_INFO, DFS referrals,
    /// interface queries).
    pub file_id: FileId,
    pub input: Vec<u8>,
    pub max_input_response: u32,
    pub max_output_response: u32,
    /// [`IoctlRequest::IS_FSCTL`] (servers reject anything else).
    pub flags: u32,
}

impl IoctlRequest {
    /// SMB2_0_IOCTL_IS_FSCTL.
    pub const IS_FSCTL: u32 = 0x0000_0001;

    /// Decode a request from a whole message (header at `msg[0]`).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "IOCTL request")?;
        r.structure_size("IOCTL request", REQUEST_STRUCTURE_SIZE)?;
        r.skip(2, "IOCTL.Reserved")?;
        let ctl_code = r.u32("IOCTL.CtlCode")?;
        let file_id = FileId::decode(&mut r)?;
        let in_off = r.u32("IOCTL.InputOffset")?;
        let in_len = r.u32("IOCTL.InputCount")?;
        let max_input_response = r.u32("IOCTL.MaxInputResponse")?;
        r.skip(8, "IOCTL.OutputOffset+OutputCount")?;
        let max_output_response = r.u32("IOCTL.MaxOutputResponse")?;
        let flags = r.u32("IOCTL.Flags")?;
        r.skip(4, "IOCTL.Reserved2")?;
        let input = slice_at(msg, "IOCTL.Input", in_off as usize, in_len as usize)?.to_vec();
        Ok(Self {
            ctl_code,
            file_id,
            input,
            max_input_response,
            max_output_response,
            flags,
        })
    }
}

impl RequestBody for IoctlRequest {
    const COMMAND: Command = Command::IOCTL;

    fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let body = msg.len();
        msg.put_u16(REQUEST_STRUCTURE_SIZE);
        msg.put_u16(0); // Reserved
        msg.put_u32(self.ctl_code);
        self.file_id.encode(msg);
        // InputOffset: "If no input data is required ... the client SHOULD set this value to 0".
        let in_off = if self.input.is_empty() {
            0
        } else {
            body + REQUEST_FIXED - hdr
        };
        msg.put_u32(len32(in_off));
        msg.put_u32(len32(self.input.len()));
        msg.put_u32(self.max_input_response);
        msg.put_u32(0); // OutputOffset
        msg.put_u32(0); // OutputCount
        msg.put_u32(self.max_output_response);
        msg.put_u32(self.flags);
        msg.put_u32(0); // Reserved2
        debug_assert_eq!(msg.len() - body, REQUEST_FIXED);
        msg.put(&self.input);
        if self.input.is_empty() {
            msg.put_u8(0);
        }
    }

    /// MS-SMB2 3.2.4.20: CreditCharge from max(InputCount, MaxOutputResponse).
    fn payload_size(&self) -> u32 {
        len32(self.input.len()).max(self.max_output_response)
    }
}

/// SMB2 IOCTL Response (MS-SMB2 2.2.32). Also the body of STATUS_BUFFER_OVERFLOW replies to
/// pipe transceive and DFS referral requests.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IoctlResponse {
    pub ctl_code: u32,
    pub file_id: FileId,
    pub input: Vec<u8>,
    pub output: Vec<u8>,
    pub flags: u32,
}

impl IoctlResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "IOCTL response")?;
        r.structure_size("IOCTL response", RESPONSE_STRUCTURE_SIZE)?;
        r.skip(2, "IOCTL.Reserved")?;
        let ctl_code = r.u32("IOCTL.CtlCode")?;
        let file_id = FileId::decode(&mut r)?;
        let in_off = r.u32("IOCTL.InputOffset")?;
        let in_len = r.u32("IOCTL.InputCount")?;
        let out_off = r.u32("IOCTL.OutputOffset")?;
        let out_len = r.u32("IOCTL.OutputCount")?;
        let flags = r.u32("IOCTL.Flags")?;
        r.skip(4, "IOCTL.Reserved2")?;
        let input = slice_at(msg, "IOCTL.Input", in_off as usize, in_len as usize)?.to_vec();
        let output = slice_at(msg, "IOCTL.Output", out_off as usize, out_len as usize)?.to_vec();
        Ok(Self {
            ctl_code,
            file_id,
            input,
            output,
            flags,
        })
    }

    /// Append the body to `msg`, whose header starts at `hdr` (test server). Input at 0x70,
    /// output after it on the next 8-byte boundary.
    pub fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let body = msg.len();
        msg.put_u16(RESPONSE_STRUCTURE_SIZE);
        msg.put_u16(0);
        msg.put_u32(self.ctl_code);
        self.file_id.encode(msg);
        let at = msg.len();
        msg.put_zeros(16); // InputOffset, InputCount, OutputOffset, OutputCount
        msg.put_u32(self.flags);
        msg.put_u32(0); // Reserved2
        debug_assert_eq!(msg.len() - body, RESPONSE_FIXED);
        if !self.input.is_empty() {
            msg.set_u32(at, len32(msg.len() - hdr));
            msg.set_u32(at + 4, len32(self.input.len()));
            msg.put(&self.input);
        }
        if !self.output.is_empty() {
            msg.pad_to(hdr, 8);
            msg.set_u32(at + 8, len32(msg.len() - hdr));
            msg.set_u32(at + 12, len32(self.output.len()));
            msg.put(&self.output);
        }
        if msg.len() - body == RESPONSE_FIXED {
            msg.put_u8(0);
        }
    }
}

/// VALIDATE_NEGOTIATE_INFO request payload (MS-SMB2 2.2.31.4): Capabilities (4), Guid (16),
/// SecurityMode (2), DialectCount (2), Dialects. Sent over 3.0/3.0.2 after TREE_CONNECT to
/// detect a downgraded NEGOTIATE; the values are those the client sent in it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ValidateNegotiateInfoRequest {
    pub capabilities: u32,
    pub guid: [u8; 16],
    pub security_mode: u16,
    pub dialects: Vec<Dialect>,
}

impl ValidateNegotiateInfoRequest {
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u32(self.capabilities);
        out.put(&self.guid);
        out.put_u16(self.security_mode);
        out.put_u16(u16::try_from(self.dialects.len()).unwrap_or(u16::MAX));
        for d in &self.dialects {
            out.put_u16(d.0);
        }
    }

    /// An [`IoctlRequest`] carrying this payload (FileId all 0xFF, as MS-SMB2 3.3.5.15
    /// requires; MaxOutputResponse 24, the response's size).
    pub fn to_ioctl(&self) -> IoctlRequest {
        let mut input = Vec::with_capacity(24 + 2 * self.dialects.len());
        self.encode(&mut input);
        IoctlRequest {
            ctl_code: FSCTL_VALIDATE_NEGOTIATE_INFO,
            file_id: FileId::COMPOUND,
            input,
            max_input_response: 0,
            max_output_response: ValidateNegotiateInfoResponse::SIZE as u32,
            flags: IoctlRequest::IS_FSCTL,
        }
    }

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let capabilities = r.u32("VALIDATE_NEGOTIATE_INFO.Capabilities")?;
        let guid = r.array("VALIDATE_NEGOTIATE_INFO.Guid")?;
        let security_mode = r.u16("VALIDATE_NEGOTIATE_INFO.SecurityMode")?;
        let n = r.u16("VALIDATE_NEGOTIATE_INFO.DialectCount")?;
        let dialects = read_u16s(&mut r, n, "VALIDATE_NEGOTIATE_INFO.Dialects")?
            .into_iter()
            .map(Dialect)
            .collect();
        Ok(Self {
            capabilities,
            guid,
            security_mode,
            dialects,
        })
    }
}

/// VALIDATE_NEGOTIATE_INFO response payload (MS-SMB2 2.2.32.6): Capabilities (4), Guid (16),
/// SecurityMode (2), Dialect (2). The client compares it with the NEGOTIATE response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ValidateNegotiateInfoResponse {
    pub capabilities: u32,
    pub guid: [u8; 16],
    pub security_mode: u16,
    pub dialect: Dialect,
}

impl ValidateNegotiateInfoResponse {
    pub const SIZE: usize = 24;

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u32(self.capabilities);
        out.put(&self.guid);
        out.put_u16(self.security_mode);
        out.put_u16(self.dialect.0);
    }

    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        Ok(Self {
            capabilities: r.u32("VALIDATE_NEGOTIATE_INFO.Capabilities")?,
            guid: r.array("VALIDATE_NEGOTIATE_INFO.Guid")?,
            security_mode: r.u16("VALIDATE_NEGOTIATE_INFO.SecurityMode")?,
            dialect: Dialect(r.u16("VALIDATE_NEGOTIATE_INFO.Dialect")?),
        })
    }
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::Header;
    use hex_literal::hex;

    fn header() -> Vec<u8> {
        let mut m = Vec::new();
        Header::request(Command::IOCTL).encode(&mut m);
        m
    }

    fn vni() -> ValidateNegotiateInfoRequest {
        ValidateNegotiateInfoRequest {
            capabilities: 0x7F,
            guid: [0x33; 16],
            security_mode: 1,
            dialects: vec![Dialect::SMB_3_0, Dialect::SMB_3_0_2],
        }
    }

    #[test]
    fn request_round_trips_and_matches_layout() {
        let req = vni().to_ioctl();
        let mut m = header();
        req.encode(&mut m, 0);
        let expected = [
            &hex!("3900 0000 04021400 ffffffffffffffff ffffffffffffffff")[..],
            &hex!("78000000 1c000000 00000000 00000000 00000000 18000000 01000000 00000000"),
            &hex!("7f000000"),
            &[0x33; 16],
            &hex!("0100 0200 0003 0203"),
        ]
        .concat();
        assert_eq!(&m[64..], &expected[..]);
        assert_eq!(IoctlRequest::decode(&m).unwrap(), req);
        assert_eq!(
            ValidateNegotiateInfoRequest::decode(&req.input).unwrap(),
            vni()
        );
        assert_eq!(req.payload_size(), 28);
        let big = IoctlRequest {
            max_output_response: 1 << 20,
            ..req
        };
        assert_eq!(big.payload_size(), 1 << 20);
        let empty = IoctlRequest::default();
        let mut m = header();
        empty.encode(&mut m, 0);
        assert_eq!(m.len(), 64 + 57);
        assert_eq!(IoctlRequest::decode(&m).unwrap(), empty);
    }

    #[test]
    fn response_round_trips_with_validate_negotiate_output() {
        let v = ValidateNegotiateInfoResponse {
            capabilities: 0x2F,
            guid: [0x44; 16],
            security_mode: 3,
            dialect: Dialect::SMB_3_0_2,
        };
        let mut output = Vec::new();
        v.encode(&mut output);
        assert_eq!(output.len(), ValidateNegotiateInfoResponse::SIZE);
        let r = IoctlResponse {
            ctl_code: FSCTL_VALIDATE_NEGOTIATE_INFO,
            file_id: FileId::COMPOUND,
            input: vec![],
            output,
            flags: 0,
        };
        let mut m = header();
        r.encode(&mut m, 0);
        assert_eq!(
            &m[64 + 24..64 + 40],
            &hex!("00000000 00000000 70000000 18000000")
        );
        let d = IoctlResponse::decode(&m).unwrap();
        assert_eq!(d, r);
        assert_eq!(ValidateNegotiateInfoResponse::decode(&d.output).unwrap(), v);
        // Both buffers, output aligned after input.
        let both = IoctlResponse {
            input: vec![1, 2, 3],
            output: vec![4; 10],
            ..r
        };
        let mut m = header();
        both.encode(&mut m, 0);
        assert_eq!(
            &m[64 + 24..64 + 40],
            &hex!("70000000 03000000 78000000 0a000000")
        );
        assert_eq!(IoctlResponse::decode(&m).unwrap(), both);
        let mut m = header();
        IoctlResponse::default().encode(&mut m, 0);
        assert_eq!(IoctlResponse::decode(&m).unwrap(), IoctlResponse::default());
    }

    #[test]
    fn rejects_hostile_input() {
        let mut good = header();
        IoctlResponse {
            output: vec![5; 24],
            ..Default::default()
        }
        .encode(&mut good, 0);
        for n in 0..good.len() {
            assert!(IoctlResponse::decode(&good[..n]).is_err(), "prefix {n}");
        }
        for (at, v) in [(96, u32::MAX), (100, 0x1000), (92, 0xFFFF_FFF0)] {
            let mut m = good.clone();
            m[at..at + 4].copy_from_slice(&v.to_le_bytes());
            if at == 92 {
                m[88..92].copy_from_slice(&8u32.to_le_bytes()); // InputOffset + count past end
            }
            assert!(IoctlResponse::decode(&m).is_err(), "field at {at}");
        }
        let mut m = good;
        m[64] = 48;
        assert!(matches!(
            IoctlResponse::decode(&m),
            Err(DecodeError::BadStructureSize { .. })
        ));
        let mut q = header();
        vni().to_ioctl().encode(&mut q, 0);
        for n in 0..q.len() {
            assert!(IoctlRequest::decode(&q[..n]).is_err());
        }
        // A dialect count larger than the payload.
        let mut p = Vec::new();
        vni().encode(&mut p);
        p[22..24].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(matches!(
            ValidateNegotiateInfoRequest::decode(&p),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(ValidateNegotiateInfoResponse::decode(&[0; 23]).is_err());
    }
}
