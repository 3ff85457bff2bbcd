//! Leases and durable handles v2: the typed create contexts (MS-SMB2 2.2.13.2.10 RqLs v2,
//! 2.2.13.2.11 DH2Q, 2.2.13.2.12 DH2C, 2.2.14.2.10 lease response, 2.2.14.2.12 DH2Q response),
//! the server's unsolicited break notifications (2.2.23.1 oplock, 2.2.23.2 lease) and the
//! LEASE_BREAK acknowledgment with its response (2.2.24.2, 2.2.25.2).
//!
//! The contexts are carried raw by [`super::create`]; this module gives them their layouts.
use super::create::{CreateContext, context_name};
use super::{Command, DecodeError, FileId, Put, Reader, RequestBody, SMB2_HEADER_LEN};

/// Lease state bits (MS-SMB2 2.2.13.2.8).
pub mod lease_state {
    pub const NONE: u32 = 0x00;
    pub const READ_CACHING: u32 = 0x01;
    pub const HANDLE_CACHING: u32 = 0x02;
    pub const WRITE_CACHING: u32 = 0x04;
}

/// SMB2_NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED (MS-SMB2 2.2.23.2).
pub const BREAK_ACK_REQUIRED: u32 = 0x01;

/// A 16-byte lease key chosen by the client (MS-SMB2 3.2.4.3.8).
pub type LeaseKey = [u8; 16];

/// SMB2_CREATE_REQUEST_LEASE_V2 (MS-SMB2 2.2.13.2.10), 52 bytes. Also the layout of the
/// SMB2_CREATE_RESPONSE_LEASE_V2 (2.2.14.2.11); a v1 response (2.2.14.2.10, 32 bytes) decodes
/// with `epoch` 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LeaseV2 {
    pub key: LeaseKey,
    pub state: u32,
    pub flags: u32,
    pub parent_key: LeaseKey,
    pub epoch: u16,
}

impl LeaseV2 {
    pub const LEN: usize = 52;
    const V1_LEN: usize = 32;

    pub fn request(key: LeaseKey, state: u32) -> Self {
        Self {
            key,
            state,
            ..Self::default()
        }
    }

    pub fn to_context(&self) -> CreateContext {
        let mut d = Vec::with_capacity(Self::LEN);
        d.extend_from_slice(&self.key);
        d.put_u32(self.state);
        d.put_u32(self.flags);
        d.put_u64(0); // LeaseDuration: "MUST be set to zero"
        d.extend_from_slice(&self.parent_key);
        d.put_u16(self.epoch);
        d.put_u16(0); // Reserved
        CreateContext::new(context_name::REQUEST_LEASE, d)
    }

    /// Decode the data of an RqLs response context (v2, or v1 on 2.1 servers).
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        if data.len() != Self::LEN && data.len() != Self::V1_LEN {
            return Err(DecodeError::Invalid {
                what: "RqLs.DataLength",
                value: data.len() as u64,
            });
        }
        let mut r = Reader::new(data);
        let key = r.array::<16>("RqLs.LeaseKey")?;
        let state = r.u32("RqLs.LeaseState")?;
        let flags = r.u32("RqLs.LeaseFlags")?;
        r.skip(8, "RqLs.LeaseDuration")?;
        if data.len() == Self::V1_LEN {
            return Ok(Self {
                key,
                state,
                flags,
                ..Self::default()
            });
        }
        let parent_key = r.array::<16>("RqLs.ParentLeaseKey")?;
        let epoch = r.u16("RqLs.Epoch")?;
        Ok(Self {
            key,
            state,
            flags,
            parent_key,
            epoch,
        })
    }
}

/// SMB2_CREATE_DURABLE_HANDLE_REQUEST_V2 (MS-SMB2 2.2.13.2.11), 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DurableRequestV2 {
    /// Milliseconds the server keeps the handle after a disconnect; 0 lets the server choose.
    pub timeout_ms: u32,
    /// SMB2_DHANDLE_FLAG_PERSISTENT (0x2) asks for a persistent handle.
    pub flags: u32,
    pub create_guid: [u8; 16],
}

