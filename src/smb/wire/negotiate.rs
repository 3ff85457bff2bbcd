//! SMB2 NEGOTIATE (MS-SMB2 2.2.3 request, 2.2.4 response) and the SMB 3.1.1 negotiate contexts
//! (MS-SMB2 2.2.3.1, 2.2.3.1.1 preauth integrity, 2.2.3.1.2 encryption, 2.2.3.1.7 signing).
//!
//! Negotiate contexts only exist when SMB 3.1.1 is involved: the request carries them only when
//! 3.1.1 is among the offered dialects (otherwise the 8 bytes at offset 28 are ClientStartTime),
//! and the response only when the server picked 3.1.1 (otherwise NegotiateContextCount/Offset
//! are Reserved). Every context starts on an 8-byte boundary counted from the SMB2 header.
use super::{Command, DecodeError, Put, Reader, RequestBody, SMB2_HEADER_LEN, slice_at};
use std::fmt;

/// A dialect revision (MS-SMB2 2.2.3 Dialects, 2.2.4 DialectRevision). An open type: unknown
/// values survive a round trip and print as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Dialect(pub u16);

impl Dialect {
    pub const SMB_2_0_2: Self = Self(0x0202);
    pub const SMB_2_1: Self = Self(0x0210);
    pub const SMB_3_0: Self = Self(0x0300);
    pub const SMB_3_0_2: Self = Self(0x0302);
    pub const SMB_3_1_1: Self = Self(0x0311);
    /// SMB2 wildcard revision (MS-SMB2 2.2.4): the answer to a multi-protocol (SMB1) negotiate
    /// that asks the client to send an SMB2 NEGOTIATE next.
    pub const WILDCARD: Self = Self(0x02FF);

    /// The dotted name ("3.1.1"), if this is a known dialect.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::SMB_2_0_2 => "2.0.2",
            Self::SMB_2_1 => "2.1",
            Self::SMB_3_0 => "3.0",
            Self::SMB_3_0_2 => "3.0.2",
            Self::SMB_3_1_1 => "3.1.1",
            Self::WILDCARD => "2.???",
            _ => return None,
        })
    }

    /// True for the SMB 3.x family (signing with AES, encryption, KDF).
    pub fn is_smb3(self) -> bool {
        self.0 >= 0x0300 && self.0 < 0x0400
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{:#06x}", self.0),
        }
    }
}

impl fmt::Debug for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dialect({self})")
    }
}

/// SecurityMode bits (MS-SMB2 2.2.3, 2.2.4).
pub mod security_mode {
    pub const SIGNING_ENABLED: u16 = 0x0001;
    pub const SIGNING_REQUIRED: u16 = 0x0002;
}

/// Capabilities bits (MS-SMB2 2.2.3, 2.2.4: SMB2_GLOBAL_CAP_*).
pub mod capabilities {
    pub const DFS: u32 = 0x0000_0001;
    pub const LEASING: u32 = 0x0000_0002;
    pub const LARGE_MTU: u32 = 0x0000_0004;
    pub const MULTI_CHANNEL: u32 = 0x0000_0008;
    pub const PERSISTENT_HANDLES: u32 = 0x0000_0010;
    pub const DIRECTORY_LEASING: u32 = 0x0000_0020;
    pub const ENCRYPTION: u32 = 0x0000_0040;
    pub const NOTIFICATIONS: u32 = 0x0000_0080;
}

/// Negotiate context ContextType values (MS-SMB2 2.2.3.1).
pub mod context_type {
    pub const PREAUTH_INTEGRITY_CAPABILITIES: u16 = 0x0001;
    pub const ENCRYPTION_CAPABILITIES: u16 = 0x0002;
    pub const COMPRESSION_CAPABILITIES: u16 = 0x0003;
    pub const NETNAME_NEGOTIATE_CONTEXT_ID: u16 = 0x0005;
    pub const TRANSPORT_CAPABILITIES: u16 = 0x0006;
    pub const RDMA_TRANSFORM_CAPABILITIES: u16 = 0x0007;
    pub const SIGNING_CAPABILITIES: u16 = 0x0008;
    /// SMB3 POSIX extensions (not in MS-SMB2; Samba and the Linux client use 0x100).
    pub const POSIX: u16 = 0x0100;
}

