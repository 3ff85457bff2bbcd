//! NTLM ([MS-NLMP]): the NEGOTIATE / CHALLENGE / AUTHENTICATE messages (2.2.1), the NTLMv1 and
//! NTLMv2 responses and keys (3.3, 3.4.5), and session security (3.4.4) for SPNEGO's
//! mechListMIC.
//!
//! Parsing the server's CHALLENGE is bounded: every Offset/Length pair goes through
//! [`slice_at`], fixed fields through [`Reader`], and the AV_PAIR list has a count cap.
use super::primitives::{Rc4, crc32, ct_eq, des_encrypt, desl, hmac_md5, md4, md5, rc4k};
use super::{AuthError, NtlmMode};
use crate::smb::wire::{DecodeError, Put, Reader, from_utf16le, slice_at, utf16le};
use zeroize::{Zeroize, Zeroizing};

/// "NTLMSSP\0" (2.2.1): "Signature (8 bytes): An 8-byte character array that MUST contain the
/// ASCII string ('N', 'T', 'L', 'M', 'S', 'S', 'P', '\0')."
pub const SIGNATURE: [u8; 8] = *b"NTLMSSP\0";

/// MessageType values (2.2.1).
pub const NTLM_NEGOTIATE: u32 = 1;
pub const NTLM_CHALLENGE: u32 = 2;
pub const NTLM_AUTHENTICATE: u32 = 3;

/// The VERSION structure (2.2.2.10) this client sends: 6.1 build 7601, NTLMSSP_REVISION_W2K3.
/// Informational only ("SHOULD be used for debugging purposes only").
pub const CLIENT_VERSION: [u8; 8] = [0x06, 0x01, 0xb1, 0x1d, 0, 0, 0, 0x0f];

/// Where the MIC sits in an AUTHENTICATE_MESSAGE that carries a Version field (2.2.1.3: after
/// the 64-byte fixed header and the 8-byte Version).
pub const MIC_OFFSET: usize = 72;

/// At most this many AV_PAIRs are accepted in a CHALLENGE's TargetInfo (Windows sends about 7).
pub const MAX_AV_PAIRS: usize = 64;

/// NegotiateFlags (2.2.2.5), an open set: unknown bits survive and print as hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NegotiateFlags(pub u32);

impl NegotiateFlags {
    pub const UNICODE: Self = Self(0x0000_0001);
    pub const OEM: Self = Self(0x0000_0002);
    pub const REQUEST_TARGET: Self = Self(0x0000_0004);
    pub const SIGN: Self = Self(0x0000_0010);
    pub const SEAL: Self = Self(0x0000_0020);
    pub const DATAGRAM: Self = Self(0x0000_0040);
    pub const LM_KEY: Self = Self(0x0000_0080);
    pub const NTLM: Self = Self(0x0000_0200);
    pub const ANONYMOUS: Self = Self(0x0000_0800);
    pub const OEM_DOMAIN_SUPPLIED: Self = Self(0x0000_1000);
    pub const OEM_WORKSTATION_SUPPLIED: Self = Self(0x0000_2000);
    pub const ALWAYS_SIGN: Self = Self(0x0000_8000);
    pub const TARGET_TYPE_DOMAIN: Self = Self(0x0001_0000);
    pub const TARGET_TYPE_SERVER: Self = Self(0x0002_0000);
    pub const EXTENDED_SESSIONSECURITY: Self = Self(0x0008_0000);
    pub const IDENTIFY: Self = Self(0x0010_0000);
    pub const REQUEST_NON_NT_SESSION_KEY: Self = Self(0x0040_0000);
    pub const TARGET_INFO: Self = Self(0x0080_0000);
    pub const VERSION: Self = Self(0x0200_0000);
    pub const NEGOTIATE_128: Self = Self(0x2000_0000);
    pub const KEY_EXCH: Self = Self(0x4000_0000);
    pub const NEGOTIATE_56: Self = Self(0x8000_0000);

    pub const fn empty() -> Self {
        Self(0)
    }

    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }
}

impl std::ops::BitOr for NegotiateFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

impl std::ops::BitAnd for NegotiateFlags {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        self.intersection(rhs)
    }
}

impl std::fmt::Debug for NegotiateFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NegotiateFlags({:#010x})", self.0)
    }
}

/// The flags this client asks for in its NEGOTIATE_MESSAGE (2.2.1.1).
///
/// Always UNICODE, REQUEST_TARGET, NTLM, ALWAYS_SIGN, TARGET_INFO, VERSION, 128, KEY_EXCH, 56,
/// SIGN and SEAL; EXTENDED_SESSIONSECURITY for NTLMv2 (and NTLMv1 when `v1_ess`); ANONYMOUS for
/// the null session.
pub fn client_flags(mode: NtlmMode, v1_ess: bool) -> NegotiateFlags {
    use NegotiateFlags as F;
    let mut f = F::UNICODE
        | F::REQUEST_TARGET
        | F::NTLM
        | F::ALWAYS_SIGN
        | F::TARGET_INFO
        | F::VERSION
        | F::NEGOTIATE_128
        | F::KEY_EXCH
        | F::NEGOTIATE_56
        | F::SIGN
        | F::SEAL;
    match mode {
        NtlmMode::V2 => f = f | F::EXTENDED_SESSIONSECURITY,
        NtlmMode::V1 if v1_ess => f = f | F::EXTENDED_SESSIONSECURITY,
        NtlmMode::V1 => {}
        NtlmMode::Anonymous => f = f | F::EXTENDED_SESSIONSECURITY | F::ANONYMOUS,
    }
    f
}

/// NEGOTIATE_MESSAGE (2.2.1.1): the 32-byte header with empty DomainNameFields and
/// WorkstationFields, then the Version (2.2.2.10). 40 bytes, no payload.
pub fn negotiate_message(flags: NegotiateFlags) -> Vec<u8> {
    let mut m = Vec::with_capacity(40);
    m.put(&SIGNATURE);
    m.put_u32(NTLM_NEGOTIATE);
    m.put_u32(flags.0);
    // DomainNameFields and WorkstationFields: Len, MaxLen, Offset all zero (not supplied).
    m.put_zeros(16);
    m.put(&CLIENT_VERSION);
    m
}

/// An AV_PAIR AvId (2.2.2.1), open: unknown ids are kept and echoed back.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AvId(pub u16);

impl AvId {
    pub const EOL: Self = Self(0x0000);
    pub const NB_COMPUTER_NAME: Self = Self(0x0001);
    pub const NB_DOMAIN_NAME: Self = Self(0x0002);
    pub const DNS_COMPUTER_NAME: Self = Self(0x0003);
    pub const DNS_DOMAIN_NAME: Self = Self(0x0004);
    pub const DNS_TREE_NAME: Self = Self(0x0005);
    pub const FLAGS: Self = Self(0x0006);
    pub const TIMESTAMP: Self = Self(0x0007);
    pub const SINGLE_HOST: Self = Self(0x0008);
    pub const TARGET_NAME: Self = Self(0x0009);
    pub const CHANNEL_BINDINGS: Self = Self(0x000a);
}

impl std::fmt::Debug for AvId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AvId({:#06x})", self.0)
    }
}

/// MsvAvFlags bit 0x2 (2.2.2.1): "Indicates that the client is providing message integrity in
/// the MIC field (section 2.2.1.3) in the AUTHENTICATE_MESSAGE."
pub const AV_FLAG_MIC_PRESENT: u32 = 0x0000_0002;

/// One AV_PAIR (2.2.2.1).
#[derive(Clone, PartialEq, Eq)]
pub struct AvPair {
    pub id: AvId,
    pub value: Vec<u8>,
}

impl std::fmt::Debug for AvPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AvPair({:?}, {} bytes)", self.id, self.value.len())
    }
}

/// The TargetInfo AV_PAIR list (2.2.2.1), without its terminating MsvAvEOL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetInfo {
    pub pairs: Vec<AvPair>,
}

