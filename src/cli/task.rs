//! `fusevol task up|down|docker-args TASK.yaml`: mount the volumes a task file describes (see
//! [`crate::task::file`] for the grammar), with the same mount code as `fusevol mount`.
//!
//! Layout under the task's state dir (`--state-dir`, default `/run/fusevol/tasks/<hash>` as
//! root, `$XDG_RUNTIME_DIR/fusevol/tasks/<hash>` otherwise, `<hash>` from the task file's
//! absolute path):
//!
//! - `volumes/<name>`: each volume mounted once (a mount daemon each, as `fusevol mount`);
//! - `targets/<target>` (`/mnt/samba` → `mnt%2Fsamba`): one per `mounts` entry. As root a bind
//!   mount of the volume, remounted read-only for `ro` entries; without root (no bind mounts)
//!   a symbolic link to the volume, so `ro` is then enforced only if every entry of that volume
//!   is `ro` (the volume itself is then mounted read-only), and the consumer (e.g. Docker's
//!   `-v …:ro`) must enforce the rest.
//!
//! `up` returns once every target is a readable directory, or unwinds everything it made.
//! `down` unmounts everything under the state dir and removes the directories and links it
//! made (never a regular file). `docker-args` prints `-v TARGET_DIR:TARGET:MODE` lines for
//! `docker run`.
use super::CliError;
use super::mount::{MountRequest, mount_points};
use crate::task::file::{Task, target_dir_name};
use crate::task::{Kind, VolumeSpec};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a target may take to list after its mount reported ready.
const READY_WAIT: Duration = Duration::from_secs(20);
/// How long `down` waits for unmounts to show in mountinfo.
const DOWN_WAIT: Duration = Duration::from_secs(10);

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The task file's absolute path (canonical when it exists, so that `down` after an edit or a
/// `cd` finds the same state dir).
fn task_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    })
}

/// The default parent of per-task state dirs.
fn state_base() -> PathBuf {
    if is_root() {
        return PathBuf::from("/run/fusevol/tasks");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d).join("fusevol/tasks"),
        _ => std::env::temp_dir().join(format!("fusevol-{}/tasks", nix::unistd::getuid().as_raw())),
    }
}

/// The state dir of a task: `--state-dir`, or `<base>/<16 hex digits of sha256(path)>`.
pub fn state_dir(task: &Path, explicit: Option<&Path>) -> PathBuf {
    if let Some(d) = explicit {
        return d.to_path_buf();
    }
    let h = Sha256::digest(task_path(task).as_os_str().as_encoded_bytes());
    let hex: String = h.iter().take(8).map(|b| format!("{b:02x}")).collect();
    state_base().join(hex)
}

fn load(path: &Path) -> Result<Task, CliError> {
    Task::load(path).map_err(|e| CliError::usage(format!("{}: {e}", path.display())))
}

/// Mount points strictly below `dir`, deepest first.
fn mounted_under(dir: &Path) -> Vec<PathBuf> {
    let prefix = format!("{}/", dir.to_string_lossy().trim_end_matches('/'));
    let mut v: Vec<PathBuf> = mount_points()
        .into_iter()
        .filter(|(m, _, _)| m.starts_with(&prefix))
        .map(|(m, _, _)| PathBuf::from(m))
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    v.dedup();
    v
}

fn allow_other_permitted() -> bool {
    is_root()
        || std::fs::read_to_string("/etc/fuse.conf")
            .unwrap_or_default()
            .lines()
            .any(|l| l.trim() == "user_allow_other")
}

fn mkdir(p: &Path) -> Result<(), CliError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(p)
        .map_err(|e| CliError::new(format!("cannot create '{}': {e}", p.display())))
}

/// Unmount one mount point: a bind (as root) directly, a FUSE mount like `fusevol umount`,
/// lazily if it is busy or dead.
fn unmount(p: &Path) -> Result<(), CliError> {
    use nix::mount::{MntFlags, umount2};
    if is_root() {
        if umount2(p, MntFlags::empty()).is_ok() || umount2(p, MntFlags::MNT_DETACH).is_ok() {
            return Ok(());
        }
        return Err(CliError::new(format!("cannot unmount '{}'", p.display())));
    }
    match super::mount::umount(p, false) {
        Ok(()) => Ok(()),
        Err(e) => {
            let lazy = std::process::Command::new("fusermount3")
                .arg("-uz")
                .arg(p)
                .output();
            match lazy {
                Ok(o) if o.status.success() => Ok(()),
                _ => Err(e),
            }
        }
    }
}