/// Preauth integrity hash id SHA-512 (MS-SMB2 2.2.3.1.1), the only one defined.
pub const HASH_SHA512: u16 = 0x0001;

/// Encryption cipher ids (MS-SMB2 2.2.3.1.2).
pub mod cipher {
    pub const AES_128_CCM: u16 = 0x0001;
    pub const AES_128_GCM: u16 = 0x0002;
    pub const AES_256_CCM: u16 = 0x0003;
    pub const AES_256_GCM: u16 = 0x0004;
}

/// Signing algorithm ids (MS-SMB2 2.2.3.1.7).
pub mod signing_algorithm {
    pub const HMAC_SHA256: u16 = 0x0000;
    pub const AES_CMAC: u16 = 0x0001;
    pub const AES_GMAC: u16 = 0x0002;
}

/// Most negotiate contexts we accept in one message (a real peer sends fewer than 10).
pub const MAX_NEGOTIATE_CONTEXTS: usize = 64;

const REQUEST_STRUCTURE_SIZE: u16 = 36;
const RESPONSE_STRUCTURE_SIZE: u16 = 65;
/// Fixed part of the response body (StructureSize counts one byte of Buffer).
const RESPONSE_FIXED: usize = 64;

/// One SMB2_NEGOTIATE_CONTEXT (MS-SMB2 2.2.3.1): ContextType, DataLength, Reserved, Data.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiateContext {
    /// SMB2_PREAUTH_INTEGRITY_CAPABILITIES (2.2.3.1.1): HashAlgorithmCount, SaltLength,
    /// HashAlgorithms, Salt.
    PreauthIntegrity {
        hash_algorithms: Vec<u16>,
        salt: Vec<u8>,
    },
    /// SMB2_ENCRYPTION_CAPABILITIES (2.2.3.1.2): CipherCount, Ciphers. The server answers with
    /// exactly one cipher (0 = none in common).
    Encryption { ciphers: Vec<u16> },
    /// SMB2_SIGNING_CAPABILITIES (2.2.3.1.7): SigningAlgorithmCount, SigningAlgorithms.
    Signing { algorithms: Vec<u16> },
    /// Any other context, kept as raw Data.
    Other { context_type: u16, data: Vec<u8> },
}

impl NegotiateContext {
    /// The ContextType this context is sent with.
    pub fn context_type(&self) -> u16 {
        match self {
            Self::PreauthIntegrity { .. } => context_type::PREAUTH_INTEGRITY_CAPABILITIES,
            Self::Encryption { .. } => context_type::ENCRYPTION_CAPABILITIES,
            Self::Signing { .. } => context_type::SIGNING_CAPABILITIES,
            Self::Other { context_type, .. } => *context_type,
        }
    }

    /// Append this context (8-byte header + Data, no trailing padding) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u16(self.context_type());
        let len_at = out.len();
        out.put_u16(0);
        out.put_u32(0); // Reserved
        let start = out.len();
        match self {
            Self::PreauthIntegrity {
                hash_algorithms,
                salt,
            } => {
                out.put_u16(len16(hash_algorithms.len()));
                out.put_u16(len16(salt.len()));
                hash_algorithms.iter().for_each(|h| out.put_u16(*h));
                out.put(salt);
            }
            Self::Encryption { ciphers: list } | Self::Signing { algorithms: list } => {
                out.put_u16(len16(list.len()));
                list.iter().for_each(|c| out.put_u16(*c));
            }
            Self::Other { data, .. } => out.put(data),
        }
        let data_len = len16(out.len() - start);
        out.set_u16(len_at, data_len);
    }

    /// Parse the Data of a context of type `ty`. Trailing bytes after the declared lists are
    /// ignored (be liberal in what we accept); a list that runs past DataLength is an error.
    pub fn parse(ty: u16, data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        Ok(match ty {
            context_type::PREAUTH_INTEGRITY_CAPABILITIES => {
                let n = r.u16("PreauthIntegrity.HashAlgorithmCount")?;
                let salt_len = r.u16("PreauthIntegrity.SaltLength")?;
                let hash_algorithms = read_u16s(&mut r, n, "PreauthIntegrity.HashAlgorithms")?;
                let salt = r
                    .bytes(usize::from(salt_len), "PreauthIntegrity.Salt")?
                    .to_vec();
                Self::PreauthIntegrity {
                    hash_algorithms,
                    salt,
                }
            }
            context_type::ENCRYPTION_CAPABILITIES => {
                let n = r.u16("Encryption.CipherCount")?;
                Self::Encryption {
                    ciphers: read_u16s(&mut r, n, "Encryption.Ciphers")?,
                }
            }
            context_type::SIGNING_CAPABILITIES => {
                let n = r.u16("Signing.SigningAlgorithmCount")?;
                Self::Signing {
                    algorithms: read_u16s(&mut r, n, "Signing.SigningAlgorithms")?,
                }
            }
            _ => Self::Other {
                context_type: ty,
                data: data.to_vec(),
            },
        })
    }
}

