//! The library client against real Samba: every dialect, signing algorithm, cipher and logon
//! kind, every file operation with contents checked byte for byte, and each bad input with its
//! message.
use crate::samba::Samba;
use fusevol::smb::auth::Credentials;
use fusevol::smb::proto::negotiate::{self, dialects_for_vers};
use fusevol::smb::wire::NtStatus;
use fusevol::smb::wire::negotiate::Dialect;
use fusevol::smb::{Auth, Client, ClientConfig, Error, OpenOptions, Tree};
use std::time::Duration;

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

pub fn config(s: &Samba, vers: &str) -> ClientConfig {
    let mut c = ClientConfig::new("127.0.0.1");
    c.port = s.port;
    c.dialects = dialects_for_vers(Some(vers)).unwrap();
    c.request_timeout = Duration::from_secs(30);
    c
}

pub fn user(s: &Samba) -> Auth {
    Auth::Ntlmv2(Credentials::new(&s.user, &s.domain, &s.password))
}

pub async fn tree(_s: &Samba, c: ClientConfig, auth: &Auth, share: &str) -> Result<Tree, Error> {
    let client = Client::connect(c).await?;
    let session = client.session_setup(auth).await?;
    session.tree_connect(share).await
}

/// Deterministic pseudo-random bytes (xorshift), so a failure is reproducible.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Write, read back, stat, list and delete one file: proves a configuration end to end.
async fn round_trip(t: &Tree, s: &Samba, name: &str, len: usize) {
    let data = pattern(len, len as u64 + 7);
    let f = t.open(name, &OpenOptions::create_truncate()).await.unwrap();
    f.write_at(0, &data).await.unwrap();
    f.close().await.unwrap();
    let on_server = std::fs::read(s.share_dir("share").join(name)).unwrap();
    assert!(on_server == data, "server copy of {name} differs");
    let f = t.open(name, &OpenOptions::read()).await.unwrap();
    assert_eq!(f.info().size, len as u64);
    let back = f.read_at(0, len + 100).await.unwrap();
    assert!(back == data, "read back of {name} differs");
    f.close().await.unwrap();
    let st = t.stat(name).await.unwrap();
    assert_eq!(st.size, len as u64);
    assert!(st.file_index.is_some());
    let names: Vec<String> = t
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(names.contains(&name.to_string()), "{names:?}");
    t.remove(name).await.unwrap();
    assert!(!s.share_dir("share").join(name).exists());
}

fn dialect_case(variant: &str, vers: &str, want: Dialect) {
    let Some(s) = Samba::start(variant) else {
        return;
    };
    rt().block_on(async {
        let client = Client::connect(config(&s, vers)).await.unwrap();
        assert_eq!(client.negotiated().dialect, want);
        let session = client.session_setup(&user(&s)).await.unwrap();
        let t = session.tree_connect("share").await.unwrap();
        round_trip(&t, &s, "dialect.bin", 300_000).await;
        t.disconnect().await.unwrap();
        session.logoff().await.unwrap();
    });
}

#[test]
fn dialect_2_0_2() {
    dialect_case("smb2_02", "2.0", Dialect::SMB_2_0_2);
}
#[test]
fn dialect_2_1() {
    dialect_case("smb2_10", "2.1", Dialect::SMB_2_1);
}
#[test]
fn dialect_3_0() {
    dialect_case("smb3_00", "3.0", Dialect::SMB_3_0);
}
#[test]
fn dialect_3_0_2() {
    dialect_case("smb3_02", "3.02", Dialect::SMB_3_0_2);
}
#[test]
fn dialect_3_1_1() {
    dialect_case("smb3_11", "3.1.1", Dialect::SMB_3_1_1);
}
#[test]
fn vers_default_picks_the_highest() {
    dialect_case("default", "default", Dialect::SMB_3_1_1);
}

fn signing_case(variant: &str, vers: &str, algorithm: u16) {
    let Some(s) = Samba::start(variant) else {
        return;
    };
    rt().block_on(async {
        let client = Client::connect(config(&s, vers)).await.unwrap();
        assert!(client.negotiated().server_signing_required);
        assert_eq!(client.negotiated().signing_algorithm, algorithm);
        let session = client.session_setup(&user(&s)).await.unwrap();
        assert!(session.signing());
        let t = session.tree_connect("share").await.unwrap();
        round_trip(&t, &s, "signed.bin", 3 << 20).await;
    });
}

