//! Torrent mounts against a real loopback swarm: Debian's opentracker on 127.0.0.1 and a
//! python3-libtorrent seeder on 127.0.0.2 (`btfs_swarm.py`), DHT/LSD/UPnP off everywhere, the
//! mount listening on 127.0.0.1 only. One swarm is shared by all tests of this file; it runs in
//! a private network namespace (`unshare -n`, only `lo` up) that every `fusevol mount` joins
//! (`nsenter --net`), so nothing can leave the machine. A lying seeder (`btfs_evil_seeder.py`,
//! 127.0.0.3) serves a corrupted piece.
//!
//! Needs root (FUSE mounts, namespaces), `opentracker`, `mktorrent`, `python3-libtorrent` and
//! `unshare`/`nsenter` (util-linux) (`scripts/setup.sh`). Without them the tests print `SKIP`
//! and pass, unless `FUSEVOL_REQUIRE_SAMBA=1` (CI) makes that a failure.
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

const PIECE: u64 = 256 * 1024;
const BIG: usize = 48 << 20;
/// The lying seeder's torrent: one file of this size; piece EVIL_PIECE is damaged at the
/// libtorrent seeder.
const EVIL_LEN: usize = 2 * 1024 * 1024 + 12_345;
const EVIL_PIECE: u64 = 3;
/// librqbit's fixed look-ahead per stream (`PER_STREAM_BUF_DEFAULT`, notes §4.3 trap 3).
const ENGINE_LOOKAHEAD: u64 = 32 << 20;
/// The payload: (path below `payload/`, size). Odd sizes so that files share pieces.
const FILES: &[(&str, usize)] = &[
    ("big.bin", BIG),
    ("readme.txt", 1234),
    ("docs/small-100k.bin", 100_000),
    ("docs/deep/medium-3m.bin", 3 * 1024 * 1024 + 12_345),
];

/// Debian's python3 (python3-libtorrent is installed for it, not for a pyenv on PATH).
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

fn required() -> bool {
    std::env::var("FUSEVOL_REQUIRE_SAMBA").is_ok_and(|v| v == "1")
}

