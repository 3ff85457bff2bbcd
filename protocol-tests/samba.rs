//! Live-server harness: a private Samba `smbd` per test, on a free 127.0.0.1 port, all state in
//! one temp dir (`samba-docker/native.sh`; variants in `samba-docker/variants/`).
//!
//! ```ignore
//! let Some(srv) = samba::Samba::start("sign-gmac") else { return }; // SKIP when no Samba/root
//! std::fs::write(srv.share_dir("share").join("a.txt"), b"hello").unwrap();
//! srv.chown_to_user(&srv.share_dir("share").join("a.txt"));
//! // connect to 127.0.0.1:srv.port as srv.user / srv.password / srv.domain ...
//! ```
//!
//! Environment: `FUSEVOL_REQUIRE_SAMBA=1` turns a skip into a panic (CI sets it);
//! `FUSEVOL_KEEP_SAMBA=1` keeps the state dirs (smb.conf, logs, shares) after the test.
#![allow(dead_code)]

use std::fs;
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, chown, lchown};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Once, OnceLock};

/// Every variant `Samba::start` accepts (one `samba-docker/variants/NAME.conf` each).
pub const VARIANTS: &[&str] = &[
    "default",
    "smb2_02",
    "smb2_10",
    "smb3_00",
    "smb3_02",
    "smb3_11",
    "sign-hmac",
    "sign-cmac",
    "sign-gmac",
    "sign-cmac311",
    "sign-hmac311",
    "encrypt-aes128ccm",
    "encrypt-aes128gcm",
    "encrypt-aes256ccm",
    "encrypt-aes256gcm",
    "encrypt-smb30",
    "ntlmv1",
    "guest",
];

/// Shares every instance exports: `share` (rw, test user only), `ro` (read-only), `public`
/// (guest ok; reachable without a password only in the `guest` variant), `secret` (per-share
/// `smb encrypt = required`: refused to unencrypted sessions).
pub const SHARES: &[&str] = &["share", "ro", "public", "secret"];

/// The only address the servers listen on.
pub const HOST: &str = "127.0.0.1";

/// Ports are taken from [PORT_LO, PORT_LO + PORT_SPAN): below Linux's ephemeral range, so that
/// outgoing connections never hold them.
const PORT_LO: u32 = 20000;
const PORT_SPAN: u32 = 12000;
/// `native.sh start` exit status meaning "that port is taken, try another".
const EXIT_PORT_BUSY: i32 = 3;
const START_ATTEMPTS: u32 = 10;

/// A running private smbd. Stopped (and its state dir removed unless `FUSEVOL_KEEP_SAMBA=1`) on
/// drop.
pub struct Samba {
    pub variant: String,
    pub port: u16,
    pub state_dir: PathBuf,
    pub user: String,
    pub password: String,
    pub domain: String,
    /// mount.cifs format (`username=`, `password=`, `domain=`), mode 0600.
    pub creds_file: PathBuf,
    /// Pid of the main smbd process.
    pub pid: u32,
    /// Unix uid/gid of `user` (owner of the share directories).
    pub uid: u32,
    pub gid: u32,
    stopped: bool,
}

impl Samba {
    /// Starts a private smbd of that variant on a free loopback port via samba-docker/native.sh.
    /// Returns None (after printing "SKIP: <reason>" to stderr) when smbd is not installed or we
    /// are not root, unless the env var FUSEVOL_REQUIRE_SAMBA=1 is set, in which case it panics
    /// with the reason (CI sets it, so a missing Samba fails CI instead of silently skipping).
    /// Any other failure to start panics with native.sh's output (the log tail).
    pub fn start(variant: &str) -> Option<Samba> {
        Samba::start_in(variant, None)
    }

    /// [`Samba::start`] inside the network namespace `netns` (a `/proc/PID/ns/net` path), for
    /// tests whose other peers live there (the torrent swarm); its clients must join it too.
    pub fn start_in_netns(variant: &str, netns: &Path) -> Option<Samba> {
        Samba::start_in(variant, Some(netns))
    }