#[test]
fn signing_required_hmac_sha256_on_2_1() {
    signing_case("sign-hmac", "2.1", negotiate::SIGN_HMAC_SHA256);
}
#[test]
fn signing_required_aes_cmac_on_3_0_2() {
    signing_case("sign-cmac", "3.02", negotiate::SIGN_AES_CMAC);
}
#[test]
fn signing_required_aes_gmac_on_3_1_1() {
    signing_case("sign-gmac", "3.1.1", negotiate::SIGN_AES_GMAC);
}
#[test]
fn signing_required_aes_cmac_on_3_1_1() {
    signing_case("sign-cmac311", "3.1.1", negotiate::SIGN_AES_CMAC);
}
#[test]
fn signing_required_hmac_on_3_1_1() {
    signing_case("sign-hmac311", "3.1.1", negotiate::SIGN_HMAC_SHA256);
}

#[test]
fn client_required_signing_on_a_relaxed_server() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    rt().block_on(async {
        let mut c = config(&s, "3.0");
        c.require_signing = true;
        let client = Client::connect(c).await.unwrap();
        let session = client.session_setup(&user(&s)).await.unwrap();
        assert!(session.signing());
        let t = session.tree_connect("share").await.unwrap();
        round_trip(&t, &s, "csign.bin", 1 << 20).await;
    });
}

fn encryption_case(variant: &str, vers: &str, cipher: u16) {
    let Some(s) = Samba::start(variant) else {
        return;
    };
    rt().block_on(async {
        let client = Client::connect(config(&s, vers)).await.unwrap();
        assert_eq!(client.negotiated().cipher, Some(cipher));
        let session = client.session_setup(&user(&s)).await.unwrap();
        assert!(
            session.encrypting(),
            "server requires encryption: session must encrypt"
        );
        let t = session.tree_connect("share").await.unwrap();
        round_trip(&t, &s, "sealed.bin", 3 << 20).await;
    });
}

#[test]
fn encryption_required_aes_128_ccm() {
    encryption_case("encrypt-aes128ccm", "3.1.1", negotiate::AES_128_CCM);
}
#[test]
fn encryption_required_aes_128_gcm() {
    encryption_case("encrypt-aes128gcm", "3.1.1", negotiate::AES_128_GCM);
}
#[test]
fn encryption_required_aes_256_ccm() {
    encryption_case("encrypt-aes256ccm", "3.1.1", negotiate::AES_256_CCM);
}
#[test]
fn encryption_required_aes_256_gcm() {
    encryption_case("encrypt-aes256gcm", "3.1.1", negotiate::AES_256_GCM);
}
#[test]
fn encryption_required_on_3_0_uses_aes_128_ccm() {
    encryption_case("encrypt-smb30", "3.0", negotiate::AES_128_CCM);
}

#[test]
fn seal_and_per_share_encryption_on_a_relaxed_server() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    rt().block_on(async {
        // `seal`: everything encrypted although the server does not ask for it.
        let mut c = config(&s, "3.1.1");
        c.require_encryption = true;
        let client = Client::connect(c).await.unwrap();
        let session = client.session_setup(&user(&s)).await.unwrap();
        assert!(session.encrypting());
        let t = session.tree_connect("share").await.unwrap();
        round_trip(&t, &s, "seal.bin", 1 << 20).await;

        // A share with `smb encrypt = required` just works on 3.x without `seal`...
        let t = tree(&s, config(&s, "3.1.1"), &user(&s), "secret")
            .await
            .unwrap();
        let f = t
            .open("x.txt", &OpenOptions::create_truncate())
            .await
            .unwrap();
        f.write_at(0, b"secret data").await.unwrap();
        f.close().await.unwrap();
        assert_eq!(
            std::fs::read(s.share_dir("secret").join("x.txt")).unwrap(),
            b"secret data"
        );

        // ...and over SMB 2.1 is refused with a message that names the cause.
        let e = tree(&s, config(&s, "2.1"), &user(&s), "secret")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("requires encryption"), "{e}");

        // `seal` against SMB 2.1 is refused before any data moves.
        let mut c = config(&s, "2.1");
        c.require_encryption = true;
        let e = Client::connect(c).await.unwrap_err();
        assert!(e.to_string().contains("encryption needs SMB 3.x"), "{e}");
    });
}

