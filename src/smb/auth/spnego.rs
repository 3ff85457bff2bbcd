//! SPNEGO (RFC 4178, [MS-SPNG]) tokens with a small hand-written DER reader and writer.
//!
//! The reader is bounded the rustls way: every length is checked against the bytes that remain
//! in its enclosing element, indefinite and over-long length forms are refused, nesting is
//! limited to [`MAX_DEPTH`], and the number of mechanism OIDs to [`MAX_MECHS`]. Nothing here can
//! panic on input.
use super::AuthError;

/// 1.3.6.1.5.5.2, SPNEGO (RFC 4178 3.1, the GSS-API InitialContextToken thisMech).
pub const OID_SPNEGO: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// 1.3.6.1.4.1.311.2.2.10, NTLMSSP (MS-SPNG 1.9).
pub const OID_NTLMSSP: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// 1.2.840.113554.1.2.2, Kerberos 5.
pub const OID_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// 1.2.840.48018.1.2.2, Microsoft's Kerberos 5 variant (MS-SPNG 1.9).
pub const OID_MS_KRB5: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// 1.3.6.1.4.1.311.2.2.30, NEGOEX (MS-NEGOEX).
pub const OID_NEGOEX: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x1e];

/// Deepest nesting the reader accepts (SPNEGO itself needs 6 levels).
pub const MAX_DEPTH: usize = 8;
/// Most mechanism OIDs accepted in one MechTypeList.
pub const MAX_MECHS: usize = 32;

const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_ENUMERATED: u8 = 0x0a;
const TAG_SEQUENCE: u8 = 0x30;
/// [APPLICATION 0] constructed: the GSS-API InitialContextToken framing (RFC 2743 3.1).
const TAG_GSS_INITIAL: u8 = 0x60;

/// A context-specific constructed tag `[n]`.
const fn ctx(n: u8) -> u8 {
    0xa0 | n
}

/// An object identifier, kept as its DER content octets.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Oid(Vec<u8>);

impl Oid {
    pub fn from_der_content(content: &[u8]) -> Self {
        Self(content.to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_ntlmssp(&self) -> bool {
        self.0 == OID_NTLMSSP
    }

    /// Dotted-decimal arcs, or `None` if the encoding is not a valid OID.
    fn arcs(&self) -> Option<Vec<u64>> {
        let mut arcs = Vec::new();
        let mut v: u64 = 0;
        let mut in_arc = false;
        for &b in &self.0 {
            v = v.checked_mul(128)?.checked_add(u64::from(b & 0x7f))?;
            in_arc = b & 0x80 != 0;
            if !in_arc {
                if arcs.is_empty() {
                    let first = (v / 40).min(2);
                    arcs.push(first);
                    arcs.push(v - first * 40);
                } else {
                    arcs.push(v);
                }
                v = 0;
            }
        }
        if in_arc || arcs.is_empty() {
            None
        } else {
            Some(arcs)
        }
    }
}

impl std::fmt::Display for Oid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.arcs() {
            Some(arcs) => {
                for (i, a) in arcs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    write!(f, "{a}")?;
                }
                Ok(())
            }
            None => {
                f.write_str("invalid OID ")?;
                for b in &self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::fmt::Debug for Oid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Oid({self})")
    }
}

/// negState (RFC 4178 4.2.2), open: an unknown value is kept and reported.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NegState(pub u8);

impl NegState {
    pub const ACCEPT_COMPLETED: Self = Self(0);
    pub const ACCEPT_INCOMPLETE: Self = Self(1);
    pub const REJECT: Self = Self(2);
    pub const REQUEST_MIC: Self = Self(3);
}

impl std::fmt::Debug for NegState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match *self {
            Self::ACCEPT_COMPLETED => "accept-completed",
            Self::ACCEPT_INCOMPLETE => "accept-incomplete",
            Self::REJECT => "reject",
            Self::REQUEST_MIC => "request-mic",
            _ => return write!(f, "NegState({})", self.0),
        };
        f.write_str(name)
    }
}