/// SMB2 NEGOTIATE Request (MS-SMB2 2.2.3).
///
/// `contexts` are encoded only when `dialects` contains 3.1.1: NegotiateContextOffset and
/// NegotiateContextCount exist only then (MS-SMB2 2.2.3); otherwise the same 8 bytes are
/// ClientStartTime, sent as 0, and `contexts` is ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegotiateRequest {
    pub security_mode: u16,
    pub capabilities: u32,
    pub client_guid: [u8; 16],
    pub dialects: Vec<Dialect>,
    pub contexts: Vec<NegotiateContext>,
}

impl NegotiateRequest {
    fn offers_311(&self) -> bool {
        self.dialects.contains(&Dialect::SMB_3_1_1)
    }

    /// Decode a request from a whole message (header at `msg[0]`), for the test server.
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "NEGOTIATE request")?;
        r.structure_size("NEGOTIATE request", REQUEST_STRUCTURE_SIZE)?;
        let dialect_count = r.u16("NEGOTIATE.DialectCount")?;
        let security_mode = r.u16("NEGOTIATE.SecurityMode")?;
        r.skip(2, "NEGOTIATE.Reserved")?;
        let capabilities = r.u32("NEGOTIATE.Capabilities")?;
        let client_guid = r.array("NEGOTIATE.ClientGuid")?;
        let ctx_offset = r.u32("NEGOTIATE.NegotiateContextOffset")?;
        let ctx_count = r.u16("NEGOTIATE.NegotiateContextCount")?;
        r.skip(2, "NEGOTIATE.Reserved2")?;
        let dialects = read_u16s(&mut r, dialect_count, "NEGOTIATE.Dialects")?
            .into_iter()
            .map(Dialect)
            .collect::<Vec<_>>();
        let contexts = if dialects.contains(&Dialect::SMB_3_1_1) {
            decode_contexts(msg, ctx_offset as usize, usize::from(ctx_count))?
        } else {
            Vec::new()
        };
        Ok(Self {
            security_mode,
            capabilities,
            client_guid,
            dialects,
            contexts,
        })
    }
}

impl RequestBody for NegotiateRequest {
    const COMMAND: Command = Command::NEGOTIATE;

    fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let with_contexts = self.offers_311() && !self.contexts.is_empty();
        msg.put_u16(REQUEST_STRUCTURE_SIZE);
        msg.put_u16(len16(self.dialects.len()));
        msg.put_u16(self.security_mode);
        msg.put_u16(0); // Reserved
        msg.put_u32(self.capabilities);
        msg.put(&self.client_guid);
        let ctx_at = msg.len();
        msg.put_u32(0); // NegotiateContextOffset / ClientStartTime (low half)
        msg.put_u16(0); // NegotiateContextCount
        msg.put_u16(0); // Reserved2
        for d in &self.dialects {
            msg.put_u16(d.0);
        }
        if with_contexts {
            // "NegotiateContextOffset: ... the first, 8-byte aligned negotiate context".
            msg.pad_to(hdr, 8);
            let offset = len32(msg.len() - hdr);
            msg.set_u32(ctx_at, offset);
            msg.set_u16(ctx_at + 4, len16(self.contexts.len()));
            encode_contexts(msg, hdr, &self.contexts);
        }
    }
}

/// SMB2 NEGOTIATE Response (MS-SMB2 2.2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NegotiateResponse {
    pub security_mode: u16,
    pub dialect: Dialect,
    pub server_guid: [u8; 16],
    pub capabilities: u32,
    pub max_transact_size: u32,
    pub max_read_size: u32,
    pub max_write_size: u32,
    /// FILETIME.
    pub system_time: u64,
    /// FILETIME.
    pub server_start_time: u64,
    /// The GSS token (SPNEGO NegTokenInit), possibly empty.
    pub security_buffer: Vec<u8>,
    /// Only present (and only encoded) when `dialect` is 3.1.1.
    pub contexts: Vec<NegotiateContext>,
}