    fn start_in(variant: &str, netns: Option<&Path>) -> Option<Samba> {
        if let Some(reason) = unavailable_reason() {
            if env_flag("FUSEVOL_REQUIRE_SAMBA") {
                panic!("Samba is required (FUSEVOL_REQUIRE_SAMBA=1) but {reason}");
            }
            eprintln!("SKIP: {reason}");
            return None;
        }
        assert!(
            VARIANTS.contains(&variant),
            "unknown Samba variant {variant:?} (known: {VARIANTS:?})"
        );
        reap_stale_instances();

        let mut last_err = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = next_free_port();
            let state_dir = new_state_dir(variant);
            let args = ["start", variant, path_str(&state_dir), &port.to_string()];
            let out = match netns {
                None => native(&args),
                Some(ns) => native_in(ns, &args),
            };
            match out.status.code() {
                Some(0) => return Some(Samba::from_summary(variant, state_dir, &out)),
                Some(EXIT_PORT_BUSY) => {
                    last_err =
                        format!("port {port} busy: {}", String::from_utf8_lossy(&out.stderr));
                    let _ = fs::remove_dir_all(&state_dir);
                }
                _ => {
                    // Keep the state dir: its log/ explains the failure.
                    panic!(
                        "native.sh start {variant} {} {port} failed ({}):\n{}{}",
                        state_dir.display(),
                        out.status,
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            }
        }
        panic!("could not start Samba {variant} after {START_ATTEMPTS} attempts: {last_err}");
    }

    fn from_summary(variant: &str, state_dir: PathBuf, out: &Output) -> Samba {
        match Samba::parse_summary(variant, &state_dir, out) {
            Ok(srv) => srv,
            Err(e) => {
                let _ = native(&["stop", path_str(&state_dir)]);
                panic!("native.sh start {variant}: {e}");
            }
        }
    }

    fn parse_summary(variant: &str, state_dir: &Path, out: &Output) -> Result<Samba, String> {
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout
            .lines()
            .rev()
            .find(|l| l.starts_with("port="))
            .ok_or_else(|| format!("no summary line in its output:\n{stdout}"))?;
        let field = |key: &str| -> Result<String, String> {
            let prefix = format!("{key}=");
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(prefix.as_str()))
                .map(str::to_string)
                .ok_or_else(|| format!("no {key}= in the summary: {line}"))
        };
        let creds_file = PathBuf::from(field("creds")?);
        let creds = fs::read_to_string(&creds_file)
            .map_err(|e| format!("reading {}: {e}", creds_file.display()))?;
        let cred = |key: &str| -> Result<String, String> {
            let prefix = format!("{key}=");
            creds
                .lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .map(str::to_string)
                .ok_or_else(|| format!("no {key}= in {}", creds_file.display()))
        };
        let user = cred("username")?;
        if user != field("user")? {
            return Err(format!(
                "creds user {user} differs from the summary: {line}"
            ));
        }
        let (uid, gid) = lookup_user(&user);
        Ok(Samba {
            variant: variant.to_string(),
            port: field("port")?.parse().map_err(|e| format!("port: {e}"))?,
            pid: field("pid")?.parse().map_err(|e| format!("pid: {e}"))?,
            state_dir: state_dir.to_path_buf(),
            password: cred("password")?,
            domain: cred("domain")?,
            user,
            creds_file,
            uid,
            gid,
            stopped: false,
        })
    }

    /// Backing directory of a share (to put fixtures in / check results on the server side).
    pub fn share_dir(&self, share: &str) -> PathBuf {
        assert!(
            SHARES.contains(&share),
            "unknown share {share:?} (known: {SHARES:?})"
        );
        self.state_dir.join("shares").join(share)
    }

    /// Gives `path` (recursively, if a directory; symlinks themselves, not their targets) to the
    /// test user, so that smbd (which runs as that user, `force user`) may read and change it.
    pub fn chown_to_user(&self, path: &Path) {
        fn walk(p: &Path, uid: u32, gid: u32) {
            let md = fs::symlink_metadata(p)
                .unwrap_or_else(|e| panic!("chown_to_user {}: {e}", p.display()));
            if md.file_type().is_symlink() {
                lchown(p, Some(uid), Some(gid))
            } else {
                chown(p, Some(uid), Some(gid))
            }
            .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
            if md.is_dir() {
                let entries =
                    fs::read_dir(p).unwrap_or_else(|e| panic!("read_dir {}: {e}", p.display()));
                for e in entries {
                    walk(&e.expect("read_dir entry").path(), uid, gid);
                }
            }
        }
        walk(path, self.uid, self.gid);
    }