/// NegTokenInit (RFC 4178 4.2.1) inside the GSS-API InitialContextToken framing; also reads the
/// server's NegTokenInit2 (MS-SPNG 2.2.1), whose extra negHints are skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NegTokenInit {
    pub mech_types: Vec<Oid>,
    pub mech_token: Option<Vec<u8>>,
}

impl NegTokenInit {
    /// The DER of MechTypeList, which is what the mechListMIC covers (RFC 4178 5: "the MIC
    /// computed over the DER encoding of the MechTypeList").
    pub fn mech_type_list(&self) -> Vec<u8> {
        let mut list = Vec::new();
        for m in &self.mech_types {
            list.extend_from_slice(&tlv(TAG_OID, m.as_bytes()));
        }
        tlv(TAG_SEQUENCE, &list)
    }

    /// `60 len { 06 OID_SPNEGO, a0 len { 30 len { a0 MechTypeList, [a2 04 mechToken] } } }`.
    pub fn encode(&self) -> Vec<u8> {
        let mut seq = tlv(ctx(0), &self.mech_type_list());
        if let Some(t) = &self.mech_token {
            seq.extend_from_slice(&tlv(ctx(2), &tlv(TAG_OCTET_STRING, t)));
        }
        let mut inner = tlv(TAG_OID, OID_SPNEGO);
        inner.extend_from_slice(&tlv(ctx(0), &tlv(TAG_SEQUENCE, &seq)));
        tlv(TAG_GSS_INITIAL, &inner)
    }

    /// Parse an InitialContextToken carrying a NegTokenInit or NegTokenInit2.
    pub fn parse(buf: &[u8]) -> Result<Self, AuthError> {
        let mut top = Der::new(buf);
        let mut app = top.enter(TAG_GSS_INITIAL, "InitialContextToken")?;
        top.end("InitialContextToken")?;
        let this_mech = app.expect(TAG_OID, "thisMech")?;
        if this_mech != OID_SPNEGO {
            return Err(AuthError::UnsupportedMechanism {
                oid: Oid::from_der_content(this_mech).to_string(),
            });
        }
        let mut choice = app.enter(ctx(0), "negTokenInit")?;
        app.end("InitialContextToken")?;
        let mut seq = choice.enter(TAG_SEQUENCE, "NegTokenInit")?;
        choice.end("negTokenInit")?;
        // mechTypes [0] is not OPTIONAL in either NegTokenInit or NegTokenInit2.
        let mut types = seq.enter(ctx(0), "mechTypes")?;
        let mut list = types.enter(TAG_SEQUENCE, "MechTypeList")?;
        types.end("mechTypes")?;
        let mut mech_types = Vec::new();
        while !list.is_empty() {
            if mech_types.len() >= MAX_MECHS {
                return Err(malformed("MechTypeList", "too many mechanisms"));
            }
            mech_types.push(Oid::from_der_content(list.expect(TAG_OID, "MechType")?));
        }
        seq.optional(ctx(1), "reqFlags")?;
        let mech_token = match seq.optional(ctx(2), "mechToken")? {
            Some(c) => Some(
                seq.child(c, "mechToken")?
                    .only(TAG_OCTET_STRING, "mechToken")?
                    .to_vec(),
            ),
            None => None,
        };
        // [3] (mechListMIC, or negHints in NegTokenInit2), [4] and extensions: skipped, but each
        // still has to be a well-formed element inside the sequence.
        while !seq.is_empty() {
            seq.tlv("NegTokenInit extension")?;
        }
        Ok(Self {
            mech_types,
            mech_token,
        })
    }
}

/// NegTokenResp (RFC 4178 4.2.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NegTokenResp {
    pub neg_state: Option<NegState>,
    pub supported_mech: Option<Oid>,
    pub response_token: Option<Vec<u8>>,
    pub mech_list_mic: Option<Vec<u8>>,
}