#[test]
fn ntlmv1_against_a_server_that_permits_it() {
    let Some(s) = Samba::start("ntlmv1") else {
        return;
    };
    rt().block_on(async {
        let auth = Auth::Ntlmv1(Credentials::new(&s.user, &s.domain, &s.password));
        let t = tree(&s, config(&s, "3.1.1"), &auth, "share").await.unwrap();
        round_trip(&t, &s, "v1.bin", 10_000).await;
    });
}

#[test]
fn ntlmv1_refused_by_default_and_bad_credentials() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    rt().block_on(async {
        let auth = Auth::Ntlmv1(Credentials::new(&s.user, &s.domain, &s.password));
        let e = tree(&s, config(&s, "3.1.1"), &auth, "share")
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::LOGON_FAILURE), "{e}");

        let bad = Auth::Ntlmv2(Credentials::new(&s.user, &s.domain, "wrong-password"));
        let e = tree(&s, config(&s, "3.1.1"), &bad, "share")
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::LOGON_FAILURE), "{e}");
        assert!(!e.to_string().contains("wrong-password"));

        let nobody = Auth::Ntlmv2(Credentials::new("no-such-user", "", "x"));
        let e = tree(&s, config(&s, "3.1.1"), &nobody, "share")
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::LOGON_FAILURE), "{e}");

        let e = tree(&s, config(&s, "3.1.1"), &user(&s), "nosuchshare")
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::BAD_NETWORK_NAME), "{e}");
    });
}

#[test]
fn guest_and_anonymous() {
    let Some(s) = Samba::start("guest") else {
        return;
    };
    rt().block_on(async {
        let client = Client::connect(config(&s, "3.1.1")).await.unwrap();
        let session = client.session_setup(&Auth::Guest(None)).await.unwrap();
        assert!(session.is_guest());
        let t = session.tree_connect("public").await.unwrap();
        std::fs::write(s.share_dir("public").join("hello.txt"), b"hi guest").unwrap();
        let f = t.open("hello.txt", &OpenOptions::read()).await.unwrap();
        assert_eq!(f.read_at(0, 100).await.unwrap(), b"hi guest");

        let client = Client::connect(config(&s, "3.1.1")).await.unwrap();
        let session = client.session_setup(&Auth::Anonymous).await.unwrap();
        assert!(session.is_anonymous());
        let ipc = session.tree_connect("IPC$").await.unwrap();
        assert_eq!(ipc.share_type(), 2, "IPC$ is a pipe share");
    });
}

#[test]
fn dialect_the_server_refuses() {
    let Some(s) = Samba::start("smb3_11") else {
        return;
    };
    rt().block_on(async {
        let e = Client::connect(config(&s, "2.1")).await.unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::NOT_SUPPORTED), "{e}");
    });
}