fn skip(reason: &str) -> Option<Swarm> {
    if required() {
        panic!("btfs tests cannot run: {reason} (FUSEVOL_REQUIRE_SAMBA=1)");
    }
    eprintln!("SKIP: {reason}");
    None
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Deterministic pseudo-random bytes (xorshift64*), different per seed.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

pub struct Swarm {
    pub dir: PathBuf,
    pub tracker_port: u16,
    pub seed_port: u16,
    /// The seeded torrent and its infohash.
    pub torrent: PathBuf,
    pub info_hash: String,
    /// A torrent nobody seeds (its data is not in the seed dir).
    pub orphan: PathBuf,
    pub orphan_hash: String,
    /// Local copies of the payload files: (relative path, bytes).
    pub files: Vec<(String, Vec<u8>)>,
    /// The swarm's network namespace (the seeder process's).
    pub netns: PathBuf,
    /// The single-file torrent whose piece [`EVIL_PIECE`] only the lying seeder has, and its
    /// correct data.
    pub evil: PathBuf,
    pub evil_data: Vec<u8>,
    _child: Mutex<Child>,
}

fn info_hash(torrent: &Path) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg("import sys,libtorrent as lt; print(lt.torrent_info(sys.argv[1]).info_hash())")
        .arg(torrent)
        .output()
        .expect("python3 for the infohash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn mktorrent(announce: &str, src: &Path, out: &Path) {
    let st = Command::new("mktorrent")
        .args(["-a", announce, "-l", "18", "-o"])
        .arg(out)
        .arg(src)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("mktorrent");
    assert!(st.success(), "mktorrent failed");
}

impl Swarm {
    fn start() -> Option<Swarm> {
        if !nix::unistd::geteuid().is_root() {
            return skip("not root (FUSE mounts and opentracker need it)");
        }
        if !Path::new("/dev/fuse").exists() {
            return skip("no /dev/fuse");
        }
        for c in ["opentracker", "mktorrent", "unshare", "nsenter", python()] {
            if !have(c) {
                return skip(&format!("{c} is not installed (scripts/setup.sh)"));
            }
        }
        let lt_ok = Command::new(python())
            .args(["-c", "import libtorrent"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !lt_ok {
            return skip("python3-libtorrent is not installed (scripts/setup.sh)");
        }
        let dir = std::env::temp_dir().join(format!("fusevol-btfs-test.{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let seed = dir.join("seed");
        let mut files = Vec::new();
        for (i, (p, n)) in FILES.iter().enumerate() {
            let data = payload(i as u64 + 1, *n);
            let path = seed.join("payload").join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, &data).unwrap();
            files.push((p.to_string(), data));
        }
        let orphan_src = dir.join("orphan-src/orphan");
        fs::create_dir_all(&orphan_src).unwrap();
        fs::write(orphan_src.join("lonely.bin"), payload(99, 3 << 20)).unwrap();
        fs::write(orphan_src.join("other.txt"), b"nobody seeds me\n").unwrap();
        // A single-file torrent whose piece EVIL_PIECE only the lying seeder has: the libtorrent
        // seeder's copy is damaged there.
        let evil_src = dir.join("evil-src");
        fs::create_dir_all(&evil_src).unwrap();
        let evil_data = payload(77, EVIL_LEN);
        fs::write(evil_src.join("evil.bin"), &evil_data).unwrap();
        let mut damaged = evil_data.clone();
        let at = (EVIL_PIECE * PIECE) as usize;
        damaged[at..at + 1000].iter_mut().for_each(|b| *b ^= 0x5A);
        fs::write(seed.join("evil.bin"), &damaged).unwrap();
        let tracker_port = free_port();
        let seed_port = free_port();
        let announce = format!("http://127.0.0.1:{tracker_port}/announce");
        let torrent = dir.join("payload.torrent");
        let orphan = dir.join("orphan.torrent");
        let evil = dir.join("evil.torrent");
        mktorrent(&announce, &seed.join("payload"), &torrent);
        mktorrent(&announce, &orphan_src, &orphan);
        mktorrent(&announce, &evil_src.join("evil.bin"), &evil);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-tests/btfs_swarm.py");
        // A private network namespace with only `lo` up: DHT, LSD and UPnP cannot leave it.
        // (btfs_swarm.py brings `lo` up.)
        let mut child = Command::new("unshare")
            .args(["-n", "--"])
            .arg(python())
            .arg(script)
            .arg(&dir)
            .arg(tracker_port.to_string())
            .arg(seed_port.to_string())
            .arg(&seed)
            .arg(&torrent)
            .arg(&orphan)
            .arg(&evil)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start btfs_swarm.py");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut l = String::new();
            let _ = BufReader::new(out).read_line(&mut l);
            let _ = tx.send(l);
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(l) if l.trim() == "READY" => {}
            other => {
                let _ = child.kill();
                panic!("the loopback swarm did not start: {other:?}");
            }
        }
        Some(Swarm {
            netns: PathBuf::from(format!("/proc/{}/ns/net", child.id())),
            info_hash: info_hash(&torrent),
            orphan_hash: info_hash(&orphan),
            evil,
            evil_data,
            dir,
            tracker_port,
            seed_port,
            torrent,
            orphan,
            files,
            _child: Mutex::new(child),
        })
    }

    pub(crate) fn get() -> Option<&'static Swarm> {
        static S: OnceLock<Option<Swarm>> = OnceLock::new();
        S.get_or_init(Swarm::start).as_ref()
    }

    pub(crate) fn magnet_tr(&self) -> String {
        format!(
            "magnet:?xt=urn:btih:{}&dn=payload&tr=http%3A%2F%2F127.0.0.1%3A{}%2Fannounce",
            self.info_hash, self.tracker_port
        )
    }

    pub(crate) fn file(&self, rel: &str) -> &[u8] {
        &self.files.iter().find(|f| f.0 == rel).unwrap().1
    }

    /// `cmd` run inside the swarm's network namespace.
    pub(crate) fn in_netns(&self, cmd: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net={}", self.netns.display()))
            .arg("--")
            .arg(cmd);
        c
    }

    /// fusevol inside the swarm's network namespace (mounts are in the shared mount namespace).
    fn fusevol(&self) -> Command {
        self.in_netns(env!("CARGO_BIN_EXE_fusevol"))
    }
}

fn fusevol() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fusevol"))
}

/// Options every test mount uses: loopback only, no DHT.
const BASE_OPTS: &str = "nodht,listen=127.0.0.1,read_timeout=20,metadata_timeout=20";

/// A mounted torrent; unmounted (lazily if need be) on drop.
struct Mount {
    mnt: PathBuf,
    data: PathBuf,
    listed_after: Duration,
}

impl Mount {
    fn new(name: &str, source: &str, extra_opts: &str) -> Mount {
        let s = Swarm::get().unwrap();
        let base = s.dir.join(name);
        let mnt = base.join("mnt");
        let data = base.join("data");
        fs::create_dir_all(&mnt).unwrap();
        let opts = format!(
            "{BASE_OPTS},data_dir={}{}{extra_opts}",
            data.display(),
            if extra_opts.is_empty() { "" } else { "," }
        );
        let t0 = Instant::now();
        let mut cmd = s.fusevol();
        cmd.args(["mount", "-o", &opts, source]).arg(&mnt);
        // Debugging: FUSEVOL_BTFS_TEST_LOG=FILTER writes the mount's log (FUSEVOL_LOG=FILTER)
        // to `<test dir>/<name>.log`; the daemon inherits that file as its stderr.
        if let Ok(filter) = std::env::var("FUSEVOL_BTFS_TEST_LOG") {
            let log = fs::File::create(base.join(format!("{name}.log"))).unwrap();
            cmd.env("FUSEVOL_LOG", filter).stderr(log);
            eprintln!(
                "{name}: log in {}",
                base.join(format!("{name}.log")).display()
            );
        } else {
            cmd.env_remove("FUSEVOL_LOG");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "mount {source} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Mount {
            listed_after: t0.elapsed(),
            mnt,
            data,
        }
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }

    fn umount(&self) {
        let out = fusevol().arg("umount").arg(&self.mnt).output().unwrap();
        assert!(
            out.status.success(),
            "umount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if is_mounted(&self.mnt) {
            let _ = Command::new("umount").arg("-l").arg(&self.mnt).status();
        }
    }
}

fn is_mounted(p: &Path) -> bool {
    let s = p.to_string_lossy().replace(' ', "\\040");
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(s.as_str()))
}

