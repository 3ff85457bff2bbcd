//! `fusevol mount` / `fusevol umount` and the `mount.fusevol` entry (mount(8) helper form).
//!
//! Without `-f` the command re-executes itself as a detached daemon and returns only when the
//! mount is ready (or failed). The options string and the resolved credentials travel to the
//! daemon over a pipe on its standard input, never in its argv or environment, so the password
//! is not visible in `ps`; mountinfo shows `//host/share` only.
use super::CliError;
use crate::fuse::attr::Ownership;
use crate::options::{self, CacheMode, CifsOptions, CredentialEnv, Secret, Unc};
use crate::smb::auth::Credentials;
use crate::smb::client::Auth;
use crate::smbfs::{SmbFs, SmbFsConfig};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long the parent waits for the daemon to report the mount ready.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
const HANDOFF_MAGIC: &str = "fusevol-mount-v1";

/// What `fusevol mount` was asked to do. `Debug` redacts the passwords in `options`.
#[derive(Clone)]
pub struct MountRequest {
    pub source: String,
    pub mountpoint: PathBuf,
    pub options: String,
    pub foreground: bool,
    /// `-t`: `cifs`, `smb3` (or `fuse.fusevol` from mount(8)).
    pub fstype: Option<String>,
}

impl std::fmt::Debug for MountRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MountRequest")
            .field("source", &self.source)
            .field("mountpoint", &self.mountpoint)
            .field("options", &options::redact(&self.options))
            .field("foreground", &self.foreground)
            .field("fstype", &self.fstype)
            .finish()
    }
}

/// Decode a mountinfo field: the kernel escapes space, tab, newline and backslash as `\ooo`
/// (three octal digits).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u16, |v, c| v * 8 + u16::from(c - b'0')))
            .and_then(|v| u8::try_from(v).ok());
        match oct {
            Some(v) if b[i] == b'\\' => {
                out.push(v);
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points listed in /proc/self/mountinfo (octal escapes decoded).
pub fn mount_points() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            Some((
                unescape_mountinfo(f.get(4)?),
                f.get(sep + 1)?.to_string(),
                unescape_mountinfo(f.get(sep + 2)?),
            ))
        })
        .collect()
}

fn is_mount_point(p: &Path) -> bool {
    let s = p.to_string_lossy();
    mount_points().iter().any(|(m, _, _)| *m == s)
}

/// True outside any user namespace (uid 0 maps to uid 0 over the whole range).
fn in_initial_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
        .unwrap_or(false)
}

/// Whether fuser will find `fusermount3`: it searches `PATH`, then /sbin and /bin (mount(8)
/// runs helpers with no `PATH` at all).
fn has_fusermount3() -> bool {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("fusermount3").is_file()));
    on_path
        || ["/sbin/fusermount3", "/bin/fusermount3"]
            .iter()
            .any(|p| Path::new(p).is_file())
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Checks that need no network: the options, the UNC, the mount point, `allow_other`.
fn prepare(req: &MountRequest) -> Result<(Unc, CifsOptions, PathBuf), CliError> {
    if let Some(t) = &req.fstype
        && !matches!(
            t.as_str(),
            "cifs" | "smb3" | "smb" | "fuse.fusevol" | "fusevol"
        )
    {
        return Err(CliError::usage(format!(
            "unknown filesystem type '{t}' (use cifs or smb3)"
        )));
    }
    let unc = Unc::parse(&req.source)?;
    let opts = options::parse(&req.options)?;
    let mp = &req.mountpoint;
    let meta = std::fs::metadata(mp).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            CliError::new(format!("mount point '{}' does not exist", mp.display()))
        }
        _ => CliError::new(format!("cannot access mount point '{}': {e}", mp.display())),
    })?;
    if !meta.is_dir() {
        return Err(CliError::new(format!(
            "mount point '{}' is not a directory",
            mp.display()
        )));
    }
    let mp = std::fs::canonicalize(mp)
        .map_err(|e| CliError::new(format!("cannot resolve '{}': {e}", mp.display())))?;
    if is_mount_point(&mp) {
        return Err(CliError::new(format!(
            "mount point '{}' is already a mount point",
            mp.display()
        )));
    }
    if opts.allow_other && !is_root() {
        let conf = std::fs::read_to_string("/etc/fuse.conf").unwrap_or_default();
        if !conf.lines().any(|l| l.trim() == "user_allow_other") {
            return Err(CliError::new(
                "allow_other: only root may use it unless 'user_allow_other' is set in /etc/fuse.conf",
            ));
        }
    }
    Ok((unc, opts, mp))
}

