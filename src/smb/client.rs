//! The typed async client: [`Client`] (a connection) → [`Session`] → [`Tree`] → [`File`].
//!
//! Every handle is a cheap clone (`Arc` inside) and safe to use from many tasks at once; requests
//! from all of them are pipelined on the one connection.
use crate::smb::auth::{AuthRandom, Credentials, NtlmMode, SpnegoNtlm};
use crate::smb::crypto::preauth::PreauthHash;
use crate::smb::driver::{Conn, Response, Sent};
use crate::smb::error::{Error, ProtocolError, Result};
use crate::smb::proto::compound::OutFrame;
use crate::smb::proto::negotiate::{self, CIPHERS, HASH_SHA512, Negotiated, SIGNING_ALGORITHMS};
use crate::smb::security::SessionSecurity;
use crate::smb::wire::close::{CloseRequest, CloseResponse};
use crate::smb::wire::create::{
    CreateContext, CreateRequest, CreateResponse, access, context_name, disposition, find_context,
    oplock, options, share_access,
};
use crate::smb::wire::echo::EchoRequest;
use crate::smb::wire::flush::FlushRequest;
use crate::smb::wire::fscc::{self, DirEntry};
use crate::smb::wire::ioctl::{
    FSCTL_VALIDATE_NEGOTIATE_INFO, IoctlRequest, IoctlResponse, ValidateNegotiateInfoRequest,
    ValidateNegotiateInfoResponse,
};
use crate::smb::wire::lease::{
    BreakNotification, DurableReconnectV2, DurableRequestV2, DurableResponseV2, LeaseBreakAck,
    LeaseKey, LeaseV2, lease_state,
};
use crate::smb::wire::logoff::LogoffRequest;
use crate::smb::wire::negotiate::{
    Dialect, NegotiateContext, NegotiateRequest, NegotiateResponse, capabilities, security_mode,
};
use crate::smb::wire::query_directory::{QueryDirectoryRequest, QueryDirectoryResponse};
use crate::smb::wire::query_info::{QueryInfoRequest, QueryInfoResponse};
use crate::smb::wire::read::{ReadRequest, ReadResponse};
use crate::smb::wire::session_setup::{SessionSetupRequest, SessionSetupResponse};
use crate::smb::wire::set_info::SetInfoRequest;
use crate::smb::wire::tree_connect::{
    TreeConnectRequest, TreeConnectResponse, TreeDisconnectRequest,
};
use crate::smb::wire::write::{WriteHead, WriteRequest, WriteResponse};
use crate::smb::wire::{Command, FileId, NtStatus, RequestBody, SessionId, TreeId};
use bytes::Bytes;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// How to reach and talk to a server.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Server name as the user wrote it (used in `\\server\share` and messages).
    pub host: String,
    /// Address to connect to instead of resolving `host` (mount.cifs `ip=`/`addr=`).
    pub addr: Option<IpAddr>,
    pub port: u16,
    /// Dialects to offer (see [`negotiate::dialects_for_vers`]).
    pub dialects: Vec<Dialect>,
    /// Sign every request and require signed responses (`sign`, `sec=…i`).
    pub require_signing: bool,
    /// Encrypt everything (`seal`); needs SMB 3.x.
    pub require_encryption: bool,
    pub connect_timeout: Duration,
    /// How long one request may wait for its final answer.
    pub request_timeout: Duration,
    /// Keep-alive (`echo_interval=`): an ECHO after this much time, and the connection is
    /// declared dead when one gets no answer within the same interval, so a dead server is
    /// noticed within twice the interval (mount.cifs semantics). `None` disables it.
    pub echo_interval: Option<Duration>,
    /// Upper bound for one READ (`rsize=`); the server's MaxReadSize bounds it too.
    pub max_read: Option<u32>,
    /// Upper bound for one WRITE (`wsize=`).
    pub max_write: Option<u32>,
    /// The ClientGuid to send in NEGOTIATE (MS-SMB2 3.2.4.2.2.2); random when `None`. A
    /// reconnect that reclaims durable handles with leases must present the GUID of the
    /// connection that opened them (the server keys leases by ClientGuid and LeaseKey).
    pub client_guid: Option<[u8; 16]>,
}

impl ClientConfig {
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            addr: None,
            port: 445,
            dialects: negotiate::dialects_for_vers(None).unwrap_or_default(),
            require_signing: false,
            require_encryption: false,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            echo_interval: None,
            max_read: None,
            max_write: None,
            client_guid: None,
        }
    }
}

/// Who to log on as.
#[derive(Debug, Clone)]
pub enum Auth {
    /// NTLMv2 (the default; `sec=ntlmssp`, `ntlmv2`).
    Ntlmv2(Credentials),
    /// NTLMv1 (`sec=ntlm`): only against servers with `ntlm auth = ntlmv1-permitted`.
    Ntlmv1(Credentials),
    /// The null session (`sec=none`).
    Anonymous,
    /// Guest: NTLMv2 with this user name (or "guest") and an empty password; the server maps
    /// an unknown user to its guest account (`map to guest = bad user`).
    Guest(Option<String>),
}

struct ClientInner {
    conn: Arc<Conn>,
    cfg: ClientConfig,
    neg: Negotiated,
    client_guid: [u8; 16],
    security_mode: u16,
    capabilities: u32,
    preauth: Option<PreauthHash>,
    /// Leases held by our opens, for acknowledging the server's breaks (MS-SMB2 3.2.5.19.2).
    leases: std::sync::Mutex<HashMap<LeaseKey, LeaseOwner>>,
}

/// Who holds a lease: the session and tree to acknowledge its breaks on, and how many of our
/// opens share the key.
#[derive(Clone, Copy, Debug)]
struct LeaseOwner {
    session: SessionId,
    tree: TreeId,
    encrypt: bool,
    opens: usize,
}

impl ClientInner {
    fn leases(&self) -> std::sync::MutexGuard<'_, HashMap<LeaseKey, LeaseOwner>> {
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Acknowledge the server's lease breaks for leases we hold (MS-SMB2 3.2.5.19.2: "the client
/// MUST send an SMB2 LEASE_BREAK Acknowledgment" when SMB2_NOTIFY_BREAK_LEASE_FLAG_ACK_REQUIRED
/// is set), each on its own task so a slow one holds up no other. Breaks of unknown keys and
/// oplock breaks (we never request oplocks) are ignored.
async fn lease_breaks(
    client: std::sync::Weak<ClientInner>,
    mut rx: tokio::sync::mpsc::Receiver<BreakNotification>,
) {
    while let Some(b) = rx.recv().await {
        let BreakNotification::Lease(b) = b else {
            continue;
        };
        let Some(ci) = client.upgrade() else { return };
        let owner = ci.leases().get(&b.key).copied();
        tracing::debug!(
            current = b.current_state,
            new = b.new_state,
            known = owner.is_some(),
            "lease break"
        );
        let (Some(o), true) = (owner, b.ack_required()) else {
            continue;
        };
        tokio::spawn(async move {
            let ack = LeaseBreakAck {
                key: b.key,
                state: b.new_state,
            };
            let r = ci
                .conn
                .call(OutFrame::single(&ack, o.tree), o.session, o.encrypt)
                .await;
            if let Err(e) = r.and_then(|r| one(r)?.ok()) {
                tracing::debug!(error = %e, "lease break acknowledgment failed");
            }
        });
    }
}

/// A connection to one server, negotiated.
#[derive(Clone)]
pub struct Client {
    inner: Arc<ClientInner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.inner.cfg.host)
            .field("port", &self.inner.cfg.port)
            .field("dialect", &self.inner.neg.dialect)
            .finish()
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // getrandom only fails where the OS has no entropy source at all; zeros would still be a
    // valid (if weak) GUID/salt, and the auth randomness is checked separately.
    let _ = getrandom::fill(&mut b);
    b
}

/// Now as a FILETIME (100 ns ticks since 1601-01-01).
fn filetime_now() -> u64 {
    fscc::system_time_to_filetime(SystemTime::now())
}