impl DurableRequestV2 {
    pub const LEN: usize = 32;

    pub fn to_context(&self) -> CreateContext {
        let mut d = Vec::with_capacity(Self::LEN);
        d.put_u32(self.timeout_ms);
        d.put_u32(self.flags);
        d.put_u64(0); // Reserved
        d.extend_from_slice(&self.create_guid);
        CreateContext::new(context_name::DURABLE_HANDLE_REQUEST_V2, d)
    }

    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = exact(data, Self::LEN, "DH2Q.DataLength")?;
        let timeout_ms = r.u32("DH2Q.Timeout")?;
        let flags = r.u32("DH2Q.Flags")?;
        r.skip(8, "DH2Q.Reserved")?;
        Ok(Self {
            timeout_ms,
            flags,
            create_guid: r.array::<16>("DH2Q.CreateGuid")?,
        })
    }
}

/// SMB2_CREATE_DURABLE_HANDLE_RESPONSE_V2 (MS-SMB2 2.2.14.2.12), 8 bytes: its presence in a
/// CREATE response means the open is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DurableResponseV2 {
    pub timeout_ms: u32,
    pub flags: u32,
}

impl DurableResponseV2 {
    pub const LEN: usize = 8;

    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = exact(data, Self::LEN, "DH2Q response.DataLength")?;
        Ok(Self {
            timeout_ms: r.u32("DH2Q response.Timeout")?,
            flags: r.u32("DH2Q response.Flags")?,
        })
    }

    pub fn to_context(&self) -> CreateContext {
        let mut d = Vec::with_capacity(Self::LEN);
        d.put_u32(self.timeout_ms);
        d.put_u32(self.flags);
        CreateContext::new(context_name::DURABLE_HANDLE_REQUEST_V2, d)
    }
}

/// SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2 (MS-SMB2 2.2.13.2.12), 36 bytes: reclaim a durable
/// open after a reconnect (3.2.4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DurableReconnectV2 {
    pub file_id: FileId,
    pub create_guid: [u8; 16],
    pub flags: u32,
}

impl DurableReconnectV2 {
    pub const LEN: usize = 36;

    pub fn to_context(&self) -> CreateContext {
        let mut d = Vec::with_capacity(Self::LEN);
        self.file_id.encode(&mut d);
        d.extend_from_slice(&self.create_guid);
        d.put_u32(self.flags);
        CreateContext::new(context_name::DURABLE_HANDLE_RECONNECT_V2, d)
    }

    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = exact(data, Self::LEN, "DH2C.DataLength")?;
        Ok(Self {
            file_id: FileId::decode(&mut r)?,
            create_guid: r.array::<16>("DH2C.CreateGuid")?,
            flags: r.u32("DH2C.Flags")?,
        })
    }
}

fn exact<'a>(data: &'a [u8], len: usize, what: &'static str) -> Result<Reader<'a>, DecodeError> {
    if data.len() != len {
        return Err(DecodeError::Invalid {
            what,
            value: data.len() as u64,
        });
    }
    Ok(Reader::new(data))
}

/// An unsolicited OPLOCK_BREAK from the server (MessageId 0xFFFFFFFFFFFFFFFF), told apart by
/// its StructureSize (MS-SMB2 2.2.23).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakNotification {
    /// SMB2 Oplock Break Notification (2.2.23.1), StructureSize 24.
    Oplock { level: u8, file_id: FileId },
    /// SMB2 Lease Break Notification (2.2.23.2), StructureSize 44.
    Lease(LeaseBreak),
}

/// SMB2 Lease Break Notification (MS-SMB2 2.2.23.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LeaseBreak {
    pub new_epoch: u16,
    pub flags: u32,
    pub key: LeaseKey,
    pub current_state: u32,
    pub new_state: u32,
}

impl LeaseBreak {
    /// "SMB2_NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED: A Lease Break Acknowledgment is required."
    pub fn ack_required(&self) -> bool {
        self.flags & BREAK_ACK_REQUIRED != 0
    }
}