    /// Writes `data` to `share_dir(share)/rel` (creating parent dirs) owned by the test user.
    pub fn put_fixture(&self, share: &str, rel: &str, data: &[u8]) -> PathBuf {
        let root = self.share_dir(share);
        assert!(
            Path::new(rel)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
            "fixture path {rel:?} must be relative, without '..'"
        );
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create fixture dir");
        }
        fs::write(&path, data).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        // Chown every created directory between the share root and the file, and the file.
        let mut p = path.as_path();
        while p != root {
            self.chown_to_user_single(p);
            p = p.parent().expect("fixture path below the share");
        }
        path
    }

    fn chown_to_user_single(&self, p: &Path) {
        lchown(p, Some(self.uid), Some(self.gid))
            .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
    }

    /// `//127.0.0.1/SHARE`.
    pub fn unc(&self, share: &str) -> String {
        format!("//{HOST}/{share}")
    }

    /// mount.cifs-style options that reach this server: `port=P,credentials=FILE`.
    pub fn mount_options(&self) -> String {
        format!(
            "port={},credentials={}",
            self.port,
            self.creds_file.display()
        )
    }

    /// Runs `smbclient //127.0.0.1/SHARE -p PORT -A CREDS EXTRA... -c COMMANDS` (30 s limit).
    /// smbclient negotiates whatever the variant pins and encrypts when the server requires it.
    pub fn smbclient(&self, share: &str, extra: &[&str], commands: &str) -> Output {
        let port = self.port.to_string();
        let mut cmd = Command::new("timeout");
        cmd.args(["30", "smbclient", &self.unc(share), "-p", &port, "-A"])
            .arg(&self.creds_file)
            .args(extra)
            .args(["-c", commands])
            .stdin(Stdio::null());
        cmd.output().expect("running smbclient")
    }

    /// Smoke check of this instance with smbclient: a fixture put in the backing dir of `share`
    /// reads back identically over SMB, and a file put over SMB lands in the backing dir owned by
    /// the test user. Err carries smbclient's output and the smbd log tail.
    pub fn smoke(&self) -> Result<(), String> {
        let payload: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let fixture = self.put_fixture("share", "smoke/in.bin", &payload);
        let back = self.state_dir.join("smoke-back.bin");
        let up = self.state_dir.join("smoke-up.bin");
        fs::write(&up, &payload).map_err(|e| e.to_string())?;
        let cmds = format!(
            "get smoke\\in.bin {}; put {} smoke\\up.bin",
            path_str(&back),
            path_str(&up)
        );
        let out = self.smbclient("share", &[], &cmds);
        let fail = |what: &str| {
            format!(
                "smoke {} ({}): {what}\nsmbclient {}:\n{}{}\nlog tail:\n{}",
                self.variant,
                self.port,
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_tail(20)
            )
        };
        if !out.status.success() {
            return Err(fail("smbclient failed"));
        }
        if fs::read(&back).ok().as_deref() != Some(&payload[..]) {
            return Err(fail("file read over SMB differs from the fixture"));
        }
        let landed = fixture.with_file_name("up.bin");
        match fs::metadata(&landed) {
            Ok(md)
                if md.uid() == self.uid
                    && fs::read(&landed).ok().as_deref() == Some(&payload[..]) => {}
            Ok(md) => return Err(fail(&format!("uploaded file wrong (uid {})", md.uid()))),
            Err(e) => return Err(fail(&format!("uploaded file missing: {e}"))),
        }
        let _ = fs::remove_file(back);
        let _ = fs::remove_file(up);
        let _ = fs::remove_dir_all(fixture.parent().expect("smoke dir"));
        Ok(())
    }

    /// The last `lines` lines of smbd's logs (for failure messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        let Ok(entries) = fs::read_dir(self.state_dir.join("log")) else {
            return out;
        };
        let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for f in files {
            let text = fs::read_to_string(&f).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            if all.is_empty() {
                continue;
            }
            out.push_str(&format!("==> {} <==\n", f.display()));
            for l in &all[all.len().saturating_sub(lines)..] {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }

    /// Stops smbd now (also done on drop). Idempotent.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let out = native(&["stop", path_str(&self.state_dir)]);
        if !out.status.success() {
            eprintln!(
                "native.sh stop {} failed ({}): {}",
                self.state_dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

impl Drop for Samba {
    fn drop(&mut self) {
        self.stop();
        if env_flag("FUSEVOL_KEEP_SAMBA") {
            eprintln!("FUSEVOL_KEEP_SAMBA: kept {}", self.state_dir.display());
        } else if let Err(e) = fs::remove_dir_all(&self.state_dir) {
            eprintln!("removing {}: {e}", self.state_dir.display());
        }
    }
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn native_sh() -> PathBuf {
    repo_root().join("samba-docker").join("native.sh")
}

fn native(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(native_sh())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running samba-docker/native.sh")
}

/// `native.sh` run by `nsenter --net=NETNS` (smbd and its port checks inside that namespace).
fn native_in(netns: &Path, args: &[&str]) -> Output {
    Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .arg("--")
        .arg("bash")
        .arg(native_sh())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running samba-docker/native.sh in a network namespace")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("non-UTF-8 path")
}

/// Why live-server tests cannot run here, if they cannot.
fn unavailable_reason() -> Option<String> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON
        .get_or_init(|| {
            if effective_uid() != Some(0) {
                return Some("live Samba tests need root (they add a user and run smbd)".into());
            }
            for (tool, pkg) in [
                ("smbd", "samba"),
                ("smbpasswd", "samba-common-bin"),
                ("ss", "iproute2"),
                ("bash", "bash"),
            ] {
                if find_in_path(tool).is_none() {
                    return Some(format!("{tool} is not installed (apt-get install {pkg})"));
                }
            }
            if !native_sh().is_file() {
                return Some(format!("{} is missing", native_sh().display()));
            }
            None
        })
        .clone()
}

fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn find_in_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// uid and gid of a local user, from /etc/passwd (falls back to `id`).
fn lookup_user(user: &str) -> (u32, u32) {
    if let Ok(passwd) = fs::read_to_string("/etc/passwd") {
        for line in passwd.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 4
                && f[0] == user
                && let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse())
            {
                return (uid, gid);
            }
        }
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, user])
            .output()
            .expect("running id");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no local user {user}"))
    };
    (id("-u"), id("-g"))
}