/// `fusevol mount …`.
pub fn mount(req: MountRequest) -> Result<(), CliError> {
    if super::btfs::wants_btfs(&req.source, req.fstype.as_deref()) {
        return super::btfs::mount(req);
    }
    let (unc, opts, mp) = prepare(&req)?;
    for w in &opts.warnings {
        eprintln!("fusevol: warning: {w}");
    }
    let auth = opts.auth(&CredentialEnv::from_process(), &unc.share_unc())?;
    if req.foreground {
        return serve(&unc, &opts, &auth, &mp, || {});
    }
    spawn_daemon(&req, &mp, &auth, READY_TIMEOUT)
}

fn encode_handoff(options: &str, auth: &Auth) -> Result<String, CliError> {
    let field = |k: &str, v: &str| -> Result<String, CliError> {
        if v.contains('\n') {
            return Err(CliError::usage(format!("{k} must not contain a newline")));
        }
        Ok(format!("{k}\t{v}\n"))
    };
    let mut s = format!("{HANDOFF_MAGIC}\n");
    s += &field("opts", options)?;
    match auth {
        Auth::Ntlmv2(c) | Auth::Ntlmv1(c) => {
            s += &field(
                "auth",
                if matches!(auth, Auth::Ntlmv1(_)) {
                    "ntlmv1"
                } else {
                    "ntlmv2"
                },
            )?;
            s += &field("user", c.user())?;
            s += &field("domain", c.domain())?;
            s += &field("password", c.password())?;
        }
        Auth::Anonymous => s += "auth\tanonymous\n",
        Auth::Guest(u) => {
            s += "auth\tguest\n";
            if let Some(u) = u {
                s += &field("user", u)?;
            }
        }
    }
    Ok(s)
}

fn decode_handoff(text: &str) -> Result<(String, Auth), CliError> {
    let bad = || CliError::new("bad hand-off from the mounting process");
    let mut lines = text.lines();
    if lines.next() != Some(HANDOFF_MAGIC) {
        return Err(bad());
    }
    let (mut opts, mut kind, mut user, mut domain, mut pw) = (
        String::new(),
        String::new(),
        None,
        String::new(),
        Secret::default(),
    );
    for l in lines {
        let (k, v) = l.split_once('\t').ok_or_else(bad)?;
        match k {
            "opts" => opts = v.to_string(),
            "auth" => kind = v.to_string(),
            "user" => user = Some(v.to_string()),
            "domain" => domain = v.to_string(),
            "password" => pw = Secret::new(v),
            _ => return Err(bad()),
        }
    }
    let creds = || Credentials::new(user.clone().unwrap_or_default(), &domain, pw.expose());
    let auth = match kind.as_str() {
        "ntlmv2" => Auth::Ntlmv2(creds()),
        "ntlmv1" => Auth::Ntlmv1(creds()),
        "anonymous" => Auth::Anonymous,
        "guest" => Auth::Guest(user.clone()),
        _ => return Err(bad()),
    };
    Ok((opts, auth))
}

/// Start the daemon and wait (at most `ready_timeout`) until it reports the mount ready or
/// failed.
pub(super) fn spawn_daemon(
    req: &MountRequest,
    mp: &Path,
    auth: &Auth,
    ready_timeout: Duration,
) -> Result<(), CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("cannot find my own executable: {e}")))?;
    let verbose = std::env::var_os("FUSEVOL_LOG").is_some();
    let mut cmd = Command::new(exe);
    cmd.arg("mount");
    if let Some(t) = &req.fstype {
        cmd.arg("-t").arg(t);
    }
    let mut child = cmd
        .arg("--daemon-child")
        .arg(&req.source)
        .arg(mp)
        .env_remove("PASSWD")
        .env_remove("PASSWD_FILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(if verbose {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .current_dir("/")
        .spawn()
        .map_err(|e| CliError::new(format!("cannot start the mount daemon: {e}")))?;
    let handoff = encode_handoff(&req.options, auth)?;
    let zeroize = zeroize::Zeroizing::new(handoff);
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(zeroize.as_bytes())
            .map_err(|e| CliError::new(format!("cannot talk to the mount daemon: {e}")))?;
    }
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| CliError::new("no pipe to the daemon"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(ready_timeout) {
        Ok(l) if l.trim_end() == "READY" => Ok(()),
        Ok(l) if l.starts_with("ERROR ") => {
            let rest = l.trim_end().trim_start_matches("ERROR ");
            let (code, msg) = rest.split_once(' ').unwrap_or(("1", rest));
            let _ = child.wait();
            Err(CliError {
                message: msg.to_string(),
                code: code.parse().unwrap_or(1),
            })
        }
        Ok(_) => {
            let status = child.wait().ok();
            Err(CliError::new(format!(
                "the mount daemon exited before the mount was ready ({status:?})"
            )))
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(CliError::new(format!(
                "the mount was not ready within {}s; gave up",
                ready_timeout.as_secs()
            )))
        }
    }
}

