//! Hostile-server tests: a real `fusevol::smb::Client` against a scripted SMB2 peer
//! (`support/mock_smb.rs`) that misbehaves one way per test. Each test asserts the specific
//! error, that it comes in bounded time, and that the process still talks to a well-behaved
//! server afterwards.
#[path = "support/mock_smb.rs"]
mod mock_smb;

use fusevol::smb::auth::AuthError;
use fusevol::smb::auth::spnego::{NegState, NegTokenResp};
use fusevol::smb::proto::credits::TARGET_WINDOW;
use fusevol::smb::proto::negotiate::NegotiateError;
use fusevol::smb::wire::negotiate::{Dialect, NegotiateContext, security_mode};
use fusevol::smb::wire::read::{ReadRequest, ReadResponse};
use fusevol::smb::wire::session_setup::SessionSetupResponse;
use fusevol::smb::wire::write::WriteRequest;
use fusevol::smb::wire::{Command, DecodeError, Header, MessageId, NtStatus, TreeId};
use fusevol::smb::{Client, ClientConfig, Error, OpenOptions, ProtocolError, Session, Tree};
use mock_smb::{
    FILE, Mock, Peer, REQUEST_TIMEOUT, TREE, auth, build, create_body, error_body,
    negotiate_response, tree_connect_body,
};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

/// No client call may take longer than this, whatever the server does.
const BOUND: Duration = Duration::from_secs(5);

async fn bounded<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(BOUND, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: the client hung for {BOUND:?}"),
    }
}

/// Run a server script on its own task, on the mock's next connection.
fn script<F, Fut>(mock: Mock, f: F) -> tokio::task::JoinHandle<()>
where
    F: FnOnce(Peer) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let peer = mock.accept().await;
        f(peer).await;
    })
}

async fn session(cfg: ClientConfig) -> (Client, Session) {
    let c = bounded("connect", Client::connect(cfg))
        .await
        .expect("connect");
    let s = bounded("session setup", c.session_setup(&auth()))
        .await
        .expect("session setup");
    (c, s)
}

async fn tree(cfg: ClientConfig) -> (Client, Tree) {
    let (c, s) = session(cfg).await;
    let t = bounded("tree connect", s.tree_connect("share"))
        .await
        .expect("tree connect");
    (c, t)
}

fn disconnect_reason(e: &Error) -> &str {
    match e {
        Error::Disconnected(why) => why,
        other => panic!("expected Error::Disconnected, got {other:?}"),
    }
}

/// A fresh client against a well-behaved mock: connect, sign in with required signing, tree
/// connect, echo, open, read, close. Every test ends with this.
async fn assert_client_still_works() {
    let mock = Mock::start().await;
    let mut cfg = mock.config();
    cfg.require_signing = true;
    let server = script(mock, |mut p| async move {
        p.setup(0).await;
        p.serve().await;
    });
    let (c, t) = tree(cfg).await;
    assert!(t.session().signing());
    bounded("echo", c.echo()).await.expect("echo");
    let f = bounded("open", t.open("f", &OpenOptions::read()))
        .await
        .expect("open");
    let data = bounded("read", f.start_read(0, 100).wait())
        .await
        .expect("read");
    assert_eq!(&data[..], b"hello");
    bounded("close", f.close()).await.expect("close");
    drop((f, t, c));
    bounded("server", server)
        .await
        .expect("well-behaved server");
}

/// Connect to a server that answers NEGOTIATE with the message `reply` builds from the request
/// header and a correct response; return the client's error.
async fn negotiate_answered_with<F>(reply: F) -> Error
where
    F: FnOnce(&Peer, &Header) -> Vec<u8> + Send + 'static,
{
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        let req = p.recv_one(Command::NEGOTIATE).await;
        let frame = reply(&p, &req.header);
        p.send_frame(&frame).await;
        p.expect_closed().await;
    });
    let err = bounded("connect", Client::connect(cfg)).await.unwrap_err();
    bounded("server", server).await.expect("server script");
    err
}

fn good_negotiate(p: &Peer, req: &Header) -> Vec<u8> {
    let resp = negotiate_response(Dialect::SMB_3_1_1);
    build(&p.reply_header(req, NtStatus::SUCCESS), |m| {
        resp.encode(m, 0)
    })
}

// ---------------------------------------------------------------------------------------------
// Framing

#[tokio::test]
async fn truncated_frame_then_close_is_a_disconnect_naming_the_cause() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.recv_one(Command::NEGOTIATE).await;
        // 4096 bytes announced, 100 sent, then the connection closes.
        let mut b = vec![0x00, 0x00, 0x10, 0x00, 0xFE, b'S', b'M', b'B'];
        b.resize(4 + 100, 0);
        p.send_bytes(&b).await;
    });
    let err = bounded("connect", Client::connect(cfg)).await.unwrap_err();
    bounded("server", server).await.unwrap();
    let why = disconnect_reason(&err);
    assert!(
        why.contains("server closed the connection mid-frame (100 of 4096 bytes received)"),
        "{why}"
    );
    assert!(err.is_disconnect());
    assert_client_still_works().await;
}

#[tokio::test]
async fn closed_without_a_reply_is_a_disconnect() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.recv_one(Command::NEGOTIATE).await;
    });
    let err = bounded("connect", Client::connect(cfg)).await.unwrap_err();
    bounded("server", server).await.unwrap();
    assert_eq!(disconnect_reason(&err), "server closed the connection");
    assert_client_still_works().await;
}