impl NegTokenResp {
    /// `a1 len { 30 len { [a0 0a negState] [a1 06 supportedMech] [a2 04 responseToken]
    /// [a3 04 mechListMIC] } }`.
    pub fn encode(&self) -> Vec<u8> {
        let mut seq = Vec::new();
        if let Some(s) = self.neg_state {
            seq.extend_from_slice(&tlv(ctx(0), &tlv(TAG_ENUMERATED, &[s.0])));
        }
        if let Some(m) = &self.supported_mech {
            seq.extend_from_slice(&tlv(ctx(1), &tlv(TAG_OID, m.as_bytes())));
        }
        if let Some(t) = &self.response_token {
            seq.extend_from_slice(&tlv(ctx(2), &tlv(TAG_OCTET_STRING, t)));
        }
        if let Some(m) = &self.mech_list_mic {
            seq.extend_from_slice(&tlv(ctx(3), &tlv(TAG_OCTET_STRING, m)));
        }
        tlv(ctx(1), &tlv(TAG_SEQUENCE, &seq))
    }

    pub fn parse(buf: &[u8]) -> Result<Self, AuthError> {
        let mut top = Der::new(buf);
        let mut choice = top.enter(ctx(1), "negTokenResp")?;
        top.end("negTokenResp")?;
        let mut seq = choice.enter(TAG_SEQUENCE, "NegTokenResp")?;
        choice.end("negTokenResp")?;
        let neg_state = match seq.optional(ctx(0), "negState")? {
            Some(c) => {
                let v = seq.child(c, "negState")?.only(TAG_ENUMERATED, "negState")?;
                match v {
                    [s] => Some(NegState(*s)),
                    _ => return Err(malformed("negState", "ENUMERATED is not one byte")),
                }
            }
            None => None,
        };
        let supported_mech = match seq.optional(ctx(1), "supportedMech")? {
            Some(c) => {
                let oid = seq
                    .child(c, "supportedMech")?
                    .only(TAG_OID, "supportedMech")?;
                Some(Oid::from_der_content(oid))
            }
            None => None,
        };
        let response_token = match seq.optional(ctx(2), "responseToken")? {
            Some(c) => {
                let t = seq
                    .child(c, "responseToken")?
                    .only(TAG_OCTET_STRING, "responseToken")?;
                Some(t.to_vec())
            }
            None => None,
        };
        let mech_list_mic = match seq.optional(ctx(3), "mechListMIC")? {
            Some(c) => {
                let m = seq
                    .child(c, "mechListMIC")?
                    .only(TAG_OCTET_STRING, "mechListMIC")?;
                Some(m.to_vec())
            }
            None => None,
        };
        while !seq.is_empty() {
            seq.tlv("NegTokenResp extension")?;
        }
        Ok(Self {
            neg_state,
            supported_mech,
            response_token,
            mech_list_mic,
        })
    }
}

/// The mechanisms a server lists in the NegTokenInit2 hint of its SMB2 NEGOTIATE response
/// (MS-SMB2 3.3.5.4, MS-SPNG 3.2.5.2). An empty buffer (the server sent no hint) gives an empty
/// list: the client then simply proposes NTLMSSP.
pub fn server_mechanisms(hint: &[u8]) -> Result<Vec<Oid>, AuthError> {
    if hint.is_empty() {
        return Ok(Vec::new());
    }
    Ok(NegTokenInit::parse(hint)?.mech_types)
}

/// Whether NTLMSSP may be proposed to a server given its NEGOTIATE hint: yes if the hint is
/// empty, lists no mechanisms, or lists NTLMSSP; otherwise `UnsupportedMechanism` naming the
/// server's first choice.
pub fn check_server_hint(hint: &[u8]) -> Result<(), AuthError> {
    let mechs = server_mechanisms(hint)?;
    match mechs.first() {
        None => Ok(()),
        Some(_) if mechs.iter().any(Oid::is_ntlmssp) => Ok(()),
        Some(first) => Err(AuthError::UnsupportedMechanism {
            oid: first.to_string(),
        }),
    }
}