/// A free port on 127.0.0.1: a process-wide counter walks the range from a pid-derived start
/// (so concurrent test processes start far apart); each candidate must be bindable right now.
/// native.sh reports a port lost to a race afterwards (exit 3) and `start` retries.
fn next_free_port() -> u16 {
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let next =
        NEXT.get_or_init(|| AtomicU32::new(std::process::id().wrapping_mul(7919) % PORT_SPAN));
    for _ in 0..PORT_SPAN {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(PORT_LO + n % PORT_SPAN).expect("port range fits u16");
        match TcpListener::bind((HOST, port)) {
            Ok(l) => {
                drop(l);
                return port;
            }
            Err(e)
                if e.kind() == ErrorKind::AddrInUse || e.kind() == ErrorKind::PermissionDenied => {}
            Err(e) => panic!("probing 127.0.0.1:{port}: {e}"),
        }
    }
    panic!("no free port in {PORT_LO}..{}", PORT_LO + PORT_SPAN);
}

const STATE_PREFIX: &str = "fusevol-pt-";

/// `$TMPDIR/fusevol-pt-PID-N-VARIANT`, fresh and empty.
fn new_state_dir(variant: &str) -> PathBuf {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "{STATE_PREFIX}{}-{n}-{variant}",
        std::process::id()
    ));
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => panic!("removing old {}: {e}", dir.display()),
    }
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// Once per process: stop and remove instances left by test processes that died without
/// dropping their `Samba` (killed, aborted). Instances of live processes are left alone.
fn reap_stale_instances() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(STATE_PREFIX)) else {
                continue;
            };
            let Some(owner) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if owner == std::process::id() || Path::new(&format!("/proc/{owner}")).exists() {
                continue;
            }
            if env_flag("FUSEVOL_KEEP_SAMBA") && !e.path().join("smbd.pid").exists() {
                continue; // a kept, already stopped instance: leave it for inspection
            }
            let dir = e.path();
            let _ = native(&["stop", path_str(&dir)]);
            if !env_flag("FUSEVOL_KEEP_SAMBA") {
                let _ = fs::remove_dir_all(&dir);
            }
        }
    });
}