impl Client {
    /// Connect over Direct TCP and NEGOTIATE (MS-SMB2 3.2.4.2.2.2).
    pub async fn connect(cfg: ClientConfig) -> Result<Self> {
        if cfg.dialects.is_empty() {
            return Err(Error::InvalidInput("no dialect to offer".into()));
        }
        let addr_text = format!("{}:{}", cfg.host, cfg.port);
        let addrs: Vec<SocketAddr> = match cfg.addr {
            Some(ip) => vec![SocketAddr::new(ip, cfg.port)],
            None => tokio::time::timeout(
                cfg.connect_timeout,
                tokio::net::lookup_host((cfg.host.as_str(), cfg.port)),
            )
            .await
            .map_err(|_| Error::ConnectTimeout {
                addr: addr_text.clone(),
                after: cfg.connect_timeout,
            })?
            .map_err(|source| Error::Connect {
                addr: addr_text.clone(),
                source,
            })?
            .collect(),
        };
        let mut last = None;
        let mut stream = None;
        for a in addrs {
            match tokio::time::timeout(cfg.connect_timeout, tokio::net::TcpStream::connect(a)).await
            {
                Ok(Ok(s)) => {
                    stream = Some(s);
                    break;
                }
                Ok(Err(e)) => {
                    last = Some(Error::Connect {
                        addr: a.to_string(),
                        source: e,
                    })
                }
                Err(_) => {
                    last = Some(Error::ConnectTimeout {
                        addr: a.to_string(),
                        after: cfg.connect_timeout,
                    })
                }
            }
        }
        let Some(stream) = stream else {
            return Err(last.unwrap_or(Error::Connect {
                addr: addr_text,
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
            }));
        };
        let conn = Conn::start(stream, cfg.request_timeout);

        let client_guid = cfg.client_guid.unwrap_or_else(random::<16>);
        let mut sec_mode = security_mode::SIGNING_ENABLED;
        if cfg.require_signing {
            sec_mode |= security_mode::SIGNING_REQUIRED;
        }
        let mut caps = capabilities::LARGE_MTU | capabilities::LEASING;
        if cfg.dialects.iter().any(|d| *d >= Dialect::SMB_3_0) {
            caps |= capabilities::ENCRYPTION;
        }
        let offers_311 = cfg.dialects.contains(&Dialect::SMB_3_1_1);
        let contexts = if offers_311 {
            vec![
                NegotiateContext::PreauthIntegrity {
                    hash_algorithms: vec![HASH_SHA512],
                    salt: random::<32>().to_vec(),
                },
                NegotiateContext::Encryption {
                    ciphers: CIPHERS.to_vec(),
                },
                NegotiateContext::Signing {
                    algorithms: SIGNING_ALGORITHMS.to_vec(),
                },
            ]
        } else {
            vec![]
        };
        let req = NegotiateRequest {
            security_mode: sec_mode,
            capabilities: caps,
            client_guid,
            dialects: cfg.dialects.clone(),
            contexts,
        };
        let (resps, sent) = conn
            .call_raw(OutFrame::single(&req, TreeId(0)), SessionId(0))
            .await?;
        let resp = one(resps)?.ok()?;
        let nr = NegotiateResponse::decode(&resp.msg).map_err(Error::decode(Command::NEGOTIATE))?;
        let neg = negotiate::settle(&cfg.dialects, &nr)?;
        let preauth = (neg.dialect == Dialect::SMB_3_1_1).then(|| {
            let mut h = PreauthHash::new();
            h.update(&sent);
            h.update(&resp.msg);
            h
        });
        if cfg.require_encryption && neg.cipher.is_none() {
            return Err(Error::InvalidInput(format!(
                "seal: encryption needs SMB 3.x with a common cipher; negotiated SMB {}{}",
                neg.dialect,
                if neg.dialect >= Dialect::SMB_3_0 {
                    " without one"
                } else {
                    ""
                }
            )));
        }
        tracing::debug!(dialect = %neg.dialect, cipher = ?neg.cipher, sign = neg.signing_algorithm, "negotiated");
        if let Some(iv) = cfg.echo_interval {
            tokio::spawn(keepalive(Arc::downgrade(&conn), iv));
        }
        let (btx, brx) = tokio::sync::mpsc::channel(64);
        conn.set_break_sink(btx);
        let inner = Arc::new(ClientInner {
            conn,
            cfg,
            neg,
            client_guid,
            security_mode: sec_mode,
            capabilities: caps,
            preauth,
            leases: Default::default(),
        });
        tokio::spawn(lease_breaks(Arc::downgrade(&inner), brx));
        Ok(Self { inner })
    }

    /// What NEGOTIATE settled (dialect, sizes, algorithms).
    pub fn negotiated(&self) -> &Negotiated {
        &self.inner.neg
    }

    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    /// The ClientGuid this connection negotiated with (for [`ClientConfig::client_guid`]).
    pub fn client_guid(&self) -> [u8; 16] {
        self.inner.client_guid
    }

    /// ECHO (MS-SMB2 3.2.4.19): a round trip that proves the connection is alive.
    pub async fn echo(&self) -> Result<()> {
        let r = self.inner.conn.call(
            OutFrame::single(&EchoRequest, TreeId(0)),
            SessionId(0),
            false,
        );
        one(r.await?)?.ok().map(|_| ())
    }

    /// Authenticate (MS-SMB2 3.2.4.2.3, SPNEGO/NTLMSSP) and derive the session's keys.
    pub async fn session_setup(&self, auth: &Auth) -> Result<Session> {
        let ci = &self.inner;
        let (creds, mode) = match auth {
            Auth::Ntlmv2(c) => (c.clone(), NtlmMode::V2),
            Auth::Ntlmv1(c) => (c.clone(), NtlmMode::V1),
            Auth::Anonymous => (Credentials::new("", "", ""), NtlmMode::Anonymous),
            Auth::Guest(u) => (
                Credentials::new(u.as_deref().unwrap_or("guest"), "", ""),
                NtlmMode::V2,
            ),
        };
        let anonymous = matches!(mode, NtlmMode::Anonymous);
        let rnd = AuthRandom {
            client_challenge: random::<8>(),
            exported_session_key: random::<16>(),
        };
        let mut spnego = SpnegoNtlm::new(creds, mode, "FUSEVOL", rnd);
        let mut token = spnego.initial_token();
        let mut preauth = ci.preauth;
        let mut session_id = SessionId(0);
        let sec_mode = if ci.cfg.require_signing {
            wire_u8(security_mode::SIGNING_ENABLED | security_mode::SIGNING_REQUIRED)
        } else {
            wire_u8(security_mode::SIGNING_ENABLED)
        };
        let mut round = 0;
        let (final_resp, setup) = loop {
            round += 1;
            if round > 4 {
                return Err(Error::Auth(crate::smb::auth::AuthError::OutOfOrder(
                    "more than 4 SESSION_SETUP rounds",
                )));
            }
            let req = SessionSetupRequest {
                flags: 0,
                security_mode: sec_mode,
                capabilities: 0,
                previous_session_id: 0,
                security_buffer: std::mem::take(&mut token),
            };
            let (resps, sent) = ci
                .conn
                .call_raw(OutFrame::single(&req, TreeId(0)), session_id)
                .await?;
            let resp = one(resps)?;
            if let Some(h) = preauth.as_mut() {
                h.update(&sent);
            }
            let status = resp.status();
            if status == NtStatus::MORE_PROCESSING_REQUIRED {
                if round > 1 {
                    // NTLM has one challenge; after AUTHENTICATE the server must decide.
                    return Err(crate::smb::auth::AuthError::UnexpectedToken(
                        "STATUS_MORE_PROCESSING_REQUIRED",
                    )
                    .into());
                }
                if let Some(h) = preauth.as_mut() {
                    h.update(&resp.msg);
                }
                session_id = resp.header.session_id;
                let r = SessionSetupResponse::decode(&resp.msg)
                    .map_err(Error::decode(Command::SESSION_SETUP))?;
                token = spnego.step(&r.security_buffer, filetime_now())?;
                continue;
            }
            let resp = resp.ok()?;
            session_id = resp.header.session_id;
            let r = SessionSetupResponse::decode(&resp.msg)
                .map_err(Error::decode(Command::SESSION_SETUP))?;
            break (resp, r);
        };
        spnego.finish(&setup.security_buffer)?;
        let is_guest = setup.session_flags & SessionSetupResponse::IS_GUEST != 0;
        let is_null = setup.session_flags & SessionSetupResponse::IS_NULL != 0 || anonymous;
        let server_encrypt = setup.session_flags & SessionSetupResponse::ENCRYPT_DATA != 0;
        let must_sign = ci.cfg.require_signing || ci.neg.server_signing_required;
        let key = if is_guest || is_null {
            None
        } else {
            spnego.session_key()
        };
        // A signed final response that says guest or null is still checked with the key
        // authentication gave us: SessionFlags are what the signature protects, and a flipped
        // IS_GUEST must not turn a signed session into an unsigned one.
        if key.is_none()
            && final_resp.header.is_signed()
            && let Some(k) = spnego.session_key()
        {
            SessionSecurity::derive(&ci.neg, Some(&k), preauth.as_ref(), false, false)?
                .verify(&final_resp.msg)
                .map_err(|_| ProtocolError::BadSignature {
                    command: Command::SESSION_SETUP,
                })?;
        }
        if must_sign && key.is_none() && ci.cfg.require_signing {
            return Err(Error::InvalidInput(format!(
                "signing was required but a {} session has no key to sign with",
                if is_null { "anonymous" } else { "guest" }
            )));
        }
        let encrypt = ci.cfg.require_encryption || server_encrypt;
        if encrypt && key.is_none() {
            return Err(Error::InvalidInput(
                "encryption is required but a guest or anonymous session has no key".into(),
            ));
        }
        let sec = Arc::new(SessionSecurity::derive(
            &ci.neg,
            key.as_ref(),
            preauth.as_ref(),
            must_sign && key.is_some(),
            encrypt,
        )?);
        // MS-SMB2 3.2.5.3.1: the final SESSION_SETUP response of an authenticated session is
        // signed with the new key; verify it (3.1.1 requires it signed, 3.2.5.3.1).
        if key.is_some() && (final_resp.header.is_signed() || ci.neg.dialect == Dialect::SMB_3_1_1)
        {
            if !final_resp.header.is_signed() {
                return Err(ProtocolError::Unsigned {
                    command: Command::SESSION_SETUP,
                }
                .into());
            }
            sec.verify(&final_resp.msg)
                .map_err(|_| ProtocolError::BadSignature {
                    command: Command::SESSION_SETUP,
                })?;
        }
        ci.conn.set_session(session_id, sec.clone());
        tracing::debug!(session = %session_id, guest = is_guest, null = is_null, sign = sec.sign, encrypt, "session set up");
        Ok(Session {
            inner: Arc::new(SessionInner {
                client: self.clone(),
                id: session_id,
                guest: is_guest,
                anonymous: is_null,
                validated: AtomicBool::new(false),
            }),
        })
    }
}