impl TargetInfo {
    /// Parse a TargetInfo buffer. The list "MUST" end with MsvAvEOL (2.2.2.1: "When AV pairs are
    /// specified, MsvAvEOL MUST be the last item specified"); bytes after it are ignored. A list
    /// without MsvAvEOL, a pair running past the buffer, or more than [`MAX_AV_PAIRS`] pairs is
    /// an error. MsvAvTimestamp must be 8 bytes and MsvAvFlags 4.
    pub fn parse(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let mut pairs = Vec::new();
        loop {
            let id = AvId(r.u16("AV_PAIR.AvId")?);
            let len = usize::from(r.u16("AV_PAIR.AvLen")?);
            let value = r.bytes(len, "AV_PAIR.Value")?;
            if id == AvId::EOL {
                return Ok(Self { pairs });
            }
            let fixed = match id {
                AvId::TIMESTAMP => Some(8),
                AvId::FLAGS => Some(4),
                _ => None,
            };
            if let Some(want) = fixed
                && len != want
            {
                return Err(DecodeError::Invalid {
                    what: "AV_PAIR.AvLen",
                    value: len as u64,
                });
            }
            if pairs.len() >= MAX_AV_PAIRS {
                return Err(DecodeError::TooLarge {
                    what: "TargetInfo AV_PAIR count",
                    value: pairs.len() as u64 + 1,
                    limit: MAX_AV_PAIRS as u64,
                });
            }
            pairs.push(AvPair {
                id,
                value: value.to_vec(),
            });
        }
    }

    /// The list in wire form, terminated by MsvAvEOL.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::new();
        for p in &self.pairs {
            v.put_u16(p.id.0);
            // Values come from a parsed u16 length or are ours (4 or 8 bytes).
            v.put_u16(u16::try_from(p.value.len()).unwrap_or(u16::MAX));
            v.put(&p.value);
        }
        v.put_u16(AvId::EOL.0);
        v.put_u16(0);
        v
    }

    pub fn get(&self, id: AvId) -> Option<&[u8]> {
        self.pairs
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.value.as_slice())
    }

    /// MsvAvTimestamp (a FILETIME), if the server sent one.
    pub fn timestamp(&self) -> Option<u64> {
        let v = self.get(AvId::TIMESTAMP)?;
        let a: [u8; 8] = v.try_into().ok()?;
        Some(u64::from_le_bytes(a))
    }

    /// MsvAvFlags, if present.
    pub fn flags(&self) -> Option<u32> {
        let v = self.get(AvId::FLAGS)?;
        let a: [u8; 4] = v.try_into().ok()?;
        Some(u32::from_le_bytes(a))
    }

    /// Set bits in MsvAvFlags, adding the pair if absent.
    pub fn add_flags(&mut self, bits: u32) {
        match self.pairs.iter_mut().find(|p| p.id == AvId::FLAGS) {
            Some(p) => {
                let old = <[u8; 4]>::try_from(p.value.as_slice()).map_or(0, u32::from_le_bytes);
                p.value = (old | bits).to_le_bytes().to_vec();
            }
            None => self.pairs.push(AvPair {
                id: AvId::FLAGS,
                value: bits.to_le_bytes().to_vec(),
            }),
        }
    }

    /// A name pair (NetBIOS/DNS names are UTF-16LE), decoded.
    pub fn name(&self, id: AvId) -> Option<String> {
        from_utf16le("AV_PAIR name", self.get(id)?).ok()
    }
}

/// CHALLENGE_MESSAGE (2.2.1.2), as parsed from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeMessage {
    pub flags: NegotiateFlags,
    pub server_challenge: [u8; 8],
    /// TargetName as sent (UTF-16LE when UNICODE was negotiated).
    pub target_name: Vec<u8>,
    /// TargetInfo, if the server sent a non-empty one.
    pub target_info: Option<TargetInfo>,
}

impl ChallengeMessage {
    /// Parse a CHALLENGE_MESSAGE; every field is bounds-checked and never read past `msg`.
    pub fn parse(msg: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(msg);
        let sig = r.bytes(8, "CHALLENGE.Signature")?;
        if sig != SIGNATURE {
            return Err(DecodeError::Invalid {
                what: "CHALLENGE.Signature",
                value: 0,
            });
        }
        let ty = r.u32("CHALLENGE.MessageType")?;
        if ty != NTLM_CHALLENGE {
            return Err(DecodeError::Invalid {
                what: "CHALLENGE.MessageType",
                value: ty.into(),
            });
        }
        let (tn_len, tn_off) = fields(&mut r, "CHALLENGE.TargetNameFields")?;
        let flags = NegotiateFlags(r.u32("CHALLENGE.NegotiateFlags")?);
        let server_challenge = r.array::<8>("CHALLENGE.ServerChallenge")?;
        let target_name = slice_at(msg, "CHALLENGE.TargetName", tn_off, tn_len)?.to_vec();
        // 2.2.1.2 TargetInfoFields: "If the NTLMSSP_NEGOTIATE_TARGET_INFO flag is not set in
        // NegotiateFlags, indicating that no TargetInfo is required", the fields carry nothing,
        // and some old servers even end the message before them. Only read them when flagged.
        if !flags.contains(NegotiateFlags::TARGET_INFO) {
            return Ok(Self {
                flags,
                server_challenge,
                target_name,
                target_info: None,
            });
        }
        r.skip(8, "CHALLENGE.Reserved")?;
        let (ti_len, ti_off) = fields(&mut r, "CHALLENGE.TargetInfoFields")?;
        let ti = slice_at(msg, "CHALLENGE.TargetInfo", ti_off, ti_len)?;
        let target_info = if ti.is_empty() {
            None
        } else {
            Some(TargetInfo::parse(ti)?)
        };
        Ok(Self {
            flags,
            server_challenge,
            target_name,
            target_info,
        })
    }
}

/// Read a Len/MaxLen/BufferOffset triple (2.2.1.x "...Fields"); MaxLen is ignored as the spec
/// says ("SHOULD be set to the value of ...Len", "MUST be ignored on receipt").
fn fields(r: &mut Reader<'_>, what: &'static str) -> Result<(usize, usize), DecodeError> {
    let len = r.u16(what)?;
    let _max = r.u16(what)?;
    let off = r.u32(what)?;
    let off = usize::try_from(off).map_err(|_| DecodeError::Invalid {
        what,
        value: u64::from(off),
    })?;
    Ok((usize::from(len), off))
}

/// The pieces of an AUTHENTICATE_MESSAGE (2.2.1.3). Strings are already UTF-16LE.
#[derive(Clone, Copy)]
pub struct AuthenticateFields<'a> {
    pub flags: NegotiateFlags,
    pub lm_response: &'a [u8],
    pub nt_response: &'a [u8],
    pub domain: &'a [u8],
    pub user: &'a [u8],
    pub workstation: &'a [u8],
    /// EncryptedRandomSessionKey, sent when KEY_EXCH is negotiated.
    pub encrypted_random_session_key: Option<&'a [u8; 16]>,
    /// The Version field (present when NTLMSSP_NEGOTIATE_VERSION is set).
    pub version: Option<[u8; 8]>,
    /// Reserve the 16-byte MIC field (zeroed; the caller fills it in at [`MIC_OFFSET`]).
    pub with_mic: bool,
}

impl std::fmt::Debug for AuthenticateFields<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticateFields")
            .field("flags", &self.flags)
            .finish_non_exhaustive()
    }
}

