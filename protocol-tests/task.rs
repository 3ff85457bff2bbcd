//! `fusevol task up|down|docker-args` against a private loopback smbd and the loopback swarm of
//! `btfs.rs` (opentracker + libtorrent seeder): one task file with a cifs and a btfs volume,
//! files checked through every target, then `down` leaves nothing mounted.
use crate::btfs::Swarm;
use crate::samba::Samba;
use sha2::{Digest, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn fusevol() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fusevol"))
}

fn mounted_under(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

/// Run with a deadline: a hung `up` must fail the test, not hang it.
fn run(args: &[&str], t: Duration) -> Output {
    run_cmd(fusevol(), args, t)
}

/// [`run`] of `cmd` (e.g. fusevol inside the swarm's network namespace).
fn run_cmd(mut cmd: Command, args: &[&str], t: Duration) -> Output {
    let mut child = cmd
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > t {
            let _ = child.kill();
            panic!("fusevol {args:?} did not finish within {t:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Unmounts whatever a failed test left under the state dir.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let mut m = mounted_under(&self.0);
        m.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in m {
            let _ = Command::new("umount").arg("-l").arg(&p).status();
        }
    }
}

fn secret_file(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, body).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// Every process's argv, to check that no secret is in one.
fn all_cmdlines() -> String {
    let mut s = String::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(c) = fs::read(e.path().join("cmdline")) {
            s.push_str(&String::from_utf8_lossy(&c).replace('\0', " "));
            s.push('\n');
        }
    }
    s
}

#[test]
fn task_up_cifs_and_btfs_then_down() {
    // The swarm lives in its own network namespace: smbd and `fusevol task` join it.
    let Some(swarm) = Swarm::get() else { return };
    let Some(srv) = Samba::start_in_netns("default", &swarm.netns) else {
        return;
    };
    let in_ns = || swarm.in_netns(env!("CARGO_BIN_EXE_fusevol"));
    let hello = srv.put_fixture("share", "hello.txt", b"hello from samba\n");
    assert!(hello.exists());
    let dir = std::env::temp_dir().join(format!("fusevol-task-test.{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let sd = dir.join("state");
    let _cleanup = Cleanup(sd.clone());
    secret_file(&dir, "pw", &format!("{}\n", srv.password));
    let task = dir.join("task.yaml");
    fs::write(
        &task,
        format!(
            r#"container:
  image: httpd@sha256:0000
  volumes:
    smb:
      type: cifs
      options: {{share: "127.0.0.1:{port}/share/", username: {user}, password_file: pw, security: ntlmsspi, vers: 3.0}}
    tor:
      type: btfs
      options:
        magnet: "{magnet}"
        listen: 127.0.0.1
        nodht:
        metadata_timeout: 30
        read_timeout: 20
  mounts:
    - smb:/mnt/samba:ro
    - smb:/data
    - tor:/mnt:rw
"#,
            port = srv.port,
            user = srv.user,
            magnet = swarm.magnet_tr(),
        ),
    )
    .unwrap();
    let (t, s) = (task.to_str().unwrap(), sd.to_str().unwrap());
    let t0 = Instant::now();
    let up = run_cmd(
        in_ns(),
        &["task", "up", t, "--state-dir", s],
        Duration::from_secs(90),
    );
    assert!(up.status.success(), "task up: {}", text(&up));
    eprintln!("task up in {:?}:\n{}", t0.elapsed(), text(&up));
    assert!(
        String::from_utf8_lossy(&up.stderr).contains("torrent: mounted read-only"),
        "rw asked of a torrent is warned about: {}",
        text(&up)
    );
    // Each volume mounted once, plus one bind per target.
    let m = mounted_under(&sd);
    assert_eq!(m.len(), 5, "2 volumes + 3 targets: {m:?}");
    assert!(
        !all_cmdlines().contains(&srv.password),
        "the password is in some process's argv"
    );
    let targets = sd.join("targets");
    let ro = targets.join("mnt%2Fsamba");
    let rw = targets.join("data");
    let tor = targets.join("mnt");
    assert_eq!(
        fs::read_to_string(ro.join("hello.txt")).unwrap(),
        "hello from samba\n"
    );
    assert_eq!(
        fs::read_to_string(rw.join("hello.txt")).unwrap(),
        "hello from samba\n"
    );
    // The rw target writes through to the share; the ro one refuses.
    fs::write(rw.join("written.txt"), b"via task\n").unwrap();
    assert_eq!(
        fs::read(srv.share_dir("share").join("written.txt")).unwrap(),
        b"via task\n"
    );
    let e = fs::write(ro.join("nope.txt"), b"x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    let e = fs::write(tor.join("nope.txt"), b"x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{e}");
    for rel in ["readme.txt", "docs/small-100k.bin"] {
        let got = fs::read(tor.join("payload").join(rel)).unwrap();
        assert_eq!(sha(&got), sha(swarm.file(rel)), "{rel}");
    }
    // docker-args: one -v per mount, torrents always ro.
    let da = run(
        &["task", "docker-args", t, "--state-dir", s],
        Duration::from_secs(10),
    );
    assert!(da.status.success(), "{}", text(&da));
    assert_eq!(
        String::from_utf8_lossy(&da.stdout),
        format!(
            "-v {}:/mnt/samba:ro\n-v {}:/data:rw\n-v {}:/mnt:ro\n",
            ro.display(),
            rw.display(),
            tor.display()
        )
    );
    // A second `up` refuses; `down` unmounts everything and removes what it made.
    let again = run_cmd(
        in_ns(),
        &["task", "up", t, "--state-dir", s],
        Duration::from_secs(30),
    );
    assert!(!again.status.success());
    assert!(text(&again).contains("already up"), "{}", text(&again));
    let t0 = Instant::now();
    let down = run(
        &["task", "down", t, "--state-dir", s],
        Duration::from_secs(30),
    );
    assert!(down.status.success(), "task down: {}", text(&down));
    eprintln!("task down in {:?}", t0.elapsed());
    assert_eq!(mounted_under(&sd), Vec::<String>::new());
    assert!(!sd.exists(), "state dir left behind");
    assert!(
        srv.share_dir("share").join("written.txt").exists(),
        "down never deletes data"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn task_up_unwinds_when_a_volume_fails() {
    let Some(srv) = Samba::start("default") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("fusevol-task-fail.{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let sd = dir.join("state");
    let _cleanup = Cleanup(sd.clone());
    let task = dir.join("task.yaml");
    fs::write(
        &task,
        format!(
            r#"container:
  volumes:
    good: {{type: cifs, options: {{share: "127.0.0.1:{port}/share", username: {user}, password: "{pw}"}}}}
    bad: {{type: cifs, options: {{share: "127.0.0.1:{port}/share", username: {user}, password: "wrong-Secret-42"}}}}
  mounts: ["good:/a", "bad:/b"]
"#,
            port = srv.port,
            user = srv.user,
            pw = srv.password,
        ),
    )
    .unwrap();
    let (t, s) = (task.to_str().unwrap(), sd.to_str().unwrap());
    let up = run(
        &["task", "up", t, "--state-dir", s],
        Duration::from_secs(60),
    );
    assert!(!up.status.success());
    let msg = text(&up);
    assert!(msg.contains("volume 'bad'"), "{msg}");
    assert!(
        msg.to_lowercase().contains("logon"),
        "specific error: {msg}"
    );
    assert!(
        !msg.contains("wrong-Secret-42"),
        "secret in the error: {msg}"
    );
    assert_eq!(mounted_under(&sd), Vec::<String>::new(), "unwound");
    // A grammar error names the key and mounts nothing.
    fs::write(&task, "container:\n  volumes: {}\n  mounts: [x:/a]\n").unwrap();
    let up = run(
        &["task", "up", t, "--state-dir", s],
        Duration::from_secs(10),
    );
    assert_eq!(up.status.code(), Some(2));
    assert!(
        text(&up).contains("container.mounts[0]: unknown volume 'x'"),
        "{}",
        text(&up)
    );
    let _ = fs::remove_dir_all(&dir);
}

/// The unprivileged user of the rootless test (created once with useradd).
const UNPRIV: &str = "fusevolt";

fn unpriv_user() -> Option<(u32, u32)> {
    static ONCE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, UNPRIV]).output().ok()?;
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        let st = Command::new("useradd")
            .args(["--system", "--no-create-home", "--home-dir", "/nonexistent"])
            .args(["--shell", "/usr/sbin/nologin", UNPRIV])
            .status()
            .ok()?;
        if !st.success() {
            return None;
        }
    }
    Some((id("-u")?, id("-g")?))
}

fn as_user(args: &[&str]) -> Command {
    let mut c = Command::new("runuser");
    c.args(["-u", UNPRIV, "--"])
        .args(args)
        .env_remove("XDG_RUNTIME_DIR");
    c
}

/// Without root: no bind mounts, so targets are symbolic links to the one volume mount.
#[test]
fn task_up_rootless_links_targets() {
    let Some(srv) = Samba::start("default") else {
        return;
    };
    let Some((uid, gid)) = unpriv_user() else {
        eprintln!("SKIP: cannot create the user {UNPRIV}");
        return;
    };
    srv.put_fixture("share", "hello.txt", b"hello from samba\n");
    let dir = std::env::temp_dir().join(format!("fusevol-task-user.{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    let sd = dir.join("state");
    let _cleanup = Cleanup(sd.clone());
    let pw = secret_file(&dir, "pw", &format!("{}\n", srv.password));
    std::os::unix::fs::chown(&pw, Some(uid), Some(gid)).unwrap();
    // The build may live where that user cannot reach it: use a copy.
    let bin = dir.join("fusevol");
    fs::copy(env!("CARGO_BIN_EXE_fusevol"), &bin).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let task = dir.join("task.yaml");
    fs::write(
        &task,
        format!(
            "container:\n  volumes:\n    smb:\n      type: cifs\n      options: {{share: \"127.0.0.1:{}/share\", username: {}, password_file: pw}}\n  mounts: [\"smb:/a:ro\", \"smb:/b/c:ro\"]\n",
            srv.port, srv.user
        ),
    )
    .unwrap();
    let (b, t, s) = (
        bin.to_str().unwrap(),
        task.to_str().unwrap(),
        sd.to_str().unwrap(),
    );
    let up = as_user(&[b, "task", "up", t, "--state-dir", s])
        .output()
        .unwrap();
    assert!(up.status.success(), "task up as {UNPRIV}: {}", text(&up));
    let m = mounted_under(&sd);
    assert_eq!(m.len(), 1, "one volume mount, no binds: {m:?}");
    for target in ["a", "b%2Fc"] {
        let p = sd.join("targets").join(target);
        assert!(
            fs::symlink_metadata(&p).unwrap().file_type().is_symlink(),
            "{target}"
        );
        let cat = as_user(&["cat", p.join("hello.txt").to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&cat.stdout),
            "hello from samba\n",
            "{}",
            text(&cat)
        );
    }
    // Every target was ro: the volume itself is read-only.
    let w = as_user(&["touch", sd.join("targets/a/new.txt").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!w.status.success());
    assert!(text(&w).contains("Read-only"), "{}", text(&w));
    let down = as_user(&[b, "task", "down", t, "--state-dir", s])
        .output()
        .unwrap();
    assert!(down.status.success(), "task down: {}", text(&down));
    let t0 = Instant::now();
    while !mounted_under(&sd).is_empty() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(mounted_under(&sd), Vec::<String>::new());
    assert!(!sd.exists(), "state dir left behind");
    let _ = fs::remove_dir_all(&dir);
}