/// Remove the symbolic links and empty directories below `dir` (and `dir` itself if it ends
/// up empty), never following links, never removing a file or anything under a mount point.
fn prune(dir: &Path, mounts: &[PathBuf]) {
    if mounts.iter().any(|m| m == dir) {
        return;
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    let _ = std::fs::remove_file(&p);
                }
                Ok(m) if m.is_dir() => prune(&p, mounts),
                _ => {}
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Everything `up` made so far, undone in reverse on failure.
#[derive(Default)]
struct Made {
    volumes: Vec<PathBuf>,
    binds: Vec<PathBuf>,
    links: Vec<PathBuf>,
}

impl Made {
    fn unwind(&self, sd: &Path) {
        for b in self.binds.iter().rev() {
            let _ = unmount(b);
        }
        for l in &self.links {
            let _ = std::fs::remove_file(l);
        }
        for v in self.volumes.iter().rev() {
            let _ = unmount(v);
        }
        wait_unmounted(sd);
        prune(sd, &mounted_under(sd));
    }
}

fn wait_unmounted(sd: &Path) {
    let t0 = Instant::now();
    while !mounted_under(sd).is_empty() && t0.elapsed() < DOWN_WAIT {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// List `p` on a thread: a hung mount must fail `up`, not hang it.
fn readable_within(p: &Path, t: Duration) -> Result<(), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let p2 = p.to_path_buf();
    std::thread::spawn(move || {
        let r = std::fs::read_dir(&p2).map(|mut d| {
            let _ = d.next();
        });
        let _ = tx.send(r);
    });
    match rx.recv_timeout(t) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {}s", t.as_secs())),
    }
}

/// Make `dst` show the volume mounted on `src`: a bind mount as root (read-only for `ro`),
/// else a symbolic link. Returns whether it is a bind.
fn attach(src: &Path, dst: &Path, ro: bool) -> Result<bool, CliError> {
    use nix::mount::{MsFlags, mount};
    if is_root() {
        mkdir(dst)?;
        let none: Option<&str> = None;
        match mount(Some(src), dst, none, MsFlags::MS_BIND, none) {
            Ok(()) => {
                if ro {
                    let flags = MsFlags::MS_BIND
                        | MsFlags::MS_REMOUNT
                        | MsFlags::MS_RDONLY
                        | MsFlags::MS_NOSUID
                        | MsFlags::MS_NODEV;
                    if let Err(e) = mount(none, dst, none, flags, none) {
                        let _ = nix::mount::umount2(dst, nix::mount::MntFlags::MNT_DETACH);
                        return Err(CliError::new(format!(
                            "cannot make '{}' read-only: {e}",
                            dst.display()
                        )));
                    }
                }
                return Ok(true);
            }
            Err(nix::errno::Errno::EPERM) => {
                // Root in a user namespace without the mount's privileges: fall back to a link.
                let _ = std::fs::remove_dir(dst);
            }
            Err(e) => {
                return Err(CliError::new(format!(
                    "cannot bind '{}' on '{}': {e}",
                    src.display(),
                    dst.display()
                )));
            }
        }
    }
    std::os::unix::fs::symlink(src, dst).map_err(|e| {
        CliError::new(format!(
            "cannot link '{}' to '{}': {e}",
            dst.display(),
            src.display()
        ))
    })?;
    Ok(false)
}

/// The `-o` options a task mount gets on top of its own.
fn extra_options(spec: &VolumeSpec) -> Vec<&'static str> {
    let mut v = Vec::new();
    if allow_other_permitted() {
        // Containers (and other users) read the mount too.
        v.push("allow_other");
        if spec.kind == Kind::Cifs {
            v.push("default_permissions");
        }
    }
    v
}

