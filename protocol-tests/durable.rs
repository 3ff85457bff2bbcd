//! Durable handles v2 and leases against real Samba (MS-SMB2 3.2.4.3.5, 3.2.4.4, 3.2.5.19.2):
//! an open survives a cut connection as the same server open, and lease breaks are acknowledged
//! so other clients are not kept waiting.
use crate::fuse_reconnect::Proxy;
use crate::samba::Samba;
use crate::smb_client::{config, pattern, rt, user};
use fusevol::smb::wire::NtStatus;
use fusevol::smb::{Client, Error, OpenOptions, Tree};
use std::time::{Duration, Instant};

const GUID: [u8; 16] = *b"fusevol-durable!";

async fn tree_via(s: &Samba, port: u16) -> Tree {
    tree_as(s, port, GUID).await
}

async fn tree_as(s: &Samba, port: u16, guid: [u8; 16]) -> Tree {
    let mut c = config(s, "3.1.1");
    c.port = port;
    c.client_guid = Some(guid);
    c.request_timeout = Duration::from_secs(10);
    let client = Client::connect(c).await.unwrap();
    let session = client.session_setup(&user(s)).await.unwrap();
    session.tree_connect("share").await.unwrap()
}

#[test]
fn durable_handle_is_reclaimed_after_a_cut_connection() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    let proxy = Proxy::start(s.port);
    rt().block_on(async {
        let t = tree_via(&s, proxy.port).await;
        let o = OpenOptions {
            durable: true,
            ..OpenOptions::create_truncate()
        };
        let f = t.open("dur.bin", &o).await.unwrap();
        let tok = f
            .durable()
            .expect("Samba grants a durable v2 handle with an RH lease");
        assert!(tok.timeout_ms > 0, "{tok:?}");
        let data = pattern(3 << 20, 5);
        f.write_at(0, &data[..1 << 20]).await.unwrap();

        proxy.cut();
        let e = f.write_at(1 << 20, &data[1 << 20..]).await.unwrap_err();
        assert!(e.is_disconnect(), "{e}");

        // A new connection and session reclaim the very same open.
        let t2 = tree_via(&s, proxy.port).await;
        let reopen = OpenOptions {
            disposition: fusevol::smb::wire::create::disposition::OPEN,
            ..o.clone()
        };
        // A wrong CreateGuid is refused: the server checks it (3.3.5.9.12).
        let mut bad = tok;
        bad.create_guid[0] ^= 1;
        assert!(t2.reclaim("dur.bin", &reopen, &bad).await.is_err());
        let f2 = t2.reclaim("dur.bin", &reopen, &tok).await.unwrap();
        assert_eq!(f2.id().persistent, tok.file_id.persistent);
        assert!(f2.durable().is_some(), "still durable after the reclaim");
        f2.write_at(1 << 20, &data[1 << 20..]).await.unwrap();
        assert!(f2.read_at(0, data.len()).await.unwrap() == data);
        f2.close().await.unwrap();
        assert!(std::fs::read(s.share_dir("share").join("dur.bin")).unwrap() == data);
    });
}

#[test]
fn lease_breaks_are_acknowledged() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    rt().block_on(async {
        let a = tree_via(&s, s.port).await;
        let b = tree_as(&s, s.port, *b"another client!!").await;
        let w = a
            .open("leased", &OpenOptions::create_truncate())
            .await
            .unwrap();
        w.write_at(0, b"x").await.unwrap();
        w.close().await.unwrap();
        let o = OpenOptions {
            durable: true,
            ..OpenOptions::read()
        };
        let fa = a.open("leased", &o).await.unwrap();
        assert!(fa.durable().is_some());
        // B asks for an exclusive open of the file A holds with a handle lease: the server
        // breaks A's lease first and waits for the acknowledgment (35 s without one, MS-SMB2
        // 3.3.2.5), then answers B with a sharing violation since A keeps its handle.
        let t0 = Instant::now();
        let excl = OpenOptions {
            share: 0,
            ..OpenOptions::read_write()
        };
        let e = b.open("leased", &excl).await.unwrap_err();
        assert!(
            matches!(&e, Error::Status { status, .. } if *status == NtStatus::SHARING_VIOLATION),
            "{e}"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the exclusive open waited {:?} for the lease break",
            t0.elapsed()
        );
        assert_eq!(fa.read_at(0, 10).await.unwrap(), b"x");
        fa.close().await.unwrap();
    });
}
