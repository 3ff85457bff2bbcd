//! A scripted SMB2 peer for hostile-server tests (the h2 mock-peer idea, over real TCP).
//!
//! A test accepts the client's connection with [`Mock::accept`] and then says, frame by frame,
//! what to answer: [`Peer::recv_one`] reads and decodes one request, [`Peer::reply`] answers
//! it with a body built by the crate's own wire codecs, [`Peer::send_frame`] and
//! [`Peer::send_bytes`] put arbitrary bytes on the wire. The well-behaved steps
//! ([`Peer::negotiate`], [`Peer::session_setup`], [`Peer::tree_connect`], [`Peer::open`]) run
//! a real exchange far enough for the client to accept it: a real NEGOTIATE response with 3.1.1
//! contexts and the pre-auth hash, and an NTLMv2 exchange whose session key the mock computes
//! from the known password, so it can sign and seal replies exactly as a server would.
#![allow(dead_code)]

use fusevol::smb::auth::Credentials;
use fusevol::smb::auth::ntlm::{self, AvId, AvPair, NegotiateFlags, TargetInfo};
use fusevol::smb::auth::spnego::{NegState, NegTokenResp, OID_NTLMSSP, Oid};
use fusevol::smb::crypto::{
    Cipher, Opener, PreauthHash, Sealer, Signer, SigningAlgorithm, derive_session_keys,
};
use fusevol::smb::proto::compound;
use fusevol::smb::wire::close::CloseResponse;
use fusevol::smb::wire::create::CreateResponse;
use fusevol::smb::wire::echo::EchoResponse;
use fusevol::smb::wire::error::ErrorResponse;
use fusevol::smb::wire::negotiate::{
    Dialect, NegotiateContext, NegotiateResponse, capabilities, cipher, security_mode,
    signing_algorithm,
};
use fusevol::smb::wire::read::ReadResponse;
use fusevol::smb::wire::session_setup::{SessionSetupRequest, SessionSetupResponse};
use fusevol::smb::wire::transform::TRANSFORM_HEADER_LEN;
use fusevol::smb::wire::tree_connect::{TreeConnectResponse, share_type};
use fusevol::smb::wire::write::{WriteRequest, WriteResponse};
use fusevol::smb::wire::{
    AsyncId, Command, FileId, Header, HeaderFlags, NtStatus, Put, SessionId, TreeId, utf16le,
};
use fusevol::smb::{Auth, ClientConfig};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const USER: &str = "alice";
pub const DOMAIN: &str = "MOCK";
pub const PASSWORD: &str = "through the looking glass";
/// The SessionId the mock hands out.
pub const SESSION: u64 = 0x0000_4400_0000_0015;
/// The TreeId the mock hands out.
pub const TREE: u32 = 7;
/// The FileId of every file the mock opens.
pub const FILE: FileId = FileId {
    persistent: 0x1111,
    volatile: 0x2222,
};
/// The mock's choices in its 3.1.1 contexts.
pub const SIGNING: u16 = signing_algorithm::AES_CMAC;
pub const CIPHER: u16 = cipher::AES_128_GCM;
/// Default request timeout of clients talking to the mock: small, so timeouts are quick.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(400);

/// The credentials the mock accepts.
pub fn auth() -> Auth {
    Auth::Ntlmv2(Credentials::new(USER, DOMAIN, PASSWORD))
}

/// A listening mock server on 127.0.0.1, one connection per [`accept`](Self::accept).
pub struct Mock {
    listener: TcpListener,
}