#[tokio::test]
async fn huge_frame_length_with_nothing_behind_it_times_out_and_frees_the_driver() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let server = script(mock, |mut p| async move {
        p.recv_one(Command::NEGOTIATE).await;
        // The largest frame Direct TCP can announce (16 MiB - 1), and 4 bytes of it.
        p.send_bytes(&[0x00, 0xFF, 0xFF, 0xFF, 0xFE, b'S', b'M', b'B'])
            .await;
        // Hold the connection open, send nothing more, never close.
        let _ = done_rx.await;
        drop(p);
    });
    let metrics = tokio::runtime::Handle::current().metrics();
    let tasks_before = metrics.num_alive_tasks();
    let t0 = Instant::now();
    let err = bounded("connect", Client::connect(cfg)).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::TimedOut {
                command: Command::NEGOTIATE,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(t0.elapsed() < REQUEST_TIMEOUT * 3, "{:?}", t0.elapsed());
    // The client is gone but the server holds the socket open: the driver's reader (and its
    // 16 MiB frame buffer) must not live on waiting for bytes that never come. Nothing signals
    // a task's end to an outsider, so poll the runtime's count of live tasks, bounded.
    let deadline = Instant::now() + Duration::from_secs(2);
    while metrics.num_alive_tasks() > tasks_before {
        assert!(
            Instant::now() < deadline,
            "driver tasks outlive the client: {} alive, {tasks_before} before",
            metrics.num_alive_tasks()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    done_tx.send(()).unwrap();
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

#[tokio::test]
async fn huge_frame_length_then_close_is_a_disconnect() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.recv_one(Command::NEGOTIATE).await;
        p.send_bytes(&[0x00, 0xFF, 0xFF, 0xFF, 0xFE, b'S', b'M', b'B'])
            .await;
    });
    let err = bounded("connect", Client::connect(cfg)).await.unwrap_err();
    bounded("server", server).await.unwrap();
    let why = disconnect_reason(&err);
    assert!(
        why.contains("mid-frame (4 of 16777215 bytes received)"),
        "{why}"
    );
    assert_client_still_works().await;
}

#[tokio::test]
async fn non_direct_tcp_header_is_refused() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.recv_one(Command::NEGOTIATE).await;
        // A NetBIOS session keep-alive (type 0x85): not a Direct TCP header.
        p.send_bytes(&[0x85, 0x00, 0x00, 0x00]).await;
        p.expect_closed().await;
    });
    let err = bounded("connect", Client::connect(cfg)).await.unwrap_err();
    bounded("server", server).await.unwrap();
    assert_eq!(
        disconnect_reason(&err),
        "bad transport frame: transport header starts with 0x85, not 0 (not an SMB2 Direct TCP \
         stream?)"
    );
    assert_client_still_works().await;
}

#[tokio::test]
async fn garbage_protocol_id_is_refused() {
    let err = negotiate_answered_with(|p, req| {
        let mut m = good_negotiate(p, req);
        m[..4].copy_from_slice(b"HTTP");
        m
    })
    .await;
    let why = disconnect_reason(&err);
    assert!(
        why.starts_with("bad SMB2 header: Header.ProtocolId: invalid value"),
        "{why}"
    );
    assert_client_still_works().await;
}

#[tokio::test]
async fn a_request_from_the_server_is_refused() {
    let err = negotiate_answered_with(|p, req| {
        let mut h = p.reply_header(req, NtStatus::SUCCESS);
        h.flags.0 = 0; // SMB2_FLAGS_SERVER_TO_REDIR clear
        let resp = negotiate_response(Dialect::SMB_3_1_1);
        build(&h, |m| resp.encode(m, 0))
    })
    .await;
    assert_eq!(
        disconnect_reason(&err),
        "received a request, not a response (command NEGOTIATE)"
    );
    assert_client_still_works().await;
}

// ---------------------------------------------------------------------------------------------
// NEGOTIATE decoding and policy