/// Build an AUTHENTICATE_MESSAGE (2.2.1.3): fixed header, optional Version and MIC, then the
/// payload in the order Windows uses (domain, user, workstation, LM, NT, session key).
pub fn authenticate_message(f: &AuthenticateFields<'_>) -> Result<Vec<u8>, AuthError> {
    let mut header = 64;
    if f.version.is_some() {
        header += 8;
    }
    if f.with_mic {
        header += 16;
    }
    let key: &[u8] = f.encrypted_random_session_key.map_or(&[], |k| k.as_slice());
    let payload: [(&[u8], &'static str); 6] = [
        (f.domain, "domain name"),
        (f.user, "user name"),
        (f.workstation, "workstation name"),
        (f.lm_response, "LmChallengeResponse"),
        (f.nt_response, "NtChallengeResponse"),
        (key, "EncryptedRandomSessionKey"),
    ];
    // Offsets of each payload item, and a length check on every one.
    let mut offsets = [0u32; 6];
    let mut at = header;
    for (slot, (bytes, what)) in offsets.iter_mut().zip(payload.iter()) {
        u16::try_from(bytes.len()).map_err(|_| AuthError::TooLong(what))?;
        *slot = u32::try_from(at).map_err(|_| AuthError::TooLong(what))?;
        at += bytes.len();
    }
    let field = |m: &mut Vec<u8>, i: usize| {
        let (bytes, _) = payload[i];
        let len = bytes.len() as u16; // checked above
        m.put_u16(len);
        m.put_u16(len);
        m.put_u32(offsets[i]);
    };
    let mut m = Vec::with_capacity(at);
    m.put(&SIGNATURE);
    m.put_u32(NTLM_AUTHENTICATE);
    field(&mut m, 3); // LmChallengeResponseFields
    field(&mut m, 4); // NtChallengeResponseFields
    field(&mut m, 0); // DomainNameFields
    field(&mut m, 1); // UserNameFields
    field(&mut m, 2); // WorkstationFields
    field(&mut m, 5); // EncryptedRandomSessionKeyFields
    m.put_u32(f.flags.0);
    if let Some(v) = f.version {
        m.put(&v);
    }
    if f.with_mic {
        m.put_zeros(16);
    }
    for (bytes, _) in payload {
        m.put(bytes);
    }
    Ok(m)
}

/// NTOWFv1 (3.3.1): "MD4(UNICODE(Passwd))".
pub fn ntowf_v1(password: &str) -> Zeroizing<[u8; 16]> {
    let p = Zeroizing::new(utf16le(password));
    Zeroizing::new(md4(&p))
}

/// LMOWFv1 (3.3.1): "ConcatenationOf( DES( UpperCase( Passwd)[0..6],"KGS!@#$%"), DES(
/// UpperCase( Passwd)[7..13],"KGS!@#$%"))", the password padded with zeros to 14 bytes. `None`
/// when it cannot be computed: longer than 14 characters or not ASCII (we have no OEM code page).
pub fn lmowf_v1(password: &str) -> Option<Zeroizing<[u8; 16]>> {
    if !password.is_ascii() || password.len() > 14 {
        return None;
    }
    let mut p = Zeroizing::new([0u8; 14]);
    for (d, s) in p.iter_mut().zip(password.bytes()) {
        *d = s.to_ascii_uppercase();
    }
    let mut k1 = Zeroizing::new([0u8; 7]);
    let mut k2 = Zeroizing::new([0u8; 7]);
    k1.copy_from_slice(&p[0..7]);
    k2.copy_from_slice(&p[7..14]);
    let mut out = Zeroizing::new([0u8; 16]);
    out[0..8].copy_from_slice(&des_encrypt(&k1, b"KGS!@#$%"));
    out[8..16].copy_from_slice(&des_encrypt(&k2, b"KGS!@#$%"));
    Some(out)
}

/// NTOWFv2 (3.3.2): "HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(ConcatenationOf( Uppercase(User),
/// UserDom ) ) )". Only the user name is upper-cased, never the domain.
pub fn ntowf_v2(password: &str, user: &str, domain: &str) -> Zeroizing<[u8; 16]> {
    let nt = ntowf_v1(password);
    let mut id = upper_case(user);
    id.push_str(domain);
    Zeroizing::new(hmac_md5(nt.as_slice(), &[&utf16le(&id)]))
}

/// Upper-case one character at a time, keeping characters whose upper case is not a single
/// character (Windows' RtlUpcaseUnicodeString maps code unit to code unit).
fn upper_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// The NTLMv1 responses and keys (3.3.1, 3.4.5.1).
pub struct V1Responses {
    pub lm_response: [u8; 24],
    pub nt_response: [u8; 24],
    pub session_base_key: Zeroizing<[u8; 16]>,
    pub key_exchange_key: Zeroizing<[u8; 16]>,
}

/// NTLMv1 (3.3.1) with or without NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY, and KXKEY
/// (3.4.5.1, without LM_KEY or REQUEST_NON_NT_SESSION_KEY).
///
/// Without extended session security the LM response is the LMv1 response when `lm_hash` is
/// given, else a copy of the NT response (3.3.1 "If (NoLMResponseNTLMv1 is TRUE) Set
/// LmChallengeResponse to NtChallengeResponse"), which keeps the weak LM hash off the wire.
pub fn ntlm_v1_responses(
    nt_hash: &[u8; 16],
    lm_hash: Option<&[u8; 16]>,
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    ess: bool,
) -> V1Responses {
    let session_base_key = Zeroizing::new(md4(nt_hash));
    if ess {
        // "Set NtChallengeResponse to DESL(ResponseKeyNT, MD5(ConcatenationOf(
        // CHALLENGE_MESSAGE.ServerChallenge, ClientChallenge))[0..7])"
        let h = md5(&[server_challenge, client_challenge]);
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&h[..8]);
        let nt_response = desl(nt_hash, &nonce);
        // "Set LmChallengeResponse to ConcatenationOf{ClientChallenge, Z(16)}"
        let mut lm_response = [0u8; 24];
        lm_response[..8].copy_from_slice(client_challenge);
        // KXKEY with ESS: "HMAC_MD5(SessionBaseKey, ConcatenationOf(ServerChallenge,
        // LmChallengeResponse[0..7]))"
        let key_exchange_key = Zeroizing::new(hmac_md5(
            session_base_key.as_slice(),
            &[server_challenge, &lm_response[..8]],
        ));
        V1Responses {
            lm_response,
            nt_response,
            session_base_key,
            key_exchange_key,
        }
    } else {
        let nt_response = desl(nt_hash, server_challenge);
        let lm_response = lm_hash.map_or(nt_response, |lm| desl(lm, server_challenge));
        // KXKEY without ESS and without LM_KEY / NON_NT_SESSION_KEY: "Set KeyExchangeKey to
        // SessionBaseKey".
        let key_exchange_key = session_base_key.clone();
        V1Responses {
            lm_response,
            nt_response,
            session_base_key,
            key_exchange_key,
        }
    }
}

/// The NTLMv2 responses and keys (3.3.2).
pub struct V2Responses {
    pub lm_response: [u8; 24],
    pub nt_response: Vec<u8>,
    pub nt_proof_str: [u8; 16],
    pub session_base_key: Zeroizing<[u8; 16]>,
}

/// NTLMv2 (3.3.2). `av_pairs` is the encoded AV_PAIR list (ending in MsvAvEOL) that goes into
/// `temp`; `time` is a FILETIME. With `zero_lm` the LM response is Z(24), as 3.1.5.1.2 asks when
/// the server sent MsvAvTimestamp.
pub fn ntlm_v2_responses(
    response_key: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    time: u64,
    av_pairs: &[u8],
    zero_lm: bool,
) -> V2Responses {
    // "Set temp to ConcatenationOf(Responserversion, HiResponserversion, Z(6), Time,
    // ClientChallenge, Z(4), ServerName, Z(4))"
    let mut temp = Vec::with_capacity(28 + av_pairs.len() + 4);
    temp.put_u8(1);
    temp.put_u8(1);
    temp.put_zeros(6);
    temp.put_u64(time);
    temp.put(client_challenge);
    temp.put_zeros(4);
    temp.put(av_pairs);
    temp.put_zeros(4);
    // "Set NTProofStr to HMAC_MD5(ResponseKeyNT, ConcatenationOf(CHALLENGE_MESSAGE.ServerChallenge,
    // temp))"
    let nt_proof_str = hmac_md5(response_key, &[server_challenge, &temp]);
    let mut nt_response = Vec::with_capacity(16 + temp.len());
    nt_response.put(&nt_proof_str);
    nt_response.put(&temp);
    let mut lm_response = [0u8; 24];
    if !zero_lm {
        // "Set LmChallengeResponse to ConcatenationOf(HMAC_MD5(ResponseKeyLM,
        // ConcatenationOf(CHALLENGE_MESSAGE.ServerChallenge, ClientChallenge)), ClientChallenge)"
        let lm = hmac_md5(response_key, &[server_challenge, client_challenge]);
        lm_response[..16].copy_from_slice(&lm);
        lm_response[16..].copy_from_slice(client_challenge);
    }
    // "Set SessionBaseKey to HMAC_MD5(ResponseKeyNT, NTProofStr)"
    let session_base_key = Zeroizing::new(hmac_md5(response_key, &[&nt_proof_str]));
    V2Responses {
        lm_response,
        nt_response,
        nt_proof_str,
        session_base_key,
    }
}