impl Mock {
    pub async fn start() -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind 127.0.0.1:0");
        Self { listener }
    }

    /// A client configuration for this mock: SMB 3.1.1 only, short request timeout.
    pub fn config(&self) -> ClientConfig {
        let port = self.listener.local_addr().expect("local addr").port();
        let mut cfg = ClientConfig::new("mock");
        cfg.addr = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        cfg.port = port;
        cfg.dialects = vec![Dialect::SMB_3_1_1];
        cfg.connect_timeout = Duration::from_secs(2);
        cfg.request_timeout = REQUEST_TIMEOUT;
        cfg
    }

    pub async fn accept(&self) -> Peer {
        let (stream, _) = self.listener.accept().await.expect("accept");
        stream.set_nodelay(true).expect("nodelay");
        Peer {
            stream,
            preauth: PreauthHash::new(),
            dialect: Dialect::SMB_3_1_1,
            keys: None,
            sign_replies: false,
            seal_replies: false,
            grant: None,
            nonce: 0,
        }
    }
}

/// One message received from the client.
#[derive(Debug, Clone)]
pub struct Msg {
    pub header: Header,
    /// The whole message, header first (as the client's codecs decode it).
    pub bytes: Vec<u8>,
    /// It came inside a TRANSFORM_HEADER.
    pub encrypted: bool,
}

struct Keys {
    signer: Signer,
    sealer: Sealer,
    opener: Opener,
}

/// The server side of one connection.
pub struct Peer {
    stream: TcpStream,
    preauth: PreauthHash,
    pub dialect: Dialect,
    keys: Option<Keys>,
    /// Sign every reply sent with [`send`](Self::send) (set by a signed session setup).
    pub sign_replies: bool,
    /// Seal every reply sent with [`send`](Self::send) (set by an encrypted session setup).
    pub seal_replies: bool,
    /// Credits granted per reply; `None` grants what the request asked for (at least 1).
    pub grant: Option<u16>,
    nonce: u64,
}

impl Peer {
    // ---- receiving ----

