//! `fusevol docker-plugin [--socket PATH] [--state-dir DIR]`: a legacy (socket-discovered)
//! Docker volume plugin. Docker finds it by the socket's name (`/run/docker/plugins/NAME.sock`
//! → driver `NAME`); see [`crate::docker`] for the protocol semantics.
//!
//! Volumes are mounted with `fusevol mount`'s daemon hand-off (secrets over a pipe, never in
//! argv), with `allow_other` (and `default_permissions` for shares) so that containers running
//! as any user can read them. A Mount answers within [`MOUNT_DEADLINE`] (Docker gives up at
//! 120 s and then never sends the Unmount): a mount that completes after that is rolled back.
//! The mount daemons outlive the plugin; a restarted plugin re-adopts them.
use super::CliError;
use super::mount::{MountRequest, mount_points};
use crate::docker::http::{read_request, write_response};
use crate::docker::{Driver, MountState, Mounter};
use crate::task::{Kind, VolumeSpec};
use std::collections::HashSet;
use std::io::BufReader;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const DEFAULT_SOCKET: &str = "/run/docker/plugins/fusevol.sock";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/fusevol/docker";
/// A Mount call answers within this time (Docker's own limit is 120 s).
pub const MOUNT_DEADLINE: Duration = Duration::from_secs(60);
/// Most connections served at once.
const MAX_CONNECTIONS: usize = 64;
/// An idle connection is closed after this (dockerd keeps idle ones for 90 s).
const IDLE: Duration = Duration::from_secs(120);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn is_mounted(mp: &Path) -> bool {
    let s = mp.to_string_lossy();
    mount_points().iter().any(|(m, _, _)| *m == s)
}

/// Unmount `mp`, lazily if it is busy or dead.
fn unmount_path(mp: &Path) -> Result<(), String> {
    use nix::mount::{MntFlags, umount2};
    if !is_mounted(mp) {
        return Ok(());
    }
    let r = umount2(mp, MntFlags::empty())
        .or_else(|_| umount2(mp, MntFlags::MNT_DETACH))
        .map_err(|e| e.to_string());
    let r = match r {
        Ok(()) => Ok(()),
        Err(_) => std::process::Command::new("fusermount3")
            .arg("-uz")
            .arg(mp)
            .output()
            .map_err(|e| format!("cannot run fusermount3: {e}"))
            .and_then(|o| {
                if o.status.success() {
                    Ok(())
                } else {
                    Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
                }
            }),
    };
    let t0 = Instant::now();
    while is_mounted(mp) && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    r
}

/// Result slot shared between a Mount call and the thread doing the mount.
#[derive(Default)]
struct Slot {
    result: Option<Result<(), String>>,
    abandoned: bool,
}

/// Mounts through `fusevol mount`'s code path (a daemon child per volume).
pub struct RealMounter {
    inflight: Arc<Mutex<HashSet<PathBuf>>>,
    deadline: Duration,
}

impl RealMounter {
    pub fn new(deadline: Duration) -> Self {
        Self {
            inflight: Arc::default(),
            deadline,
        }
    }
}

impl Mounter for RealMounter {
    fn mount(&self, spec: &VolumeSpec, mp: &Path) -> Result<(), String> {
        let mut extra = vec!["allow_other"];
        match spec.kind {
            Kind::Cifs => extra.push("default_permissions"),
            // The metadata must come well before the deadline, so that the error says so.
            Kind::Btfs => extra.push("metadata_timeout=40"),
        }
        let options = spec.mount_options(&extra).map_err(|e| e.to_string())?;
        let req = MountRequest {
            source: spec.source.clone(),
            mountpoint: mp.to_path_buf(),
            options: options.expose().to_string(),
            foreground: false,
            fstype: Some(spec.kind.fstype().to_string()),
        };
        drop(options);
        if !lock(&self.inflight).insert(mp.to_path_buf()) {
            return Err("an earlier mount of this volume is still being set up".into());
        }
        let slot = Arc::new((Mutex::new(Slot::default()), Condvar::new()));
        let (slot2, inflight, mp2) = (slot.clone(), self.inflight.clone(), mp.to_path_buf());
        std::thread::spawn(move || {
            let r = super::mount::mount(req).map_err(|e| e.message);
            let (m, cv) = &*slot2;
            let mut s = lock(m);
            if s.abandoned {
                if r.is_ok() {
                    tracing::warn!(mountpoint = %mp2.display(), "mount finished after the deadline; rolling it back");
                    let _ = unmount_path(&mp2);
                }
            } else {
                s.result = Some(r);
                cv.notify_all();
            }
            drop(s);
            lock(&inflight).remove(&mp2);
        });
        let (m, cv) = &*slot;
        let (mut s, _) = cv
            .wait_timeout_while(lock(m), self.deadline, |s| s.result.is_none())
            .unwrap_or_else(|e| e.into_inner());
        match s.result.take() {
            Some(r) => r,
            None => {
                s.abandoned = true;
                Err(format!(
                    "the mount was not ready within {} s (server unreachable or too slow?)",
                    self.deadline.as_secs()
                ))
            }
        }
    }