/// EncryptedRandomSessionKey (3.1.5.1.2): "RC4K(KeyExchangeKey, ExportedSessionKey)".
pub fn encrypt_session_key(key_exchange_key: &[u8; 16], exported: &[u8; 16]) -> [u8; 16] {
    rc4k(key_exchange_key, exported)
}

/// Everything [`authenticate`] needs.
pub struct AuthenticateInput<'a> {
    pub mode: NtlmMode,
    pub user: &'a str,
    pub domain: &'a str,
    pub password: &'a str,
    pub workstation: &'a str,
    /// The flags we sent in NEGOTIATE.
    pub negotiate_flags: NegotiateFlags,
    /// The NEGOTIATE_MESSAGE exactly as sent, and the CHALLENGE exactly as received (for the
    /// MIC).
    pub negotiate: &'a [u8],
    pub challenge_raw: &'a [u8],
    pub challenge: &'a ChallengeMessage,
    pub client_challenge: &'a [u8; 8],
    /// Becomes the ExportedSessionKey when KEY_EXCH is negotiated.
    pub random_session_key: &'a [u8; 16],
    /// FILETIME used when the server sent no MsvAvTimestamp.
    pub now: u64,
}

/// What [`authenticate`] produced.
pub struct AuthenticateOutput {
    pub message: Vec<u8>,
    /// The flags in the AUTHENTICATE_MESSAGE, which govern session security.
    pub flags: NegotiateFlags,
    /// ExportedSessionKey (3.1.5.1.2); all zeros for the anonymous identity.
    pub exported_session_key: Zeroizing<[u8; 16]>,
    /// Whether the message carries a MIC (and MsvAvFlags 0x2).
    pub mic_sent: bool,
}

/// The flags we send in AUTHENTICATE: what we asked for and the server granted, plus the ones
/// that describe our own message (REQUEST_TARGET, VERSION, and ANONYMOUS for the null session).
fn authenticate_flags(ours: NegotiateFlags, theirs: NegotiateFlags) -> NegotiateFlags {
    use NegotiateFlags as F;
    (ours & theirs) | (ours & (F::REQUEST_TARGET | F::VERSION | F::ANONYMOUS))
}

/// Process a CHALLENGE and build the AUTHENTICATE_MESSAGE (3.1.5.1.2).
pub fn authenticate(input: &AuthenticateInput<'_>) -> Result<AuthenticateOutput, AuthError> {
    use NegotiateFlags as F;
    let ch = input.challenge;
    // We only speak Unicode; an OEM-only server cannot be answered correctly.
    if !ch.flags.contains(F::UNICODE) {
        return Err(AuthError::Incompatible(
            "the server did not select NTLMSSP_NEGOTIATE_UNICODE",
        ));
    }
    let flags = authenticate_flags(input.negotiate_flags, ch.flags);
    let mut mic = false;
    let (lm, nt, key_exchange_key): (Vec<u8>, Vec<u8>, Zeroizing<[u8; 16]>) = match input.mode {
        NtlmMode::Anonymous => {
            // 3.1.5.1.2: "Set NtChallengeResponseLen to 0 ... Set LmChallengeResponse to Z(1)";
            // the session base key of the null session is all zeros (what Samba also uses).
            (vec![0], Vec::new(), Zeroizing::new([0u8; 16]))
        }
        NtlmMode::V1 => {
            let nt_hash = ntowf_v1(input.password);
            let ess = flags.contains(F::EXTENDED_SESSIONSECURITY);
            let r = ntlm_v1_responses(
                &nt_hash,
                None,
                &ch.server_challenge,
                input.client_challenge,
                ess,
            );
            (
                r.lm_response.to_vec(),
                r.nt_response.to_vec(),
                r.key_exchange_key,
            )
        }
        NtlmMode::V2 => {
            let Some(server_info) = &ch.target_info else {
                return Err(AuthError::Incompatible(
                    "NTLMv2 needs the CHALLENGE TargetInfo",
                ));
            };
            let mut info = server_info.clone();
            let timestamp = info.timestamp();
            if timestamp.is_some() {
                // 3.1.5.1.2: with MsvAvTimestamp the client "SHOULD" send a MIC, announced by
                // MsvAvFlags 0x2, and an LmChallengeResponse of Z(24).
                info.add_flags(AV_FLAG_MIC_PRESENT);
                mic = true;
            }
            let key = ntowf_v2(input.password, input.user, input.domain);
            let r = ntlm_v2_responses(
                &key,
                &ch.server_challenge,
                input.client_challenge,
                timestamp.unwrap_or(input.now),
                &info.encode(),
                mic,
            );
            // KXKEY for NTLMv2 (3.4.5.1): "Set KeyExchangeKey to SessionBaseKey".
            (r.lm_response.to_vec(), r.nt_response, r.session_base_key)
        }
    };
    let (exported, encrypted) = if flags.contains(F::KEY_EXCH) {
        let exported = Zeroizing::new(*input.random_session_key);
        let enc = encrypt_session_key(&key_exchange_key, &exported);
        (exported, Some(enc))
    } else {
        (key_exchange_key, None)
    };
    let (domain, user) = match input.mode {
        NtlmMode::Anonymous => (Vec::new(), Vec::new()),
        _ => (utf16le(input.domain), utf16le(input.user)),
    };
    let workstation = utf16le(input.workstation);
    let mut message = authenticate_message(&AuthenticateFields {
        flags,
        lm_response: &lm,
        nt_response: &nt,
        domain: &domain,
        user: &user,
        workstation: &workstation,
        encrypted_random_session_key: encrypted.as_ref(),
        version: Some(CLIENT_VERSION),
        with_mic: mic,
    })?;
    if mic {
        // "Set AUTHENTICATE_MESSAGE.MIC to HMAC_MD5(ExportedSessionKey, ConcatenationOf(
        // NEGOTIATE_MESSAGE, CHALLENGE_MESSAGE, AUTHENTICATE_MESSAGE))", the MIC field zero.
        let code = hmac_md5(
            exported.as_slice(),
            &[input.negotiate, input.challenge_raw, &message],
        );
        if let Some(slot) = message.get_mut(MIC_OFFSET..MIC_OFFSET + 16) {
            slot.copy_from_slice(&code);
        }
    }
    Ok(AuthenticateOutput {
        message,
        flags,
        exported_session_key: exported,
        mic_sent: mic,
    })
}

/// Which way a message travels; each direction has its own keys and RC4 handle (3.4.5.2,
/// 3.4.5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ClientToServer,
    ServerToClient,
}

const CLIENT_SIGN_MAGIC: &[u8] = b"session key to client-to-server signing key magic constant\0";
const SERVER_SIGN_MAGIC: &[u8] = b"session key to server-to-client signing key magic constant\0";
const CLIENT_SEAL_MAGIC: &[u8] = b"session key to client-to-server sealing key magic constant\0";
const SERVER_SEAL_MAGIC: &[u8] = b"session key to server-to-client sealing key magic constant\0";

/// SIGNKEY (3.4.5.2): with extended session security, "MD5(ConcatenationOf(ExportedSessionKey,
/// "session key to client-to-server signing key magic constant"))" (or server-to-client);
/// without it there is no signing key.
pub fn sign_key(flags: NegotiateFlags, exported: &[u8; 16], dir: Direction) -> Option<[u8; 16]> {
    if !flags.contains(NegotiateFlags::EXTENDED_SESSIONSECURITY) {
        return None;
    }
    let magic = match dir {
        Direction::ClientToServer => CLIENT_SIGN_MAGIC,
        Direction::ServerToClient => SERVER_SIGN_MAGIC,
    };
    Some(md5(&[exported, magic]))
}