/// The daemon side of [`spawn_daemon`]: read the hand-off, mount, report on stdout.
pub fn daemon_child(source: &str, mountpoint: &Path, fstype: Option<&str>) -> Result<(), CliError> {
    // Our own session: the terminal's signals no longer reach us.
    let _ = nix::unistd::setsid();
    let mut text = String::new();
    let _ = std::io::stdin().take(64 * 1024).read_to_string(&mut text);
    let text = zeroize::Zeroizing::new(text);
    let report = |line: String| {
        let mut out = std::io::stdout();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    };
    let result = decode_handoff(&text).and_then(|(options, auth)| {
        if super::btfs::wants_btfs(source, fstype) {
            return super::btfs::daemon_serve(source, mountpoint, &options, || {
                report("READY\n".into())
            });
        }
        let req = MountRequest {
            source: source.to_string(),
            mountpoint: mountpoint.to_path_buf(),
            options,
            foreground: true,
            fstype: None,
        };
        let (unc, opts, mp) = prepare(&req)?;
        serve(&unc, &opts, &auth, &mp, || report("READY\n".into()))
    });
    if let Err(e) = &result {
        report(format!("ERROR {} {}\n", e.code, e.message));
    }
    result
}

fn fs_config(unc: &Unc, o: &CifsOptions) -> SmbFsConfig {
    let uid = o.uid.unwrap_or_else(|| nix::unistd::getuid().as_raw());
    let gid = o.gid.unwrap_or_else(|| nix::unistd::getgid().as_raw());
    let ac = o.actimeo.unwrap_or(Duration::from_secs(1));
    SmbFsConfig {
        root: unc.path.clone(),
        own: Ownership {
            uid,
            gid,
            file_mode: o.file_mode.unwrap_or(0o755) as u16,
            dir_mode: o.dir_mode.unwrap_or(0o755) as u16,
        },
        readonly: o.ro,
        file_ttl: o.acregmax.unwrap_or(ac),
        dir_ttl: o.acdirmax.unwrap_or(ac),
        strictsync: o.strictsync,
        mfsymlinks: o.mfsymlinks,
        mapposix: o.mapposix,
        serverino: o.serverino,
        direct_io: o.cache == CacheMode::None,
        writeback: o.cache == CacheMode::Loose,
        hard: o.hard,
        durable: o.lease,
    }
}

/// A fresh connection, session and tree for a mount whose connection was lost.
/// The same ClientGuid as the first connection, so durable handles with leases can be reclaimed.
async fn reconnect(
    unc: &Unc,
    opts: &CifsOptions,
    auth: &Auth,
    client_guid: [u8; 16],
) -> Result<crate::smb::Tree, crate::smb::Error> {
    let mut cfg = opts
        .client_config(&unc.host, unc.port)
        .map_err(|e| crate::smb::Error::InvalidInput(e.to_string()))?;
    cfg.client_guid = Some(client_guid);
    let client = crate::smb::Client::connect(cfg).await?;
    let session = client.session_setup(auth).await?;
    session.tree_connect(&unc.share).await
}