    fn unmount(&self, mp: &Path) -> Result<(), String> {
        unmount_path(mp)
    }

    fn state(&self, mp: &Path) -> MountState {
        if !is_mounted(mp) {
            return MountState::NotMounted;
        }
        // stat on a thread: a hung FUSE daemon must not hang the plugin.
        let (tx, rx) = std::sync::mpsc::channel();
        let p = mp.to_path_buf();
        std::thread::spawn(move || {
            let _ = tx.send(std::fs::metadata(&p).err().and_then(|e| e.raw_os_error()));
        });
        match rx.recv_timeout(Duration::from_secs(3)) {
            Ok(Some(e)) if e == libc::ENOTCONN => MountState::Dead,
            _ => MountState::Live,
        }
    }
}

/// Reap our mount daemons once they exit (they are our children until then): only zombie
/// children named `fusevol`, so that no other child's exit status is taken.
fn reap_daemons() {
    let me = std::process::id().to_string();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid …; comm may contain spaces and parentheses.
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let comm = stat
            .get(stat.find('(').map_or(0, |i| i + 1)..close)
            .unwrap_or("");
        let mut rest = stat[close + 1..].split_whitespace();
        let (state, ppid) = (rest.next(), rest.next());
        if comm == "fusevol" && state == Some("Z") && ppid == Some(me.as_str()) {
            let _ = nix::sys::wait::waitpid(
                nix::unistd::Pid::from_raw(pid),
                Some(nix::sys::wait::WaitPidFlag::WNOHANG),
            );
        }
    }
}

fn serve_connection<M: Mounter>(stream: UnixStream, driver: &Driver<M>) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        match read_request(&mut reader) {
            Ok(None) => return,
            Err(e) => {
                let body = serde_json::json!({ "Err": e.why }).to_string();
                let _ = write_response(&mut out, e.status, body.as_bytes(), true);
                return;
            }
            Ok(Some(req)) => {
                let (status, body) = if req.method == "POST" {
                    driver.handle(&req.path, &req.body)
                } else {
                    (405, serde_json::json!({ "Err": "use POST" }))
                };
                tracing::debug!(path = %req.path, status, "call");
                if write_response(&mut out, status, body.to_string().as_bytes(), req.close).is_err()
                    || req.close
                {
                    return;
                }
            }
        }
    }
}

/// Bind the socket: refuse if another process serves it, replace a stale one.
fn bind(socket: &Path) -> Result<UnixListener, CliError> {
    if let Some(parent) = socket.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| CliError::new(format!("cannot create '{}': {e}", parent.display())))?;
    }
    if socket.exists() {
        if UnixStream::connect(socket).is_ok() {
            return Err(CliError::new(format!(
                "another plugin is already serving '{}'",
                socket.display()
            )));
        }
        let _ = std::fs::remove_file(socket);
    }
    let l = UnixListener::bind(socket)
        .map_err(|e| CliError::new(format!("cannot listen on '{}': {e}", socket.display())))?;
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660));
    Ok(l)
}

/// `fusevol docker-plugin`: serve until SIGINT/SIGTERM (which remove the socket; the mounts
/// stay and are re-adopted at the next start).
pub fn docker_plugin(socket: &Path, state_dir: &Path) -> Result<(), CliError> {
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "fusevol: warning: not root: Docker's plugin directory and allow_other mounts usually need it"
        );
    }
    let driver = Arc::new(
        Driver::open(state_dir, RealMounter::new(MOUNT_DEADLINE))
            .map_err(|e| CliError::new(format!("cannot open the state dir: {e}")))?,
    );
    let listener = bind(socket)?;
    let sock = socket.to_path_buf();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
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
        });
        tracing::info!("signal received: stopping (mounts stay)");
        let _ = std::fs::remove_file(&sock);
        std::process::exit(0);
    });
    std::thread::spawn(|| {
        loop {
            std::thread::sleep(Duration::from_secs(2));
            reap_daemons();
        }
    });
    eprintln!(
        "fusevol: docker volume plugin on {} (state in {})",
        socket.display(),
        state_dir.display()
    );
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            tracing::warn!("too many connections; dropping one");
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (d, a) = (driver.clone(), active.clone());
        std::thread::spawn(move || {
            serve_connection(stream, &d);
            a.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(())
}