/// Run `f` on a thread; panic if it takes longer than `t` (a hung mount must fail the test,
/// not hang it).
fn within<T: Send + 'static>(t: Duration, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(t)
        .unwrap_or_else(|_| panic!("{what}: no answer within {t:?}"))
}

fn read_all(p: PathBuf) -> Vec<u8> {
    within(Duration::from_secs(60), "read", move || {
        fs::read(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    })
}

/// Allocated bytes of every file below `dir` (sparse files count what was written).
fn allocated(dir: &Path) -> u64 {
    let mut total = 0;
    let Ok(rd) = fs::read_dir(dir) else { return 0 };
    for e in rd.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            total += allocated(&e.path());
        } else {
            total += m.blocks() * 512;
        }
    }
    total
}

#[test]
fn btfs_torrent_file_checksums_offsets_concurrency_erofs() {
    let Some(s) = Swarm::get() else { return };
    let m = Mount::new("torrent", &s.torrent.to_string_lossy(), "");
    // The tree is there when mount returns.
    let mut names: Vec<String> = fs::read_dir(m.p("payload"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["big.bin", "docs", "readme.txt"]);
    eprintln!("torrent: mount+list in {:?}", m.listed_after);
    for (rel, data) in &s.files {
        let meta = fs::metadata(m.p(&format!("payload/{rel}"))).unwrap();
        assert_eq!(meta.len(), data.len() as u64, "{rel}");
        assert_eq!(meta.mode() & 0o222, 0, "{rel} is read-only");
    }
    // First byte of the big file.
    let t = Instant::now();
    let big = m.p("payload/big.bin");
    let b2 = big.clone();
    let first = within(Duration::from_secs(30), "first byte", move || {
        let mut f = fs::File::open(&b2).unwrap();
        let mut b = [0u8; 4096];
        f.read_exact(&mut b).unwrap();
        b
    });
    eprintln!("torrent: first 4 KiB in {:?}", t.elapsed());
    assert_eq!(&first[..], &s.file("big.bin")[..4096]);
    // Odd offsets across piece boundaries (and across file boundaries inside pieces).
    let bigdata = s.file("big.bin");
    let b3 = big.clone();
    let probes: Vec<(u64, usize)> = vec![
        (PIECE - 1, 2),
        (PIECE * 7 - 13, 70_001),
        (PIECE * 100 + 5, 3 * PIECE as usize + 17),
        (BIG as u64 - 1000, 1000),
        (BIG as u64 - 3, 100),
        (12_345_677, 1),
    ];
    let got = within(Duration::from_secs(60), "odd reads", move || {
        let mut f = fs::File::open(&b3).unwrap();
        probes
            .iter()
            .map(|&(off, len)| {
                f.seek(SeekFrom::Start(off)).unwrap();
                let mut v = Vec::new();
                (&mut f).take(len as u64).read_to_end(&mut v).unwrap();
                (off, v)
            })
            .collect::<Vec<_>>()
    });
    for (off, v) in got {
        let end = (off as usize + v.len()).min(bigdata.len());
        assert_eq!(&v[..], &bigdata[off as usize..end], "read at {off}");
        assert!(!v.is_empty());
    }
    // Concurrent readers: the big file in 4 slices and every small file at once.
    let mut threads = Vec::new();
    for k in 0..4u64 {
        let p = big.clone();
        threads.push(std::thread::spawn(move || {
            let mut f = fs::File::open(&p).unwrap();
            let slice = BIG as u64 / 4;
            f.seek(SeekFrom::Start(k * slice)).unwrap();
            let mut v = vec![0u8; slice as usize];
            f.read_exact(&mut v).unwrap();
            (k, v)
        }));
    }
    let mut small = Vec::new();
    for (rel, _) in s.files.iter().skip(1) {
        let p = m.p(&format!("payload/{rel}"));
        let rel = rel.clone();
        small.push(std::thread::spawn(move || (rel, fs::read(p).unwrap())));
    }
    let t = Instant::now();
    within(Duration::from_secs(90), "concurrent readers", move || {
        for th in threads {
            let (k, v) = th.join().unwrap();
            let slice = BIG / 4;
            assert!(
                v == bigdata[k as usize * slice..(k as usize + 1) * slice],
                "slice {k}"
            );
        }
        for th in small {
            let (rel, v) = th.join().unwrap();
            let want = Swarm::get().unwrap().file(&rel);
            assert_eq!(sha(&v), sha(want), "{rel}");
        }
    });
    eprintln!("torrent: concurrent readers done in {:?}", t.elapsed());
    // sha256 of every file, whole, through the mount.
    let t = Instant::now();
    for (rel, data) in &s.files {
        let v = read_all(m.p(&format!("payload/{rel}")));
        assert_eq!(sha(&v), sha(data), "{rel}");
    }
    eprintln!("torrent: re-read all files in {:?}", t.elapsed());
    // Writes of every kind: EROFS.
    let erofs = |r: std::io::Result<()>, what: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{what}: {e}");
    };
    erofs(
        fs::OpenOptions::new()
            .write(true)
            .open(m.p("payload/readme.txt"))
            .map(drop),
        "open for writing",
    );
    erofs(fs::write(m.p("payload/new.txt"), b"x").map(drop), "create");
    erofs(fs::create_dir(m.p("payload/newdir")), "mkdir");
    erofs(fs::remove_file(m.p("payload/readme.txt")), "unlink");
    erofs(
        fs::rename(m.p("payload/readme.txt"), m.p("payload/r2")),
        "rename",
    );
    // Progress is visible.
    let st = fusevol().arg("status").arg(&m.mnt).output().unwrap();
    let text = String::from_utf8_lossy(&st.stdout);
    assert!(
        st.status.success(),
        "status: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert!(text.contains(&s.info_hash), "{text}");
    assert!(
        text.contains("file big.bin have 50331648 of 50331648"),
        "{text}"
    );
    m.umount();
    // Data removed at unmount (no `keep`).
    let t = Instant::now();
    while m.data.join(&s.info_hash).exists() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !m.data.join(&s.info_hash).exists(),
        "data left after unmount"
    );
}