/// Connect, mount and serve until unmounted (or SIGINT/SIGTERM, which unmount cleanly).
fn serve(
    unc: &Unc,
    opts: &CifsOptions,
    auth: &Auth,
    mp: &Path,
    ready: impl FnOnce(),
) -> Result<(), CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the runtime: {e}")))?;
    let tree = rt.block_on(async {
        let tree = super::smb::connect_as(unc, opts, auth).await?;
        if !unc.path.is_empty() {
            let info = tree
                .stat(&unc.path)
                .await
                .map_err(|e| super::fail("mount", &unc.to_string(), &e))?;
            if !info.is_dir() {
                return Err(CliError::new(format!(
                    "cannot mount '{unc}': not a directory"
                )));
            }
        }
        Ok::<_, CliError>(tree)
    })?;
    let connector: crate::smbfs::Connector = {
        let (unc, opts, auth) = (unc.clone(), opts.clone(), auth.clone());
        let guid = tree.session().client().client_guid();
        std::sync::Arc::new(move || {
            let (unc, opts, auth) = (unc.clone(), opts.clone(), auth.clone());
            Box::pin(async move { reconnect(&unc, &opts, &auth, guid).await })
        })
    };
    let fs = SmbFs::new(
        tree,
        fs_config(unc, opts),
        Some(connector),
        rt.handle().clone(),
    );
    let mut config = fuser::Config::default();
    use fuser::MountOption as M;
    config.mount_options = vec![
        M::FSName(unc.share_unc()),
        M::Subtype("fusevol".into()),
        M::NoDev,
        M::NoSuid,
        if opts.ro { M::RO } else { M::RW },
    ];
    if opts.default_permissions {
        config.mount_options.push(M::DefaultPermissions);
    }
    if opts.allow_other {
        config.acl = fuser::SessionACL::All;
    }
    tracing::debug!(
        root = is_root(),
        init_ns = in_initial_user_namespace(),
        fusermount3 = has_fusermount3(),
        "choosing how to mount"
    );
    if is_root() && in_initial_user_namespace() && has_fusermount3() {
        // As real root, mount through fusermount3 as users do: mountinfo then shows the type as
        // `fuse.fusevol` (fuser's direct mount(2) always says `fuse`), and `auto_unmount` removes
        // the mount if this process ever dies instead of leaving a dead mount point behind.
        // fusermount3 needs allow_root for that; for a root mount it admits the same users.
        config.mount_options.push(M::AutoUnmount);
        if config.acl == fuser::SessionACL::Owner {
            config.acl = fuser::SessionACL::RootAndOwner;
        }
    }
    config.n_threads = Some(2);
    let notifier = fs.notifier_slot();
    let mp_check = mp.to_path_buf();
    fs.set_mounted_check(Box::new(move || is_mount_point(&mp_check)));
    let mut session = fuser::Session::new(fs, mp, &config).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound && !is_root() {
            " (is fusermount3 installed?)"
        } else {
            ""
        };
        CliError::new(format!("cannot mount on '{}': {e}{hint}", mp.display()))
    })?;
    let _ = notifier.set(session.notifier());
    let mut unmounter = session.unmount_callable();
    let auto_unmount = config.mount_options.contains(&M::AutoUnmount);
    let mp_owned = mp.to_path_buf();
    rt.spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("signal received: unmounting");
        if let Err(e) = unmounter.unmount() {
            tracing::warn!(error = %e, "unmount on signal failed");
        }
        if auto_unmount {
            // With auto_unmount fusermount3 unmounts only once we exit, and we exit only once
            // unmounted: as root, unmount ourselves (lazily if the mount is busy).
            use nix::mount::{MntFlags, umount2};
            if umount2(&mp_owned, MntFlags::empty()).is_err() {
                let _ = umount2(&mp_owned, MntFlags::MNT_DETACH);
            }
        }
    });
    ready();
    let r = session.run();
    rt.shutdown_timeout(Duration::from_secs(2));
    r.map_err(|e| CliError::new(format!("FUSE session ended with an error: {e}")))
}