#[tokio::test]
async fn truncated_negotiate_response_names_the_field() {
    let err = negotiate_answered_with(|p, req| {
        let mut m = good_negotiate(p, req);
        m.truncate(64 + 30); // ends inside MaxTransactSize
        m
    })
    .await;
    assert!(
        matches!(
            err,
            Error::Decode {
                command: Command::NEGOTIATE,
                source: DecodeError::Truncated {
                    what: "NEGOTIATE.MaxTransactSize",
                    at: 92,
                    need: 4,
                    len: 94,
                },
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("malformed NEGOTIATE response: NEGOTIATE.MaxTransactSize: truncated"),
        "{err}"
    );
    assert_client_still_works().await;
}

#[tokio::test]
async fn negotiate_response_with_bad_structure_size_is_refused() {
    let err = negotiate_answered_with(|p, req| {
        let mut m = good_negotiate(p, req);
        m[64..66].copy_from_slice(&64u16.to_le_bytes());
        m
    })
    .await;
    assert!(
        matches!(
            err,
            Error::Decode {
                command: Command::NEGOTIATE,
                source: DecodeError::BadStructureSize {
                    what: "NEGOTIATE response",
                    expected: 65,
                    got: 64,
                },
            }
        ),
        "{err:?}"
    );
    assert_client_still_works().await;
}

#[tokio::test]
async fn negotiate_security_buffer_past_the_end_is_refused() {
    let err = negotiate_answered_with(|p, req| {
        let mut m = good_negotiate(p, req);
        // SecurityBufferOffset / SecurityBufferLength (body offsets 56 and 58).
        m[120..122].copy_from_slice(&128u16.to_le_bytes());
        m[122..124].copy_from_slice(&0x1000u16.to_le_bytes());
        m
    })
    .await;
    match &err {
        Error::Decode {
            command: Command::NEGOTIATE,
            source:
                DecodeError::OutOfBounds {
                    what: "NEGOTIATE.SecurityBuffer",
                    offset: 128,
                    len: 0x1000,
                    ..
                },
        } => {}
        other => panic!("{other:?}"),
    }
    assert_client_still_works().await;
}

#[tokio::test]
async fn negotiate_downgrade_to_a_dialect_not_offered_is_refused() {
    let err = negotiate_answered_with(|p, req| {
        let resp = negotiate_response(Dialect::SMB_2_1);
        build(&p.reply_header(req, NtStatus::SUCCESS), |m| {
            resp.encode(m, 0)
        })
    })
    .await;
    match &err {
        Error::Negotiate(NegotiateError::DialectNotOffered { got, offered }) => {
            assert_eq!(*got, Dialect::SMB_2_1);
            assert_eq!(offered.0, vec![Dialect::SMB_3_1_1]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "server chose dialect 2.1, which we did not offer (offered 3.1.1)"
    );
    assert_client_still_works().await;
}

#[tokio::test]
async fn smb311_without_a_preauth_context_is_refused() {
    let err = negotiate_answered_with(|p, req| {
        let mut resp = negotiate_response(Dialect::SMB_3_1_1);
        resp.contexts
            .retain(|c| !matches!(c, NegotiateContext::PreauthIntegrity { .. }));
        assert_eq!(resp.contexts.len(), 2);
        build(&p.reply_header(req, NtStatus::SUCCESS), |m| {
            resp.encode(m, 0)
        })
    })
    .await;
    assert!(
        matches!(err, Error::Negotiate(NegotiateError::NoPreauthContext)),
        "{err:?}"
    );
    assert_client_still_works().await;
}

#[tokio::test]
async fn smb1_answer_is_refused_by_name() {
    let err = negotiate_answered_with(|_, _| {
        // An SMB1 NEGOTIATE response header: 0xFF 'S' 'M' 'B', command 0x72.
        let mut m = vec![0xFF, b'S', b'M', b'B', 0x72];
        m.resize(32 + 3, 0);
        m
    })
    .await;
    assert_eq!(
        disconnect_reason(&err),
        "the server speaks only SMB1 (CIFS 1.0), which is not supported"
    );
    assert_client_still_works().await;
}

// ---------------------------------------------------------------------------------------------
// Message ids and commands

#[tokio::test]
async fn replies_to_requests_never_sent_are_dropped() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        let req = p.recv_one(Command::NEGOTIATE).await;
        // Id 1 is the one the client will use next; 42 it never uses here.
        for id in [42, 1] {
            let mut m = good_negotiate(&p, &req.header);
            m[24..32].copy_from_slice(&u64::to_le_bytes(id));
            p.send_frame(&m).await;
        }
        let good = good_negotiate(&p, &req.header);
        p.send_frame(&good).await;
        let echo = p.recv_one(Command::ECHO).await;
        assert_eq!(echo.header.message_id, MessageId(1));
        p.answer(&echo).await;
        p.expect_closed().await;
    });
    let c = bounded("connect", Client::connect(cfg))
        .await
        .expect("the real reply still completes NEGOTIATE");
    assert_eq!(c.negotiated().dialect, Dialect::SMB_3_1_1);
    bounded("echo", c.echo()).await.expect("echo");
    drop(c);
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

#[tokio::test]
async fn only_a_reply_to_another_id_leaves_the_request_to_time_out() {
    let t0 = Instant::now();
    let err = negotiate_answered_with(|p, req| {
        let mut m = good_negotiate(p, req);
        m[24..32].copy_from_slice(&7u64.to_le_bytes());
        m
    })
    .await;
    assert!(
        matches!(
            err,
            Error::TimedOut {
                command: Command::NEGOTIATE,
                after: REQUEST_TIMEOUT,
            }
        ),
        "{err:?}"
    );
    assert!(t0.elapsed() < REQUEST_TIMEOUT * 3, "{:?}", t0.elapsed());
    assert_client_still_works().await;
}

#[tokio::test]
async fn reply_with_another_command_is_a_command_mismatch() {
    let err = negotiate_answered_with(|p, req| {
        let mut h = p.reply_header(req, NtStatus::SUCCESS);
        h.command = Command::ECHO;
        build(&h, |m| fusevol::smb::wire::echo::EchoResponse.encode(m, 0))
    })
    .await;
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::CommandMismatch {
                sent: Command::NEGOTIATE,
                got: Command::ECHO,
            })
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "protocol violation: reply to NEGOTIATE came back as ECHO"
    );
    assert_client_still_works().await;
}

// ---------------------------------------------------------------------------------------------
// Credits