#[test]
fn btfs_magnet_with_tracker() {
    let Some(s) = Swarm::get() else { return };
    let m = Mount::new("magnet-tr", &s.magnet_tr(), "");
    eprintln!("magnet tr=: mount+list in {:?}", m.listed_after);
    for rel in ["docs/deep/medium-3m.bin", "readme.txt"] {
        let v = read_all(m.p(&format!("payload/{rel}")));
        assert_eq!(sha(&v), sha(s.file(rel)), "{rel}");
    }
    m.umount();
}

/// A `.torrent` fetched from an http:// URL (Python's http.server in the swarm's namespace); a
/// URL that answers 404 fails the mount with a message naming it.
#[test]
fn btfs_torrent_by_http_url() {
    let Some(s) = Swarm::get() else { return };
    let port = free_port();
    let mut http = s
        .in_netns(python())
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
            "--directory",
        ])
        .arg(&s.dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Up once it answers (probed from inside the namespace).
    let t0 = Instant::now();
    let probe = format!(
        "import urllib.request as u; u.urlopen('http://127.0.0.1:{port}/payload.torrent', timeout=1)"
    );
    while !s
        .in_netns(python())
        .args(["-c", &probe])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|st| st.success())
    {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "http.server did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = format!("http://127.0.0.1:{port}/payload.torrent");
    let m = Mount::new("http-url", &url, "");
    eprintln!("http URL: mount+list in {:?}", m.listed_after);
    let v = read_all(m.p("payload/readme.txt"));
    assert_eq!(sha(&v), sha(s.file("readme.txt")));
    m.umount();
    let mnt = s.dir.join("http-404/mnt");
    fs::create_dir_all(&mnt).unwrap();
    let bad = format!("http://127.0.0.1:{port}/missing.torrent");
    let out = s
        .fusevol()
        .args(["mount", "-o", BASE_OPTS, &bad])
        .arg(&mnt)
        .env_remove("FUSEVOL_LOG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a 404 URL mounted");
    assert!(err.contains("missing.torrent"), "{err}");
    assert!(!is_mounted(&mnt));
    let _ = http.kill();
    let _ = http.wait();
}

#[test]
fn btfs_magnet_with_peer_hint_only() {
    let Some(s) = Swarm::get() else { return };
    // No tracker anywhere: the infohash and a peer address are all the mount has.
    let magnet = format!("magnet:?xt=urn:btih:{}&dn=payload", s.info_hash);
    let m = Mount::new(
        "magnet-peer",
        &magnet,
        &format!("peer=127.0.0.2:{}", s.seed_port),
    );
    eprintln!("magnet peer=: mount+list in {:?}", m.listed_after);
    let v = read_all(m.p("payload/docs/small-100k.bin"));
    assert_eq!(sha(&v), sha(s.file("docs/small-100k.bin")));
    // The same through x.pe= in the magnet itself, in a second mount.
    let magnet = format!(
        "magnet:?xt=urn:btih:{}&dn=payload&x.pe=127.0.0.2:{}",
        s.info_hash, s.seed_port
    );
    let m2 = Mount::new("magnet-xpe", &magnet, "");
    let v = read_all(m2.p("payload/readme.txt"));
    assert_eq!(sha(&v), sha(s.file("readme.txt")));
    m2.umount();
    m.umount();
}