/// Encode an info-class value into a fresh buffer.
fn enc(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::new();
    f(&mut v);
    v
}

/// ECHO every `iv`; no answer within `iv` closes the connection (MS-SMB2 3.2.6.2 leaves the
/// policy to the client; mount.cifs declares a server dead after twice `echo_interval`).
async fn keepalive(conn: std::sync::Weak<Conn>, iv: Duration) {
    loop {
        tokio::time::sleep(iv).await;
        let Some(c) = conn.upgrade() else { return };
        if c.is_dead() {
            return;
        }
        let echo = c.call(
            OutFrame::single(&EchoRequest, TreeId(0)),
            SessionId(0),
            false,
        );
        match tokio::time::timeout(iv, echo).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.is_disconnect() => return,
            Ok(Err(e)) => tracing::debug!(error = %e, "echo answered with an error"),
            Err(_) => {
                c.close(format!(
                    "server did not answer ECHO within {iv:?} (echo_interval)"
                ));
                return;
            }
        }
    }
}

fn wire_u8(v: u16) -> u8 {
    u8::try_from(v).unwrap_or(u8::MAX)
}

/// QUERY_INFO(FileInternalInformation) on the handle a related CREATE just opened: the file's
/// index number, the inode number `serverino` uses.
fn index_query() -> QueryInfoRequest {
    QueryInfoRequest {
        info_type: crate::smb::wire::query_info::info_type::FILE,
        file_info_class: fscc::info_class::FILE_INTERNAL_INFORMATION,
        output_buffer_length: 8,
        additional_information: 0,
        flags: 0,
        file_id: FileId::COMPOUND,
        input: vec![],
    }
}

/// A successful CREATE's response, decoded.
fn create_answer(r: Response) -> Result<CreateResponse> {
    let r = r.ok()?;
    CreateResponse::decode(&r.msg).map_err(Error::decode(Command::CREATE))
}

/// A CLOSE of `id` that asks for no attributes back ([`FileId::COMPOUND`]: the handle a
/// related CREATE opened).
fn close_req(id: FileId) -> CloseRequest {
    CloseRequest {
        flags: 0,
        file_id: id,
    }
}

/// Ask a CREATE for the file's on-disk id (SMB2_CREATE_QUERY_ON_DISK_ID, MS-SMB2 2.2.13.2.9);
/// [`disk_file_id`] reads the answer.
fn ask_disk_file_id(req: &mut CreateRequest) {
    req.contexts
        .push(CreateContext::new(context_name::QUERY_ON_DISK_ID, vec![]));
}

/// The DiskFileId of a CREATE response's SMB2_CREATE_QUERY_ON_DISK_ID context (its first 8
/// bytes, MS-SMB2 2.2.14.2.9), if the server answered it.
fn disk_file_id(c: &CreateResponse) -> Option<u64> {
    find_context(&c.contexts, context_name::QUERY_ON_DISK_ID)
        .and_then(|x| x.data.get(..8))
        .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
}

/// The index number in the answer to [`index_query`].
fn index_of(msg: &[u8]) -> Result<u64> {
    let qr = QueryInfoResponse::decode(msg).map_err(Error::decode(Command::QUERY_INFO))?;
    let ii = fscc::FileInternalInformation::decode(&qr.buffer)
        .map_err(Error::decode(Command::QUERY_INFO))?;
    Ok(ii.index_number)
}
fn one(mut v: Vec<Response>) -> Result<Response> {
    v.pop()
        .ok_or_else(|| Error::Disconnected("no response".into()))
}

struct SessionInner {
    client: Client,
    id: SessionId,
    guest: bool,
    anonymous: bool,
    validated: AtomicBool,
}

/// An authenticated session.
#[derive(Clone)]
pub struct Session {
    inner: Arc<SessionInner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.inner.id)
            .finish()
    }
}

impl Session {
    pub fn id(&self) -> SessionId {
        self.inner.id
    }
    pub fn is_guest(&self) -> bool {
        self.inner.guest
    }
    pub fn is_anonymous(&self) -> bool {
        self.inner.anonymous
    }
    pub fn client(&self) -> &Client {
        &self.inner.client
    }
    fn conn(&self) -> &Conn {
        &self.inner.client.inner.conn
    }
    /// Signing and encryption in force for this session.
    pub fn signing(&self) -> bool {
        self.conn().session(self.inner.id).is_some_and(|s| s.sign)
    }
    pub fn encrypting(&self) -> bool {
        self.conn()
            .session(self.inner.id)
            .is_some_and(|s| s.encrypt)
    }

    /// TREE_CONNECT to `share` on this session's server (MS-SMB2 3.2.4.2.4).
    pub async fn tree_connect(&self, share: &str) -> Result<Tree> {
        let ci = &self.inner.client.inner;
        let path = format!("\\\\{}\\{}", ci.cfg.host, share);
        let req = TreeConnectRequest { flags: 0, path };
        // 3.1.1: "the client MUST sign the TREE_CONNECT request" when the session has a key
        // (MS-SMB2 3.2.4.1.1); Samba answers ACCESS_DENIED otherwise. Earlier dialects may too.
        let frame = OutFrame::single(&req, TreeId(0));
        let r = self.conn().call_signed(frame, self.inner.id, false).await;
        let resp = match one(r?)?.ok() {
            Ok(r) => r,
            Err(Error::Status { status, .. })
                if status == NtStatus::ACCESS_DENIED && ci.neg.dialect < Dialect::SMB_3_0 =>
            {
                return Err(Error::InvalidInput(format!(
                    "tree connect to {share} denied: {} (if the share requires encryption, it \
                     needs SMB 3.x; this connection negotiated SMB {})",
                    NtStatus::ACCESS_DENIED,
                    ci.neg.dialect
                )));
            }
            Err(e) => return Err(e),
        };
        let t =
            TreeConnectResponse::decode(&resp.msg).map_err(Error::decode(Command::TREE_CONNECT))?;
        let encrypt =
            t.share_flags & crate::smb::wire::tree_connect::share_flags::ENCRYPT_DATA != 0;
        let sec = self.conn().session(self.inner.id);
        if encrypt && !sec.as_ref().is_some_and(|s| s.can_encrypt()) {
            return Err(Error::InvalidInput(format!(
                "share {share} requires encryption (SMB 3.x), which this session cannot do"
            )));
        }
        let tree = Tree {
            inner: Arc::new(TreeInner {
                session: self.clone(),
                id: resp.header.tree_id,
                encrypt,
                share: share.to_string(),
                share_type: t.share_type,
                no_qfid: AtomicBool::new(false),
            }),
        };
        self.validate_negotiate(&tree).await?;
        Ok(tree)
    }