    /// One Direct TCP frame's payload, or `None` once the client closed the connection.
    pub async fn recv_frame(&mut self) -> Option<Vec<u8>> {
        let mut h = [0u8; 4];
        match self.stream.read_exact(&mut h).await {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                return None;
            }
            Err(e) => panic!("mock read failed: {e}"),
        }
        assert_eq!(h[0], 0, "client sent a bad Direct TCP header");
        let len = u32::from_be_bytes(h) as usize;
        let mut buf = vec![0u8; len];
        self.stream
            .read_exact(&mut buf)
            .await
            .expect("client sent a truncated frame");
        Some(buf)
    }

    /// The messages of one frame (decrypted, compound split, signatures checked), or `None`
    /// once the client closed the connection.
    pub async fn recv(&mut self) -> Option<Vec<Msg>> {
        let mut frame = self.recv_frame().await?;
        let encrypted = frame.starts_with(&[0xFD, b'S', b'M', b'B']);
        if encrypted {
            let keys = self.keys.as_ref().expect("encrypted request before keys");
            keys.opener
                .open(&mut frame)
                .expect("client's encrypted request does not authenticate");
            frame.drain(..TRANSFORM_HEADER_LEN);
        }
        let ranges = compound::split(&frame).expect("client sent a bad compound");
        let mut out = Vec::new();
        for r in ranges {
            let bytes = frame[r].to_vec();
            let header = Header::decode(&bytes).expect("client sent a bad header");
            assert!(!header.is_response(), "client sent a response");
            if header.is_signed() {
                let keys = self.keys.as_ref().expect("signed request before keys");
                keys.signer
                    .verify(&bytes)
                    .expect("client's signature does not verify");
            }
            out.push(Msg {
                header,
                bytes,
                encrypted,
            });
        }
        Some(out)
    }

    /// Exactly one request, of `command`.
    pub async fn recv_one(&mut self, command: Command) -> Msg {
        let mut msgs = self.recv().await.expect("client closed the connection");
        assert_eq!(msgs.len(), 1, "expected one message, got a compound");
        let m = msgs.pop().unwrap();
        assert_eq!(m.header.command, command, "unexpected request");
        m
    }

    /// Wait until the client closes the connection; any frame before that is a failure.
    pub async fn expect_closed(&mut self) {
        if let Some(f) = self.recv_frame().await {
            let what = Header::decode(&f).map(|h| h.command);
            panic!("expected no more requests, got {what:?}");
        }
    }

    /// Read and throw away everything until the client closes the connection.
    pub async fn drain(&mut self) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    // ---- building replies ----

    /// The header of a synchronous reply to `req`.
    pub fn reply_header(&self, req: &Header, status: NtStatus) -> Header {
        Header {
            credit_charge: req.credit_charge,
            status,
            command: req.command,
            credits: self.grant.unwrap_or(req.credits.max(1)),
            flags: HeaderFlags(HeaderFlags::SERVER_TO_REDIR),
            next_command: 0,
            message_id: req.message_id,
            async_id: None,
            tree_id: req.tree_id,
            session_id: req.session_id,
            signature: [0; 16],
        }
    }

    /// An interim (async, STATUS_PENDING) reply to `req` (MS-SMB2 3.3.4.2).
    pub fn interim(&self, req: &Header, async_id: u64) -> Vec<u8> {
        let mut h = self.reply_header(req, NtStatus::PENDING);
        h.async_id = Some(AsyncId(async_id));
        build(&h, error_body)
    }

    /// Sign one message with the session's signing key.
    pub fn sign(&self, msg: &mut [u8]) {
        let keys = self.keys.as_ref().expect("no session keys to sign with");
        keys.signer.sign(msg).expect("sign");
    }

    /// A TRANSFORM frame carrying `msg`, sealed with the session's server-to-client key.
    pub fn seal(&mut self, msg: &[u8]) -> Vec<u8> {
        let keys = self.keys.as_ref().expect("no session keys to seal with");
        self.nonce += 1;
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&self.nonce.to_le_bytes());
        nonce[8] = 0x5E;
        let mut buf = vec![0u8; TRANSFORM_HEADER_LEN];
        buf.extend_from_slice(msg);
        keys.sealer
            .seal(SessionId(SESSION), nonce, &mut buf)
            .expect("seal");
        buf
    }

    // ---- sending ----

    /// Bytes exactly as given (no Direct TCP header).
    pub async fn send_bytes(&mut self, b: &[u8]) {
        self.stream.write_all(b).await.expect("mock write");
    }

    /// One Direct TCP frame around `payload`.
    pub async fn send_frame(&mut self, payload: &[u8]) {
        let mut f = (payload.len() as u32).to_be_bytes().to_vec();
        assert_eq!(f[0], 0, "frame too large for Direct TCP");
        f.extend_from_slice(payload);
        self.send_bytes(&f).await;
    }

    /// One message, sealed or signed as the session's policy says.
    pub async fn send(&mut self, mut msg: Vec<u8>) {
        if self.seal_replies {
            let f = self.seal(&msg);
            self.send_frame(&f).await;
        } else {
            if self.sign_replies {
                self.sign(&mut msg);
            }
            self.send_frame(&msg).await;
        }
    }

    /// Answer `req` with `status` and a body.
    pub async fn reply(&mut self, req: &Msg, status: NtStatus, body: impl FnOnce(&mut Vec<u8>)) {
        let h = self.reply_header(&req.header, status);
        self.send(build(&h, body)).await;
    }

    // ---- well-behaved steps ----

    /// Answer the NEGOTIATE with `resp` (keeping the 3.1.1 pre-auth hash).
    pub async fn negotiate_with(&mut self, resp: &NegotiateResponse) {
        let req = self.recv_one(Command::NEGOTIATE).await;
        let h = self.reply_header(&req.header, NtStatus::SUCCESS);
        let msg = build(&h, |m| resp.encode(m, 0));
        self.dialect = resp.dialect;
        self.preauth = PreauthHash::new();
        self.preauth.update(&req.bytes);
        self.preauth.update(&msg);
        self.send_frame(&msg).await;
    }

    /// A normal SMB 3.1.1 NEGOTIATE.
    pub async fn negotiate(&mut self) {
        self.negotiate_with(&negotiate_response(Dialect::SMB_3_1_1))
            .await;
    }

    /// Run NTLMv2 up to the final SESSION_SETUP request; derive the session's keys. Returns the
    /// final request, to be answered with [`finish_session`](Self::finish_session) or
    /// something hostile.
    pub async fn session_setup_until_final(&mut self) -> Msg {
        let req = self.recv_one(Command::SESSION_SETUP).await;
        self.preauth.update(&req.bytes);
        let server_challenge = [0x5A, 0x17, 0x33, 0xC4, 0x01, 0x9E, 0x7B, 0x20];
        let token = NegTokenResp {
            neg_state: Some(NegState::ACCEPT_INCOMPLETE),
            supported_mech: Some(Oid::from_der_content(OID_NTLMSSP)),
            response_token: Some(challenge_message(&server_challenge)),
            mech_list_mic: None,
        }
        .encode();
        let mut h = self.reply_header(&req.header, NtStatus::MORE_PROCESSING_REQUIRED);
        h.session_id = SessionId(SESSION);
        let msg = build(&h, |m| {
            SessionSetupResponse {
                session_flags: 0,
                security_buffer: token,
            }
            .encode(m, 0)
        });
        self.preauth.update(&msg);
        self.send_frame(&msg).await;

        let req = self.recv_one(Command::SESSION_SETUP).await;
        assert_eq!(req.header.session_id, SessionId(SESSION));
        self.preauth.update(&req.bytes);
        let ss = SessionSetupRequest::decode(&req.bytes).expect("SESSION_SETUP request");
        let resp = NegTokenResp::parse(&ss.security_buffer).expect("NegTokenResp");
        let auth = resp.response_token.expect("AUTHENTICATE message");
        let key = session_key(&auth, &server_challenge);
        let d = self.dialect;
        let ciph = (d >= Dialect::SMB_3_0).then_some(Cipher(if d == Dialect::SMB_3_1_1 {
            CIPHER
        } else {
            cipher::AES_128_CCM
        }));
        let preauth = (d == Dialect::SMB_3_1_1).then_some(&self.preauth);
        let keys = derive_session_keys(d.0, &key, preauth, ciph).expect("derive keys");
        let alg = if d == Dialect::SMB_3_1_1 {
            SIGNING
        } else if d >= Dialect::SMB_3_0 {
            signing_algorithm::AES_CMAC
        } else {
            signing_algorithm::HMAC_SHA256
        };
        let c = ciph.unwrap_or(Cipher::AES_128_GCM);
        let enc = keys.encryption_key().map(|k| k.as_bytes().to_vec());
        let dec = keys.decryption_key().map(|k| k.as_bytes().to_vec());
        self.keys = Some(Keys {
            signer: Signer::new(SigningAlgorithm(alg), keys.signing_key().as_bytes())
                .expect("signer"),
            // 2.x has no cipher keys: any key will do for the sealer/opener nobody uses.
            sealer: Sealer::new(c, dec.as_deref().unwrap_or(&[0; 16])).expect("sealer"),
            opener: Opener::new(c, enc.as_deref().unwrap_or(&[0; 16])).expect("opener"),
        });
        req
    }

    /// The final SESSION_SETUP response (SUCCESS, signed with the new key) before signing.
    pub fn final_session_setup(&self, req: &Msg, session_flags: u16) -> Vec<u8> {
        let h = self.reply_header(&req.header, NtStatus::SUCCESS);
        let token = NegTokenResp {
            neg_state: Some(NegState::ACCEPT_COMPLETED),
            ..Default::default()
        }
        .encode();
        build(&h, |m| {
            SessionSetupResponse {
                session_flags,
                security_buffer: token,
            }
            .encode(m, 0)
        })
    }

    /// Send the final SESSION_SETUP response, signed; from then on replies are sealed if
    /// `session_flags` has ENCRYPT_DATA, and signed otherwise.
    pub async fn finish_session(&mut self, req: &Msg, session_flags: u16) {
        let mut msg = self.final_session_setup(req, session_flags);
        self.sign(&mut msg);
        self.send_frame(&msg).await;
        self.seal_replies = session_flags & SessionSetupResponse::ENCRYPT_DATA != 0;
        self.sign_replies = !self.seal_replies;
    }

    /// A whole NTLMv2 session setup.
    pub async fn session_setup(&mut self, session_flags: u16) {
        let req = self.session_setup_until_final().await;
        self.finish_session(&req, session_flags).await;
    }

    /// Answer a TREE_CONNECT with a disk share, TreeId [`TREE`].
    pub async fn tree_connect(&mut self) {
        let req = self.recv_one(Command::TREE_CONNECT).await;
        self.answer_tree_connect(&req).await;
    }

    pub async fn answer_tree_connect(&mut self, req: &Msg) {
        let mut h = self.reply_header(&req.header, NtStatus::SUCCESS);
        h.tree_id = TreeId(TREE);
        let msg = build(&h, tree_connect_body);
        self.send(msg).await;
    }

    /// Answer a CREATE with [`FILE`].
    pub async fn open(&mut self) {
        let req = self.recv_one(Command::CREATE).await;
        self.reply(&req, NtStatus::SUCCESS, create_body).await;
    }

    /// NEGOTIATE (3.1.1), session setup and tree connect.
    pub async fn setup(&mut self, session_flags: u16) {
        self.negotiate().await;
        self.session_setup(session_flags).await;
        self.tree_connect().await;
    }

    /// Answer every request sensibly until the client closes the connection.
    pub async fn serve(&mut self) {
        while let Some(msgs) = self.recv().await {
            for req in msgs {
                self.answer(&req).await;
            }
        }
    }

    /// A sensible answer to any request.
    pub async fn answer(&mut self, req: &Msg) {
        match req.header.command {
            Command::ECHO => {
                self.reply(req, NtStatus::SUCCESS, |m| EchoResponse.encode(m, 0))
                    .await
            }
            Command::TREE_CONNECT => self.answer_tree_connect(req).await,
            Command::CREATE => self.reply(req, NtStatus::SUCCESS, create_body).await,
            Command::CLOSE => {
                self.reply(req, NtStatus::SUCCESS, |m| {
                    CloseResponse::default().encode(m, 0)
                })
                .await
            }
            Command::READ => {
                self.reply(req, NtStatus::SUCCESS, |m| {
                    ReadResponse::encode(m, 0, b"hello", 0);
                })
                .await
            }
            Command::WRITE => {
                let w = WriteRequest::decode(&req.bytes).expect("WRITE request");
                let count = w.data.len() as u32;
                self.reply(req, NtStatus::SUCCESS, |m| {
                    WriteResponse {
                        count,
                        remaining: 0,
                    }
                    .encode(m, 0)
                })
                .await
            }
            _ => self.reply(req, NtStatus::NOT_SUPPORTED, error_body).await,
        }
    }
}