impl NegotiateResponse {
    /// Decode from the whole message (`msg[0]` is the header).
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "NEGOTIATE response")?;
        r.structure_size("NEGOTIATE response", RESPONSE_STRUCTURE_SIZE)?;
        let security_mode = r.u16("NEGOTIATE.SecurityMode")?;
        let dialect = Dialect(r.u16("NEGOTIATE.DialectRevision")?);
        let ctx_count = r.u16("NEGOTIATE.NegotiateContextCount")?;
        let server_guid = r.array("NEGOTIATE.ServerGuid")?;
        let capabilities = r.u32("NEGOTIATE.Capabilities")?;
        let max_transact_size = r.u32("NEGOTIATE.MaxTransactSize")?;
        let max_read_size = r.u32("NEGOTIATE.MaxReadSize")?;
        let max_write_size = r.u32("NEGOTIATE.MaxWriteSize")?;
        let system_time = r.u64("NEGOTIATE.SystemTime")?;
        let server_start_time = r.u64("NEGOTIATE.ServerStartTime")?;
        let sec_offset = r.u16("NEGOTIATE.SecurityBufferOffset")?;
        let sec_len = r.u16("NEGOTIATE.SecurityBufferLength")?;
        let ctx_offset = r.u32("NEGOTIATE.NegotiateContextOffset")?;
        let security_buffer = slice_at(
            msg,
            "NEGOTIATE.SecurityBuffer",
            usize::from(sec_offset),
            usize::from(sec_len),
        )?
        .to_vec();
        // "NegotiateContextCount: If the DialectRevision field is 0x0311, this field specifies
        // the number of negotiate contexts ... Otherwise, this field MUST NOT be used".
        let contexts = if dialect == Dialect::SMB_3_1_1 {
            decode_contexts(msg, ctx_offset as usize, usize::from(ctx_count))?
        } else {
            Vec::new()
        };
        Ok(Self {
            security_mode,
            dialect,
            server_guid,
            capabilities,
            max_transact_size,
            max_read_size,
            max_write_size,
            system_time,
            server_start_time,
            security_buffer,
            contexts,
        })
    }

    /// Append the body to `msg`, whose header starts at `hdr` (test server).
    pub fn encode(&self, msg: &mut Vec<u8>, hdr: usize) {
        let body = msg.len();
        let with_contexts = self.dialect == Dialect::SMB_3_1_1 && !self.contexts.is_empty();
        msg.put_u16(RESPONSE_STRUCTURE_SIZE);
        msg.put_u16(self.security_mode);
        msg.put_u16(self.dialect.0);
        msg.put_u16(if with_contexts {
            len16(self.contexts.len())
        } else {
            0
        });
        msg.put(&self.server_guid);
        msg.put_u32(self.capabilities);
        msg.put_u32(self.max_transact_size);
        msg.put_u32(self.max_read_size);
        msg.put_u32(self.max_write_size);
        msg.put_u64(self.system_time);
        msg.put_u64(self.server_start_time);
        let sec_at = msg.len();
        msg.put_u16(0);
        msg.put_u16(len16(self.security_buffer.len()));
        let ctx_at = msg.len();
        msg.put_u32(0);
        debug_assert_eq!(msg.len() - body, RESPONSE_FIXED);
        if !self.security_buffer.is_empty() {
            msg.set_u16(sec_at, len16(msg.len() - hdr));
            msg.put(&self.security_buffer);
        }
        if with_contexts {
            msg.pad_to(hdr, 8);
            msg.set_u32(ctx_at, len32(msg.len() - hdr));
            encode_contexts(msg, hdr, &self.contexts);
        }
        if msg.len() - body == RESPONSE_FIXED {
            msg.put_u8(0); // StructureSize 65 counts one byte of Buffer
        }
    }
}

/// Contexts one after another, each 8-byte aligned relative to the header at `hdr`
/// (MS-SMB2 2.2.3.1: "Each subsequent negotiate context MUST be 8-byte aligned").
fn encode_contexts(msg: &mut Vec<u8>, hdr: usize, contexts: &[NegotiateContext]) {
    for (i, c) in contexts.iter().enumerate() {
        if i > 0 {
            msg.pad_to(hdr, 8);
        }
        c.encode(msg);
    }
}