    /// FSCTL_VALIDATE_NEGOTIATE_INFO (MS-SMB2 3.2.5.14.12 / 3.2.4.2.4 for 3.0 and 3.0.2): proves
    /// the NEGOTIATE was not tampered with. Only possible on a signed session.
    async fn validate_negotiate(&self, tree: &Tree) -> Result<()> {
        let ci = &self.inner.client.inner;
        let d = ci.neg.dialect;
        if !(d == Dialect::SMB_3_0 || d == Dialect::SMB_3_0_2)
            || self.inner.guest
            || self.inner.anonymous
            || self.inner.validated.swap(true, Ordering::SeqCst)
        {
            return Ok(());
        }
        let v = ValidateNegotiateInfoRequest {
            capabilities: ci.capabilities,
            guid: ci.client_guid,
            security_mode: ci.security_mode,
            dialects: ci.cfg.dialects.clone(),
        };
        let mut input = Vec::new();
        v.encode(&mut input);
        let req = IoctlRequest {
            ctl_code: FSCTL_VALIDATE_NEGOTIATE_INFO,
            file_id: FileId::COMPOUND,
            input,
            max_input_response: 0,
            max_output_response: 24,
            flags: IoctlRequest::IS_FSCTL,
        };
        // "The client MUST sign the request" (3.2.5.14.12 / 3.3.5.15.12).
        let frame = OutFrame::single(&req, tree.inner.id);
        let resp = self
            .conn()
            .call_signed(frame, self.inner.id, tree.inner.encrypt)
            .await;
        let resp = one(resp?)?;
        if !resp.verified {
            return Err(ProtocolError::ValidateNegotiateMismatch.into());
        }
        let resp = resp.ok()?;
        let io = IoctlResponse::decode(&resp.msg).map_err(Error::decode(Command::IOCTL))?;
        let vr = ValidateNegotiateInfoResponse::decode(&io.output)
            .map_err(Error::decode(Command::IOCTL))?;
        let server_mode = if ci.neg.server_signing_required {
            security_mode::SIGNING_ENABLED | security_mode::SIGNING_REQUIRED
        } else {
            security_mode::SIGNING_ENABLED
        };
        if vr.dialect != d
            || vr.guid != ci.neg.server_guid
            || vr.capabilities != ci.neg.capabilities
            || (vr.security_mode & security_mode::SIGNING_REQUIRED)
                != (server_mode & security_mode::SIGNING_REQUIRED)
        {
            return Err(ProtocolError::ValidateNegotiateMismatch.into());
        }
        Ok(())
    }

    /// LOGOFF (MS-SMB2 3.2.4.22).
    pub async fn logoff(&self) -> Result<()> {
        let r = self.conn().call(
            OutFrame::single(&LogoffRequest, TreeId(0)),
            self.inner.id,
            false,
        );
        let r = one(r.await?)?.ok();
        self.conn().remove_session(self.inner.id);
        r.map(|_| ())
    }
}

struct TreeInner {
    session: Session,
    id: TreeId,
    encrypt: bool,
    share: String,
    share_type: u8,
    /// The server left a QFid create context unanswered: ask with QUERY_INFO instead.
    no_qfid: AtomicBool,
}

/// A connected share.
#[derive(Clone)]
pub struct Tree {
    inner: Arc<TreeInner>,
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("share", &self.inner.share)
            .field("id", &self.inner.id)
            .finish()
    }
}

/// Attributes of a file or directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    pub creation_time: u64,
    pub last_access_time: u64,
    pub last_write_time: u64,
    pub change_time: u64,
    pub size: u64,
    pub allocation_size: u64,
    pub attributes: u32,
    /// The server's file id (IndexNumber), when known: stable inode numbers (`serverino`).
    pub file_index: Option<u64>,
}

impl FileInfo {
    pub fn is_dir(&self) -> bool {
        self.attributes & fscc::attributes::DIRECTORY != 0
    }
    pub fn is_readonly(&self) -> bool {
        self.attributes & fscc::attributes::READONLY != 0
    }
    fn from_create(c: &CreateResponse) -> Self {
        Self {
            creation_time: c.creation_time,
            last_access_time: c.last_access_time,
            last_write_time: c.last_write_time,
            change_time: c.change_time,
            size: c.end_of_file,
            allocation_size: c.allocation_size,
            attributes: c.file_attributes,
            file_index: None,
        }
    }
    pub fn from_dir_entry(e: &DirEntry) -> Self {
        Self {
            creation_time: e.creation_time,
            last_access_time: e.last_access_time,
            last_write_time: e.last_write_time,
            change_time: e.change_time,
            size: e.end_of_file,
            allocation_size: e.allocation_size,
            attributes: e.file_attributes,
            file_index: (e.file_id != 0).then_some(e.file_id),
        }
    }
}

/// How to open a file (a friendlier face on CREATE's access, disposition and options).
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub access: u32,
    pub disposition: u32,
    pub options: u32,
    pub attributes: u32,
    pub share: u32,
    /// Ask for a durable handle v2 with a read+handle lease (SMB 3.x servers that lease;
    /// MS-SMB2 3.2.4.3.5, 3.2.4.3.8), so the open can be reclaimed after a reconnect with
    /// [`Tree::reclaim`]. Ignored where the dialect or server cannot.
    pub durable: bool,
}

impl OpenOptions {
    /// Open an existing file or directory for reading.
    pub fn read() -> Self {
        Self {
            access: access::GENERIC_READ,
            disposition: disposition::OPEN,
            options: 0,
            attributes: 0,
            share: share_access::READ | share_access::WRITE | share_access::DELETE,
            durable: false,
        }
    }
    /// Open an existing file for reading and writing.
    pub fn read_write() -> Self {
        Self {
            access: access::GENERIC_READ | access::GENERIC_WRITE,
            ..Self::read()
        }
    }
    /// Create or truncate a file for writing.
    pub fn create_truncate() -> Self {
        Self {
            access: access::GENERIC_READ | access::GENERIC_WRITE,
            disposition: disposition::OVERWRITE_IF,
            options: options::NON_DIRECTORY_FILE,
            ..Self::read()
        }
    }
    /// Create a new file; fails with OBJECT_NAME_COLLISION if it exists.
    pub fn create_new() -> Self {
        Self {
            disposition: disposition::CREATE,
            ..Self::create_truncate()
        }
    }
    /// Only read attributes (stat).
    pub fn attributes_only() -> Self {
        Self {
            access: access::FILE_READ_ATTRIBUTES | access::SYNCHRONIZE,
            ..Self::read()
        }
    }
}

/// Convert a user path (`/a/b`, `a\b`, `a/b/`) to the SMB form (`a\b`, no leading separator).
pub fn smb_path(p: &str) -> String {
    p.split(['/', '\\'])
        .filter(|s| !s.is_empty() && *s != ".")
        .collect::<Vec<_>>()
        .join("\\")
}

impl Tree {
    pub fn id(&self) -> TreeId {
        self.inner.id
    }
    pub fn session(&self) -> &Session {
        &self.inner.session
    }
    pub fn share(&self) -> &str {
        &self.inner.share
    }
    /// Share type (MS-SMB2 2.2.10: 1 disk, 2 pipe, 3 print).
    pub fn share_type(&self) -> u8 {
        self.inner.share_type
    }
    fn conn(&self) -> &Arc<Conn> {
        &self.inner.session.inner.client.inner.conn
    }
    fn neg(&self) -> &Negotiated {
        &self.inner.session.inner.client.inner.neg
    }
    fn cfg(&self) -> &ClientConfig {
        &self.inner.session.inner.client.inner.cfg
    }

    /// Largest single READ this tree will send.
    pub fn max_read(&self) -> u32 {
        let cap = self.cfg().max_read.unwrap_or(u32::MAX);
        self.neg().max_read.min(cap).clamp(4096, 8 << 20)
    }
    /// Largest single WRITE this tree will send.
    pub fn max_write(&self) -> u32 {
        let cap = self.cfg().max_write.unwrap_or(u32::MAX);
        self.neg().max_write.min(cap).clamp(4096, 8 << 20)
    }
    fn max_transact(&self) -> u32 {
        self.neg().max_transact.clamp(4096, 1 << 20)
    }

    /// Send a frame on this tree and wait for every response.
    pub async fn call(&self, frame: OutFrame) -> Result<Vec<Response>> {
        self.conn()
            .call(frame, self.inner.session.inner.id, self.inner.encrypt)
            .await
    }

    fn frame(&self) -> OutFrame {
        OutFrame::new()
    }

    /// Send a frame without waiting, from any thread (a FUSE thread included): see
    /// [`Conn::send_now`]. `None`: it would have to wait; use [`call`](Self::call).
    pub fn send_now(&self, frame: OutFrame) -> Option<Result<Sent>> {
        self.conn()
            .send_now(frame, self.inner.session.inner.id, self.inner.encrypt)
    }