impl BreakNotification {
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "OPLOCK_BREAK notification")?;
        let size = r.u16("OPLOCK_BREAK.StructureSize")?;
        match size {
            24 => {
                let level = r.u8("OplockBreak.OplockLevel")?;
                r.skip(5, "OplockBreak.Reserved")?;
                Ok(Self::Oplock {
                    level,
                    file_id: FileId::decode(&mut r)?,
                })
            }
            44 => {
                let new_epoch = r.u16("LeaseBreak.NewEpoch")?;
                let flags = r.u32("LeaseBreak.Flags")?;
                let key = r.array::<16>("LeaseBreak.LeaseKey")?;
                let current_state = r.u32("LeaseBreak.CurrentLeaseState")?;
                let new_state = r.u32("LeaseBreak.NewLeaseState")?;
                r.skip(12, "LeaseBreak.BreakReason/AccessMaskHint/ShareMaskHint")?;
                Ok(Self::Lease(LeaseBreak {
                    new_epoch,
                    flags,
                    key,
                    current_state,
                    new_state,
                }))
            }
            other => Err(DecodeError::Invalid {
                what: "OPLOCK_BREAK.StructureSize",
                value: u64::from(other),
            }),
        }
    }

    /// Append a notification body (test server).
    pub fn encode(&self, msg: &mut Vec<u8>) {
        match self {
            Self::Oplock { level, file_id } => {
                msg.put_u16(24);
                msg.put_u8(*level);
                msg.extend_from_slice(&[0; 5]);
                file_id.encode(msg);
            }
            Self::Lease(b) => {
                msg.put_u16(44);
                msg.put_u16(b.new_epoch);
                msg.put_u32(b.flags);
                msg.extend_from_slice(&b.key);
                msg.put_u32(b.current_state);
                msg.put_u32(b.new_state);
                msg.extend_from_slice(&[0; 12]);
            }
        }
    }
}

/// SMB2 Lease Break Acknowledgment (MS-SMB2 2.2.24.2); the response (2.2.25.2) has the same
/// layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LeaseBreakAck {
    pub key: LeaseKey,
    pub state: u32,
}

impl LeaseBreakAck {
    const STRUCTURE_SIZE: u16 = 36;

    /// Decode a LEASE_BREAK response (or request) from the whole message.
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::at(msg, SMB2_HEADER_LEN, "LEASE_BREAK")?;
        r.structure_size("LEASE_BREAK", Self::STRUCTURE_SIZE)?;
        r.skip(6, "LEASE_BREAK.Reserved/Flags")?;
        let key = r.array::<16>("LEASE_BREAK.LeaseKey")?;
        let state = r.u32("LEASE_BREAK.LeaseState")?;
        r.skip(8, "LEASE_BREAK.LeaseDuration")?;
        Ok(Self { key, state })
    }
}

impl RequestBody for LeaseBreakAck {
    const COMMAND: Command = Command::OPLOCK_BREAK;