/// Walk `count` contexts starting at `offset` (from the header at `msg[0]`).
fn decode_contexts(
    msg: &[u8],
    offset: usize,
    count: usize,
) -> Result<Vec<NegotiateContext>, DecodeError> {
    if count > MAX_NEGOTIATE_CONTEXTS {
        return Err(DecodeError::TooLarge {
            what: "NEGOTIATE.NegotiateContextCount",
            value: count as u64,
            limit: MAX_NEGOTIATE_CONTEXTS as u64,
        });
    }
    let mut out = Vec::with_capacity(count);
    let mut pos = offset;
    for i in 0..count {
        if i > 0 {
            // pos <= msg.len() here (the reader stopped inside msg), so this cannot overflow.
            pos = pos.next_multiple_of(8);
        }
        let mut r = Reader::at(msg, pos, "NegotiateContext")?;
        let ty = r.u16("NegotiateContext.ContextType")?;
        let len = r.u16("NegotiateContext.DataLength")?;
        r.skip(4, "NegotiateContext.Reserved")?;
        let data = r.bytes(usize::from(len), "NegotiateContext.Data")?;
        out.push(NegotiateContext::parse(ty, data)?);
        pos = r.pos();
    }
    Ok(out)
}

/// Read `n` little-endian u16s; preallocation is bounded by what the reader still holds.
pub(crate) fn read_u16s(
    r: &mut Reader<'_>,
    n: u16,
    what: &'static str,
) -> Result<Vec<u16>, DecodeError> {
    let n = usize::from(n);
    let mut v = Vec::with_capacity(n.min(r.remaining() / 2));
    for _ in 0..n {
        v.push(r.u16(what)?);
    }
    Ok(v)
}