    fn create_req(&self, path: &str, o: &OpenOptions) -> CreateRequest {
        CreateRequest {
            requested_oplock_level: 0,
            impersonation_level: 2,
            desired_access: o.access,
            file_attributes: o.attributes,
            share_access: o.share,
            create_disposition: o.disposition,
            create_options: o.options,
            name: smb_path(path),
            contexts: vec![],
        }
    }

    /// Can opens on this tree be durable (v2 handles need SMB 3.x; we pair them with a lease,
    /// which the server must offer: SMB2_GLOBAL_CAP_LEASING)?
    fn can_be_durable(&self) -> bool {
        self.neg().dialect >= Dialect::SMB_3_0
            && self.neg().capabilities & capabilities::LEASING != 0
    }

    /// CREATE (MS-SMB2 3.2.4.3): open or create a file or directory.
    pub async fn open(&self, path: &str, o: &OpenOptions) -> Result<File> {
        let mut req = self.create_req(path, o);
        let wish = (o.durable && self.can_be_durable()).then(|| DurableWish {
            create_guid: random::<16>(),
            lease_key: random::<16>(),
        });
        if let Some(w) = &wish {
            w.add_to(&mut req, None);
        }
        let mut f = self.frame();
        f.push(&req, self.inner.id);
        let c = create_answer(one(self.call(f).await?)?)?;
        Ok(self.file_from(c, wish, None))
    }

    /// As [`open`](Self::open), with the file's index number (the inode number `serverino`
    /// uses) asked for in the same request: the SMB2_CREATE_QUERY_ON_DISK_ID context
    /// (MS-SMB2 2.2.13.2.9), whose answer (2.2.14.2.9) begins with the 8-byte DiskFileId. Samba
    /// fills it, as FileInternalInformation's IndexNumber, from its file id of the file (the
    /// live test `open_indexed_gives_the_index_stat_gives` checks they agree). It costs the
    /// server less than a compounded QUERY_INFO, which also reads the file's DOS attributes. A
    /// server that does not answer the context is asked with QUERY_INFO.
    pub async fn open_indexed(&self, path: &str, o: &OpenOptions) -> Result<File> {
        let (f, wish) = self.indexed_request(path, o);
        let resp = one(self.call(f).await?)?;
        self.indexed_answer(resp, wish).await
    }