/// `fusevol task up TASK.yaml`.
pub fn up(path: &Path, state: Option<&Path>) -> Result<(), CliError> {
    let task = load(path)?;
    let abs = task_path(path);
    let base = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
    for name in task.unused() {
        eprintln!("fusevol: warning: volume '{name}' is not used by any mount; skipped");
    }
    let specs = task
        .specs(&base)
        .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
    let sd = state_dir(path, state);
    let already = mounted_under(&sd);
    if !already.is_empty() {
        return Err(CliError::new(format!(
            "task is already up ({} mounts under {}); run 'fusevol task down {}' first",
            already.len(),
            sd.display(),
            path.display()
        )));
    }
    mkdir(&sd.join("volumes"))?;
    mkdir(&sd.join("targets"))?;
    let mut made = Made::default();
    let fail = |made: &Made, msg: String| {
        made.unwind(&sd);
        Err(CliError::new(msg))
    };
    for (name, spec) in &specs {
        for w in &spec.warnings {
            eprintln!("fusevol: warning: {w}");
        }
        let mp = sd.join("volumes").join(name);
        if let Err(e) = mkdir(&mp) {
            return fail(&made, e.message);
        }
        let options = match spec.mount_options(&extra_options(spec)) {
            Ok(o) => o,
            Err(e) => return fail(&made, format!("volume '{name}': {e}")),
        };
        let req = MountRequest {
            source: spec.source.clone(),
            mountpoint: mp.clone(),
            options: options.expose().to_string(),
            foreground: false,
            fstype: Some(spec.kind.fstype().to_string()),
        };
        if let Err(e) = super::mount::mount(req) {
            return fail(&made, format!("volume '{name}': {}", e.message));
        }
        made.volumes.push(mp);
    }
    let mut lines = Vec::new();
    for m in &task.mounts {
        let Some((_, spec)) = specs.iter().find(|(n, _)| *n == m.volume) else {
            continue;
        };
        let src = sd.join("volumes").join(&m.volume);
        let dst = sd.join("targets").join(target_dir_name(&m.target));
        let ro = m.ro || spec.ro;
        match attach(&src, &dst, ro) {
            Ok(true) => made.binds.push(dst.clone()),
            Ok(false) => made.links.push(dst.clone()),
            Err(e) => return fail(&made, e.message),
        }
        lines.push(format!(
            "{}:{}:{} -> {}",
            m.volume,
            m.target,
            if ro { "ro" } else { "rw" },
            dst.display()
        ));
    }
    for m in &task.mounts {
        let dst = sd.join("targets").join(target_dir_name(&m.target));
        if let Err(e) = readable_within(&dst, READY_WAIT) {
            return fail(
                &made,
                format!(
                    "volume '{}' is not readable at '{}': {e}",
                    m.volume,
                    dst.display()
                ),
            );
        }
    }
    for l in lines {
        println!("{l}");
    }
    Ok(())
}

/// `fusevol task down TASK.yaml`: unmount everything under the task's state dir.
pub fn down(path: &Path, state: Option<&Path>) -> Result<(), CliError> {
    let sd = state_dir(path, state);
    if !sd.exists() {
        eprintln!("fusevol: task is not up (no {})", sd.display());
        return Ok(());
    }
    // Targets (binds) first, then the volumes they show.
    let targets = sd.join("targets");
    let all = mounted_under(&sd);
    let (binds, vols): (Vec<&PathBuf>, Vec<&PathBuf>) =
        all.iter().partition(|m| m.starts_with(&targets));
    let mut errors = Vec::new();
    for m in binds.into_iter().chain(vols) {
        if let Err(e) = unmount(m) {
            errors.push(e.message);
        }
    }
    wait_unmounted(&sd);
    let left = mounted_under(&sd);
    prune(&sd, &left);
    if !left.is_empty() {
        let names: Vec<String> = left.iter().map(|p| p.display().to_string()).collect();
        return Err(CliError::new(format!(
            "still mounted: {} ({})",
            names.join(", "),
            errors.join("; ")
        )));
    }
    Ok(())
}

/// `fusevol task docker-args TASK.yaml`: `-v SRC:TARGET:MODE` per mount, one per line.
pub fn docker_args(path: &Path, state: Option<&Path>) -> Result<(), CliError> {
    let task = load(path)?;
    let sd = state_dir(path, state);
    for m in &task.mounts {
        let torrent = task
            .volumes
            .iter()
            .find(|v| v.name == m.volume)
            .is_some_and(|v| Kind::parse(&v.kind) == Ok(Kind::Btfs));
        println!(
            "-v {}:{}:{}",
            sd.join("targets")
                .join(target_dir_name(&m.target))
                .display(),
            m.target,
            if m.ro || torrent { "ro" } else { "rw" }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dirs_are_per_task_and_stable() {
        let a = state_dir(Path::new("/nonexistent/a.yaml"), None);
        let b = state_dir(Path::new("/nonexistent/b.yaml"), None);
        assert_ne!(a, b);
        assert_eq!(a, state_dir(Path::new("/nonexistent/a.yaml"), None));
        assert_eq!(a.file_name().unwrap().len(), 16);
        assert_eq!(
            state_dir(Path::new("x"), Some(Path::new("/s"))),
            PathBuf::from("/s")
        );
    }

    #[test]
    fn prune_keeps_files_and_removes_links_and_empty_dirs() {
        let d = std::env::temp_dir().join(format!("fusevol-prune-test.{}", std::process::id()));
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::create_dir_all(d.join("keep")).unwrap();
        std::fs::write(d.join("keep/file"), b"x").unwrap();
        std::os::unix::fs::symlink(d.join("keep"), d.join("a/link")).unwrap();
        prune(&d, &[]);
        assert!(d.join("keep/file").exists(), "a file is never removed");
        assert!(!d.join("a").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