/// A message: `h` followed by the body `body` writes.
pub fn build(h: &Header, body: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut m = Vec::with_capacity(256);
    h.encode(&mut m);
    body(&mut m);
    m
}

/// The body of an error reply (MS-SMB2 2.2.2).
pub fn error_body(m: &mut Vec<u8>) {
    ErrorResponse::default().encode(m, 0);
}

pub fn tree_connect_body(m: &mut Vec<u8>) {
    TreeConnectResponse {
        share_type: share_type::DISK,
        share_flags: 0,
        capabilities: 0,
        maximal_access: 0x001F_01FF,
    }
    .encode(m, 0);
}

pub fn create_body(m: &mut Vec<u8>) {
    CreateResponse {
        create_action: 1,
        end_of_file: 5,
        allocation_size: 4096,
        file_attributes: 0x80,
        file_id: FILE,
        ..Default::default()
    }
    .encode(m, 0);
}

/// A well-formed NEGOTIATE response for `dialect` (3.1.1: pre-auth SHA-512, AES-128-GCM,
/// AES-CMAC), 1 MiB sizes, signing enabled but not required.
pub fn negotiate_response(dialect: Dialect) -> NegotiateResponse {
    let contexts = if dialect == Dialect::SMB_3_1_1 {
        vec![
            NegotiateContext::PreauthIntegrity {
                hash_algorithms: vec![0x0001],
                salt: vec![0x42; 32],
            },
            NegotiateContext::Encryption {
                ciphers: vec![CIPHER],
            },
            NegotiateContext::Signing {
                algorithms: vec![SIGNING],
            },
        ]
    } else {
        vec![]
    };
    NegotiateResponse {
        security_mode: security_mode::SIGNING_ENABLED,
        dialect,
        server_guid: *b"fusevol-mock-srv",
        capabilities: capabilities::LARGE_MTU | capabilities::ENCRYPTION,
        max_transact_size: 1 << 20,
        max_read_size: 1 << 20,
        max_write_size: 1 << 20,
        system_time: 0,
        server_start_time: 0,
        security_buffer: vec![],
        contexts,
    }
}