    fn encode(&self, msg: &mut Vec<u8>, _hdr: usize) {
        msg.put_u16(Self::STRUCTURE_SIZE);
        msg.put_u16(0); // Reserved
        msg.put_u32(0); // Flags: "MUST be set to 0"
        msg.extend_from_slice(&self.key);
        msg.put_u32(self.state);
        msg.put_u64(0); // LeaseDuration
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::wire::Header;
    use hex_literal::hex;

    #[test]
    fn lease_v2_request_layout_and_round_trip() {
        // MS-SMB2 2.2.13.2.10: LeaseKey, LeaseState, LeaseFlags, LeaseDuration, ParentLeaseKey,
        // Epoch, Reserved = 52 bytes.
        let l = LeaseV2::request(
            [0x11; 16],
            lease_state::READ_CACHING | lease_state::HANDLE_CACHING,
        );
        let c = l.to_context();
        assert_eq!(c.name, b"RqLs");
        assert_eq!(c.data.len(), 52);
        assert_eq!(&c.data[16..20], &hex!("03000000"));
        assert_eq!(LeaseV2::decode(&c.data).unwrap(), l);
        // A v1 response (32 bytes) decodes too; any other size is refused.
        let v1 = LeaseV2::decode(&c.data[..32]).unwrap();
        assert_eq!((v1.key, v1.state, v1.epoch), ([0x11; 16], 3, 0));
        for n in [0, 31, 33, 51, 53] {
            assert!(LeaseV2::decode(&vec![0; n]).is_err(), "{n}");
        }
    }

    #[test]
    fn durable_v2_contexts() {
        let q = DurableRequestV2 {
            timeout_ms: 60_000,
            flags: 0,
            create_guid: [7; 16],
        };
        let c = q.to_context();
        assert_eq!(c.name, b"DH2Q");
        assert_eq!(&c.data[..8], &hex!("60ea0000 00000000"));
        assert_eq!(DurableRequestV2::decode(&c.data).unwrap(), q);
        let r = DurableResponseV2 {
            timeout_ms: 60_000,
            flags: 0,
        };
        assert_eq!(DurableResponseV2::decode(&r.to_context().data).unwrap(), r);
        let rc = DurableReconnectV2 {
            file_id: FileId {
                persistent: 1,
                volatile: 2,
            },
            create_guid: [9; 16],
            flags: 0,
        };
        let c = rc.to_context();
        assert_eq!((c.name.as_slice(), c.data.len()), (&b"DH2C"[..], 36));
        assert_eq!(DurableReconnectV2::decode(&c.data).unwrap(), rc);
        assert!(DurableResponseV2::decode(&[0; 7]).is_err());
        assert!(DurableResponseV2::decode(&[0; 9]).is_err());
        assert!(DurableReconnectV2::decode(&[0; 35]).is_err());
    }

    fn notification(body: &BreakNotification) -> Vec<u8> {
        let mut m = Vec::new();
        Header::request(Command::OPLOCK_BREAK).encode(&mut m);
        body.encode(&mut m);
        m
    }

    #[test]
    fn break_notifications_decode_and_reject_junk() {
        let lb = LeaseBreak {
            new_epoch: 2,
            flags: BREAK_ACK_REQUIRED,
            key: [5; 16],
            current_state: 3,
            new_state: 1,
        };
        let m = notification(&BreakNotification::Lease(lb));
        assert_eq!(m.len(), 64 + 44);
        let BreakNotification::Lease(got) = BreakNotification::decode(&m).unwrap() else {
            panic!("not a lease break")
        };
        assert!(got.ack_required());
        assert_eq!(got, lb);
        let ob = BreakNotification::Oplock {
            level: 1,
            file_id: FileId {
                persistent: 3,
                volatile: 4,
            },
        };
        assert_eq!(BreakNotification::decode(&notification(&ob)).unwrap(), ob);
        // Truncated bodies and unknown sizes are errors, never panics.
        for cut in 64..m.len() {
            assert!(BreakNotification::decode(&m[..cut]).is_err(), "{cut}");
        }
        let mut bad = m.clone();
        bad[64] = 45;
        assert!(BreakNotification::decode(&bad).is_err());
    }

    #[test]
    fn lease_break_ack_layout() {
        // MS-SMB2 2.2.24.2: StructureSize 36, Reserved, Flags, LeaseKey, LeaseState,
        // LeaseDuration.
        let a = LeaseBreakAck {
            key: [0xAB; 16],
            state: lease_state::READ_CACHING,
        };
        let mut m = Vec::new();
        Header::request(Command::OPLOCK_BREAK).encode(&mut m);
        a.encode(&mut m, 0);
        assert_eq!(m.len(), 64 + 36);
        assert_eq!(&m[64..72], &hex!("2400 0000 00000000"));
        assert_eq!(LeaseBreakAck::decode(&m).unwrap(), a);
        assert!(LeaseBreakAck::decode(&m[..m.len() - 1]).is_err());
    }
}