#[test]
fn btfs_reads_only_what_is_read() {
    let Some(s) = Swarm::get() else { return };
    let m = Mount::new("on-demand", &s.torrent.to_string_lossy(), "keep");
    let rel = "docs/small-100k.bin";
    let v = read_all(m.p(&format!("payload/{rel}")));
    assert_eq!(sha(&v), sha(s.file(rel)));
    std::thread::sleep(Duration::from_millis(500));
    let on_disk = allocated(&m.data);
    // The file's pieces (it spans at most two) plus filesystem rounding; nothing of big.bin.
    let bound = 100_000 + 2 * PIECE + 64 * 1024;
    eprintln!("on demand: {on_disk} bytes on disk after reading 100000 (bound {bound})");
    assert!(on_disk <= bound, "{on_disk} bytes on disk > {bound}");
    let big = m.data.join(&s.info_hash).join("big.bin");
    let big_alloc = fs::metadata(&big).map(|m| m.blocks() * 512).unwrap_or(0);
    assert!(big_alloc <= PIECE, "big.bin has {big_alloc} bytes on disk");
    // 4 KiB from the middle of big.bin: its piece, plus at most the engine's look-ahead (and
    // the kernel's read-ahead), never the whole file.
    let off = BIG as u64 / 2 + 12_345;
    let p = m.p("payload/big.bin");
    let got = within(Duration::from_secs(30), "random read", move || {
        let mut f = fs::File::open(&p).unwrap();
        f.seek(SeekFrom::Start(off)).unwrap();
        let mut b = vec![0u8; 4096];
        f.read_exact(&mut b).unwrap();
        b
    });
    assert_eq!(got, s.file("big.bin")[off as usize..off as usize + 4096]);
    std::thread::sleep(Duration::from_millis(500));
    let big_alloc = fs::metadata(&big).map(|m| m.blocks() * 512).unwrap_or(0);
    let bound = PIECE + ENGINE_LOOKAHEAD / 2;
    eprintln!(
        "on demand: big.bin has {big_alloc} bytes on disk after a 4 KiB read (bound {bound})"
    );
    assert!(big_alloc >= 4096, "the read piece is not on disk");
    assert!(
        big_alloc <= bound,
        "{big_alloc} bytes of big.bin on disk > {bound}"
    );
    m.umount();
    // `keep`: the data stays.
    std::thread::sleep(Duration::from_millis(500));
    assert!(m.data.join(&s.info_hash).exists(), "keep: data removed");
}

#[test]
fn btfs_no_seeder_eio_within_deadline_and_clean_sigterm() {
    let Some(s) = Swarm::get() else { return };
    let base = s.dir.join("orphan");
    let mnt = base.join("mnt");
    fs::create_dir_all(&mnt).unwrap();
    // Foreground, so that the test can signal it.
    let opts = format!(
        "nodht,listen=127.0.0.1,read_timeout=2,metadata_timeout=5,data_dir={}",
        base.join("data").display()
    );
    let mut child = s
        .fusevol()
        .args(["mount", "-f", "-o", &opts])
        .arg(&s.orphan)
        .arg(&mnt)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !is_mounted(&mnt) {
        assert!(t.elapsed() < Duration::from_secs(20), "orphan mount not up");
        assert!(child.try_wait().unwrap().is_none(), "fusevol exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    let guard = Mount {
        mnt: mnt.clone(),
        data: base.join("data"),
        listed_after: t.elapsed(),
    };
    let f = mnt.join("orphan/lonely.bin");
    assert_eq!(fs::metadata(&f).unwrap().len(), 3 << 20);
    // A read nobody can serve: EIO after read_timeout (2 s), not a hang.
    let t = Instant::now();
    let r = within(Duration::from_secs(15), "read without seeder", move || {
        fs::File::open(&f).and_then(|mut h| {
            let mut b = [0u8; 4096];
            h.read(&mut b)
        })
    });
    let took = t.elapsed();
    let e = r.expect_err("a read without any peer must fail");
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(6),
        "EIO after {took:?}"
    );
    // Metadata stays answerable meanwhile.
    let m2 = mnt.clone();
    within(Duration::from_secs(2), "stat", move || {
        fs::metadata(m2.join("orphan/other.txt")).unwrap()
    });
    // SIGTERM: unmounted and gone within 2 s.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "fusevol still running 2 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "no seeder: EIO after {took:?}, exit {:?} after SIGTERM",
        t.elapsed()
    );
    assert!(!is_mounted(&mnt), "still mounted after SIGTERM");
    drop(guard);

    // SIGTERM while a read is blocked in the mount (long read_timeout): the read fails, the
    // mount goes away and the process exits, all within 2 s.
    let mnt3 = base.join("mnt3");
    fs::create_dir_all(&mnt3).unwrap();
    let opts = format!(
        "nodht,listen=127.0.0.1,read_timeout=60,data_dir={}",
        base.join("data3").display()
    );
    let mut child = s
        .fusevol()
        .args(["mount", "-f", "-o", &opts])
        .arg(&s.orphan)
        .arg(&mnt3)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !is_mounted(&mnt3) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "orphan mount 3 not up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let guard = Mount {
        mnt: mnt3.clone(),
        data: base.join("data3"),
        listed_after: t.elapsed(),
    };
    let f = mnt3.join("orphan/lonely.bin");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = fs::File::open(&f).and_then(|mut h| {
            let mut b = [0u8; 4096];
            h.read(&mut b)
        });
        let _ = tx.send(r.map_err(|e| e.raw_os_error()));
    });
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "fusevol still running 2 s after SIGTERM with a read pending"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = rx
        .recv_timeout(Duration::from_secs(2))
        .expect("the pending read did not return");
    assert!(r.is_err(), "the pending read returned data: {r:?}");
    eprintln!(
        "pending read: exit {:?} after SIGTERM, reader got {r:?}",
        t.elapsed()
    );
    assert!(!is_mounted(&mnt3), "still mounted after SIGTERM");
    drop(guard);

    // Lazy unmount (`umount -l`) while a read is blocked: the read fails and the process
    // exits, within 2 s.
    let mnt4 = base.join("mnt4");
    fs::create_dir_all(&mnt4).unwrap();
    let opts = format!(
        "nodht,listen=127.0.0.1,read_timeout=60,data_dir={}",
        base.join("data4").display()
    );
    let mut child = s
        .fusevol()
        .args(["mount", "-f", "-o", &opts])
        .arg(&s.orphan)
        .arg(&mnt4)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !is_mounted(&mnt4) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "orphan mount 4 not up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let f = mnt4.join("orphan/lonely.bin");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let r = fs::File::open(&f).and_then(|mut h| {
            let mut b = [0u8; 4096];
            h.read(&mut b)
        });
        let _ = tx.send(r.map_err(|e| e.raw_os_error()));
    });
    std::thread::sleep(Duration::from_millis(500));
    let st = Command::new("umount")
        .arg("-l")
        .arg(&mnt4)
        .status()
        .unwrap();
    assert!(st.success(), "umount -l");
    let t = Instant::now();
    let r = rx
        .recv_timeout(Duration::from_secs(2))
        .expect("the pending read did not return within 2 s of umount -l");
    assert!(r.is_err(), "the pending read returned data: {r:?}");
    while child.try_wait().unwrap().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "fusevol still running 2 s after umount -l with a read pending"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("umount -l: reader got {r:?}, exit after {:?}", t.elapsed());
    assert!(
        !base.join("data4").join(&s.orphan_hash).exists(),
        "data left after umount -l"
    );

    // A magnet nobody can resolve (the tracker knows no peer): the mount fails after
    // metadata_timeout, clearly.
    let magnet = format!(
        "magnet:?xt=urn:btih:{}&dn=orphan&tr=http%3A%2F%2F127.0.0.1%3A{}%2Fannounce",
        s.orphan_hash, s.tracker_port
    );
    let mnt2 = base.join("mnt2");
    fs::create_dir_all(&mnt2).unwrap();
    let t = Instant::now();
    let out = s
        .fusevol()
        .args([
            "mount",
            "-o",
            "nodht,listen=127.0.0.1,metadata_timeout=2",
            &magnet,
        ])
        .arg(&mnt2)
        .output()
        .unwrap();
    let took = t.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no metadata after 2s"), "{err}");
    assert!(took < Duration::from_secs(8), "gave up after {took:?}");
    assert!(!is_mounted(&mnt2));
}