#[tokio::test]
async fn zero_credits_granted_the_request_waits_and_times_out_unsent() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.grant = Some(0);
        p.negotiate().await;
        // The client has no credit left: nothing may arrive before it closes.
        p.expect_closed().await;
    });
    let c = bounded("connect", Client::connect(cfg)).await.unwrap();
    let t0 = Instant::now();
    let err = bounded("echo", c.echo()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::TimedOut {
                command: Command::ECHO,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(t0.elapsed() >= REQUEST_TIMEOUT);
    assert!(t0.elapsed() < REQUEST_TIMEOUT * 3, "{:?}", t0.elapsed());
    drop(c);
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

#[tokio::test]
async fn credit_floods_are_capped() {
    let cap = (TARGET_WINDOW * 4) as usize;
    let extra = 4;
    let mock = Mock::start().await;
    let mut cfg = mock.config();
    cfg.request_timeout = Duration::from_secs(1);
    let server = script(mock, move |mut p| async move {
        let req = p.recv_one(Command::NEGOTIATE).await;
        // 16 unsolicited replies granting 65535 each, then the real one, also 65535: over a
        // million credits offered in all.
        for i in 0..16 {
            let mut h = p.reply_header(&req.header, NtStatus::SUCCESS);
            h.command = Command::ECHO;
            h.message_id = MessageId(1_000_000 + i);
            h.credits = u16::MAX;
            let m = build(&h, |m| fusevol::smb::wire::echo::EchoResponse.encode(m, 0));
            p.send_frame(&m).await;
        }
        let mut m = good_negotiate(&p, &req.header);
        m[14..16].copy_from_slice(&u16::MAX.to_le_bytes());
        p.send_frame(&m).await;
        // From now on no more credits: the client can send exactly what its window holds.
        p.grant = Some(0);
        let (mut n, mut max_id) = (0usize, 0u64);
        while let Some(msgs) = p.recv().await {
            for m in msgs {
                assert_eq!(m.header.command, Command::ECHO);
                n += 1;
                max_id = max_id.max(m.header.message_id.0);
                p.answer(&m).await;
            }
        }
        assert_eq!(n, cap, "requests sent beyond the capped window");
        assert_eq!(max_id, cap as u64, "message ids beyond the window");
    });
    let c = bounded("connect", Client::connect(cfg)).await.unwrap();
    let mut calls = JoinSet::new();
    for _ in 0..cap + extra {
        let c = c.clone();
        calls.spawn(async move { c.echo().await });
    }
    let (mut ok, mut timed_out) = (0, 0);
    while let Some(r) = bounded("echo flood", calls.join_next()).await {
        match r.unwrap() {
            Ok(()) => ok += 1,
            Err(Error::TimedOut {
                command: Command::ECHO,
                ..
            }) => timed_out += 1,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!((ok, timed_out), (cap, extra));
    drop(c);
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

// ---------------------------------------------------------------------------------------------
// Sizes

#[tokio::test]
async fn u32_max_sizes_are_capped_at_8_mib() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        let mut resp = negotiate_response(Dialect::SMB_3_1_1);
        resp.max_read_size = u32::MAX;
        resp.max_write_size = u32::MAX;
        resp.max_transact_size = u32::MAX;
        p.negotiate_with(&resp).await;
        p.session_setup(0).await;
        p.tree_connect().await;
        p.open().await;
        let r = p.recv_one(Command::READ).await;
        let rr = ReadRequest::decode(&r.bytes).unwrap();
        assert_eq!(rr.length, 8 << 20);
        assert_eq!(r.header.credit_charge, 128);
        p.reply(&r, NtStatus::SUCCESS, |m| {
            ReadResponse::encode(m, 0, &[7; 10], 0);
        })
        .await;
        let mut writes = Vec::new();
        for _ in 0..2 {
            let w = p.recv_one(Command::WRITE).await;
            let wr = WriteRequest::decode(&w.bytes).unwrap();
            writes.push((wr.offset, wr.data.len(), w.header.credit_charge));
            p.answer(&w).await;
        }
        writes.sort();
        assert_eq!(writes, [(0, 8 << 20, 128), (8 << 20, 1, 1)]);
        p.serve().await;
    });
    let (c, t) = tree(cfg).await;
    assert_eq!(c.negotiated().max_read, u32::MAX);
    assert_eq!((t.max_read(), t.max_write()), (8 << 20, 8 << 20));
    let f = bounded("open", t.open("f", &OpenOptions::read_write()))
        .await
        .unwrap();
    let data = bounded("read", f.start_read(0, u32::MAX).wait())
        .await
        .unwrap();
    assert_eq!(&data[..], &[7; 10]);
    let big = vec![0xA5; (8 << 20) + 1];
    bounded("write", f.write_at(0, &big)).await.unwrap();
    bounded("close", f.close()).await.unwrap();
    drop((f, t, c));
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

#[tokio::test]
async fn read_response_with_more_data_than_asked_is_refused() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.setup(0).await;
        p.open().await;
        let r = p.recv_one(Command::READ).await;
        assert_eq!(ReadRequest::decode(&r.bytes).unwrap().length, 4096);
        p.reply(&r, NtStatus::SUCCESS, |m| {
            ReadResponse::encode(m, 0, &[1; 8192], 0);
        })
        .await;
        p.serve().await;
    });
    let (c, t) = tree(cfg).await;
    let f = bounded("open", t.open("f", &OpenOptions::read()))
        .await
        .unwrap();
    let err = bounded("read", f.start_read(0, 4096).wait())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::TooMuchData {
                got: 8192,
                limit: 4096
            })
        ),
        "{err:?}"
    );
    // The connection itself is fine.
    bounded("echo", c.echo()).await.unwrap();
    bounded("close", f.close()).await.unwrap();
    drop((f, t, c));
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