fn malformed(what: &'static str, reason: &'static str) -> AuthError {
    AuthError::MalformedToken { what, reason }
}

/// One DER element: tag, definite length (short or long form, minimal number of octets not
/// required), content.
pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// A bounded DER cursor over one element's contents.
struct Der<'a> {
    buf: &'a [u8],
    depth: usize,
}

impl<'a> Der<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, depth: 0 }
    }

    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Read one element: (tag, content). The length must fit in what remains.
    fn tlv(&mut self, what: &'static str) -> Result<(u8, &'a [u8]), AuthError> {
        let Some((&tag, rest)) = self.buf.split_first() else {
            return Err(malformed(what, "truncated before the tag"));
        };
        if tag & 0x1f == 0x1f {
            return Err(malformed(
                what,
                "high-tag-number form is not used by SPNEGO",
            ));
        }
        let Some((&first, rest)) = rest.split_first() else {
            return Err(malformed(what, "truncated before the length"));
        };
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else if first == 0x80 {
            return Err(malformed(what, "indefinite length is not DER"));
        } else {
            let n = usize::from(first & 0x7f);
            if n > 4 {
                return Err(malformed(what, "length has more than 4 octets"));
            }
            let Some((len_bytes, rest)) = rest.split_at_checked(n) else {
                return Err(malformed(what, "truncated inside the length"));
            };
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, rest)
        };
        let Some((content, after)) = rest.split_at_checked(len) else {
            return Err(malformed(
                what,
                "length runs past the end of the enclosing element",
            ));
        };
        self.buf = after;
        Ok((tag, content))
    }

    /// Read one element that must carry `tag`.
    fn expect(&mut self, tag: u8, what: &'static str) -> Result<&'a [u8], AuthError> {
        let (got, content) = self.tlv(what)?;
        if got != tag {
            return Err(malformed(what, "unexpected tag"));
        }
        Ok(content)
    }

    /// Read the next element if it carries `tag`.
    fn optional(&mut self, tag: u8, what: &'static str) -> Result<Option<&'a [u8]>, AuthError> {
        if self.buf.first() == Some(&tag) {
            self.expect(tag, what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A cursor over `content`, one level deeper.
    fn child(&self, content: &'a [u8], what: &'static str) -> Result<Der<'a>, AuthError> {
        if self.depth >= MAX_DEPTH {
            return Err(malformed(what, "nested too deeply"));
        }
        Ok(Der {
            buf: content,
            depth: self.depth + 1,
        })
    }

    /// Read a `tag` element and descend into it.
    fn enter(&mut self, tag: u8, what: &'static str) -> Result<Der<'a>, AuthError> {
        let content = self.expect(tag, what)?;
        self.child(content, what)
    }

    /// The contents must be exactly one `tag` element.
    fn only(mut self, tag: u8, what: &'static str) -> Result<&'a [u8], AuthError> {
        let content = self.expect(tag, what)?;
        self.end(what)?;
        Ok(content)
    }

    fn end(&self, what: &'static str) -> Result<(), AuthError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(malformed(what, "trailing data"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    fn ntlm_init() -> NegTokenInit {
        NegTokenInit {
            mech_types: vec![Oid::from_der_content(OID_NTLMSSP)],
            mech_token: Some(b"NTLMSSP\0\x01\0\0\0".to_vec()),
        }
    }

    #[test]
    fn neg_token_init_encoding_and_round_trip() {
        let t = ntlm_init();
        let der = t.encode();
        // The layout every SMB client sends (as Wireshark shows smbclient's first token).
        assert_eq!(
            der,
            hex!(
                "602c06062b0601050502a0223020a00e300c060a2b06010401823702020a"
                "a20e040c4e544c4d5353500001000000"
            )
        );
        assert_eq!(t.mech_type_list(), hex!("300c060a2b06010401823702020a"));
        assert_eq!(NegTokenInit::parse(&der).unwrap(), t);
    }

    #[test]
    fn neg_token_resp_round_trip_all_fields() {
        let r = NegTokenResp {
            neg_state: Some(NegState::ACCEPT_INCOMPLETE),
            supported_mech: Some(Oid::from_der_content(OID_NTLMSSP)),
            response_token: Some(vec![7; 300]),
            mech_list_mic: Some(vec![1; 16]),
        };
        let der = r.encode();
        // 300-byte token: long-form length 0x82 0x01 0x2c.
        assert!(der.windows(4).any(|w| w == [0x04, 0x82, 0x01, 0x2c]));
        assert_eq!(NegTokenResp::parse(&der).unwrap(), r);
        let empty = NegTokenResp::default();
        assert_eq!(empty.encode(), hex!("a1023000"));
        assert_eq!(NegTokenResp::parse(&empty.encode()).unwrap(), empty);
    }

    #[test]
    fn parses_a_final_accept_completed() {
        // Samba's final token: accept-completed plus a 16-byte mechListMIC.
        let der = hex!("a11b3019a0030a0100a3120410 01000000aabbccddeeff001100000000");
        let r = NegTokenResp::parse(&der).unwrap();
        assert_eq!(r.neg_state, Some(NegState::ACCEPT_COMPLETED));
        assert_eq!(r.mech_list_mic.as_deref().map(<[u8]>::len), Some(16));
        assert!(r.response_token.is_none());
    }

    /// A Windows/Samba NegTokenInit2 hint: mechTypes then negHints with hintName.
    #[test]
    fn server_hint_negtokeninit2() {
        let hints = {
            let name = tlv(0x1b, b"not_defined_in_RFC4178@please_ignore");
            tlv(ctx(3), &tlv(TAG_SEQUENCE, &tlv(ctx(0), &name)))
        };
        let mut list = Vec::new();
        for oid in [OID_NEGOEX, OID_MS_KRB5, OID_KRB5, OID_NTLMSSP] {
            list.extend_from_slice(&tlv(TAG_OID, oid));
        }
        let mut seq = tlv(ctx(0), &tlv(TAG_SEQUENCE, &list));
        seq.extend_from_slice(&hints);
        let mut inner = tlv(TAG_OID, OID_SPNEGO);
        inner.extend_from_slice(&tlv(ctx(0), &tlv(TAG_SEQUENCE, &seq)));
        let hint = tlv(TAG_GSS_INITIAL, &inner);
        let mechs = server_mechanisms(&hint).unwrap();
        let names: Vec<String> = mechs.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "1.3.6.1.4.1.311.2.2.30",
                "1.2.840.48018.1.2.2",
                "1.2.840.113554.1.2.2",
                "1.3.6.1.4.1.311.2.2.10"
            ]
        );
        assert!(check_server_hint(&hint).is_ok());
        assert!(check_server_hint(&[]).is_ok());
        assert!(server_mechanisms(&[]).unwrap().is_empty());
        // A server that offers only Kerberos.
        let krb_only = NegTokenInit {
            mech_types: vec![Oid::from_der_content(OID_KRB5)],
            mech_token: None,
        };
        assert_eq!(
            check_server_hint(&krb_only.encode()),
            Err(AuthError::UnsupportedMechanism {
                oid: "1.2.840.113554.1.2.2".into()
            })
        );
    }

    #[test]
    fn rejects_truncation_at_every_length() {
        let init = ntlm_init().encode();
        for n in 0..init.len() {
            assert!(NegTokenInit::parse(&init[..n]).is_err(), "init prefix {n}");
        }
        let resp = NegTokenResp {
            neg_state: Some(NegState::ACCEPT_INCOMPLETE),
            supported_mech: Some(Oid::from_der_content(OID_NTLMSSP)),
            response_token: Some(vec![9; 200]),
            mech_list_mic: None,
        }
        .encode();
        for n in 0..resp.len() {
            assert!(NegTokenResp::parse(&resp[..n]).is_err(), "resp prefix {n}");
        }
    }

    #[test]
    fn rejects_bad_lengths_and_trailing_data() {
        // Length longer than the input.
        assert!(NegTokenResp::parse(&hex!("a1053000")).is_err());
        // Indefinite length.
        assert!(NegTokenResp::parse(&hex!("a180300000000000")).is_err());
        // Five length octets.
        assert!(NegTokenResp::parse(&hex!("a18500000000023000")).is_err());
        // Long-form length far past the end (no overflow, no allocation).
        assert!(NegTokenResp::parse(&hex!("a184ffffffff3000")).is_err());
        // Inner length past its enclosing element.
        assert!(NegTokenResp::parse(&hex!("a1023005")).is_err());
        // Trailing bytes after the token.
        assert!(NegTokenResp::parse(&hex!("a102300000")).is_err());
        // negState not one byte, or of the wrong type.
        assert!(NegTokenResp::parse(&hex!("a1083006a0040a020000")).is_err());
        assert!(NegTokenResp::parse(&hex!("a1073005a003020100")).is_err());
        // High tag number form.
        assert!(NegTokenResp::parse(&hex!("bf0100")).is_err());
        // The wrong GSS mechanism in the initial token.
        let mut wrong = ntlm_init().encode();
        wrong[8] = 0x03;
        assert!(matches!(
            NegTokenInit::parse(&wrong),
            Err(AuthError::UnsupportedMechanism { .. })
        ));
    }

    #[test]
    fn depth_is_limited() {
        // 12 nested SEQUENCEs: the reader stops at MAX_DEPTH.
        let mut der = Vec::new();
        for _ in 0..12 {
            der = tlv(TAG_SEQUENCE, &der);
        }
        let mut d = Der::new(&der);
        let mut reached = 0;
        let err = loop {
            match d.enter(TAG_SEQUENCE, "nested") {
                Ok(inner) => {
                    d = inner;
                    reached += 1;
                }
                Err(e) => break e,
            }
        };
        assert_eq!(reached, MAX_DEPTH);
        assert_eq!(err, malformed("nested", "nested too deeply"));
    }

    #[test]
    fn too_many_mechanisms_rejected() {
        let t = NegTokenInit {
            mech_types: vec![Oid::from_der_content(OID_NTLMSSP); MAX_MECHS + 1],
            mech_token: None,
        };
        assert!(NegTokenInit::parse(&t.encode()).is_err());
    }

    /// Every single-byte corruption of valid tokens is handled without a panic.
    #[test]
    fn byte_flips_never_panic() {
        let init = ntlm_init().encode();
        let resp = NegTokenResp {
            neg_state: Some(NegState::ACCEPT_INCOMPLETE),
            supported_mech: Some(Oid::from_der_content(OID_NTLMSSP)),
            response_token: Some(vec![9; 40]),
            mech_list_mic: Some(vec![1; 16]),
        }
        .encode();
        for tok in [init, resp] {
            for i in 0..tok.len() {
                for v in [0x00, 0x7f, 0x80, 0x81, 0x84, 0xff] {
                    let mut t = tok.clone();
                    t[i] = v;
                    let _ = NegTokenInit::parse(&t);
                    let _ = NegTokenResp::parse(&t);
                    let _ = server_mechanisms(&t);
                }
            }
        }
    }

    #[test]
    fn oid_display() {
        assert_eq!(
            Oid::from_der_content(OID_SPNEGO).to_string(),
            "1.3.6.1.5.5.2"
        );
        assert_eq!(
            Oid::from_der_content(&[0x88, 0x37, 0x03]).to_string(),
            "2.999.3"
        );
        assert_eq!(
            Oid::from_der_content(&[0x2b, 0x86]).to_string(),
            "invalid OID 2b86"
        );
        assert_eq!(Oid::from_der_content(&[]).to_string(), "invalid OID ");
    }
}
