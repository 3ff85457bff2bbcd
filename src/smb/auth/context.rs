//! The client side of SPNEGO-wrapped NTLMSSP as SMB2 SESSION_SETUP carries it (MS-SMB2
//! 3.2.5.3, MS-SPNG 3.1.5, MS-NLMP 3.1.5.1):
//!
//! 1. [`SpnegoNtlm::initial_token`]: NegTokenInit { mechTypes = [NTLMSSP], mechToken = NEGOTIATE }.
//! 2. [`SpnegoNtlm::step`]: the server's NegTokenResp carrying CHALLENGE in, NegTokenResp
//!    carrying AUTHENTICATE (and the mechListMIC) out.
//! 3. [`SpnegoNtlm::finish`]: the server's final NegTokenResp (accept-completed), whose
//!    mechListMIC is verified when present.
use super::ntlm::{self, AuthenticateInput, ChallengeMessage, NegotiateFlags, SessionSecurity};
use super::spnego::{NegState, NegTokenInit, NegTokenResp, OID_NTLMSSP, Oid};
use super::{AuthError, Credentials};
use zeroize::{Zeroize, Zeroizing};

/// Which NTLM variant to run (MS-NLMP 3.3). "The LM and NTLM authentication versions are not
/// negotiated by the protocol. It MUST be configured on both the client and the server."
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NtlmMode {
    /// NTLMv2 (3.3.2), the default and the only one Samba accepts out of the box.
    V2,
    /// NTLMv1 (3.3.1), with extended session security when the server grants it.
    V1,
    /// The null session (3.1.5.1.2 anonymous): no user, no password, no session key.
    Anonymous,
}

/// The randomness one authentication needs, drawn by the caller (this module has no RNG).
/// Zeroized on drop; `Debug` does not print it.
pub struct AuthRandom {
    /// ClientChallenge (MS-NLMP 3.1.5.1.2: "NONCE(8)").
    pub client_challenge: [u8; 8],
    /// The random session key that becomes the ExportedSessionKey when KEY_EXCH is negotiated
    /// ("Set ExportedSessionKey to NONCE(16)").
    pub exported_session_key: [u8; 16],
}

impl Drop for AuthRandom {
    fn drop(&mut self) {
        self.client_challenge.zeroize();
        self.exported_session_key.zeroize();
    }
}

impl std::fmt::Debug for AuthRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthRandom(<redacted>)")
    }
}

/// What exists once AUTHENTICATE has been built.
struct Established {
    /// DER of the MechTypeList we sent: what both mechListMICs cover.
    mech_list: Vec<u8>,
    /// NTLM session security, for the mechListMIC (absent for the null session).
    security: Option<SessionSecurity>,
    session_key: Option<Zeroizing<[u8; 16]>>,
}

enum State {
    Start,
    SentInit {
        negotiate: Vec<u8>,
        flags: NegotiateFlags,
        mech_list: Vec<u8>,
    },
    SentAuth(Established),
    Done(Established),
    Failed,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::SentInit { .. } => "sent NegTokenInit",
            Self::SentAuth(_) => "sent AUTHENTICATE",
            Self::Done(_) => "done",
            Self::Failed => "failed",
        }
    }
}

/// SPNEGO + NTLMSSP client state machine. Pure: the caller moves the tokens in and out of SMB2
/// SESSION_SETUP requests and responses. After an error the context is spent.
pub struct SpnegoNtlm {
    creds: Credentials,
    mode: NtlmMode,
    workstation: String,
    random: AuthRandom,
    v1_ess: bool,
    state: State,
}

impl std::fmt::Debug for SpnegoNtlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpnegoNtlm")
            .field("user", &self.creds.user())
            .field("mode", &self.mode)
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

impl SpnegoNtlm {
    /// A new context. Anonymous credentials ([`Credentials::is_anonymous`]) always run the null
    /// session, whatever `mode` says; `NtlmMode::Anonymous` ignores the credentials.
    /// `workstation` is sent in AUTHENTICATE's Workstation field.
    pub fn new(creds: Credentials, mode: NtlmMode, workstation: &str, random: AuthRandom) -> Self {
        let mode = if creds.is_anonymous() {
            NtlmMode::Anonymous
        } else {
            mode
        };
        Self {
            creds,
            mode,
            workstation: workstation.to_owned(),
            random,
            v1_ess: true,
            state: State::Start,
        }
    }