    /// As [`open_indexed`](Self::open_indexed), with the CREATE sent from this thread at once
    /// (any thread: see [`Conn::send_now`]); the future gives the file. `None`: it would have
    /// to wait; use `open_indexed`.
    pub fn open_indexed_now(
        &self,
        path: &str,
        o: &OpenOptions,
    ) -> Option<impl Future<Output = Result<File>> + Send + 'static> {
        let (f, wish) = self.indexed_request(path, o);
        let sent = self.send_now(f)?;
        let t = self.clone();
        Some(async move {
            let resp = one(sent?.wait().await?)?;
            t.indexed_answer(resp, wish).await
        })
    }

    fn indexed_request(&self, path: &str, o: &OpenOptions) -> (OutFrame, Option<DurableWish>) {
        let mut req = self.create_req(path, o);
        let wish = (o.durable && self.can_be_durable()).then(|| DurableWish {
            create_guid: random::<16>(),
            lease_key: random::<16>(),
        });
        if let Some(w) = &wish {
            w.add_to(&mut req, None);
        }
        ask_disk_file_id(&mut req);
        let mut f = self.frame();
        f.push(&req, self.inner.id);
        (f, wish)
    }

    async fn indexed_answer(&self, resp: Response, wish: Option<DurableWish>) -> Result<File> {
        let c = create_answer(resp)?;
        let disk_id = disk_file_id(&c);
        let file = self.file_from(c, wish, None);
        let index = match disk_id {
            Some(i) => Some(i),
            None => file.index_number().await.ok(),
        };
        Ok(file.with_index(index))
    }

    /// Reclaim a durable open after a reconnect (MS-SMB2 3.2.4.4: CREATE with the
    /// SMB2_CREATE_DURABLE_HANDLE_RECONNECT_V2 context, the same name, CreateGuid and lease
    /// key). The server answers with the same open, its locks and share modes intact, or an
    /// error (e.g. STATUS_OBJECT_NAME_NOT_FOUND once the handle has expired).
    pub async fn reclaim(&self, path: &str, o: &OpenOptions, token: &DurableToken) -> Result<File> {
        if !self.can_be_durable() {
            return Err(Error::InvalidInput(
                "durable handles need SMB 3.x with leasing".into(),
            ));
        }
        let mut req = self.create_req(path, o);
        let wish = DurableWish {
            create_guid: token.create_guid,
            lease_key: token.lease_key,
        };
        wish.add_to(&mut req, Some(token.file_id));
        let mut f = self.frame();
        f.push(&req, self.inner.id);
        let c = create_answer(one(self.call(f).await?)?)?;
        Ok(self.file_from(c, Some(wish), Some(token)))
    }

    /// Wrap a CREATE response; a durable grant (DH2Q response context) is remembered, and a
    /// granted lease registered so its breaks are acknowledged.
    /// A reclaimed open stays durable: the DH2C response carries no DH2Q context
    /// (MS-SMB2 3.3.5.9.12), and the token lives on with the id the server answered.
    fn file_from(
        &self,
        c: CreateResponse,
        wish: Option<DurableWish>,
        reclaimed: Option<&DurableToken>,
    ) -> File {
        let mut durable = None;
        let mut lease = None;
        if let Some(w) = wish {
            let granted = find_context(&c.contexts, context_name::REQUEST_LEASE)
                .and_then(|x| LeaseV2::decode(&x.data).ok())
                .filter(|l| l.key == w.lease_key && c.oplock_level == oplock::LEASE);
            if let Some(l) = granted {
                let ci = &self.inner.session.inner.client.inner;
                let mut leases = ci.leases();
                let e = leases.entry(l.key).or_insert(LeaseOwner {
                    session: self.inner.session.inner.id,
                    tree: self.inner.id,
                    encrypt: self.inner.encrypt,
                    opens: 0,
                });
                e.opens += 1;
                lease = Some(l.key);
            }
            let dh = find_context(&c.contexts, context_name::DURABLE_HANDLE_REQUEST_V2)
                .and_then(|x| DurableResponseV2::decode(&x.data).ok());
            if let Some(d) = dh {
                durable = Some(DurableToken {
                    file_id: c.file_id,
                    create_guid: w.create_guid,
                    lease_key: w.lease_key,
                    timeout_ms: d.timeout_ms,
                });
            } else if let Some(t) = reclaimed {
                durable = Some(DurableToken {
                    file_id: c.file_id,
                    ..*t
                });
            }
            tracing::debug!(durable = durable.is_some(), lease = lease.is_some(), "open");
        }
        File {
            inner: Arc::new(FileInner {
                tree: self.clone(),
                id: c.file_id,
                info: FileInfo::from_create(&c),
                create_action: c.create_action,
                closed: AtomicBool::new(false),
                durable,
                lease,
            }),
        }
    }

    /// Open, run one request on the new handle, close: one round trip (a related compound,
    /// MS-SMB2 3.2.4.1.4). Returns the CREATE response and the middle response.
    async fn compound<R: RequestBody>(
        &self,
        path: &str,
        o: &OpenOptions,
        middle: &R,
    ) -> Result<(CreateResponse, Response)> {
        let mut f = self.frame();
        f.push(&self.create_req(path, o), self.inner.id);
        f.push(middle, self.inner.id);
        f.push(&close_req(FileId::COMPOUND), self.inner.id);
        let mut rs = self.call(f).await?.into_iter();
        let (Some(c), Some(m), Some(_close)) = (rs.next(), rs.next(), rs.next()) else {
            return Err(Error::Disconnected("compound answered partly".into()));
        };
        Ok((create_answer(c)?, m))
    }

    /// CREATE asking for the on-disk id (see [`open_indexed`](Self::open_indexed)) + CLOSE,
    /// a related compound: the attributes and, when the server answers the context, the index
    /// number, in one round trip.
    async fn open_close_indexed(&self, path: &str, o: &OpenOptions) -> Result<FileInfo> {
        let mut req = self.create_req(path, o);
        ask_disk_file_id(&mut req);
        let mut f = self.frame();
        f.push(&req, self.inner.id);
        f.push(&close_req(FileId::COMPOUND), self.inner.id);
        let mut rs = self.call(f).await?.into_iter();
        let (Some(c), Some(_close)) = (rs.next(), rs.next()) else {
            return Err(Error::Disconnected("compound answered partly".into()));
        };
        let c = create_answer(c)?;
        let mut info = FileInfo::from_create(&c);
        info.file_index = disk_file_id(&c);
        Ok(info)
    }

    /// Attributes of `path` in one round trip: CREATE (with the on-disk id context) + CLOSE, or
    /// on a server that does not answer that context, CREATE + QUERY_INFO
    /// (FileInternalInformation) + CLOSE.
    pub async fn stat(&self, path: &str) -> Result<FileInfo> {
        if !self.inner.no_qfid.load(Ordering::Relaxed) {
            let info = self
                .open_close_indexed(path, &OpenOptions::attributes_only())
                .await?;
            if info.file_index.is_some() {
                return Ok(info);
            }
            self.inner.no_qfid.store(true, Ordering::Relaxed);
        }
        let q = index_query();
        let (c, m) = self
            .compound(path, &OpenOptions::attributes_only(), &q)
            .await?;
        let mut info = FileInfo::from_create(&c);
        if let Ok(m) = m.ok() {
            info.file_index = Some(index_of(&m.msg)?);
        }
        Ok(info)
    }

    /// List a directory (FileIdBothDirectoryInformation, MS-SMB2 3.2.4.17); `.` and `..` are
    /// left out.
    ///
    /// One round trip for a listing that fits in one response: a related compound (MS-SMB2
    /// 3.2.4.1.4) of CREATE, QUERY_DIRECTORY, QUERY_DIRECTORY and CLOSE, whose second query
    /// answers STATUS_NO_MORE_FILES. A longer listing is read again, whole, through an open
    /// handle (QUERY_DIRECTORY until STATUS_NO_MORE_FILES).
    pub async fn list(&self, path: &str) -> Result<Vec<DirEntry>> {
        let o = OpenOptions {
            access: access::FILE_LIST_DIRECTORY
                | access::FILE_READ_ATTRIBUTES
                | access::SYNCHRONIZE,
            options: options::DIRECTORY_FILE,
            ..OpenOptions::read()
        };
        let query = |flags| QueryDirectoryRequest {
            file_information_class: fscc::info_class::FILE_ID_BOTH_DIRECTORY_INFORMATION,
            flags,
            file_index: 0,
            file_id: FileId::COMPOUND,
            pattern: "*".into(),
            output_buffer_length: self.max_transact(),
        };
        let mut f = self.frame();
        f.push(&self.create_req(path, &o), self.inner.id);
        f.push(&query(QueryDirectoryRequest::RESTART_SCANS), self.inner.id);
        f.push(&query(0), self.inner.id);
        f.push(&close_req(FileId::COMPOUND), self.inner.id);
        let mut rs = self.call(f).await?.into_iter();
        let (Some(c), Some(q1), Some(q2), Some(_close)) =
            (rs.next(), rs.next(), rs.next(), rs.next())
        else {
            return Err(Error::Disconnected("compound answered partly".into()));
        };
        // The CREATE's failure (not found, not a directory, denied) is the listing's.
        c.ok()?;
        let mut out = Vec::new();
        for (i, r) in [q1, q2].into_iter().enumerate() {
            if r.status() == NtStatus::NO_MORE_FILES {
                return Ok(out);
            }
            let r = r.ok()?;
            let q = QueryDirectoryResponse::decode(&r.msg)
                .map_err(Error::decode(Command::QUERY_DIRECTORY))?;
            let entries = fscc::parse_id_both_directory(&q.buffer)
                .map_err(Error::decode(Command::QUERY_DIRECTORY))?;
            if entries.is_empty() {
                return Ok(out);
            }
            if i == 0 {
                out.extend(
                    entries
                        .into_iter()
                        .filter(|e| e.name != "." && e.name != ".."),
                );
            }
        }
        // More than one response's worth: list it whole through a handle.
        let dir = self.open(path, &o).await?;
        let r = dir.list_all().await;
        let c = dir.close().await;
        let v = r?;
        c?;
        Ok(v)
    }

    /// Create a directory.
    pub async fn mkdir(&self, path: &str) -> Result<FileInfo> {
        let o = OpenOptions {
            access: access::FILE_READ_ATTRIBUTES | access::SYNCHRONIZE,
            disposition: disposition::CREATE,
            options: options::DIRECTORY_FILE,
            ..OpenOptions::read()
        };
        // One round trip, so that the caller has the new directory's attributes and file id:
        // CREATE (with the on-disk id context) + CLOSE, or where the server does not answer
        // that context, CREATE + QUERY_INFO(FileInternalInformation) + CLOSE.
        if !self.inner.no_qfid.load(Ordering::Relaxed) {
            let mut info = self.open_close_indexed(path, &o).await?;
            if info.file_index.is_none() {
                self.inner.no_qfid.store(true, Ordering::Relaxed);
                info.file_index = self.stat(path).await.ok().and_then(|i| i.file_index);
            }
            return Ok(info);
        }
        let q = index_query();
        let (c, m) = self.compound(path, &o, &q).await?;
        let mut info = FileInfo::from_create(&c);
        if let Ok(m) = m.ok()
            && let Ok(i) = index_of(&m.msg)
        {
            info.file_index = Some(i);
        }
        Ok(info)
    }

    async fn delete(&self, path: &str, dir: bool) -> Result<()> {
        let o = OpenOptions {
            access: access::DELETE | access::FILE_READ_ATTRIBUTES | access::SYNCHRONIZE,
            options: if dir {
                options::DIRECTORY_FILE
            } else {
                options::NON_DIRECTORY_FILE
            },
            ..OpenOptions::read()
        };
        let s = SetInfoRequest {
            info_type: crate::smb::wire::query_info::info_type::FILE,
            file_info_class: fscc::info_class::FILE_DISPOSITION_INFORMATION,
            additional_information: 0,
            file_id: FileId::COMPOUND,
            buffer: enc(|b| {
                fscc::FileDispositionInformation {
                    delete_pending: true,
                }
                .encode(b)
            }),
        };
        let (_, m) = self.compound(path, &o, &s).await?;
        m.ok().map(|_| ())
    }

    /// Remove a file.
    pub async fn remove(&self, path: &str) -> Result<()> {
        self.delete(path, false).await
    }

    /// Remove an empty directory (STATUS_DIRECTORY_NOT_EMPTY otherwise).
    pub async fn rmdir(&self, path: &str) -> Result<()> {
        self.delete(path, true).await
    }

    /// Rename `from` to `to` (both share-relative), replacing `to` if `replace`.
    pub async fn rename(&self, from: &str, to: &str, replace: bool) -> Result<()> {
        let o = OpenOptions {
            access: access::DELETE | access::FILE_READ_ATTRIBUTES | access::SYNCHRONIZE,
            ..OpenOptions::read()
        };
        let s = SetInfoRequest {
            info_type: crate::smb::wire::query_info::info_type::FILE,
            file_info_class: fscc::info_class::FILE_RENAME_INFORMATION,
            additional_information: 0,
            file_id: FileId::COMPOUND,
            buffer: enc(|b| {
                fscc::FileRenameInformation {
                    replace_if_exists: replace,
                    root_directory: 0,
                    file_name: smb_path(to),
                }
                .encode(b)
            }),
        };
        let (_, m) = self.compound(from, &o, &s).await?;
        m.ok().map(|_| ())
    }

    /// Size and free space of the share (FileFsFullSizeInformation).
    pub async fn statfs(&self) -> Result<fscc::FileFsFullSizeInformation> {
        let q = QueryInfoRequest {
            info_type: crate::smb::wire::query_info::info_type::FILESYSTEM,
            file_info_class: fscc::fs_info_class::FILE_FS_FULL_SIZE_INFORMATION,
            output_buffer_length: 64,
            additional_information: 0,
            flags: 0,
            file_id: FileId::COMPOUND,
            input: vec![],
        };
        let (_, m) = self
            .compound("", &OpenOptions::attributes_only(), &q)
            .await?;
        let m = m.ok()?;
        let qr = QueryInfoResponse::decode(&m.msg).map_err(Error::decode(Command::QUERY_INFO))?;
        fscc::FileFsFullSizeInformation::decode(&qr.buffer)
            .map_err(Error::decode(Command::QUERY_INFO))
    }

    /// TREE_DISCONNECT (MS-SMB2 3.2.4.11).
    pub async fn disconnect(&self) -> Result<()> {
        let f = OutFrame::single(&TreeDisconnectRequest, self.inner.id);
        one(self.call(f).await?)?.ok().map(|_| ())
    }
}

struct FileInner {
    tree: Tree,
    id: FileId,
    info: FileInfo,
    create_action: u32,
    closed: AtomicBool,
    durable: Option<DurableToken>,
    /// A lease registered with the client for break acknowledgments.
    lease: Option<LeaseKey>,
}