/// An NTLM CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) the client accepts: Unicode, NTLMv2 with
/// extended session security, no key exchange (so the session key is the SessionBaseKey) and
/// no MsvAvTimestamp (so no MIC and no mechListMIC).
fn challenge_message(server_challenge: &[u8; 8]) -> Vec<u8> {
    use NegotiateFlags as F;
    let flags = F::UNICODE
        | F::REQUEST_TARGET
        | F::NTLM
        | F::ALWAYS_SIGN
        | F::TARGET_INFO
        | F::TARGET_TYPE_SERVER
        | F::EXTENDED_SESSIONSECURITY
        | F::VERSION
        | F::NEGOTIATE_128
        | F::SIGN;
    let name = utf16le(DOMAIN);
    let info = TargetInfo {
        pairs: vec![
            AvPair {
                id: AvId::NB_DOMAIN_NAME,
                value: name.clone(),
            },
            AvPair {
                id: AvId::NB_COMPUTER_NAME,
                value: name.clone(),
            },
        ],
    }
    .encode();
    let payload_at = 56u32;
    let mut m = Vec::new();
    m.put(&ntlm::SIGNATURE);
    m.put_u32(ntlm::NTLM_CHALLENGE);
    m.put_u16(name.len() as u16);
    m.put_u16(name.len() as u16);
    m.put_u32(payload_at);
    m.put_u32(flags.0);
    m.put(server_challenge);
    m.put_zeros(8);
    m.put_u16(info.len() as u16);
    m.put_u16(info.len() as u16);
    m.put_u32(payload_at + name.len() as u32);
    m.put(&ntlm::CLIENT_VERSION);
    assert_eq!(m.len(), payload_at as usize);
    m.put(&name);
    m.put(&info);
    m
}