/// A READ sent with a callback (no task waits for it) hears of every outcome exactly once: a
/// refused answer, an answer that never comes (the request timeout, from the sweeper), data.
#[tokio::test]
async fn read_callbacks_hear_of_refusals_and_silence() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.setup(0).await;
        p.open().await;
        let r = p.recv_one(Command::READ).await;
        p.reply(&r, NtStatus::SUCCESS, |m| {
            ReadResponse::encode(m, 0, &[1; 8192], 0);
        })
        .await;
        // Never answered.
        let _silent = p.recv_one(Command::READ).await;
        let r = p.recv_one(Command::READ).await;
        p.reply(&r, NtStatus::SUCCESS, |m| {
            ReadResponse::encode(m, 0, &[3; 100], 0);
        })
        .await;
        p.serve().await;
    });
    let (c, t) = tree(cfg).await;
    let f = bounded("open", t.open("f", &OpenOptions::read()))
        .await
        .unwrap();
    let read = |len: u32| {
        let (tx, rx) = oneshot::channel();
        let sent = f.read_now_then(0, len, move |r| {
            let _ = tx.send(r);
        });
        assert!(sent.is_ok(), "credits to spare on an idle connection");
        rx
    };
    let err = bounded("refused read", read(4096))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::TooMuchData {
                got: 8192,
                limit: 4096
            })
        ),
        "{err:?}"
    );
    let t0 = Instant::now();
    let silent = read(4096);
    let data = bounded("answered read", read(100)).await.unwrap().unwrap();
    assert_eq!(
        &data[..],
        &[3; 100],
        "a later read is not held up by the silent one"
    );
    let err = bounded("silent read", silent).await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            Error::TimedOut {
                command: Command::READ,
                ..
            }
        ),
        "{err:?}"
    );
    let waited = t0.elapsed();
    assert!(
        waited >= REQUEST_TIMEOUT && waited < REQUEST_TIMEOUT * 2,
        "timed out after {waited:?} (request timeout {REQUEST_TIMEOUT:?})"
    );
    bounded("echo", c.echo()).await.unwrap();
    drop((f, t, c));
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

// ---------------------------------------------------------------------------------------------
// Signing

#[tokio::test]
async fn unsigned_reply_on_a_signing_required_session_is_refused() {
    let mock = Mock::start().await;
    let mut cfg = mock.config();
    cfg.require_signing = true;
    let server = script(mock, |mut p| async move {
        p.negotiate().await;
        p.session_setup(0).await;
        let req = p.recv_one(Command::TREE_CONNECT).await;
        assert!(req.header.is_signed());
        let mut h = p.reply_header(&req.header, NtStatus::SUCCESS);
        h.tree_id = TreeId(TREE);
        p.send_frame(&build(&h, tree_connect_body)).await;
        p.expect_closed().await;
    });
    let (c, s) = session(cfg).await;
    assert!(s.signing());
    let err = bounded("tree connect", s.tree_connect("share"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::Unsigned {
                command: Command::TREE_CONNECT
            })
        ),
        "{err:?}"
    );
    drop((s, c));
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

#[tokio::test]
async fn badly_signed_reply_is_refused_when_the_server_requires_signing() {
    let mock = Mock::start().await;
    let cfg = mock.config(); // the client does not ask for signing; the server requires it
    let server = script(mock, |mut p| async move {
        let mut resp = negotiate_response(Dialect::SMB_3_1_1);
        resp.security_mode = security_mode::SIGNING_ENABLED | security_mode::SIGNING_REQUIRED;
        p.negotiate_with(&resp).await;
        p.session_setup(0).await;
        let req = p.recv_one(Command::TREE_CONNECT).await;
        let mut h = p.reply_header(&req.header, NtStatus::SUCCESS);
        h.tree_id = TreeId(TREE);
        let mut m = build(&h, tree_connect_body);
        p.sign(&mut m);
        m[48] ^= 0x01;
        p.send_frame(&m).await;
        p.expect_closed().await;
    });
    let (c, s) = session(cfg).await;
    assert!(s.signing(), "server-required signing is in force");
    let err = bounded("tree connect", s.tree_connect("share"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::BadSignature {
                command: Command::TREE_CONNECT
            })
        ),
        "{err:?}"
    );
    drop((s, c));
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

#[tokio::test]
async fn unsigned_final_session_setup_on_311_is_refused() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.negotiate().await;
        let req = p.session_setup_until_final().await;
        let m = p.final_session_setup(&req, 0);
        p.send_frame(&m).await;
        p.expect_closed().await;
    });
    let c = bounded("connect", Client::connect(cfg)).await.unwrap();
    let err = bounded("session setup", c.session_setup(&auth()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::Unsigned {
                command: Command::SESSION_SETUP
            })
        ),
        "{err:?}"
    );
    drop(c);
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

#[tokio::test]
async fn tampered_final_session_setup_is_refused() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.negotiate().await;
        let req = p.session_setup_until_final().await;
        let mut m = p.final_session_setup(&req, 0);
        p.sign(&mut m);
        // Turn the signed session into a guest one after signing.
        m[66..68].copy_from_slice(&SessionSetupResponse::IS_GUEST.to_le_bytes());
        p.send_frame(&m).await;
        p.expect_closed().await;
    });
    let c = bounded("connect", Client::connect(cfg)).await.unwrap();
    let err = bounded("session setup", c.session_setup(&auth()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::BadSignature {
                command: Command::SESSION_SETUP
            })
        ),
        "{err:?}"
    );
    drop(c);
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