/// What a durable open needs to be reclaimed after a reconnect ([`Tree::reclaim`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DurableToken {
    pub file_id: FileId,
    pub create_guid: [u8; 16],
    pub lease_key: LeaseKey,
    /// How long the server keeps the open after a disconnect (milliseconds).
    pub timeout_ms: u32,
}

impl std::fmt::Debug for DurableToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableToken")
            .field("file_id", &self.file_id)
            .field("timeout_ms", &self.timeout_ms)
            .finish_non_exhaustive()
    }
}

/// The contexts of a durable request: DH2Q (or DH2C when reclaiming) and a v2 lease (R+H).
struct DurableWish {
    create_guid: [u8; 16],
    lease_key: LeaseKey,
}

impl DurableWish {
    fn add_to(&self, req: &mut CreateRequest, reconnect: Option<FileId>) {
        req.requested_oplock_level = oplock::LEASE;
        req.contexts.push(match reconnect {
            None => DurableRequestV2 {
                timeout_ms: 0,
                flags: 0,
                create_guid: self.create_guid,
            }
            .to_context(),
            Some(file_id) => DurableReconnectV2 {
                file_id,
                create_guid: self.create_guid,
                flags: 0,
            }
            .to_context(),
        });
        req.contexts.push(
            LeaseV2::request(
                self.lease_key,
                lease_state::READ_CACHING | lease_state::HANDLE_CACHING,
            )
            .to_context(),
        );
    }
}

impl FileInner {
    fn release_lease(&self) {
        if let Some(k) = self.lease {
            let ci = &self.tree.inner.session.inner.client.inner;
            let mut leases = ci.leases();
            if let Some(o) = leases.get_mut(&k) {
                o.opens = o.opens.saturating_sub(1);
                if o.opens == 0 {
                    leases.remove(&k);
                }
            }
        }
    }
}

impl Drop for FileInner {
    fn drop(&mut self) {
        self.release_lease();
        if !self.closed.load(Ordering::SeqCst) {
            // Not closed explicitly: close in the background so the server handle is not leaked.
            let tree = self.tree.clone();
            let id = self.id;
            if let Ok(h) = tokio::runtime::Handle::try_current() {
                h.spawn(async move {
                    let _ = tree
                        .call(OutFrame::single(&close_req(id), tree.inner.id))
                        .await;
                });
            }
        }
    }
}

/// An open file or directory handle.
#[derive(Clone)]
pub struct File {
    inner: Arc<FileInner>,
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File").field("id", &self.inner.id).finish()
    }
}

/// A READ in flight; [`wait`](ReadCall::wait) gives its data.
pub struct ReadCall {
    rx: std::pin::Pin<Box<dyn Future<Output = Result<Vec<Response>>> + Send>>,
    limit: usize,
}

impl ReadCall {
    /// The bytes read (fewer than asked at end of file, empty past it).
    pub async fn wait(self) -> Result<Bytes> {
        read_data(one(self.rx.await?)?, self.limit)
    }
}

/// A READ response's data (MS-SMB2 2.2.20): at most `limit` bytes, empty at end of file.
fn read_data(resp: Response, limit: usize) -> Result<Bytes> {
    if resp.status() == NtStatus::END_OF_FILE {
        return Ok(Bytes::new());
    }
    let resp = resp.ok()?;
    let r = ReadResponse::decode(&resp.msg).map_err(Error::decode(Command::READ))?;
    if r.data_length > limit {
        return Err(ProtocolError::TooMuchData {
            got: r.data_length,
            limit,
        }
        .into());
    }
    Ok(resp.msg.slice(r.data_offset..r.data_offset + r.data_length))
}

impl File {
    pub fn id(&self) -> FileId {
        self.inner.id
    }
    /// Attributes as CREATE returned them.
    pub fn info(&self) -> &FileInfo {
        &self.inner.info
    }
    /// CreateAction (MS-SMB2 2.2.14): 0 superseded, 1 opened, 2 created, 3 overwritten.
    pub fn create_action(&self) -> u32 {
        self.inner.create_action
    }
    pub fn tree(&self) -> &Tree {
        &self.inner.tree
    }
    /// The file's index number (QUERY_INFO of MS-FSCC FileInternalInformation).
    pub async fn index_number(&self) -> Result<u64> {
        let t = &self.inner.tree;
        let mut q = index_query();
        q.file_id = self.inner.id;
        let resp = one(t.call(OutFrame::single(&q, t.inner.id)).await?)?.ok()?;
        index_of(&resp.msg)
    }