#[test]
fn btfs_fetch_all_downloads_the_rest_in_the_background() {
    let Some(s) = Swarm::get() else { return };
    let m = Mount::new("fetch-all", &s.torrent.to_string_lossy(), "fetch_all");
    let total: usize = s.files.iter().map(|f| f.1.len()).sum();
    // Nothing is read: everything arrives anyway.
    let t = Instant::now();
    let want = format!("have_bytes {total} of {total}");
    let mut text = String::new();
    while t.elapsed() < Duration::from_secs(30) {
        let st = fusevol().arg("status").arg(&m.mnt).output().unwrap();
        text = String::from_utf8_lossy(&st.stdout).into_owned();
        if text.contains(&want) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        text.contains(&want),
        "not everything fetched after 30 s:\n{text}"
    );
    eprintln!("fetch_all: {total} bytes in {:?}", t.elapsed());
    let on_disk = allocated(&m.data);
    assert!(on_disk >= total as u64, "{on_disk} bytes on disk < {total}");
    // And it is what the seeder has.
    let v = read_all(m.p("payload/big.bin"));
    assert_eq!(sha(&v), sha(s.file("big.bin")));
    m.umount();
}

#[test]
fn btfs_bad_piece_is_rejected_and_refetched() {
    let Some(s) = Swarm::get() else { return };
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-tests/btfs_evil_seeder.py");
    let mut evil = s
        .in_netns(python())
        .arg(script)
        .arg(&s.evil)
        .arg(s.dir.join("evil-src/evil.bin"))
        .args(["127.0.0.3", &port.to_string(), &EVIL_PIECE.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = evil.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(10));
    assert_eq!(
        first.as_deref(),
        Ok("LISTENING"),
        "the lying seeder did not start"
    );
    // The libtorrent seeder (through the tracker) has every piece but EVIL_PIECE; the lying
    // one (a peer hint) claims all and corrupts its first answer for EVIL_PIECE.
    let m = Mount::new(
        "evil",
        &s.evil.to_string_lossy(),
        &format!("peer=127.0.0.3:{port}"),
    );
    let t = Instant::now();
    let v = read_all(m.p("evil.bin"));
    let took = t.elapsed();
    assert!(
        v == s.evil_data,
        "evil.bin read through the mount differs from the original"
    );
    let events: Vec<String> = rx.try_iter().collect();
    eprintln!("bad piece: evil.bin read correctly in {took:?}; lying seeder: {events:?}");
    let bad = format!("CORRUPTED {EVIL_PIECE} 0");
    let again = format!("SERVED {EVIL_PIECE} 0");
    let at_bad = events.iter().position(|e| *e == bad);
    assert!(
        at_bad.is_some(),
        "the corrupted block was never sent: {events:?}"
    );
    // The client threw the piece away and asked for its first block again.
    assert!(
        events[at_bad.unwrap()..].contains(&again),
        "the corrupted piece was not fetched again: {events:?}"
    );
    m.umount();
    drop(evil.stdin.take());
    let _ = evil.kill();
    let _ = evil.wait();
}

/// A BEP 3 `.torrent` with hostile but (for librqbit) valid names, bencoded by hand.
fn crafted_torrent() -> Vec<u8> {
    fn s(out: &mut Vec<u8>, b: &[u8]) {
        out.extend(format!("{}:", b.len()).bytes());
        out.extend(b);
    }
    // (path, length, attr): an empty and a `.` component, two BEP 47 pad files.
    type File<'a> = (&'a [&'a [u8]], u64, &'a [u8]);
    let files: [File<'_>; 5] = [
        (&[b"", b"abs", b"x"], 1000, b""),
        (&[b".pad", b"16384"], 15384, b"p"),
        (&[b".", b"dot"], 16384, b""),
        (&[b".pad", b"16384"], 16384 - 100, b"p"),
        (&[b"ok.txt"], 100, b""),
    ];
    let total: u64 = files.iter().map(|f| f.1).sum();
    let mut out = b"d4:infod5:filesl".to_vec();
    for (path, len, attr) in files {
        out.push(b'd');
        if !attr.is_empty() {
            s(&mut out, b"attr");
            s(&mut out, attr);
        }
        s(&mut out, b"length");
        out.extend(format!("i{len}e").bytes());
        s(&mut out, b"path");
        out.push(b'l');
        path.iter().for_each(|c| s(&mut out, c));
        out.extend(b"ee");
    }
    out.push(b'e');
    s(&mut out, b"name");
    s(&mut out, b"..");
    s(&mut out, b"piece length");
    out.extend(b"i16384e");
    s(&mut out, b"pieces");
    s(&mut out, &vec![0u8; 20 * total.div_ceil(16384) as usize]);
    out.extend(b"ee");
    out
}

#[test]
fn btfs_crafted_names_are_sanitised_in_the_mount() {
    let Some(s) = Swarm::get() else { return };
    let path = s.dir.join("crafted.torrent");
    fs::write(&path, crafted_torrent()).unwrap();
    // Nobody seeds it: listing needs only the metainfo.
    let m = Mount::new("crafted", &path.to_string_lossy(), "read_timeout=1");
    let mut names: Vec<String> = fs::read_dir(&m.mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["_.."], "the torrent named '..' must not escape");
    let mut inner: Vec<String> = fs::read_dir(m.p("_.."))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    inner.sort();
    // Pad files hidden, empty and `.` components dropped.
    assert_eq!(inner, ["abs", "dot", "ok.txt"]);
    assert_eq!(fs::metadata(m.p("_../abs/x")).unwrap().len(), 1000);
    assert!(fs::metadata(m.p("_../.pad")).is_err());
    // Nobody has the data: EIO after read_timeout, not a hang.
    let p = m.p("_../ok.txt");
    let r = within(
        Duration::from_secs(10),
        "read of unseeded data",
        move || fs::read(p).map_err(|e| e.raw_os_error()),
    );
    assert_eq!(r, Err(Some(libc::EIO)));
    // The kernel's read-ahead of that file may still wait in the mount (up to read_timeout):
    // the unmount may be busy for that long.
    let t = Instant::now();
    while fusevol()
        .arg("umount")
        .arg(&m.mnt)
        .status()
        .is_ok_and(|s| !s.success())
    {
        assert!(t.elapsed() < Duration::from_secs(3), "still busy after 3 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn btfs_bad_options_and_sources() {
    let dir = std::env::temp_dir().join(format!("fusevol-btfs-bad.{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let out = fusevol().args(args).arg(&dir).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&["mount", "-o", "frobnicate", "magnet:?xt=urn:btih:00"]);
    assert!(e.contains("unknown btfs option 'frobnicate'"), "{e}");
    let e = run(&["mount", "-t", "btfs", "/nonexistent/x.torrent"]);
    assert!(e.contains("/nonexistent/x.torrent"), "{e}");
    let junk = dir.join("junk.torrent");
    fs::write(&junk, b"this is not bencode").unwrap();
    let e = run(&[
        "mount",
        "-f",
        "-o",
        "nodht,listen=127.0.0.1",
        &junk.to_string_lossy(),
    ]);
    assert!(e.contains("not a valid .torrent"), "{e}");
    let _ = fs::remove_dir_all(&dir);
}

/// Several torrents in one process, as a task file or the Docker plugin could serve them: one
/// engine (one librqbit session) holds the payload torrent and the single-file evil torrent at
/// once, each in its own `data_dir/<infohash>/`; reads of both run concurrently and return the
/// seeded bytes; removing one leaves the other readable. The engine runs on a thread that joined
/// the swarm's network namespace (its runtime's threads inherit it).
#[test]
fn btfs_several_torrents_in_one_engine() {
    use fusevol::btfs::engine::{Access, AddOptions, Engine, EngineError, Source};
    use fusevol::btfs::rqbit::{RqbitConfig, RqbitEngine};
    let Some(s) = Swarm::get() else { return };
    let netns = fs::File::open(&s.netns).unwrap();
    let data = s.dir.join("one-engine");
    let (payload_t, evil_t) = (s.torrent.clone(), s.evil.clone());
    let (hash_a, hash_b) = (s.info_hash.clone(), info_hash(&s.evil));
    let medium = s.file("docs/deep/medium-3m.bin").to_vec();
    let s_lens: Vec<u64> = s.files.iter().map(|f| f.1.len() as u64).collect();
    let readme = s.file("readme.txt").to_vec();
    // The evil torrent's pieces before EVIL_PIECE are intact at the libtorrent seeder.
    let evil_head = s.evil_data[..(EVIL_PIECE * PIECE) as usize].to_vec();
    let t = std::thread::spawn(move || {
        nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let cfg = RqbitConfig {
                listen: "127.0.0.1".parse().unwrap(),
                ..RqbitConfig::new(data.clone())
            };
            let e = RqbitEngine::start(cfg).await.expect("engine start");
            let opts = AddOptions {
                trackers: vec![],
                peers: vec![],
                metadata_timeout: Duration::from_secs(20),
                fetch_all: false,
            };
            let a = e.add(Source::Path(payload_t), opts.clone()).await.unwrap();
            let b = e.add(Source::Path(evil_t), opts).await.unwrap();
            assert_ne!(a.key, b.key);
            assert_eq!(
                (a.info_hash.as_str(), b.info_hash.as_str()),
                (&*hash_a, &*hash_b)
            );
            assert!(data.join(&hash_a).is_dir() && data.join(&hash_b).is_dir());
            let index = |path: &[&str]| {
                a.files
                    .iter()
                    .find(|f| f.path == path)
                    .unwrap_or_else(|| panic!("{path:?} not in {:?}", a.files))
                    .index
            };
            let (im, ir) = (
                index(&["docs", "deep", "medium-3m.bin"]),
                index(&["readme.txt"]),
            );
            // Whole ranges in 128 KiB reads, as FUSE would ask.
            let read = |key, file, len: usize| {
                let e = &e;
                async move {
                    let deadline = Instant::now() + Duration::from_secs(30);
                    let mut out = Vec::with_capacity(len);
                    while out.len() < len {
                        let n = (len - out.len()).min(128 << 10);
                        let at = out.len() as u64;
                        let v = e
                            .read_at(key, file, at, n, deadline, Access::Random)
                            .await?;
                        assert_eq!(v.len(), n, "short read at {at}");
                        out.extend_from_slice(&v);
                    }
                    Ok::<_, EngineError>(out)
                }
            };
            let t0 = Instant::now();
            let (x, y) = tokio::join!(
                read(a.key, im, medium.len()),
                read(b.key, 0, evil_head.len())
            );
            let (x, y) = (x.unwrap(), y.unwrap());
            eprintln!(
                "one engine, two torrents: {} + {} bytes read concurrently in {:?}",
                x.len(),
                y.len(),
                t0.elapsed()
            );
            assert!(x == medium, "medium-3m.bin differs");
            assert!(y == evil_head, "evil.bin's first pieces differ");
            let (sa, sb) = (e.stats(a.key).unwrap(), e.stats(b.key).unwrap());
            // Per torrent: what each holds of the file read (verified pieces).
            assert_eq!(sa.file_have.get(im), Some(&(medium.len() as u64)), "{sa:?}");
            assert!(sb.file_have[0] >= evil_head.len() as u64, "{sb:?}");
            // Status figures add up: have = the files' progress, fetched across restarts.
            let total: u64 = s_lens.iter().sum();
            assert_eq!(sa.total_bytes, total, "{sa:?}");
            assert!(sa.have_bytes >= medium.len() as u64, "{sa:?}");
            assert!(sa.pieces_have >= medium.len() as u64 / PIECE, "{sa:?}");
            assert!(sa.fetched_bytes + PIECE >= medium.len() as u64, "{sa:?}");
            assert_eq!(sb.total_bytes, EVIL_LEN as u64, "{sb:?}");
            // Removing one torrent leaves the other working.
            e.remove(b.key, false).await.unwrap();
            assert!(matches!(e.stats(b.key), Err(EngineError::NotFound)));
            assert!(
                !data.join(&hash_b).exists(),
                "the removed torrent's data stayed"
            );
            let r = read(a.key, ir, readme.len()).await.unwrap();
            assert!(
                r == readme,
                "readme.txt differs after the other torrent went"
            );
            e.shutdown(false).await;
            assert!(!data.join(&hash_a).exists(), "data stayed after shutdown");
        });
    });
    t.join().expect("the engine thread panicked");
}