#[tokio::test]
async fn a_third_session_setup_round_is_refused_by_name() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.negotiate().await;
        let req = p.session_setup_until_final().await;
        // Another challenge after AUTHENTICATE, which NTLM does not have.
        let token = NegTokenResp {
            neg_state: Some(NegState::ACCEPT_INCOMPLETE),
            response_token: Some(b"NTLMSSP\0".to_vec()),
            ..Default::default()
        }
        .encode();
        p.reply(&req, NtStatus::MORE_PROCESSING_REQUIRED, |m| {
            SessionSetupResponse {
                session_flags: 0,
                security_buffer: token,
            }
            .encode(m, 0)
        })
        .await;
        p.expect_closed().await;
    });
    let c = bounded("connect", Client::connect(cfg)).await.unwrap();
    let err = bounded("session setup", c.session_setup(&auth()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Auth(AuthError::UnexpectedToken(
                "STATUS_MORE_PROCESSING_REQUIRED"
            ))
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "authentication failed: unexpected STATUS_MORE_PROCESSING_REQUIRED from the server after \
         NTLM completed"
    );
    drop(c);
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

#[tokio::test]
async fn correctly_signed_guest_final_session_setup_is_accepted() {
    // The other side of the check above: a server that says guest and signs with the real key
    // is believed (the session then runs unsigned, as guest sessions do).
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.negotiate().await;
        let req = p.session_setup_until_final().await;
        let mut m = p.final_session_setup(&req, SessionSetupResponse::IS_GUEST);
        p.sign(&mut m);
        p.send_frame(&m).await;
        p.sign_replies = false;
        p.serve().await;
    });
    let c = bounded("connect", Client::connect(cfg)).await.unwrap();
    let s = bounded("session setup", c.session_setup(&auth()))
        .await
        .expect("guest session");
    assert!(s.is_guest() && !s.signing());
    bounded("tree connect", s.tree_connect("share"))
        .await
        .unwrap();
    drop((s, c));
    bounded("server", server).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Encryption

/// A session whose server requires encryption; `answer` gets the (encrypted) TREE_CONNECT.
async fn encrypted_tree_connect_answered_with<F>(answer: F) -> Error
where
    F: FnOnce(&mut Peer, &mock_smb::Msg) -> Vec<u8> + Send + 'static,
{
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.negotiate().await;
        p.session_setup(SessionSetupResponse::ENCRYPT_DATA).await;
        let req = p.recv_one(Command::TREE_CONNECT).await;
        assert!(req.encrypted, "TREE_CONNECT was not encrypted");
        let frame = answer(&mut p, &req);
        p.send_frame(&frame).await;
        p.drain().await;
    });
    let (c, s) = session(cfg).await;
    assert!(s.encrypting());
    let err = bounded("tree connect", s.tree_connect("share"))
        .await
        .unwrap_err();
    drop((s, c));
    bounded("server", server).await.unwrap();
    err
}

fn tree_connect_reply(p: &Peer, req: &mock_smb::Msg) -> Vec<u8> {
    let mut h = p.reply_header(&req.header, NtStatus::SUCCESS);
    h.tree_id = TreeId(TREE);
    build(&h, tree_connect_body)
}

#[tokio::test]
async fn encrypted_reply_that_fails_authentication_drops_the_connection() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.negotiate().await;
        p.session_setup(SessionSetupResponse::ENCRYPT_DATA).await;
        let req = p.recv_one(Command::TREE_CONNECT).await;
        assert!(req.encrypted);
        let m = tree_connect_reply(&p, &req);
        let mut f = p.seal(&m);
        f[4] ^= 0x80; // first byte of the AEAD tag
        p.send_frame(&f).await;
        // The client must drop the connection by itself, not only when its handles go.
        p.expect_closed().await;
    });
    let (c, s) = session(cfg).await;
    let err = bounded("tree connect", s.tree_connect("share"))
        .await
        .unwrap_err();
    assert_eq!(
        disconnect_reason(&err),
        "encrypted message failed to decrypt (authentication tag mismatch)"
    );
    bounded("server", server).await.unwrap();
    // Dead for good: the next request fails at once with the same reason.
    let again = bounded("tree connect", s.tree_connect("share"))
        .await
        .unwrap_err();
    assert_eq!(disconnect_reason(&again), disconnect_reason(&err));
    drop((s, c));
    assert_client_still_works().await;
}

#[tokio::test]
async fn unencrypted_reply_on_an_encrypted_session_is_refused() {
    let err = encrypted_tree_connect_answered_with(|p, req| {
        let mut m = tree_connect_reply(p, req);
        p.sign(&mut m); // correctly signed, but not sealed
        m
    })
    .await;
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::Unencrypted {
                command: Command::TREE_CONNECT
            })
        ),
        "{err:?}"
    );
    assert_client_still_works().await;
}

#[tokio::test]
async fn encrypted_reply_for_an_unknown_session_drops_the_connection() {
    let err = encrypted_tree_connect_answered_with(|p, req| {
        let m = tree_connect_reply(p, req);
        let mut f = p.seal(&m);
        f[44..52].copy_from_slice(&0xBADu64.to_le_bytes());
        f
    })
    .await;
    assert_eq!(
        disconnect_reason(&err),
        "encrypted message for unknown session 0xbad"
    );
    assert_client_still_works().await;
}