/// `fusevol umount MOUNTPOINT`.
pub fn umount(mountpoint: &Path, lazy: bool) -> Result<(), CliError> {
    let mp = std::fs::canonicalize(mountpoint).unwrap_or_else(|_| mountpoint.to_path_buf());
    if !is_mount_point(&mp) {
        return Err(CliError::new(format!("'{}' is not mounted", mp.display())));
    }
    let busy = |why: &str| {
        CliError::new(format!(
            "cannot unmount '{}': {why}{}",
            mp.display(),
            if lazy {
                ""
            } else {
                " (a program still uses it; `fusevol umount -l` detaches it now)"
            }
        ))
    };
    let out = if is_root() {
        use nix::mount::{MntFlags, umount2};
        let flags = if lazy {
            MntFlags::MNT_DETACH
        } else {
            MntFlags::empty()
        };
        match umount2(&mp, flags) {
            Ok(()) => return Ok(()),
            Err(nix::errno::Errno::EBUSY) => return Err(busy("target is busy")),
            Err(e) => {
                return Err(CliError::new(format!(
                    "cannot unmount '{}': {e}",
                    mp.display()
                )));
            }
        }
    } else {
        let mut c = Command::new("fusermount3");
        c.arg("-u");
        if lazy {
            c.arg("-z");
        }
        c.arg(&mp).output()
    };
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr).trim().to_string();
            if why.contains("busy") {
                Err(busy(&why))
            } else {
                Err(CliError::new(format!(
                    "cannot unmount '{}': {why}",
                    mp.display()
                )))
            }
        }
        Err(e) => Err(CliError::new(format!("cannot run fusermount3: {e}"))),
    }
}

/// mount(8)'s helper calling convention: `SOURCE DIR [-o OPTS] [-n] [-v] [-s] [-f] [-t TYPE]`.
pub fn helper_args(args: &[String]) -> Result<Option<MountRequest>, CliError> {
    let mut pos = Vec::new();
    let mut options = String::new();
    let mut fstype = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-o" => {
                let o = it
                    .next()
                    .ok_or_else(|| CliError::usage("-o needs options"))?;
                if !options.is_empty() {
                    options.push(',');
                }
                options.push_str(o);
            }
            "-t" => fstype = it.next().cloned(),
            "-n" | "-v" | "-s" => {}
            // mount(8): "-f: fake"; do everything but the mount.
            "-f" => return Ok(None),
            s if s.starts_with("-o") => options.push_str(&s[2..]),
            s => pos.push(s.to_string()),
        }
    }
    let [source, dir] = pos.as_slice() else {
        return Err(CliError::usage(
            "usage: mount.fusevol //host/share DIR [-o OPTIONS]",
        ));
    };
    Ok(Some(MountRequest {
        source: source.clone(),
        mountpoint: PathBuf::from(dir),
        options,
        foreground: false,
        fstype,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handoff_round_trip_keeps_secrets_out_of_debug() {
        let auth = Auth::Ntlmv2(Credentials::new("u", "D", "p w,=\tx"));
        let h = encode_handoff("vers=3.0,password=x", &auth).unwrap();
        let (o, a) = decode_handoff(&h).unwrap();
        assert_eq!(o, "vers=3.0,password=x");
        let Auth::Ntlmv2(c) = a else { panic!() };
        assert_eq!((c.user(), c.domain(), c.password()), ("u", "D", "p w,=\tx"));
        assert!(!format!("{c:?}").contains("p w"));
        assert!(decode_handoff("nonsense").is_err());
        assert!(encode_handoff("a\nb", &auth).is_err());
    }

    #[test]
    fn mountinfo_unescape_is_byte_safe() {
        assert_eq!(unescape_mountinfo("/a\\040b\\011c"), "/a b\tc");
        assert_eq!(unescape_mountinfo("/x\\134y"), "/x\\y");
        assert_eq!(
            unescape_mountinfo("/\\777/\\04"),
            "/\\777/\\04",
            "not valid escapes"
        );
        assert_eq!(unescape_mountinfo("/héllo\\040wörld"), "/héllo wörld");
        assert!(mount_points().iter().any(|(m, _, _)| m == "/"));
    }

    #[test]
    fn mount_helper_arguments() {
        let a: Vec<String> = ["//h/s", "/mnt", "-o", "rw,user=x", "-n"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let r = helper_args(&a).unwrap().unwrap();
        assert_eq!(
            (r.source.as_str(), r.options.as_str()),
            ("//h/s", "rw,user=x")
        );
        assert!(
            helper_args(&["//h/s".into(), "/m".into(), "-f".into()])
                .unwrap()
                .is_none()
        );
        assert!(helper_args(&["//h/s".into()]).is_err());
    }

    #[test]
    fn mount_request_debug_redacts_passwords() {
        let r = MountRequest {
            source: "//h/s".into(),
            mountpoint: "/m".into(),
            options: "username=u,password=hunter2,vers=3.0".into(),
            foreground: false,
            fstype: None,
        };
        let d = format!("{r:?}");
        assert!(!d.contains("hunter2") && d.contains("vers=3.0"), "{d}");
    }
}