/// A length for a u16 field. Encoders cannot fail; callers keep variable parts within the
/// field's range, and an oversized one saturates (the peer then rejects the message).
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
    use hex_literal::hex;

    fn header(cmd: Command) -> Vec<u8> {
        let mut m = Vec::new();
        Header::request(cmd).encode(&mut m);
        m
    }

    fn contexts() -> Vec<NegotiateContext> {
        vec![
            NegotiateContext::PreauthIntegrity {
                hash_algorithms: vec![HASH_SHA512],
                salt: (0u8..32).collect(),
            },
            NegotiateContext::Encryption {
                ciphers: vec![
                    cipher::AES_128_GCM,
                    cipher::AES_128_CCM,
                    cipher::AES_256_GCM,
                    cipher::AES_256_CCM,
                ],
            },
            NegotiateContext::Other {
                context_type: 0x0005,
                data: b"h\0o\0s\0t\0".to_vec(),
            },
            NegotiateContext::Signing {
                algorithms: vec![signing_algorithm::AES_GMAC, signing_algorithm::AES_CMAC],
            },
        ]
    }

    fn request() -> NegotiateRequest {
        NegotiateRequest {
            security_mode: security_mode::SIGNING_ENABLED,
            capabilities: capabilities::DFS | capabilities::LEASING | capabilities::LARGE_MTU,
            client_guid: [0xAB; 16],
            dialects: vec![
                Dialect::SMB_2_0_2,
                Dialect::SMB_2_1,
                Dialect::SMB_3_0,
                Dialect::SMB_3_0_2,
                Dialect::SMB_3_1_1,
            ],
            contexts: contexts(),
        }
    }

    fn response(dialect: Dialect) -> NegotiateResponse {
        NegotiateResponse {
            security_mode: security_mode::SIGNING_ENABLED | security_mode::SIGNING_REQUIRED,
            dialect,
            server_guid: [0x11; 16],
            capabilities: capabilities::DFS | capabilities::LEASING | capabilities::MULTI_CHANNEL,
            max_transact_size: 8 << 20,
            max_read_size: 8 << 20,
            max_write_size: 8 << 20,
            system_time: 133_000_000_000_000_000,
            server_start_time: 0,
            security_buffer: b"\x60\x5e\x06\x06+\x06\x01\x05\x05\x02".to_vec(),
            contexts: if dialect == Dialect::SMB_3_1_1 {
                vec![
                    NegotiateContext::PreauthIntegrity {
                        hash_algorithms: vec![HASH_SHA512],
                        salt: vec![7; 32],
                    },
                    NegotiateContext::Encryption {
                        ciphers: vec![cipher::AES_128_GCM],
                    },
                    NegotiateContext::Signing {
                        algorithms: vec![signing_algorithm::AES_GMAC],
                    },
                ]
            } else {
                Vec::new()
            },
        }
    }

    fn encode_response(r: &NegotiateResponse) -> Vec<u8> {
        let mut m = header(Command::NEGOTIATE);
        r.encode(&mut m, 0);
        m
    }

    #[test]
    fn dialect_display_and_order() {
        assert_eq!(Dialect::SMB_3_1_1.to_string(), "3.1.1");
        assert_eq!(Dialect::SMB_2_1.to_string(), "2.1");
        assert_eq!(Dialect(0x0399).to_string(), "0x0399");
        assert_eq!(format!("{:?}", Dialect::SMB_3_0_2), "Dialect(3.0.2)");
        assert!(Dialect::SMB_3_0 < Dialect::SMB_3_1_1);
        assert!(Dialect::SMB_3_0.is_smb3() && !Dialect::SMB_2_1.is_smb3());
    }

    #[test]
    fn request_round_trips_with_aligned_contexts() {
        let req = request();
        let mut m = header(Command::NEGOTIATE);
        req.encode(&mut m, 0);
        // 64 + 36 + 5 * 2 = 110 -> first context at 112.
        assert_eq!(u32::from_le_bytes(m[92..96].try_into().unwrap()), 112);
        assert_eq!(u16::from_le_bytes(m[96..98].try_into().unwrap()), 4);
        assert_eq!(NegotiateRequest::decode(&m).unwrap(), req);
        // Every context header sits on an 8-byte boundary.
        let mut pos = 112;
        for _ in 0..4 {
            assert_eq!(pos % 8, 0);
            let len = u16::from_le_bytes([m[pos + 2], m[pos + 3]]) as usize;
            pos = (pos + 8 + len).next_multiple_of(8);
        }
    }

    #[test]
    fn request_without_311_sends_no_contexts() {
        let mut req = request();
        req.dialects = vec![Dialect::SMB_2_1, Dialect::SMB_3_0_2];
        let mut m = header(Command::NEGOTIATE);
        req.encode(&mut m, 0);
        assert_eq!(m.len(), 64 + 36 + 4);
        assert_eq!(&m[92..100], &[0; 8], "ClientStartTime is 0");
        let d = NegotiateRequest::decode(&m).unwrap();
        assert!(d.contexts.is_empty());
        assert_eq!(d.dialects, req.dialects);
    }

    /// Request body laid out by hand from MS-SMB2 2.2.3 / 2.2.3.1.1 / 2.2.3.1.2.
    #[test]
    fn golden_request_body() {
        let req = NegotiateRequest {
            security_mode: 1,
            capabilities: 0x44,
            client_guid: [0x5A; 16],
            dialects: vec![Dialect::SMB_3_0_2, Dialect::SMB_3_1_1],
            contexts: vec![
                NegotiateContext::PreauthIntegrity {
                    hash_algorithms: vec![HASH_SHA512],
                    salt: vec![0xEE; 4],
                },
                NegotiateContext::Encryption {
                    ciphers: vec![cipher::AES_128_GCM],
                },
            ],
        };
        let mut m = header(Command::NEGOTIATE);
        req.encode(&mut m, 0);
        let expected = [
            &hex!("2400 0200 0100 0000 44000000")[..],
            &[0x5A; 16],
            // offset 0x68 = 64 + 36 + 4 (already 8-aligned), count 2, reserved
            &hex!("68000000 0200 0000"),
            &hex!("0203 1103"),
            // preauth: type 1, len 10, reserved, count 1, salt len 4, SHA-512, salt
            &hex!("0100 0a00 00000000 0100 0400 0100 eeeeeeee"),
            // pad 18 -> 24, then encryption: type 2, len 4, reserved, count 1, AES-128-GCM
            &hex!("000000000000"),
            &hex!("0200 0400 00000000 0100 0200"),
        ]
        .concat();
        assert_eq!(&m[64..], &expected[..]);
        assert_eq!(NegotiateRequest::decode(&m).unwrap(), req);
    }

    #[test]
    fn response_round_trips_for_every_dialect() {
        for d in [
            Dialect::SMB_2_0_2,
            Dialect::SMB_2_1,
            Dialect::SMB_3_0,
            Dialect::SMB_3_0_2,
            Dialect::SMB_3_1_1,
        ] {
            let r = response(d);
            let m = encode_response(&r);
            assert_eq!(NegotiateResponse::decode(&m).unwrap(), r, "{d}");
        }
        let mut r = response(Dialect::SMB_3_1_1);
        r.security_buffer.clear();
        assert_eq!(NegotiateResponse::decode(&encode_response(&r)).unwrap(), r);
        r.contexts.clear();
        let m = encode_response(&r);
        assert_eq!(m.len(), 64 + 65, "one Buffer byte when empty");
        assert_eq!(NegotiateResponse::decode(&m).unwrap(), r);
    }

    /// Shape of Samba 4.17's 3.1.1 answer (smb.md §1.1): SPNEGO blob at 0x80, contexts after
    /// it at the next 8-byte boundary; context offset/count are Reserved for older dialects.
    #[test]
    fn golden_response_311() {
        let r = response(Dialect::SMB_3_1_1);
        let m = encode_response(&r);
        let body = &m[64..];
        assert_eq!(&body[..8], &hex!("4100 0300 1103 0300"));
        assert_eq!(&body[56..64], &hex!("8000 0a00 90000000"));
        assert_eq!(&m[0x90..0x98], &hex!("0100 2600 00000000"));
    }

    #[test]
    fn older_dialect_ignores_context_fields() {
        let mut m = encode_response(&response(Dialect::SMB_3_0_2));
        // Garbage in Reserved/Reserved2 must not be read as contexts.
        m[64 + 6..64 + 8].copy_from_slice(&0xFFFFu16.to_le_bytes());
        m[64 + 60..64 + 64].copy_from_slice(&0xFFFF_FFFFu32.to_le_bytes());
        assert!(NegotiateResponse::decode(&m).unwrap().contexts.is_empty());
    }

    #[test]
    fn rejects_hostile_responses() {
        let good = encode_response(&response(Dialect::SMB_3_1_1));
        for n in 0..good.len() {
            assert!(NegotiateResponse::decode(&good[..n]).is_err(), "prefix {n}");
        }
        let mut m = good.clone();
        m[64] = 64;
        assert!(matches!(
            NegotiateResponse::decode(&m),
            Err(DecodeError::BadStructureSize {
                expected: 65,
                got: 64,
                ..
            })
        ));
        // Security buffer past the end.
        let mut m = good.clone();
        m[64 + 58..64 + 60].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert!(matches!(
            NegotiateResponse::decode(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        // Context offset past the end / near usize::MAX.
        let mut m = good.clone();
        m[64 + 60..64 + 64].copy_from_slice(&0xFFFF_FFF8u32.to_le_bytes());
        assert!(NegotiateResponse::decode(&m).is_err());
        // Huge context count.
        let mut m = good.clone();
        m[64 + 6..64 + 8].copy_from_slice(&0xFFFFu16.to_le_bytes());
        assert!(matches!(
            NegotiateResponse::decode(&m),
            Err(DecodeError::TooLarge { .. })
        ));
        // One more context than present.
        let mut m = good.clone();
        m[64 + 6..64 + 8].copy_from_slice(&4u16.to_le_bytes());
        assert!(NegotiateResponse::decode(&m).is_err());
        // A context whose list claims more entries than its DataLength holds.
        let mut m = good;
        let enc: usize = 0x90 + 8 + 38;
        let enc = enc.next_multiple_of(8);
        assert_eq!(m[enc], 2);
        m[enc + 8..enc + 10].copy_from_slice(&0x7FFFu16.to_le_bytes());
        assert!(matches!(
            NegotiateResponse::decode(&m),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn request_decode_survives_mutation() {
        let mut m = header(Command::NEGOTIATE);
        request().encode(&mut m, 0);
        for n in 0..m.len() {
            let _ = NegotiateRequest::decode(&m[..n]);
        }
        let mut seed = 0x1234_5678_u32;
        for _ in 0..2000 {
            let mut x = m.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let i = 64 + (seed as usize) % (x.len() - 64);
                x[i] = (seed >> 24) as u8;
            }
            let _ = NegotiateRequest::decode(&x);
            let _ = NegotiateResponse::decode(&x);
        }
    }
}