    /// The same open with `file_index` known (only while nobody else holds this handle).
    fn with_index(mut self, index: Option<u64>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.info.file_index = index.or(inner.info.file_index);
        }
        self
    }

    /// Set when the server granted a durable handle: what [`Tree::reclaim`] needs.
    pub fn durable(&self) -> Option<DurableToken> {
        self.inner.durable
    }

    /// Start one READ of at most [`Tree::max_read`] bytes at `offset` without waiting for it:
    /// callers keep several in flight (MS-SMB2 3.2.4.6).
    pub fn start_read(&self, offset: u64, len: u32) -> ReadCall {
        let (frame, limit) = self.read_frame(offset, len);
        let tree = self.inner.tree.clone();
        ReadCall {
            rx: Box::pin(async move { tree.call(frame).await }),
            limit,
        }
    }

    /// Send a READ of up to `len` bytes at `offset` from this thread, and have `f` called with
    /// its data (as [`ReadCall::wait`] gives it) where the response is read: no task waits for
    /// it. `Err(f)`: it would have to wait for credits or queue room; `f` was not called.
    pub fn read_now_then<F>(&self, offset: u64, len: u32, f: F) -> std::result::Result<(), F>
    where
        F: FnOnce(Result<Bytes>) + Send + 'static,
    {
        let (frame, limit) = self.read_frame(offset, len);
        self.send_now_then(frame, f, move |resp| read_data(resp, limit))
    }

    /// A READ of at most `len` bytes (and [`Tree::max_read`]) at `offset`, and that limit.
    fn read_frame(&self, offset: u64, len: u32) -> (OutFrame, usize) {
        let t = &self.inner.tree;
        let len = len.min(t.max_read());
        let req = ReadRequest {
            padding: 0x50,
            flags: 0,
            length: len,
            offset,
            file_id: self.inner.id,
            minimum_count: 0,
            remaining_bytes: 0,
        };
        (OutFrame::single(&req, t.inner.id), len as usize)
    }

    /// Read up to `len` bytes at `offset`, pipelining requests of [`Tree::max_read`].
    pub async fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let chunk = self.inner.tree.max_read() as usize;
        let mut calls = Vec::new();
        let mut at = 0usize;
        while at < len {
            let n = (len - at).min(chunk);
            calls.push(tokio::spawn(
                self.start_read(offset + at as u64, n as u32).wait(),
            ));
            at += n;
        }
        let mut out = Vec::with_capacity(len);
        for c in calls {
            let b = c.await.map_err(|e| Error::Disconnected(e.to_string()))??;
            let short = b.len();
            out.extend_from_slice(&b);
            if short == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// Write all of `data` at `offset`, pipelining requests of [`Tree::max_write`]
    /// (MS-SMB2 3.2.4.7). A short write from the server is an error.
    pub async fn write_at(&self, offset: u64, data: &[u8]) -> Result<()> {
        let t = &self.inner.tree;
        let chunk = t.max_write().max(1) as usize;
        let frames = (0..data.len().max(1)).step_by(chunk).map(|at| {
            let part = &data[at..(at + chunk).min(data.len())];
            (self.write_frame(offset + at as u64, part), part.len())
        });
        write_frames(t, frames).await
    }

    /// As [`write_at`](Self::write_at) for data the caller holds as [`Bytes`]: the requests
    /// send it from there (a slice each, no copy), so the caller can keep it to send again.
    pub async fn write_shared(&self, offset: u64, data: Bytes) -> Result<()> {
        let t = &self.inner.tree;
        let chunk = t.max_write().max(1) as usize;
        let frames = (0..data.len().max(1)).step_by(chunk).map(|at| {
            let part = data.slice(at..(at + chunk).min(data.len()));
            let n = part.len();
            (self.shared_write_frame(offset + at as u64, part), n)
        });
        write_frames(t, frames).await
    }

    /// Send a WRITE of `data` (at most [`Tree::max_write`]) at `offset` from this thread, and
    /// have `f` called with its outcome where the response is read: no task waits for it.
    /// `Err(f)`: it would have to wait for credits or queue room, or is too large; `f` was not
    /// called (use [`write_shared`](Self::write_shared)).
    pub fn write_now_then<F>(&self, offset: u64, data: Bytes, f: F) -> std::result::Result<(), F>
    where
        F: FnOnce(Result<()>) + Send + 'static,
    {
        let want = data.len();
        if want > self.inner.tree.max_write() as usize {
            return Err(f);
        }
        let frame = self.shared_write_frame(offset, data);
        self.send_now_then(frame, f, move |resp| check_write(resp, want))
    }

    /// A WRITE of `part` at `offset`, sent from the caller's bytes ([`OutFrame::tail`]).
    fn shared_write_frame(&self, offset: u64, part: Bytes) -> OutFrame {
        let head = WriteHead {
            offset,
            file_id: self.inner.id,
            len: u32::try_from(part.len()).unwrap_or(u32::MAX),
            flags: 0,
            remaining_bytes: 0,
        };
        OutFrame::single_with_tail(&head, self.inner.tree.inner.id, part)
    }

    /// Send `frame` (one request) now, from this thread, and have `f` called with its
    /// response, read by `decode`, where the response is read
    /// ([`Reserved::send_then`](crate::smb::driver::Reserved::send_then)).
    /// `Err(f)`: it would have to wait for credits or queue room; `f` was not called.
    fn send_now_then<T, F>(
        &self,
        frame: OutFrame,
        f: F,
        decode: impl FnOnce(Response) -> Result<T> + Send + 'static,
    ) -> std::result::Result<(), F>
    where
        F: FnOnce(Result<T>) + Send + 'static,
    {
        let t = &self.inner.tree;
        let Some(r) = t.conn().reserve_now(frame.charge()) else {
            return Err(f);
        };
        r.send_then(
            frame,
            t.inner.session.inner.id,
            t.inner.encrypt,
            Box::new(move |resp| f(resp.and_then(decode))),
        );
        Ok(())
    }

    fn write_frame(&self, offset: u64, part: &[u8]) -> OutFrame {
        let req = WriteRequest {
            offset,
            file_id: self.inner.id,
            data: part,
            flags: 0,
            remaining_bytes: 0,
        };
        OutFrame::single(&req, self.inner.tree.inner.id)
    }

    /// FLUSH (MS-SMB2 3.2.4.9): data on stable storage at the server.
    pub async fn flush(&self) -> Result<()> {
        let t = &self.inner.tree;
        let f = OutFrame::single(
            &FlushRequest {
                file_id: self.inner.id,
            },
            t.inner.id,
        );
        one(t.call(f).await?)?.ok().map(|_| ())
    }

    /// QUERY_DIRECTORY until STATUS_NO_MORE_FILES, `.` and `..` left out.
    pub async fn list_all(&self) -> Result<Vec<DirEntry>> {
        let t = &self.inner.tree;
        let mut out = Vec::new();
        let mut first = true;
        loop {
            let req = QueryDirectoryRequest {
                file_information_class: fscc::info_class::FILE_ID_BOTH_DIRECTORY_INFORMATION,
                flags: if first {
                    QueryDirectoryRequest::RESTART_SCANS
                } else {
                    0
                },
                file_index: 0,
                file_id: self.inner.id,
                pattern: "*".into(),
                output_buffer_length: t.max_transact(),
            };
            first = false;
            let resp = one(t.call(OutFrame::single(&req, t.inner.id)).await?)?;
            if resp.status() == NtStatus::NO_MORE_FILES {
                break;
            }
            let resp = resp.ok()?;
            let q = QueryDirectoryResponse::decode(&resp.msg)
                .map_err(Error::decode(Command::QUERY_DIRECTORY))?;
            let entries = fscc::parse_id_both_directory(&q.buffer)
                .map_err(Error::decode(Command::QUERY_DIRECTORY))?;
            if entries.is_empty() {
                break;
            }
            out.extend(
                entries
                    .into_iter()
                    .filter(|e| e.name != "." && e.name != ".."),
            );
            if out.len() > 10_000_000 {
                return Err(Error::InvalidInput(
                    "directory has more than 10 million entries".into(),
                ));
            }
        }
        Ok(out)
    }

    /// Set FileBasicInformation (times as FILETIME, 0 = leave unchanged; attributes 0 = leave).
    pub async fn set_basic(&self, info: fscc::FileBasicInformation) -> Result<()> {
        self.set_info(
            fscc::info_class::FILE_BASIC_INFORMATION,
            enc(|b| info.encode(b)),
        )
        .await
    }

    /// Truncate or extend (FileEndOfFileInformation).
    pub async fn set_len(&self, len: u64) -> Result<()> {
        let b = enc(|b| fscc::FileEndOfFileInformation { end_of_file: len }.encode(b));
        self.set_info(fscc::info_class::FILE_END_OF_FILE_INFORMATION, b)
            .await
    }

    async fn set_info(&self, class: u8, buffer: Vec<u8>) -> Result<()> {
        let t = &self.inner.tree;
        let req = SetInfoRequest {
            info_type: crate::smb::wire::query_info::info_type::FILE,
            file_info_class: class,
            additional_information: 0,
            file_id: self.inner.id,
            buffer,
        };
        one(t.call(OutFrame::single(&req, t.inner.id)).await?)?
            .ok()
            .map(|_| ())
    }

    /// CLOSE (MS-SMB2 3.2.4.5) without waiting for the answer, from any thread: sent from this
    /// one when it can be at once, else from a task on `rt`. Nothing is reported; a handle lost
    /// with its connection has nothing left to close.
    pub fn close_soon(&self, rt: &tokio::runtime::Handle) {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let (t, id) = (&self.inner.tree, self.inner.id);
        // Some(_): sent, or failed with the connection; the response is dropped unread.
        if t.send_now(OutFrame::single(&close_req(id), t.inner.id))
            .is_none()
        {
            let t = t.clone();
            rt.spawn(async move {
                if let Err(e) = t.call(OutFrame::single(&close_req(id), t.inner.id)).await {
                    tracing::debug!(error = %e, "close failed");
                }
            });
        }
    }

    /// CLOSE with the final attributes (MS-SMB2 3.2.4.5, SMB2_CLOSE_FLAG_POSTQUERY_ATTRIB).
    pub async fn close(&self) -> Result<FileInfo> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Err(Error::InvalidInput("file already closed".into()));
        }
        let t = &self.inner.tree;
        let req = CloseRequest {
            flags: CloseRequest::POSTQUERY_ATTRIB,
            file_id: self.inner.id,
        };
        let resp = one(t.call(OutFrame::single(&req, t.inner.id)).await?)?.ok()?;
        let c = CloseResponse::decode(&resp.msg).map_err(Error::decode(Command::CLOSE))?;
        Ok(FileInfo {
            creation_time: c.creation_time,
            last_access_time: c.last_access_time,
            last_write_time: c.last_write_time,
            change_time: c.change_time,
            size: c.end_of_file,
            allocation_size: c.allocation_size,
            attributes: c.file_attributes,
            file_index: self.inner.info.file_index,
        })
    }
}

/// Send the WRITEs `frames` gives (each with the bytes it carries), all in flight together, a
/// task each; a single one is sent from this task (a task per request only pays off when there
/// are several). A short write is an error.
async fn write_frames(
    t: &Tree,
    frames: impl ExactSizeIterator<Item = (OutFrame, usize)>,
) -> Result<()> {
    if frames.len() <= 1 {
        for (frame, want) in frames {
            write_one(t.clone(), frame, want).await?;
        }
        return Ok(());
    }
    let calls: Vec<_> = frames
        .map(|(frame, want)| tokio::spawn(write_one(t.clone(), frame, want)))
        .collect();
    for c in calls {
        c.await.map_err(|e| Error::Disconnected(e.to_string()))??;
    }
    Ok(())
}

/// Send one WRITE and check that the server took all `want` bytes.
async fn write_one(tree: Tree, frame: OutFrame, want: usize) -> Result<()> {
    check_write(one(tree.call(frame).await?)?, want)
}

/// A WRITE's response: success, and every byte taken.
fn check_write(resp: Response, want: usize) -> Result<()> {
    let resp = resp.ok()?;
    let w = WriteResponse::decode(&resp.msg).map_err(Error::decode(Command::WRITE))?;
    if w.count as usize != want {
        return Err(Error::InvalidInput(format!(
            "short write: server wrote {} of {want} bytes",
            w.count
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smb_paths() {
        assert_eq!(smb_path("/a/b/"), "a\\b");
        assert_eq!(smb_path("a\\b"), "a\\b");
        assert_eq!(smb_path("/"), "");
        assert_eq!(smb_path("./x//y"), "x\\y");
    }

    #[test]
    fn default_aes_gcm_is_first_choice() {
        assert_eq!(CIPHERS[0], negotiate::AES_128_GCM);
    }
}