/// Check the NTLMv2 response of an AUTHENTICATE_MESSAGE against the known password and return
/// the session key (the SessionBaseKey, as no key exchange was negotiated).
fn session_key(auth: &[u8], server_challenge: &[u8; 8]) -> [u8; 16] {
    let u16_at = |i: usize| usize::from(u16::from_le_bytes([auth[i], auth[i + 1]]));
    let u32_at = |i: usize| u32::from_le_bytes([auth[i], auth[i + 1], auth[i + 2], auth[i + 3]]);
    // NtChallengeResponseFields at offset 20 (MS-NLMP 2.2.1.3).
    let (len, off) = (u16_at(20), u32_at(24) as usize);
    let nt = &auth[off..off + len];
    let (proof, temp) = nt.split_at(16);
    // temp = 1, 1, Z(6), Time, ClientChallenge, Z(4), AvPairs, Z(4) (MS-NLMP 3.3.2).
    let time = u64::from_le_bytes(temp[8..16].try_into().unwrap());
    let client_challenge: [u8; 8] = temp[16..24].try_into().unwrap();
    let av = &temp[28..temp.len() - 4];
    let key = ntlm::ntowf_v2(PASSWORD, USER, DOMAIN);
    let r = ntlm::ntlm_v2_responses(&key, server_challenge, &client_challenge, time, av, false);
    assert_eq!(r.nt_proof_str, proof, "NTLMv2 response does not verify");
    *r.session_base_key
}