/// SEALKEY (3.4.5.3). With extended session security the key is cut to 128, 56 or 40 bits (by
/// NEGOTIATE_128 / NEGOTIATE_56) and hashed with the direction's magic constant; without it
/// (and without LM_KEY, which this client never sends) "Set SealKey to ExportedSessionKey".
pub fn seal_key(flags: NegotiateFlags, exported: &[u8; 16], dir: Direction) -> [u8; 16] {
    use NegotiateFlags as F;
    if !flags.contains(F::EXTENDED_SESSIONSECURITY) {
        return *exported;
    }
    let key: &[u8] = if flags.contains(F::NEGOTIATE_128) {
        exported
    } else if flags.contains(F::NEGOTIATE_56) {
        &exported[..7]
    } else {
        &exported[..5]
    };
    let magic = match dir {
        Direction::ClientToServer => CLIENT_SEAL_MAGIC,
        Direction::ServerToClient => SERVER_SEAL_MAGIC,
    };
    md5(&[key, magic])
}

/// One direction's session-security state: its signing key (ESS only) and RC4 handle.
struct Half {
    sign_key: Option<Zeroizing<[u8; 16]>>,
    seal: Rc4,
}

impl Half {
    fn new(flags: NegotiateFlags, exported: &[u8; 16], dir: Direction) -> Self {
        let mut seal = seal_key(flags, exported, dir);
        let half = Self {
            sign_key: sign_key(flags, exported, dir).map(Zeroizing::new),
            seal: Rc4::new(&seal),
        };
        seal.zeroize();
        half
    }

    /// MAC(Handle, SigningKey, SeqNum, Message) (3.4.4.1 / 3.4.4.2): an
    /// NTLMSSP_MESSAGE_SIGNATURE (2.2.2.9).
    fn mac(&mut self, flags: NegotiateFlags, seq: u32, message: &[u8]) -> [u8; 16] {
        let mut sig = [0u8; 16];
        sig[..4].copy_from_slice(&1u32.to_le_bytes());
        match &self.sign_key {
            Some(key) => {
                // 3.4.4.2: "Set NTLMSSP_MESSAGE_SIGNATURE.Checksum to HMAC_MD5(SigningKey,
                // ConcatenationOf(SeqNum, Message))[0..7]", RC4-sealed "If Key Exchange Key
                // Negotiated".
                let h = hmac_md5(key.as_slice(), &[&seq.to_le_bytes(), message]);
                let mut checksum = [0u8; 8];
                checksum.copy_from_slice(&h[..8]);
                if flags.contains(NegotiateFlags::KEY_EXCH) {
                    self.seal.apply(&mut checksum);
                }
                sig[4..12].copy_from_slice(&checksum);
                sig[12..].copy_from_slice(&seq.to_le_bytes());
            }
            None => {
                // 3.4.4.1: RandomPad, CRC32(Message) and SeqNum, each through the RC4 handle
                // ("SeqNum to RC4(Handle, 0x00000000) ... XOR SeqNum" is RC4 over SeqNum).
                let mut tail = [0u8; 12];
                tail[4..8].copy_from_slice(&crc32(message).to_le_bytes());
                tail[8..].copy_from_slice(&seq.to_le_bytes());
                self.seal.apply(&mut tail);
                sig[4..].copy_from_slice(&tail);
            }
        }
        sig
    }
}

/// NTLM session security (3.4) for the client: GSS_GetMIC / GSS_VerifyMIC as SPNEGO's
/// mechListMIC uses them, and GSS_WrapEx sealing. Sequence numbers are the caller's.
pub struct SessionSecurity {
    flags: NegotiateFlags,
    send: Half,
    recv: Half,
}

impl SessionSecurity {
    /// Client-side keys from the negotiated flags and the ExportedSessionKey.
    pub fn client(flags: NegotiateFlags, exported_session_key: &[u8; 16]) -> Self {
        Self {
            flags,
            send: Half::new(flags, exported_session_key, Direction::ClientToServer),
            recv: Half::new(flags, exported_session_key, Direction::ServerToClient),
        }
    }

    /// The mirror image: server-side keys (signs server-to-client, verifies client-to-server).
    /// For loopback tests and for checking what a server would accept.
    pub fn server(flags: NegotiateFlags, exported_session_key: &[u8; 16]) -> Self {
        Self {
            flags,
            send: Half::new(flags, exported_session_key, Direction::ServerToClient),
            recv: Half::new(flags, exported_session_key, Direction::ClientToServer),
        }
    }

    /// GSS_GetMIC (3.4.4): the NTLMSSP_MESSAGE_SIGNATURE of `message` with sequence number
    /// `seq`, made with this side's sending keys (client-to-server for [`Self::client`]).
    /// Advances the sending RC4 handle whenever the signature is sealed.
    pub fn sign(&mut self, seq: u32, message: &[u8]) -> [u8; 16] {
        self.send.mac(self.flags, seq, message)
    }

    /// GSS_VerifyMIC: check the peer's signature over `message` with the peer's sequence number
    /// (server-to-client keys for [`Self::client`]).
    /// Without extended session security the RandomPad is not compared (it is random by design).
    pub fn verify(&mut self, seq: u32, message: &[u8], signature: &[u8]) -> bool {
        let want = self.recv.mac(self.flags, seq, message);
        if self
            .flags
            .contains(NegotiateFlags::EXTENDED_SESSIONSECURITY)
        {
            ct_eq(&want, signature)
        } else {
            signature.len() == 16
                && ct_eq(&want[..4], signature.get(..4).unwrap_or_default())
                && ct_eq(&want[8..], signature.get(8..).unwrap_or_default())
        }
    }