    /// For [`NtlmMode::V1`]: whether to request NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
    /// (default on; the server still decides). Off gives plain NTLMv1 (MS-NLMP 4.2.2).
    pub fn with_v1_extended_session_security(mut self, on: bool) -> Self {
        self.v1_ess = on;
        self
    }

    /// The NTLM variant in effect.
    pub fn mode(&self) -> NtlmMode {
        self.mode
    }

    /// SPNEGO NegTokenInit carrying the NTLM NEGOTIATE_MESSAGE.
    pub fn initial_token(&mut self) -> Vec<u8> {
        let flags = ntlm::client_flags(self.mode, self.v1_ess);
        let negotiate = ntlm::negotiate_message(flags);
        let init = NegTokenInit {
            mech_types: vec![Oid::from_der_content(OID_NTLMSSP)],
            mech_token: Some(negotiate.clone()),
        };
        let mech_list = init.mech_type_list();
        self.state = State::SentInit {
            negotiate,
            flags,
            mech_list,
        };
        init.encode()
    }

    /// The server's NegTokenResp carrying CHALLENGE → NegTokenResp carrying AUTHENTICATE and
    /// the mechListMIC (required by Samba when the NTLM MIC is sent). `now` is a FILETIME
    /// (100 ns since 1601) used when the server sent no MsvAvTimestamp.
    pub fn step(&mut self, server_token: &[u8], now: u64) -> Result<Vec<u8>, AuthError> {
        let State::SentInit {
            negotiate,
            flags,
            mech_list,
        } = std::mem::replace(&mut self.state, State::Failed)
        else {
            return Err(AuthError::OutOfOrder(
                "step needs initial_token first, and runs once",
            ));
        };
        let resp = NegTokenResp::parse(server_token)?;
        // RFC 4178 4.2.2: the first reply names the selected mechanism and says
        // accept-incomplete (or request-mic); reject ends the exchange.
        match resp.neg_state {
            None | Some(NegState::ACCEPT_INCOMPLETE) | Some(NegState::REQUEST_MIC) => {}
            Some(NegState::REJECT) => return Err(AuthError::Rejected),
            Some(other) => return Err(AuthError::UnexpectedNegState(other.0)),
        }
        if let Some(mech) = &resp.supported_mech
            && !mech.is_ntlmssp()
        {
            return Err(AuthError::UnsupportedMechanism {
                oid: mech.to_string(),
            });
        }
        let Some(token) = resp.response_token.as_deref() else {
            return Err(AuthError::MalformedToken {
                what: "responseToken",
                reason: "absent: the server sent no NTLM CHALLENGE",
            });
        };
        let challenge = ChallengeMessage::parse(token)?;
        let out = ntlm::authenticate(&AuthenticateInput {
            mode: self.mode,
            user: self.creds.user(),
            domain: self.creds.domain(),
            password: self.creds.password(),
            workstation: &self.workstation,
            negotiate_flags: flags,
            negotiate: &negotiate,
            challenge_raw: token,
            challenge: &challenge,
            client_challenge: &self.random.client_challenge,
            random_session_key: &self.random.exported_session_key,
            now,
        })?;
        let (mut security, session_key) = match self.mode {
            NtlmMode::Anonymous => (None, None),
            NtlmMode::V1 | NtlmMode::V2 => (
                Some(SessionSecurity::client(
                    out.flags,
                    &out.exported_session_key,
                )),
                Some(out.exported_session_key),
            ),
        };
        // MS-SPNG 3.1.5.1 / RFC 4178 5: send mechListMIC when NTLM carried a MIC (Samba then
        // demands it) or the server asked with request-mic. GSS_GetMIC with sequence number 0.
        let want_mic = out.mic_sent || resp.neg_state == Some(NegState::REQUEST_MIC);
        let mech_list_mic = match security.as_mut() {
            Some(sec) if want_mic => Some(sec.sign(0, &mech_list).to_vec()),
            _ => None,
        };
        let reply = NegTokenResp {
            neg_state: None,
            supported_mech: None,
            response_token: Some(out.message),
            mech_list_mic,
        }
        .encode();
        self.state = State::SentAuth(Established {
            mech_list,
            security,
            session_key,
        });
        Ok(reply)
    }