#[test]
fn unreachable_port_fails_fast() {
    rt().block_on(async {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let mut c = ClientConfig::new("127.0.0.1");
        c.port = port;
        let t0 = std::time::Instant::now();
        let e = Client::connect(c).await.unwrap_err();
        assert!(matches!(e, Error::Connect { .. }), "{e}");
        assert!(e.to_string().contains("refused"), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn every_file_operation() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    let root = s.share_dir("share");
    rt().block_on(async {
        let t = tree(&s, config(&s, "3.1.1"), &user(&s), "share")
            .await
            .unwrap();
        // mkdir, nested create, exclusive create.
        t.mkdir("d").await.unwrap();
        assert!(root.join("d").is_dir());
        let e = t.mkdir("d").await.unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::OBJECT_NAME_COLLISION));
        let f = t.open("d/a.txt", &OpenOptions::create_new()).await.unwrap();
        f.write_at(0, b"hello world").await.unwrap();
        f.write_at(6, b"WORLD").await.unwrap();
        f.flush().await.unwrap();
        let closed = f.close().await.unwrap();
        assert_eq!(closed.size, 11);
        assert_eq!(std::fs::read(root.join("d/a.txt")).unwrap(), b"hello WORLD");
        let e = t
            .open("d/a.txt", &OpenOptions::create_new())
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::OBJECT_NAME_COLLISION));
        // Missing files and paths.
        let e = t.open("nope.txt", &OpenOptions::read()).await.unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::OBJECT_NAME_NOT_FOUND));
        let e = t.stat("nodir/x").await.unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::OBJECT_PATH_NOT_FOUND));
        // Truncate, extend, times, read-only attribute.
        let f = t.open("d/a.txt", &OpenOptions::read_write()).await.unwrap();
        f.set_len(5).await.unwrap();
        f.set_len(8).await.unwrap();
        let when = fusevol::smb::wire::fscc::system_time_to_filetime(
            std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000),
        );
        f.set_basic(fusevol::smb::wire::fscc::FileBasicInformation {
            creation_time: 0,
            last_access_time: 0,
            last_write_time: when,
            change_time: 0,
            file_attributes: 0,
        })
        .await
        .unwrap();
        f.close().await.unwrap();
        assert_eq!(std::fs::read(root.join("d/a.txt")).unwrap(), b"hello\0\0\0");
        let mtime = std::fs::metadata(root.join("d/a.txt"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(
            mtime,
            std::time::UNIX_EPOCH + Duration::from_secs(1_000_000_000)
        );
        assert_eq!(t.stat("d/a.txt").await.unwrap().last_write_time, when);
        // Rename, including over an existing file.
        std::fs::write(root.join("d/b.txt"), b"old b").unwrap();
        s.chown_to_user(&root.join("d/b.txt"));
        let e = t.rename("d/a.txt", "d/b.txt", false).await.unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::OBJECT_NAME_COLLISION));
        t.rename("d/a.txt", "d/b.txt", true).await.unwrap();
        assert_eq!(std::fs::read(root.join("d/b.txt")).unwrap(), b"hello\0\0\0");
        assert!(!root.join("d/a.txt").exists());
        t.rename("d/b.txt", "c.txt", false).await.unwrap();
        assert!(root.join("c.txt").exists());
        // rmdir of a non-empty directory, then empty.
        std::fs::write(root.join("d/keep"), b"").unwrap();
        let e = t.rmdir("d").await.unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::DIRECTORY_NOT_EMPTY));
        t.remove("d/keep").await.unwrap();
        t.rmdir("d").await.unwrap();
        assert!(!root.join("d").exists());
        // statfs.
        let fs = t.statfs().await.unwrap();
        assert!(fs.total_allocation_units > 0);
        // Read past EOF is empty, not an error.
        let f = t.open("c.txt", &OpenOptions::read()).await.unwrap();
        assert!(f.read_at(1000, 10).await.unwrap().is_empty());
    });
}

#[test]
fn directory_listing_longer_than_one_response() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    let dir = s.share_dir("share").join("many");
    std::fs::create_dir(&dir).unwrap();
    let n = 9000;
    for i in 0..n {
        std::fs::write(
            dir.join(format!("file-with-a-longish-name-{i:05}.dat")),
            b"",
        )
        .unwrap();
    }
    rt().block_on(async {
        let t = tree(&s, config(&s, "3.1.1"), &user(&s), "share")
            .await
            .unwrap();
        let mut names: Vec<String> = t
            .list("many")
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        names.sort();
        assert_eq!(names.len(), n);
        assert_eq!(names[0], "file-with-a-longish-name-00000.dat");
        assert_eq!(
            names[n - 1],
            format!("file-with-a-longish-name-{:05}.dat", n - 1)
        );
        // The one-round-trip listing (CREATE+QUERY_DIRECTORY×2+CLOSE): an empty directory,
        // a missing one and a file answer as the CREATE or the query did.
        std::fs::create_dir(s.share_dir("share").join("empty")).unwrap();
        assert!(t.list("empty").await.unwrap().is_empty());
        let e = t.list("nope").await.unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::OBJECT_NAME_NOT_FOUND), "{e}");
        let e = t
            .list("many/file-with-a-longish-name-00000.dat")
            .await
            .unwrap_err();
        assert_eq!(e.status(), Some(NtStatus::NOT_A_DIRECTORY), "{e}");
        // Still usable afterwards (no handle left open by the compound).
        assert_eq!(t.list("").await.unwrap().len(), 2);
    });
}