    /// GSS_WrapEx with confidentiality (3.4.3): encrypt `message` in place with the sending
    /// sealing handle, then sign the plaintext with the same (advanced) handle.
    pub fn seal(&mut self, seq: u32, message: &mut [u8]) -> [u8; 16] {
        let plain = Zeroizing::new(message.to_vec());
        self.send.seal.apply(message);
        self.send.mac(self.flags, seq, &plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    // MS-NLMP 4.2.1 common values.
    const USER: &str = "User";
    const DOMAIN: &str = "Domain";
    const PASSWORD: &str = "Password";
    const SERVER_CHALLENGE: [u8; 8] = hex!("0123456789abcdef");
    const CLIENT_CHALLENGE: [u8; 8] = [0xaa; 8];
    const RANDOM_SESSION_KEY: [u8; 16] = [0x55; 16];
    const PLAINTEXT: [u8; 18] = hex!("50006c00610069006e007400650078007400");

    // MS-NLMP 4.2.4 CHALLENGE_MESSAGE (flags 0xe28a8233, TargetInfo: NbDomainName "Domain",
    // NbComputerName "Server", EOL) and 4.2.4.3 AUTHENTICATE_MESSAGE.
    const V2_CHALLENGE: [u8; 104] = hex!(
        "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef"
        "00000000000000002400240044000000060070170000000f5300650072007600"
        "6500720002000c0044006f006d00610069006e0001000c005300650072007600"
        "6500720000000000"
    );
    const V2_AUTHENTICATE: [u8; 232] = hex!(
        "4e544c4d5353500003000000180018006c00000054005400840000000c000c00"
        "480000000800080054000000100010005c00000010001000d8000000358288e2"
        "0501280a0000000f44006f006d00610069006e00550073006500720043004f00"
        "4d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaa"
        "aaaaaaaa68cd0ab851e51c96aabc927bebef6a1c010100000000000000000000"
        "00000000aaaaaaaaaaaaaaaa0000000002000c0044006f006d00610069006e00"
        "01000c005300650072007600650072000000000000000000c5dad2544fc97990"
        "94ce1ce90bc9d03e"
    );
    // MS-NLMP 4.2.3 CHALLENGE_MESSAGE (NTLMv1 with client challenge: flags 0x820a8233, no
    // TargetInfo).
    const V1_ESS_CHALLENGE: [u8; 68] = hex!(
        "4e544c4d53535000020000000c000c003800000033820a820123456789abcdef"
        "00000000000000000000000000000000060070170000000f5300650072007600"
        "65007200"
    );

    #[test]
    fn ntlm_v1_vectors_4_2_2() {
        // 4.2.2.1.1 LMOWFv1, 4.2.2.1.2 NTOWFv1.
        let lm = lmowf_v1(PASSWORD).unwrap();
        assert_eq!(*lm, hex!("e52cac67419a9a224a3b108f3fa6cb6d"));
        let nt = ntowf_v1(PASSWORD);
        assert_eq!(*nt, hex!("a4f49c406510bdcab6824ee7c30fd852"));
        let r = ntlm_v1_responses(&nt, Some(&*lm), &SERVER_CHALLENGE, &CLIENT_CHALLENGE, false);
        // 4.2.2.1.3 SessionBaseKey (= KeyExchangeKey without ESS).
        assert_eq!(
            *r.session_base_key,
            hex!("d87262b0cde4b1cb7499becccdf10784")
        );
        assert_eq!(*r.key_exchange_key, *r.session_base_key);
        // 4.2.2.2.1 NTLMv1 Response, 4.2.2.2.2 LMv1 Response.
        assert_eq!(
            r.nt_response,
            hex!("67c43011f30298a2ad35ece64f16331c44bdbed927841f94")
        );
        assert_eq!(
            r.lm_response,
            hex!("98def7b87f88aa5dafe2df779688a172def11c7d5ccdef13")
        );
        // 4.2.2.2.3 Encrypted Session Key.
        assert_eq!(
            encrypt_session_key(&r.key_exchange_key, &RANDOM_SESSION_KEY),
            hex!("518822b1b3f350c8958682ecbb3e3cb7")
        );
        // NoLMResponseNTLMv1: without an LM hash the LM response repeats the NT response.
        let r = ntlm_v1_responses(&nt, None, &SERVER_CHALLENGE, &CLIENT_CHALLENGE, false);
        assert_eq!(r.lm_response, r.nt_response);
    }

    #[test]
    fn lmowf_v1_refuses_what_it_cannot_compute() {
        assert!(lmowf_v1("fifteen-chars!!").is_none());
        assert!(lmowf_v1("pässword").is_none());
        assert!(lmowf_v1("").is_some());
    }

    #[test]
    fn ntlm_v1_ess_vectors_4_2_3() {
        let nt = ntowf_v1(PASSWORD);
        let r = ntlm_v1_responses(&nt, None, &SERVER_CHALLENGE, &CLIENT_CHALLENGE, true);
        // 4.2.3.2.1 LMv1 Response, 4.2.3.2.2 NTLMv1 Response, 4.2.3.1.2 Session Base Key,
        // 4.2.3.1.3 Key Exchange Key.
        assert_eq!(
            r.lm_response,
            hex!("aaaaaaaaaaaaaaaa00000000000000000000000000000000")
        );
        assert_eq!(
            r.nt_response,
            hex!("7537f803ae367128ca458204bde7caf81e97ed2683267232")
        );
        assert_eq!(
            *r.session_base_key,
            hex!("d87262b0cde4b1cb7499becccdf10784")
        );
        assert_eq!(
            *r.key_exchange_key,
            hex!("eb93429a8bd952f8b89c55b87f475edc")
        );
        // 4.2.3.4: flags 0x820a8233 (ESS, 56-bit, no KEY_EXCH, so ExportedSessionKey =
        // KeyExchangeKey); SIGNKEY, SEALKEY (56-bit: first 7 bytes), sealed data, signature.
        let flags = NegotiateFlags(0x820a_8233);
        let ch = ChallengeMessage::parse(&V1_ESS_CHALLENGE).unwrap();
        assert_eq!(ch.flags, flags);
        let kxk = &*r.key_exchange_key;
        assert_eq!(
            sign_key(flags, kxk, Direction::ClientToServer).unwrap(),
            hex!("60e799be5c72fc92922ae8ebe961fb8d")
        );
        assert_eq!(
            seal_key(flags, kxk, Direction::ClientToServer),
            hex!("04dd7f014d8504d265a25cc86a3a7c06")
        );
        let mut sec = SessionSecurity::client(flags, kxk);
        let mut data = PLAINTEXT;
        let sig = sec.seal(0, &mut data);
        assert_eq!(data, hex!("a02372f6530273f3aa1eb90190ce5200c99d"));
        assert_eq!(sig, hex!("01000000ff2aeb52f681793a00000000"));
    }

    #[test]
    fn ntlm_v2_vectors_4_2_4() {
        // 4.2.4.1.1 NTOWFv2 (user upper-cased, domain not).
        let key = ntowf_v2(PASSWORD, USER, DOMAIN);
        assert_eq!(*key, hex!("0c868a403bfd7a93a3001ef22ef02e3f"));
        assert_ne!(*ntowf_v2(PASSWORD, USER, "DOMAIN"), *key);
        assert_eq!(*ntowf_v2(PASSWORD, "user", DOMAIN), *key);
        let ch = ChallengeMessage::parse(&V2_CHALLENGE).unwrap();
        let info = ch.target_info.as_ref().unwrap();
        assert_eq!(info.name(AvId::NB_DOMAIN_NAME).as_deref(), Some("Domain"));
        assert_eq!(info.name(AvId::NB_COMPUTER_NAME).as_deref(), Some("Server"));
        assert_eq!(info.timestamp(), None);
        let r = ntlm_v2_responses(
            &key,
            &SERVER_CHALLENGE,
            &CLIENT_CHALLENGE,
            0,
            &info.encode(),
            false,
        );
        // 4.2.4.1.2 Session Base Key, 4.2.4.2.1 LMv2, 4.2.4.2.2 NTProofStr, 4.2.4.2.3 key.
        assert_eq!(
            *r.session_base_key,
            hex!("8de40ccadbc14a82f15cb0ad0de95ca3")
        );
        assert_eq!(
            r.lm_response,
            hex!("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
        );
        assert_eq!(r.nt_proof_str, hex!("68cd0ab851e51c96aabc927bebef6a1c"));
        // temp ends with the AV pairs (EOL included) and then Z(4).
        assert!(r.nt_response.ends_with(&hex!("0000000000000000")));
        let enc = encrypt_session_key(&r.session_base_key, &RANDOM_SESSION_KEY);
        assert_eq!(enc, hex!("c5dad2544fc9799094ce1ce90bc9d03e"));
        // 4.2.4.3: the whole AUTHENTICATE_MESSAGE, byte for byte.
        let msg = authenticate_message(&AuthenticateFields {
            flags: NegotiateFlags(0xe288_8235),
            lm_response: &r.lm_response,
            nt_response: &r.nt_response,
            domain: &utf16le(DOMAIN),
            user: &utf16le(USER),
            workstation: &utf16le("COMPUTER"),
            encrypted_random_session_key: Some(&enc),
            version: Some(hex!("0501280a0000000f")),
            with_mic: false,
        })
        .unwrap();
        assert_eq!(msg, V2_AUTHENTICATE);
    }

    #[test]
    fn gss_wrapex_4_2_4_4() {
        // NTLMv2, flags of 4.2.4 (ESS, 128-bit, KEY_EXCH): keys from the RandomSessionKey.
        let flags = NegotiateFlags(0xe28a_8233);
        assert_eq!(
            sign_key(flags, &RANDOM_SESSION_KEY, Direction::ClientToServer).unwrap(),
            hex!("4788dc861b4782f35d43fd98fe1a2d39")
        );
        assert_eq!(
            seal_key(flags, &RANDOM_SESSION_KEY, Direction::ClientToServer),
            hex!("59f600973cc4960a25480a7c196e4c58")
        );
        let mut sec = SessionSecurity::client(flags, &RANDOM_SESSION_KEY);
        let mut data = PLAINTEXT;
        let sig = sec.seal(0, &mut data);
        assert_eq!(data, hex!("54e50165bf1936dc996020c1811b0f06fb5f"));
        assert_eq!(sig, hex!("010000007fb38ec5c55d497600000000"));
        // Without KEY_EXCH the checksum is not RC4-sealed: HMAC_MD5(...)[0..7] as is.
        let mut sec =
            SessionSecurity::client(flags.without(NegotiateFlags::KEY_EXCH), &RANDOM_SESSION_KEY);
        assert_eq!(
            sec.sign(0, &PLAINTEXT),
            hex!("0100000070352851f256430900000000")
        );
    }

    #[test]
    fn gss_wrapex_4_2_2_4_without_ess() {
        // NTLMv1 without ESS (flags 0xe2028233): SealKey = ExportedSessionKey, CRC32 checksum.
        let flags = NegotiateFlags(0xe202_8233);
        assert_eq!(
            sign_key(flags, &RANDOM_SESSION_KEY, Direction::ClientToServer),
            None
        );
        let mut sec = SessionSecurity::client(flags, &RANDOM_SESSION_KEY);
        let mut data = PLAINTEXT;
        let sig = sec.seal(0, &mut data);
        assert_eq!(data, hex!("56fe04d861f9319af0d7238a2e3b4d457fb8"));
        assert_eq!(sig, hex!("0100000045c844e509dcd1df2e459d36"));
    }

    /// A signature made with the server's keys verifies; a flipped bit or another sequence
    /// number does not.
    #[test]
    fn verify_uses_server_to_client_keys() {
        for flags in [NegotiateFlags(0xe28a_8233), NegotiateFlags(0xe202_8233)] {
            let key = [0x42; 16];
            // Play the server: its sending half is our ServerToClient half.
            let mut server = Half::new(flags, &key, Direction::ServerToClient);
            let sig = server.mac(flags, 0, b"mechTypes");
            let mut client = SessionSecurity::client(flags, &key);
            assert!(client.verify(0, b"mechTypes", &sig));
            let mut client = SessionSecurity::client(flags, &key);
            assert!(!client.verify(1, b"mechTypes", &sig));
            let mut client = SessionSecurity::client(flags, &key);
            let mut bad = sig;
            bad[13] ^= 1;
            assert!(!client.verify(0, b"mechTypes", &bad));
            let mut client = SessionSecurity::client(flags, &key);
            assert!(!client.verify(0, b"mechTypes", &sig[..15]));
        }
    }

    #[test]
    fn negotiate_message_layout() {
        let f = client_flags(NtlmMode::V2, false);
        let m = negotiate_message(f);
        assert_eq!(m.len(), 40);
        assert_eq!(&m[..8], b"NTLMSSP\0");
        assert_eq!(u32::from_le_bytes(m[8..12].try_into().unwrap()), 1);
        let got = NegotiateFlags(u32::from_le_bytes(m[12..16].try_into().unwrap()));
        assert_eq!(got, f);
        assert!(got.contains(NegotiateFlags::EXTENDED_SESSIONSECURITY | NegotiateFlags::KEY_EXCH));
        assert!(
            !client_flags(NtlmMode::V1, false).contains(NegotiateFlags::EXTENDED_SESSIONSECURITY)
        );
        assert!(
            client_flags(NtlmMode::V1, true).contains(NegotiateFlags::EXTENDED_SESSIONSECURITY)
        );
        assert!(client_flags(NtlmMode::Anonymous, false).contains(NegotiateFlags::ANONYMOUS));
    }

    fn challenge_with_info(info: &[u8], flags: u32) -> Vec<u8> {
        let mut m = Vec::new();
        m.put(&SIGNATURE);
        m.put_u32(NTLM_CHALLENGE);
        m.put_u16(0);
        m.put_u16(0);
        m.put_u32(56);
        m.put_u32(flags);
        m.put(&SERVER_CHALLENGE);
        m.put_zeros(8);
        m.put_u16(info.len() as u16);
        m.put_u16(info.len() as u16);
        m.put_u32(56);
        m.put(&CLIENT_VERSION);
        m.put(info);
        m
    }

    #[test]
    fn challenge_parser_rejects_hostile_input_without_panicking() {
        // Every truncation of a valid message is an error (or, for a cut before TargetInfo
        // fields when TARGET_INFO is not set, a valid short form), never a panic.
        for n in 0..V2_CHALLENGE.len() {
            assert!(
                ChallengeMessage::parse(&V2_CHALLENGE[..n]).is_err(),
                "prefix {n}"
            );
        }
        // Wrong signature / type.
        let mut m = V2_CHALLENGE;
        m[0] = b'X';
        assert!(ChallengeMessage::parse(&m).is_err());
        let mut m = V2_CHALLENGE;
        m[8] = 3;
        assert!(ChallengeMessage::parse(&m).is_err());
        // TargetInfo offset past the end, and offset + length overflowing.
        let mut m = V2_CHALLENGE;
        m[44..48].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert!(matches!(
            ChallengeMessage::parse(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        let mut m = V2_CHALLENGE;
        m[40..42].copy_from_slice(&0xffffu16.to_le_bytes());
        assert!(matches!(
            ChallengeMessage::parse(&m),
            Err(DecodeError::OutOfBounds { .. })
        ));
        // TargetName past the end.
        let mut m = V2_CHALLENGE;
        m[16..20].copy_from_slice(&200u32.to_le_bytes());
        assert!(ChallengeMessage::parse(&m).is_err());
        // AV pair list without MsvAvEOL.
        let no_eol = hex!("02000c0044006f006d00610069006e00");
        assert!(ChallengeMessage::parse(&challenge_with_info(&no_eol, 0xe28a_8233)).is_err());
        // An AV pair whose length runs past the list.
        let long = hex!("0200ff0044006f0000000000");
        assert!(ChallengeMessage::parse(&challenge_with_info(&long, 0xe28a_8233)).is_err());
        // A timestamp of the wrong size.
        let bad_ts = hex!("0700040001020304 00000000");
        assert!(ChallengeMessage::parse(&challenge_with_info(&bad_ts, 0xe28a_8233)).is_err());
        // Too many pairs.
        let mut many = Vec::new();
        for _ in 0..=MAX_AV_PAIRS {
            many.put(&hex!("09000000"));
        }
        many.put(&hex!("00000000"));
        assert!(matches!(
            ChallengeMessage::parse(&challenge_with_info(&many, 0xe28a_8233)),
            Err(DecodeError::TooLarge { .. })
        ));
        // TARGET_INFO set but the message stops before TargetInfoFields.
        let mut short = V1_ESS_CHALLENGE[..32].to_vec();
        short[12..20].fill(0);
        short[20..24].copy_from_slice(&0xe28a_8233u32.to_le_bytes());
        assert!(matches!(
            ChallengeMessage::parse(&short),
            Err(DecodeError::Truncated {
                what: "CHALLENGE.Reserved",
                ..
            })
        ));
        // Without TARGET_INFO the TargetInfoFields are not looked at, even when they are junk.
        let mut m = V2_CHALLENGE;
        m[20..24].copy_from_slice(&0xe20a_8233u32.to_le_bytes());
        m[44..48].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
        assert_eq!(ChallengeMessage::parse(&m).unwrap().target_info, None);
    }

    #[test]
    fn challenge_parser_keeps_unknown_pairs_and_reads_timestamp() {
        let info = hex!(
            "0100040053005300"  // NbComputerName "SS"
            "3412020099aa"      // unknown id 0x1234, 2 bytes
            "0700080000e1f50500000000" // Timestamp 100000000
            "00000000"          // EOL
            "ffffffff"          // trailing bytes after EOL are ignored
        );
        let ch = ChallengeMessage::parse(&challenge_with_info(&info, 0xe28a_8233)).unwrap();
        let ti = ch.target_info.unwrap();
        assert_eq!(ti.pairs.len(), 3);
        assert_eq!(ti.get(AvId(0x1234)), Some(&[0x99, 0xaa][..]));
        assert_eq!(ti.timestamp(), Some(100_000_000));
        // Round trip drops nothing but the bytes after EOL.
        assert_eq!(ti.encode(), info[..info.len() - 4].to_vec());
        // Old servers: a 32-byte message without TargetInfo fields is fine when TARGET_INFO is
        // not set.
        let mut short = V1_ESS_CHALLENGE[..32].to_vec();
        short[12..20].fill(0); // no TargetName either
        let ch = ChallengeMessage::parse(&short).unwrap();
        assert_eq!(ch.server_challenge, SERVER_CHALLENGE);
        assert!(ch.target_info.is_none());
    }

    #[test]
    fn add_flags_sets_or_merges_msv_av_flags() {
        let mut ti = TargetInfo::default();
        ti.add_flags(AV_FLAG_MIC_PRESENT);
        assert_eq!(ti.flags(), Some(2));
        ti.add_flags(1);
        assert_eq!(ti.flags(), Some(3));
        assert_eq!(ti.pairs.len(), 1);
    }

    fn input<'a>(
        mode: NtlmMode,
        negotiate: &'a [u8],
        raw: &'a [u8],
        ch: &'a ChallengeMessage,
    ) -> AuthenticateInput<'a> {
        AuthenticateInput {
            mode,
            user: USER,
            domain: DOMAIN,
            password: PASSWORD,
            workstation: "COMPUTER",
            negotiate_flags: client_flags(mode, true),
            negotiate,
            challenge_raw: raw,
            challenge: ch,
            client_challenge: &CLIENT_CHALLENGE,
            random_session_key: &RANDOM_SESSION_KEY,
            now: 0,
        }
    }

    /// The high-level builder on the 4.2.4 CHALLENGE gives the 4.2.4.3 responses and key (the
    /// header differs only in our flags and Version).
    #[test]
    fn authenticate_v2_matches_4_2_4_3_payload() {
        let ch = ChallengeMessage::parse(&V2_CHALLENGE).unwrap();
        let neg = negotiate_message(client_flags(NtlmMode::V2, false));
        let out = authenticate(&input(NtlmMode::V2, &neg, &V2_CHALLENGE, &ch)).unwrap();
        assert!(!out.mic_sent);
        assert_eq!(*out.exported_session_key, RANDOM_SESSION_KEY);
        assert_eq!(&out.message[72..], &V2_AUTHENTICATE[72..]);
        // Same flags as the spec's 0xe2888235; only the Version (64..72) differs.
        assert_eq!(&out.message[..64], &V2_AUTHENTICATE[..64]);
    }

    #[test]
    fn authenticate_v2_with_timestamp_sends_mic_and_zero_lm() {
        let info = hex!(
            "02000c0044006f006d00610069006e00"
            "0700080011223344556677 88"
            "00000000"
        );
        let raw = challenge_with_info(&info, 0xe28a_8235);
        let ch = ChallengeMessage::parse(&raw).unwrap();
        let neg = negotiate_message(client_flags(NtlmMode::V2, false));
        let out = authenticate(&input(NtlmMode::V2, &neg, &raw, &ch)).unwrap();
        assert!(out.mic_sent);
        let m = &out.message;
        // LM response: 24 zero bytes. Its Fields are at offset 12.
        let lm_len = usize::from(u16::from_le_bytes([m[12], m[13]]));
        let lm_off = u32::from_le_bytes(m[16..20].try_into().unwrap()) as usize;
        assert_eq!(&m[lm_off..lm_off + lm_len], &[0u8; 24]);
        // The NT response's temp carries the server's timestamp and MsvAvFlags = 2.
        let nt_len = usize::from(u16::from_le_bytes([m[20], m[21]]));
        let nt_off = u32::from_le_bytes(m[24..28].try_into().unwrap()) as usize;
        let nt = &m[nt_off..nt_off + nt_len];
        assert_eq!(&nt[24..32], &0x8877_6655_4433_2211u64.to_le_bytes());
        let echoed = TargetInfo::parse(&nt[44..]).unwrap();
        assert_eq!(echoed.flags(), Some(AV_FLAG_MIC_PRESENT));
        assert_eq!(echoed.timestamp(), Some(0x8877_6655_4433_2211));
        // MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE || CHALLENGE || AUTHENTICATE-with-zero-MIC).
        let mut zeroed = m.clone();
        zeroed[MIC_OFFSET..MIC_OFFSET + 16].fill(0);
        let want = hmac_md5(&RANDOM_SESSION_KEY, &[&neg, &raw, &zeroed]);
        assert_eq!(&m[MIC_OFFSET..MIC_OFFSET + 16], &want);
        // Payload starts after the MIC.
        let dom_off = u32::from_le_bytes(m[32..36].try_into().unwrap()) as usize;
        assert_eq!(dom_off, 88);
    }

    #[test]
    fn authenticate_v2_needs_target_info_and_unicode() {
        let ch = ChallengeMessage::parse(&V1_ESS_CHALLENGE).unwrap();
        let neg = negotiate_message(client_flags(NtlmMode::V2, false));
        assert!(matches!(
            authenticate(&input(NtlmMode::V2, &neg, &V1_ESS_CHALLENGE, &ch)),
            Err(AuthError::Incompatible(_))
        ));
        let mut oem = ChallengeMessage::parse(&V2_CHALLENGE).unwrap();
        oem.flags = oem.flags.without(NegotiateFlags::UNICODE);
        assert!(matches!(
            authenticate(&input(NtlmMode::V2, &neg, &V2_CHALLENGE, &oem)),
            Err(AuthError::Incompatible(_))
        ));
    }

    #[test]
    fn authenticate_v1_ess_and_plain() {
        // 4.2.3 CHALLENGE has ESS and no KEY_EXCH: ExportedSessionKey = KeyExchangeKey.
        let ch = ChallengeMessage::parse(&V1_ESS_CHALLENGE).unwrap();
        let neg = negotiate_message(client_flags(NtlmMode::V1, true));
        let out = authenticate(&input(NtlmMode::V1, &neg, &V1_ESS_CHALLENGE, &ch)).unwrap();
        assert_eq!(
            *out.exported_session_key,
            hex!("eb93429a8bd952f8b89c55b87f475edc")
        );
        assert!(!out.flags.contains(NegotiateFlags::KEY_EXCH));
        let m = &out.message;
        assert!(
            m.windows(24)
                .any(|w| w == hex!("7537f803ae367128ca458204bde7caf81e97ed2683267232"))
        );
        // Key field empty.
        assert_eq!(&m[52..54], &[0, 0]);
        // Same CHALLENGE without ESS and with KEY_EXCH: the 4.2.2 responses and key.
        let mut plain = ch.clone();
        plain.flags = NegotiateFlags(0xe202_8233);
        let neg = negotiate_message(client_flags(NtlmMode::V1, false));
        let mut inp = input(NtlmMode::V1, &neg, &V1_ESS_CHALLENGE, &plain);
        inp.negotiate_flags = client_flags(NtlmMode::V1, false);
        let out = authenticate(&inp).unwrap();
        let m = &out.message;
        assert!(
            m.windows(24)
                .any(|w| w == hex!("67c43011f30298a2ad35ece64f16331c44bdbed927841f94"))
        );
        assert!(m.ends_with(&hex!("518822b1b3f350c8958682ecbb3e3cb7")));
        assert_eq!(*out.exported_session_key, RANDOM_SESSION_KEY);
    }

    #[test]
    fn authenticate_anonymous() {
        let ch = ChallengeMessage::parse(&V2_CHALLENGE).unwrap();
        let neg = negotiate_message(client_flags(NtlmMode::Anonymous, false));
        let out = authenticate(&input(NtlmMode::Anonymous, &neg, &V2_CHALLENGE, &ch)).unwrap();
        let m = &out.message;
        assert!(out.flags.contains(NegotiateFlags::ANONYMOUS));
        assert!(!out.mic_sent);
        // LM = Z(1), NT empty, domain and user empty.
        assert_eq!(&m[12..14], &[1, 0]);
        assert_eq!(&m[20..22], &[0, 0]);
        assert_eq!(&m[28..30], &[0, 0]);
        assert_eq!(&m[36..38], &[0, 0]);
        // KEY_EXCH negotiated: a 16-byte key is still sent (Samba insists on the length),
        // RC4 under the all-zero key.
        assert_eq!(&m[52..54], &[16, 0]);
        assert!(m.ends_with(&encrypt_session_key(&[0; 16], &RANDOM_SESSION_KEY)));
    }

    #[test]
    fn authenticate_message_rejects_overlong_names() {
        let big = vec![0u8; 70_000];
        let e = authenticate_message(&AuthenticateFields {
            flags: NegotiateFlags::empty(),
            lm_response: &[],
            nt_response: &[],
            domain: &[],
            user: &big,
            workstation: &[],
            encrypted_random_session_key: None,
            version: None,
            with_mic: false,
        });
        assert_eq!(e.unwrap_err(), AuthError::TooLong("user name"));
    }
}