    /// The server's final NegTokenResp (accept-completed); verify its mechListMIC if present.
    /// An empty token is accepted (some servers send none).
    pub fn finish(&mut self, server_token: &[u8]) -> Result<(), AuthError> {
        let State::SentAuth(mut est) = std::mem::replace(&mut self.state, State::Failed) else {
            return Err(AuthError::OutOfOrder(
                "finish needs step first, and runs once",
            ));
        };
        if server_token.is_empty() {
            self.state = State::Done(est);
            return Ok(());
        }
        let resp = NegTokenResp::parse(server_token)?;
        match resp.neg_state {
            None | Some(NegState::ACCEPT_COMPLETED) => {}
            Some(NegState::REJECT) => return Err(AuthError::Rejected),
            Some(other) => return Err(AuthError::UnexpectedNegState(other.0)),
        }
        if resp.response_token.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(AuthError::UnexpectedToken("responseToken"));
        }
        if let Some(mic) = &resp.mech_list_mic
            && let Some(sec) = est.security.as_mut()
        {
            // RFC 4178 5: the acceptor's MIC over the same MechTypeList, with the server's
            // keys and its own sequence number (0). The null session has no keys to check with.
            if !sec.verify(0, &est.mech_list, mic) {
                return Err(AuthError::MechListMicMismatch);
            }
        }
        self.state = State::Done(est);
        Ok(())
    }

    /// ExportedSessionKey once `step` has run (None for anonymous).
    pub fn session_key(&self) -> Option<[u8; 16]> {
        match &self.state {
            State::SentAuth(e) | State::Done(e) => e.session_key.as_ref().map(|k| **k),
            _ => None,
        }
    }

    /// Whether `finish` has accepted the server's final token.
    pub fn is_complete(&self) -> bool {
        matches!(self.state, State::Done(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smb::auth::ntlm::{
        AV_FLAG_MIC_PRESENT, AvId, CLIENT_VERSION, MIC_OFFSET, NTLM_AUTHENTICATE, NTLM_CHALLENGE,
        SIGNATURE, TargetInfo,
    };
    use crate::smb::wire::{Put, Reader, from_utf16le, slice_at, utf16le};
    use hex_literal::hex;

    const SERVER_CHALLENGE: [u8; 8] = hex!("0123456789abcdef");
    const TIMESTAMP: u64 = 0x01d9_0000_1234_5678;

    fn random() -> AuthRandom {
        AuthRandom {
            client_challenge: [0xaa; 8],
            exported_session_key: [0x55; 16],
        }
    }

    /// A CHALLENGE like Samba's: flags 0xe28a8215 | TARGET_INFO, TargetName "SAMBA", TargetInfo
    /// with names, a timestamp (when asked) and EOL.
    fn challenge(with_timestamp: bool, flags: u32) -> Vec<u8> {
        let mut info = TargetInfo::default();
        for (id, name) in [
            (AvId::NB_DOMAIN_NAME, "SAMBA"),
            (AvId::NB_COMPUTER_NAME, "SERVER"),
            (AvId::DNS_DOMAIN_NAME, "example.test"),
            (AvId::DNS_COMPUTER_NAME, "server.example.test"),
        ] {
            info.pairs.push(ntlm::AvPair {
                id,
                value: utf16le(name),
            });
        }
        if with_timestamp {
            info.pairs.push(ntlm::AvPair {
                id: AvId::TIMESTAMP,
                value: TIMESTAMP.to_le_bytes().to_vec(),
            });
        }
        let info = info.encode();
        let name = utf16le("SAMBA");
        let mut m = Vec::new();
        m.put(&SIGNATURE);
        m.put_u32(NTLM_CHALLENGE);
        m.put_u16(name.len() as u16);
        m.put_u16(name.len() as u16);
        m.put_u32(56);
        m.put_u32(flags);
        m.put(&SERVER_CHALLENGE);
        m.put_zeros(8);
        m.put_u16(info.len() as u16);
        m.put_u16(info.len() as u16);
        m.put_u32(56 + name.len() as u32);
        m.put(&CLIENT_VERSION);
        m.put(&name);
        m.put(&info);
        m
    }

    const SAMBA_FLAGS: u32 = 0xe28a_8215 | 0x0080_0000;

    fn server_token(challenge: &[u8]) -> Vec<u8> {
        NegTokenResp {
            neg_state: Some(NegState::ACCEPT_INCOMPLETE),
            supported_mech: Some(Oid::from_der_content(OID_NTLMSSP)),
            response_token: Some(challenge.to_vec()),
            mech_list_mic: None,
        }
        .encode()
    }

    /// The AUTHENTICATE_MESSAGE read back field by field (2.2.1.3).
    struct Auth {
        flags: NegotiateFlags,
        lm: Vec<u8>,
        nt: Vec<u8>,
        domain: String,
        user: String,
        workstation: String,
        key: Vec<u8>,
        mic: Option<[u8; 16]>,
    }

    fn parse_auth(m: &[u8]) -> Auth {
        let mut r = Reader::new(m);
        assert_eq!(r.bytes(8, "sig").unwrap(), SIGNATURE);
        assert_eq!(r.u32("type").unwrap(), NTLM_AUTHENTICATE);
        let mut f = Vec::new();
        for _ in 0..6 {
            let len = usize::from(r.u16("len").unwrap());
            let _max = r.u16("max").unwrap();
            let off = r.u32("off").unwrap() as usize;
            f.push(slice_at(m, "field", off, len).unwrap().to_vec());
            // Every offset points past the fixed part.
            assert!(len == 0 || off >= 72);
        }
        let flags = NegotiateFlags(r.u32("flags").unwrap());
        assert_eq!(r.array::<8>("version").unwrap(), CLIENT_VERSION);
        let first_payload = f.iter().map(Vec::len).sum::<usize>();
        let mic = (m.len() - first_payload == 88).then(|| r.array::<16>("mic").unwrap());
        Auth {
            flags,
            lm: f[0].clone(),
            nt: f[1].clone(),
            domain: from_utf16le("d", &f[2]).unwrap(),
            user: from_utf16le("u", &f[3]).unwrap(),
            workstation: from_utf16le("w", &f[4]).unwrap(),
            key: f[5].clone(),
            mic,
        }
    }

    #[test]
    fn ntlmv2_end_to_end_with_mic_and_mech_list_mic() {
        let creds = Credentials::new("alice", "SAMBA", "Secret-1");
        let mut ctx = SpnegoNtlm::new(creds, NtlmMode::V2, "CLIENT1", random());
        let init = ctx.initial_token();
        let parsed = NegTokenInit::parse(&init).unwrap();
        assert!(parsed.mech_types[0].is_ntlmssp());
        let negotiate = parsed.mech_token.clone().unwrap();
        let mech_list = parsed.mech_type_list();
        assert_eq!(ctx.session_key(), None);

        let chal = challenge(true, SAMBA_FLAGS);
        let reply = ctx.step(&server_token(&chal), 0).unwrap();
        let resp = NegTokenResp::parse(&reply).unwrap();
        let auth_bytes = resp.response_token.clone().unwrap();
        let auth = parse_auth(&auth_bytes);
        assert_eq!(auth.user, "alice");
        assert_eq!(auth.domain, "SAMBA");
        assert_eq!(auth.workstation, "CLIENT1");
        assert!(
            auth.flags
                .contains(NegotiateFlags::EXTENDED_SESSIONSECURITY)
        );
        assert!(auth.flags.contains(NegotiateFlags::KEY_EXCH));
        assert_eq!(
            auth.lm, [0u8; 24],
            "LMv2 is Z(24) when the server sent a timestamp"
        );

        // What the server checks: NTProofStr over the temp blob, which echoes every server pair
        // plus MsvAvFlags = 2, with the server's timestamp as Time.
        let key = ntlm::ntowf_v2("Secret-1", "alice", "SAMBA");
        let (proof, temp) = auth.nt.split_at(16);
        assert_eq!(&temp[8..16], &TIMESTAMP.to_le_bytes());
        assert_eq!(&temp[16..24], &[0xaa; 8]);
        let echoed = TargetInfo::parse(&temp[28..]).unwrap();
        let sent = ChallengeMessage::parse(&chal).unwrap().target_info.unwrap();
        for p in &sent.pairs {
            assert_eq!(echoed.get(p.id), Some(p.value.as_slice()));
        }
        assert_eq!(echoed.flags(), Some(AV_FLAG_MIC_PRESENT));
        let want = ntlm::ntlm_v2_responses(
            &key,
            &SERVER_CHALLENGE,
            &[0xaa; 8],
            TIMESTAMP,
            &echoed.encode(),
            true,
        );
        assert_eq!(proof, want.nt_proof_str);
        // KEY_EXCH: the server recovers our random key with RC4(SessionBaseKey).
        let recovered = ntlm::encrypt_session_key(
            &want.session_base_key,
            auth.key.as_slice().try_into().unwrap(),
        );
        assert_eq!(recovered, [0x55; 16]);
        assert_eq!(ctx.session_key(), Some([0x55; 16]));

        // MIC = HMAC_MD5(ExportedSessionKey, NEGOTIATE || CHALLENGE || AUTHENTICATE(MIC = 0)).
        let mut zeroed = auth_bytes.clone();
        zeroed[MIC_OFFSET..MIC_OFFSET + 16].fill(0);
        let mut mac = Vec::new();
        mac.extend_from_slice(&negotiate);
        mac.extend_from_slice(&chal);
        mac.extend_from_slice(&zeroed);
        let mic = super::super::primitives::hmac_md5(&[0x55; 16], &[&mac]);
        assert_eq!(auth.mic, Some(mic));

        // The server verifies our mechListMIC over the MechTypeList and answers with its own.
        let mut server = SessionSecurity::server(auth.flags, &[0x55; 16]);
        assert!(server.verify(0, &mech_list, resp.mech_list_mic.as_deref().unwrap()));
        let server_mic = server.sign(0, &mech_list);
        let done = NegTokenResp {
            neg_state: Some(NegState::ACCEPT_COMPLETED),
            mech_list_mic: Some(server_mic.to_vec()),
            ..NegTokenResp::default()
        };
        ctx.finish(&done.encode()).unwrap();
        assert!(ctx.is_complete());
        assert_eq!(ctx.session_key(), Some([0x55; 16]));
        // Nothing runs twice.
        assert!(matches!(ctx.finish(&[]), Err(AuthError::OutOfOrder(_))));
        assert!(matches!(
            ctx.step(&server_token(&chal), 0),
            Err(AuthError::OutOfOrder(_))
        ));
    }

    fn stepped(mode: NtlmMode, chal: &[u8]) -> (SpnegoNtlm, Vec<u8>) {
        let mut ctx = SpnegoNtlm::new(Credentials::new("bob", "SAMBA", "pw"), mode, "WS", random());
        ctx.initial_token();
        let reply = ctx
            .step(&server_token(chal), 0x01d0_0000_0000_0000)
            .unwrap();
        (ctx, reply)
    }

    #[test]
    fn finish_rejects_a_bad_mech_list_mic_and_accepts_none() {
        let chal = challenge(true, SAMBA_FLAGS);
        let (mut ctx, _) = stepped(NtlmMode::V2, &chal);
        let bad = NegTokenResp {
            neg_state: Some(NegState::ACCEPT_COMPLETED),
            mech_list_mic: Some(vec![0x01, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0]),
            ..NegTokenResp::default()
        };
        assert_eq!(
            ctx.finish(&bad.encode()),
            Err(AuthError::MechListMicMismatch)
        );
        assert!(!ctx.is_complete());

        let (mut ctx, _) = stepped(NtlmMode::V2, &chal);
        ctx.finish(&[]).unwrap();
        assert!(ctx.is_complete());

        let (mut ctx, _) = stepped(NtlmMode::V2, &chal);
        let no_mic = NegTokenResp {
            neg_state: Some(NegState::ACCEPT_COMPLETED),
            ..Default::default()
        };
        ctx.finish(&no_mic.encode()).unwrap();
    }

    #[test]
    fn server_verdicts() {
        let chal = challenge(true, SAMBA_FLAGS);
        for (state, want) in [
            (NegState::REJECT, AuthError::Rejected),
            (
                NegState::ACCEPT_INCOMPLETE,
                AuthError::UnexpectedNegState(1),
            ),
        ] {
            let (mut ctx, _) = stepped(NtlmMode::V2, &chal);
            let t = NegTokenResp {
                neg_state: Some(state),
                ..Default::default()
            };
            assert_eq!(ctx.finish(&t.encode()), Err(want));
        }
        // A token after completion.
        let (mut ctx, _) = stepped(NtlmMode::V2, &chal);
        let t = NegTokenResp {
            neg_state: Some(NegState::ACCEPT_COMPLETED),
            response_token: Some(vec![1]),
            ..Default::default()
        };
        assert_eq!(
            ctx.finish(&t.encode()),
            Err(AuthError::UnexpectedToken("responseToken"))
        );

        // First reply: reject, another mechanism, no CHALLENGE, garbage.
        let mut ctx = SpnegoNtlm::new(Credentials::new("u", "", "p"), NtlmMode::V2, "WS", random());
        ctx.initial_token();
        let t = NegTokenResp {
            neg_state: Some(NegState::REJECT),
            ..Default::default()
        };
        assert_eq!(ctx.step(&t.encode(), 0), Err(AuthError::Rejected));

        let mut ctx = SpnegoNtlm::new(Credentials::new("u", "", "p"), NtlmMode::V2, "WS", random());
        ctx.initial_token();
        let t = NegTokenResp {
            neg_state: Some(NegState::ACCEPT_INCOMPLETE),
            supported_mech: Some(Oid::from_der_content(crate::smb::auth::spnego::OID_KRB5)),
            response_token: Some(chal.clone()),
            ..Default::default()
        };
        assert!(matches!(
            ctx.step(&t.encode(), 0),
            Err(AuthError::UnsupportedMechanism { .. })
        ));

        let mut ctx = SpnegoNtlm::new(Credentials::new("u", "", "p"), NtlmMode::V2, "WS", random());
        ctx.initial_token();
        let t = NegTokenResp {
            neg_state: Some(NegState::ACCEPT_INCOMPLETE),
            ..Default::default()
        };
        assert!(matches!(
            ctx.step(&t.encode(), 0),
            Err(AuthError::MalformedToken { .. })
        ));

        let mut ctx = SpnegoNtlm::new(Credentials::new("u", "", "p"), NtlmMode::V2, "WS", random());
        ctx.initial_token();
        assert!(matches!(
            ctx.step(&server_token(&chal[..40]), 0),
            Err(AuthError::MalformedNtlm(_))
        ));
        // Spent after an error.
        assert!(matches!(
            ctx.step(&server_token(&chal), 0),
            Err(AuthError::OutOfOrder(_))
        ));

        // step before initial_token.
        let mut ctx = SpnegoNtlm::new(Credentials::new("u", "", "p"), NtlmMode::V2, "WS", random());
        assert!(matches!(
            ctx.step(&server_token(&chal), 0),
            Err(AuthError::OutOfOrder(_))
        ));
    }

    #[test]
    fn ntlmv2_without_timestamp_uses_now_and_sends_no_mic() {
        let chal = challenge(false, SAMBA_FLAGS);
        let (ctx, reply) = stepped(NtlmMode::V2, &chal);
        let resp = NegTokenResp::parse(&reply).unwrap();
        assert!(resp.mech_list_mic.is_none());
        let auth = parse_auth(resp.response_token.as_deref().unwrap());
        assert!(auth.mic.is_none());
        assert_eq!(&auth.nt[24..32], &0x01d0_0000_0000_0000u64.to_le_bytes());
        assert_ne!(auth.lm, [0u8; 24]);
        assert!(ctx.session_key().is_some());
    }

    #[test]
    fn request_mic_makes_us_send_a_mech_list_mic() {
        let chal = challenge(false, SAMBA_FLAGS);
        let mut ctx = SpnegoNtlm::new(
            Credentials::new("u", "D", "p"),
            NtlmMode::V2,
            "WS",
            random(),
        );
        ctx.initial_token();
        let t = NegTokenResp {
            neg_state: Some(NegState::REQUEST_MIC),
            supported_mech: Some(Oid::from_der_content(OID_NTLMSSP)),
            response_token: Some(chal),
            mech_list_mic: None,
        };
        let reply = NegTokenResp::parse(&ctx.step(&t.encode(), 0).unwrap()).unwrap();
        assert_eq!(reply.mech_list_mic.map(|m| m.len()), Some(16));
    }

    #[test]
    fn ntlmv1_end_to_end() {
        // A server without ESS: plain NTLMv1, 24-byte responses, KEY_EXCH key.
        let chal = challenge(false, 0xe202_8215);
        let (mut ctx, reply) = stepped(NtlmMode::V1, &chal);
        let resp = NegTokenResp::parse(&reply).unwrap();
        let auth = parse_auth(resp.response_token.as_deref().unwrap());
        assert!(
            !auth
                .flags
                .contains(NegotiateFlags::EXTENDED_SESSIONSECURITY)
        );
        let nt_hash = ntlm::ntowf_v1("pw");
        let want = ntlm::ntlm_v1_responses(&nt_hash, None, &SERVER_CHALLENGE, &[0xaa; 8], false);
        assert_eq!(auth.nt, want.nt_response);
        assert_eq!(auth.lm, want.nt_response, "no LM hash on the wire");
        assert!(resp.mech_list_mic.is_none());
        assert_eq!(ctx.session_key(), Some([0x55; 16]));
        ctx.finish(&[]).unwrap();

        // With ESS granted by the server.
        let chal = challenge(false, SAMBA_FLAGS);
        let (_, reply) = stepped(NtlmMode::V1, &chal);
        let auth = parse_auth(
            NegTokenResp::parse(&reply)
                .unwrap()
                .response_token
                .as_deref()
                .unwrap(),
        );
        assert!(
            auth.flags
                .contains(NegotiateFlags::EXTENDED_SESSIONSECURITY)
        );
        assert_eq!(&auth.lm[..8], &[0xaa; 8]);
        assert_eq!(&auth.lm[8..], &[0u8; 16]);

        // ESS switched off on our side even though the server offers it.
        let mut ctx = SpnegoNtlm::new(
            Credentials::new("bob", "SAMBA", "pw"),
            NtlmMode::V1,
            "WS",
            random(),
        )
        .with_v1_extended_session_security(false);
        ctx.initial_token();
        let reply = ctx.step(&server_token(&chal), 0).unwrap();
        let auth = parse_auth(
            NegTokenResp::parse(&reply)
                .unwrap()
                .response_token
                .as_deref()
                .unwrap(),
        );
        assert!(
            !auth
                .flags
                .contains(NegotiateFlags::EXTENDED_SESSIONSECURITY)
        );
    }

    #[test]
    fn anonymous_end_to_end() {
        let mut ctx = SpnegoNtlm::new(Credentials::anonymous(), NtlmMode::V2, "WS", random());
        assert_eq!(ctx.mode(), NtlmMode::Anonymous);
        let init = NegTokenInit::parse(&ctx.initial_token()).unwrap();
        let neg = init.mech_token.unwrap();
        let neg_flags = NegotiateFlags(u32::from_le_bytes(neg[12..16].try_into().unwrap()));
        assert!(neg_flags.contains(NegotiateFlags::ANONYMOUS));
        let chal = challenge(true, SAMBA_FLAGS);
        let reply = ctx.step(&server_token(&chal), 0).unwrap();
        let resp = NegTokenResp::parse(&reply).unwrap();
        assert!(resp.mech_list_mic.is_none());
        let auth = parse_auth(resp.response_token.as_deref().unwrap());
        assert_eq!(auth.lm, [0]);
        assert!(auth.nt.is_empty());
        assert_eq!((auth.user.as_str(), auth.domain.as_str()), ("", ""));
        assert!(auth.mic.is_none());
        assert_eq!(auth.key.len(), 16);
        assert_eq!(ctx.session_key(), None);
        // A server mechListMIC cannot be checked without keys; it is not held against us.
        let t = NegTokenResp {
            neg_state: Some(NegState::ACCEPT_COMPLETED),
            mech_list_mic: Some(vec![0; 16]),
            ..Default::default()
        };
        ctx.finish(&t.encode()).unwrap();
        assert_eq!(ctx.session_key(), None);
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let ctx = SpnegoNtlm::new(
            Credentials::new("carol", "D", "TopSecret!"),
            NtlmMode::V2,
            "WS",
            random(),
        );
        let s = format!("{ctx:?}");
        assert!(s.contains("carol") && !s.contains("TopSecret"), "{s}");
        assert_eq!(format!("{:?}", random()), "AuthRandom(<redacted>)");
    }
}