#[test]
fn large_file_in_multi_credit_requests() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    rt().block_on(async {
        let t = tree(&s, config(&s, "3.1.1"), &user(&s), "share")
            .await
            .unwrap();
        assert_eq!(t.max_read(), 8 << 20, "Samba grants 8 MiB reads");
        let len = 80 << 20;
        let data = pattern(len, 42);
        let f = t
            .open("big.bin", &OpenOptions::create_truncate())
            .await
            .unwrap();
        f.write_at(0, &data).await.unwrap();
        f.close().await.unwrap();
        let server = std::fs::read(s.share_dir("share").join("big.bin")).unwrap();
        assert!(server == data, "server copy differs");
        let f = t.open("big.bin", &OpenOptions::read()).await.unwrap();
        let back = f.read_at(0, len).await.unwrap();
        assert!(back == data, "read back differs");
        // Unaligned reads across request boundaries.
        let part = f.read_at((8 << 20) - 3, (16 << 20) + 7).await.unwrap();
        assert!(part[..] == data[(8 << 20) - 3..(24 << 20) + 4]);
    });
}

#[test]
fn read_only_share_refuses_writes() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    std::fs::write(s.share_dir("ro").join("r.txt"), b"read me").unwrap();
    rt().block_on(async {
        let t = tree(&s, config(&s, "3.1.1"), &user(&s), "ro")
            .await
            .unwrap();
        let f = t.open("r.txt", &OpenOptions::read()).await.unwrap();
        assert_eq!(f.read_at(0, 100).await.unwrap(), b"read me");
        let e = t
            .open("w.txt", &OpenOptions::create_truncate())
            .await
            .unwrap_err();
        assert!(
            matches!(
                e.status(),
                Some(NtStatus::ACCESS_DENIED | NtStatus::MEDIA_WRITE_PROTECTED)
            ),
            "{e}"
        );
    });
}

#[test]
fn many_tasks_share_one_connection() {
    let Some(s) = Samba::start("sign-gmac") else {
        return;
    };
    rt().block_on(async {
        let t = tree(&s, config(&s, "3.1.1"), &user(&s), "share")
            .await
            .unwrap();
        let mut hs = Vec::new();
        for i in 0..32 {
            let t = t.clone();
            hs.push(tokio::spawn(async move {
                let name = format!("par-{i}.bin");
                let data = pattern(200_000 + i * 1000, i as u64);
                let f = t
                    .open(&name, &OpenOptions::create_truncate())
                    .await
                    .unwrap();
                f.write_at(0, &data).await.unwrap();
                let back = f.read_at(0, data.len()).await.unwrap();
                f.close().await.unwrap();
                assert!(back == data);
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
        assert_eq!(t.list("").await.unwrap().len(), 32);
    });
}

#[test]
fn open_indexed_gives_the_index_stat_gives() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    rt().block_on(async {
        let t = tree(&s, config(&s, "3.1.1"), &user(&s), "share")
            .await
            .unwrap();
        let f = t
            .open_indexed("indexed.bin", &OpenOptions::create_new())
            .await
            .unwrap();
        // From the QFid create context (MS-SMB2 2.2.14.2.9): the same number a QUERY_INFO of
        // FileInternalInformation gives, on the handle and by path (stat).
        let idx = f.info().file_index.expect("DiskFileId in the CREATE response");
        assert_eq!(f.index_number().await.unwrap(), idx);
        f.write_at(0, b"abc").await.unwrap();
        f.close().await.unwrap();
        assert_eq!(t.stat("indexed.bin").await.unwrap().file_index, Some(idx));
        // A failing CREATE fails the whole compound with its own status.
        let e = t
            .open_indexed("indexed.bin", &OpenOptions::create_new())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::Status { status, .. } if *status == NtStatus::OBJECT_NAME_COLLISION),
            "{e}"
        );
    });
}