// ---------------------------------------------------------------------------------------------
// STATUS_PENDING

#[tokio::test]
async fn pending_forever_times_out() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.setup(0).await;
        let req = p.recv_one(Command::CREATE).await;
        let m = p.interim(&req.header, 0x77);
        p.send(m).await;
        p.expect_closed().await;
    });
    let (c, t) = tree(cfg).await;
    let t0 = Instant::now();
    let err = bounded("open", t.open("slow", &OpenOptions::read()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TimedOut {
                command: Command::CREATE,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(t0.elapsed() < REQUEST_TIMEOUT * 3, "{:?}", t0.elapsed());
    drop((t, c));
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

#[tokio::test]
async fn unsigned_interim_then_signed_final_succeeds_on_a_signed_session() {
    let mock = Mock::start().await;
    let mut cfg = mock.config();
    cfg.require_signing = true;
    let server = script(mock, |mut p| async move {
        p.setup(0).await;
        let req = p.recv_one(Command::CREATE).await;
        assert!(req.header.is_signed());
        // Interim responses are not signed (MS-SMB2 3.3.4.1.1); the final one is.
        let interim = p.interim(&req.header, 0x77);
        p.send_frame(&interim).await;
        let mut h = p.reply_header(&req.header, NtStatus::SUCCESS);
        h.async_id = Some(fusevol::smb::wire::AsyncId(0x77));
        let mut m = build(&h, create_body);
        p.sign(&mut m);
        p.send_frame(&m).await;
        p.serve().await;
    });
    let (c, t) = tree(cfg).await;
    assert!(t.session().signing());
    let f = bounded("open", t.open("slow", &OpenOptions::read()))
        .await
        .expect("open after an unsigned interim reply");
    assert_eq!(f.id(), FILE);
    bounded("close", f.close()).await.unwrap();
    drop((f, t, c));
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

// ---------------------------------------------------------------------------------------------
// Connection lost mid-reply, compound splitting, a server that stops reading

#[tokio::test]
async fn connection_closed_mid_reply_fails_every_request_in_flight() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.setup(0).await;
        p.open().await;
        let mut reads = Vec::new();
        for _ in 0..3 {
            reads.push(p.recv_one(Command::READ).await);
        }
        p.answer(&reads[0]).await;
        let h = p.reply_header(&reads[1].header, NtStatus::SUCCESS);
        let mut m = build(&h, |m| {
            ReadResponse::encode(m, 0, &[9; 1000], 0);
        });
        p.sign(&mut m);
        let mut f = (m.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(&m[..500]);
        p.send_bytes(&f).await;
    });
    let (c, t) = tree(cfg).await;
    let f = bounded("open", t.open("f", &OpenOptions::read()))
        .await
        .unwrap();
    let (a, b, d) = bounded("reads", async {
        tokio::join!(
            f.start_read(0, 100).wait(),
            f.start_read(100, 100).wait(),
            f.start_read(200, 100).wait()
        )
    })
    .await;
    let results = [a, b, d];
    let ok: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(ok.len(), 1, "{results:?}");
    assert_eq!(&ok[0][..], b"hello");
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        let why = disconnect_reason(e);
        assert!(
            why.contains("server closed the connection mid-frame (500 of"),
            "{why}"
        );
    }
    bounded("server", server).await.unwrap();
    drop((f, t, c));
    assert_client_still_works().await;
}

#[tokio::test]
async fn compound_reply_with_a_hostile_next_command_drops_the_connection() {
    for next in [8u32, 0xFFFF_FFF0] {
        let mock = Mock::start().await;
        let cfg = mock.config();
        let server = script(mock, move |mut p| async move {
            p.setup(0).await;
            let msgs = p.recv().await.unwrap();
            let cmds: Vec<_> = msgs.iter().map(|m| m.header.command).collect();
            assert_eq!(cmds, [Command::CREATE, Command::CLOSE]);
            let mut frame = Vec::new();
            for (i, req) in msgs.iter().enumerate() {
                let start = frame.len();
                let status = if i == 0 {
                    NtStatus::SUCCESS
                } else {
                    NtStatus::NOT_SUPPORTED
                };
                let mut h = p.reply_header(&req.header, status);
                let last = i + 1 == msgs.len();
                if !last {
                    h.next_command = 1; // patched below
                }
                let mut m = build(&h, if i == 0 { create_body } else { error_body });
                while m.len() % 8 != 0 {
                    m.push(0);
                }
                let len = m.len() as u32;
                if !last {
                    m[20..24].copy_from_slice(&len.to_le_bytes());
                }
                frame.extend_from_slice(&m);
                assert_eq!(start % 8, 0);
            }
            frame[20..24].copy_from_slice(&next.to_le_bytes());
            p.send_frame(&frame).await;
            p.expect_closed().await;
        });
        let (c, t) = tree(cfg).await;
        let err = bounded("stat", t.stat("x")).await.unwrap_err();
        let why = disconnect_reason(&err).to_string();
        assert!(
            why.starts_with(&format!(
                "bad compound response: NextCommand {next} at offset 0 points outside the"
            )),
            "{why}"
        );
        drop((t, c));
        bounded("server", server).await.unwrap();
    }
    assert_client_still_works().await;
}

#[tokio::test]
async fn a_server_that_stops_reading_cannot_hang_callers() {
    let mock = Mock::start().await;
    let cfg = mock.config();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let server = script(mock, |mut p| async move {
        let mut resp = negotiate_response(Dialect::SMB_3_1_1);
        resp.max_write_size = 64 << 10;
        p.negotiate_with(&resp).await;
        p.session_setup(0).await;
        p.tree_connect().await;
        p.open().await;
        // Stop reading: the client's writes pile up in the socket and its send queue.
        let _ = done_rx.await;
        drop(p);
    });
    let (c, t) = tree(cfg).await;
    assert_eq!(t.max_write(), 64 << 10);
    let f = bounded("open", t.open("f", &OpenOptions::read_write()))
        .await
        .unwrap();
    // 512 WRITEs of 64 KiB: far more than the socket buffers and the driver's queue hold.
    let data = vec![0x3C; 32 << 20];
    let err = bounded("write", f.write_at(0, &data)).await.unwrap_err();
    assert!(err.is_disconnect(), "{err:?}");
    // The queue was full: a new request must still fail in bounded time, not wait forever to
    // be queued, and the connection is dead.
    let err = bounded("flush", f.flush()).await.unwrap_err();
    let why = disconnect_reason(&err);
    assert!(
        why.starts_with("the server stopped reading: a ") && why.contains("could not be sent"),
        "{why}"
    );
    drop((f, t, c));
    done_tx.send(()).unwrap();
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}

/// Keep-alive (issue 7): a server that goes silent after logon (answers nothing, closes nothing)
/// is declared dead within twice `echo_interval`, and every operation then fails at once with a
/// reason naming the ECHO — no request waits for the (much longer) request timeout.
#[tokio::test]
async fn silent_server_is_detected_by_echo_within_twice_the_interval() {
    let mock = Mock::start().await;
    let mut cfg = mock.config();
    cfg.echo_interval = Some(Duration::from_millis(300));
    cfg.request_timeout = Duration::from_secs(30);
    let server = script(mock, |mut p| async move {
        p.setup(0).await;
        // Swallow everything from now on, ECHOs included, keeping the socket open.
        while p.recv().await.is_some() {}
    });
    let (c, t) = tree(cfg).await;
    let t0 = Instant::now();
    let e = bounded("stat on a silent server", t.stat("x"))
        .await
        .unwrap_err();
    let took = t0.elapsed();
    assert!(
        took < Duration::from_millis(900),
        "took {took:?}, more than 3x echo_interval"
    );
    assert!(disconnect_reason(&e).contains("did not answer ECHO"), "{e}");
    let e = bounded("next op", t.stat("y")).await.unwrap_err();
    assert!(disconnect_reason(&e).contains("did not answer ECHO"), "{e}");
    drop((t, c));
    server.abort();
}

/// A server that answers keeps the connection up through many intervals.
#[tokio::test]
async fn answered_echoes_keep_the_connection() {
    let mock = Mock::start().await;
    let mut cfg = mock.config();
    cfg.echo_interval = Some(Duration::from_millis(100));
    let server = script(mock, |mut p| async move {
        p.setup(0).await;
        p.serve().await;
    });
    let (c, t) = tree(cfg).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    bounded("stat after echoes", t.stat("x"))
        .await
        .expect("connection still alive");
    drop((t, c));
    server.abort();
}

// ---------------------------------------------------------------------------------------------
// Unsolicited break notifications (MS-SMB2 3.2.5.19)

#[tokio::test]
async fn break_notification_floods_and_junk_are_ignored() {
    use fusevol::smb::wire::lease::{BREAK_ACK_REQUIRED, BreakNotification, LeaseBreak};
    let mock = Mock::start().await;
    let cfg = mock.config();
    let server = script(mock, |mut p| async move {
        p.setup(0).await;
        let echo = p.recv_one(Command::ECHO).await;
        let mut h = p.reply_header(&echo.header, NtStatus::SUCCESS);
        h.command = Command::OPLOCK_BREAK;
        h.message_id = MessageId(u64::MAX);
        h.credits = 0;
        // Thousands of lease breaks (ack required) for leases the client never held, oplock
        // breaks, and bodies that do not parse: none may cost memory, an answer, or the
        // connection.
        for i in 0..5000u32 {
            let body = |m: &mut Vec<u8>| match i % 3 {
                0 => BreakNotification::Lease(LeaseBreak {
                    new_epoch: 1,
                    flags: BREAK_ACK_REQUIRED,
                    key: [i as u8; 16],
                    current_state: 7,
                    new_state: 0,
                })
                .encode(m),
                1 => BreakNotification::Oplock {
                    level: 0,
                    file_id: Default::default(),
                }
                .encode(m),
                _ => m.extend_from_slice(&[0xFF; 7]),
            };
            p.send(build(&h, body)).await;
        }
        p.answer(&echo).await;
        // The next request is the client's second ECHO: no acknowledgment came before it.
        let next = p.recv().await.expect("a request after the flood");
        assert!(
            next.iter().all(|m| m.header.command == Command::ECHO),
            "unexpected requests: {:?}",
            next.iter().map(|m| m.header.command).collect::<Vec<_>>()
        );
        for m in &next {
            p.answer(m).await;
        }
        p.expect_closed().await;
    });
    let (c, _t) = tree(cfg).await;
    bounded("echo through the flood", c.echo())
        .await
        .expect("echo");
    bounded("echo after", c.echo()).await.expect("echo");
    drop((c, _t));
    bounded("server", server).await.unwrap();
    assert_client_still_works().await;
}
