//! The Docker volume plugin end to end with a real engine: a private `dockerd` (loopback only:
//! `--iptables=false --ip-forward=false --ip-masq=false --bridge=none`, its own data root, exec
//! root, pidfile and API socket under a temp dir), an image imported from Debian's static
//! busybox (no registry), `fusevol docker-plugin` on `/run/docker/plugins/<name>.sock`, a
//! private loopback smbd and the loopback swarm of `btfs.rs`; containers run with
//! `--network none`.
//!
//! Without `dockerd` (package docker.io) or busybox-static this fails under
//! `FUSEVOL_REQUIRE_SAMBA=1` (CI installs both) and prints SKIP otherwise; if dockerd is there
//! but cannot start on this machine, it prints SKIP with dockerd's log tail.
use crate::btfs::Swarm;
use crate::samba::Samba;
use sha2::{Digest, Sha256};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const APPLETS: &[&str] = &[
    "sh",
    "ls",
    "cat",
    "echo",
    "grep",
    "touch",
    "mkdir",
    "stat",
    "id",
    "sleep",
    "sha256sum",
    "wc",
];

fn required() -> bool {
    std::env::var("FUSEVOL_REQUIRE_SAMBA").is_ok_and(|v| v == "1")
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix) || *m == dir.to_string_lossy())
        .collect()
}

fn tail(p: &Path, n: usize) -> String {
    let t = fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A 64-bit little-endian ELF without a PT_INTERP program header (a static executable).
fn is_static_elf64(b: &[u8]) -> bool {
    let u = |at: usize, n: usize| -> Option<u64> {
        let s = b.get(at..at + n)?;
        Some(s.iter().rev().fold(0u64, |v, x| (v << 8) | u64::from(*x)))
    };
    if b.get(..6) != Some(b"\x7fELF\x02\x01") {
        return false;
    }
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u(0x20, 8), u(0x36, 2), u(0x38, 2)) else {
        return false;
    };
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        usize::try_from(at).ok().and_then(|a| u(a, 4)) != Some(3)
    })
}

/// Wait for `child` at most `t`; kill it after that.
fn wait_output(mut child: Child, t: Duration, what: &str) -> Output {
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > t {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "{what}: no answer within {t:?}\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    child.wait_with_output().unwrap()
}

fn kill_and_wait(pid: i32, t: Duration) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let p = Pid::from_raw(pid);
    let _ = kill(p, Signal::SIGTERM);
    let t0 = Instant::now();
    while kill(p, None).is_ok() && t0.elapsed() < t {
        // Our own child: reap it so that it does not stay a zombie.
        let _ = nix::sys::wait::waitpid(p, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        std::thread::sleep(Duration::from_millis(50));
    }
    if kill(p, None).is_ok() {
        let _ = kill(p, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(p, None);
    }
}

/// A private dockerd, stopped (by pid) and cleaned up on drop.
struct Engine {
    dir: PathBuf,
    host: String,
    dockerd: Option<Child>,
    plugin: Option<Child>,
    plugin_sock: PathBuf,
    plugin_state: PathBuf,
    /// The network namespace the plugin runs in (the swarm's), if not the host's.
    plugin_netns: Option<PathBuf>,
    driver: String,
    image: String,
}

impl Engine {
    /// `Err(reason)` = skip.
    fn start() -> Result<Engine, String> {
        if !nix::unistd::geteuid().is_root() {
            return Err("not root".into());
        }
        let Some(dockerd) = which("dockerd") else {
            return Err("dockerd is not installed (apt-get install docker.io)".into());
        };
        if which("docker").is_none() {
            return Err("the docker CLI is not installed".into());
        }
        let busybox = Path::new("/bin/busybox");
        if !fs::read(busybox).is_ok_and(|b| is_static_elf64(&b)) {
            return Err("no static /bin/busybox (apt-get install busybox-static)".into());
        }
        let id = std::process::id();
        // Short: containerd's socket path below it must fit in sun_path.
        let dir = PathBuf::from(format!("/tmp/fvd.{id}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let host = format!("unix://{}/docker.sock", dir.display());
        let log = fs::File::create(dir.join("dockerd.log")).unwrap();
        let child = Command::new(dockerd)
            .args([
                "--iptables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
            ])
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(&host)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .current_dir(&dir)
            .spawn()
            .map_err(|e| format!("cannot start dockerd: {e}"))?;
        let driver = format!("fvt{id}");
        let mut e = Engine {
            plugin_sock: PathBuf::from(format!("/run/docker/plugins/{driver}.sock")),
            plugin_state: dir.join("plugin"),
            plugin_netns: None,
            dir,
            host,
            dockerd: Some(child),
            plugin: None,
            driver,
            image: format!("fvbbx:{id}"),
        };
        let t0 = Instant::now();
        loop {
            if let Some(Ok(Some(st))) = e.dockerd.as_mut().map(|c| c.try_wait()) {
                return Err(format!(
                    "dockerd exited ({st}):\n{}",
                    tail(&e.dir.join("dockerd.log"), 15)
                ));
            }
            if e.docker(&["version"], Duration::from_secs(10))
                .status
                .success()
            {
                break;
            }
            if t0.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "dockerd did not answer within 30 s:\n{}",
                    tail(&e.dir.join("dockerd.log"), 15)
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("dockerd up in {:?}", t0.elapsed());
        e.import_image()?;
        Ok(e)
    }

    fn docker(&self, args: &[&str], t: Duration) -> Output {
        let child = Command::new("docker")
            .env("DOCKER_HOST", &self.host)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker CLI");
        wait_output(child, t, &format!("docker {args:?}"))
    }

    /// `docker …` that must succeed; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args, Duration::from_secs(90));
        assert!(
            o.status.success(),
            "docker {args:?} failed: {}{}\nplugin log:\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            tail(&self.dir.join("plugin.log"), 20)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn import_image(&self) -> Result<(), String> {
        let root = self.dir.join("rootfs");
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::create_dir_all(root.join("data")).unwrap();
        fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        for a in APPLETS {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
        }
        fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        )
        .unwrap();
        let tar = self.dir.join("rootfs.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success(), "tar");
        let o = self.docker(
            &["import", tar.to_str().unwrap(), &self.image],
            Duration::from_secs(60),
        );
        if !o.status.success() {
            return Err(format!(
                "docker import failed: {}\n{}",
                String::from_utf8_lossy(&o.stderr),
                tail(&self.dir.join("dockerd.log"), 15)
            ));
        }
        Ok(())
    }

    fn start_plugin(&mut self) {
        // Appended to: the log spans plugin restarts (and the mount daemons write to it too).
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("plugin.log"))
            .unwrap();
        let mut cmd = match &self.plugin_netns {
            None => Command::new(env!("CARGO_BIN_EXE_fusevol")),
            Some(ns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", ns.display()))
                    .arg("--")
                    .arg(env!("CARGO_BIN_EXE_fusevol"));
                c
            }
        };
        let child = cmd
            .arg("docker-plugin")
            .arg("--socket")
            .arg(&self.plugin_sock)
            .arg("--state-dir")
            .arg(&self.plugin_state)
            .env("FUSEVOL_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.plugin = Some(child);
        let t0 = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.plugin_sock).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the plugin did not listen: {}",
                tail(&self.dir.join("plugin.log"), 20)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop_plugin(&mut self) {
        if let Some(c) = self.plugin.take() {
            kill_and_wait(c.id() as i32, Duration::from_secs(5));
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut a = vec!["run", "--rm", "--network", "none"];
        a.extend_from_slice(args);
        self.docker(&a, Duration::from_secs(90))
    }

    fn plugin_mounts(&self) -> Vec<String> {
        mounts_under(&self.plugin_state.join("mnt"))
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let ps = self.docker(&["ps", "-aq"], Duration::from_secs(20));
        for id in String::from_utf8_lossy(&ps.stdout).split_whitespace() {
            let _ = self.docker(&["rm", "-f", id], Duration::from_secs(20));
        }
        let vols = self.docker(&["volume", "ls", "-q"], Duration::from_secs(20));
        for v in String::from_utf8_lossy(&vols.stdout).split_whitespace() {
            let _ = self.docker(&["volume", "rm", "-f", v], Duration::from_secs(20));
        }
        self.stop_plugin();
        if let Some(c) = self.dockerd.take() {
            kill_and_wait(c.id() as i32, Duration::from_secs(20));
        }
        let mut left = mounts_under(&self.dir);
        left.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for m in left {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = fs::remove_file(&self.plugin_sock);
        if std::env::var_os("FUSEVOL_KEEP_DOCKER").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn docker_plugin_cifs_and_btfs_volumes_with_a_real_engine() {
    let mut e = match Engine::start() {
        Ok(e) => e,
        Err(reason) => {
            let missing = reason.contains("not installed") || reason.contains("no static");
            if required() && missing {
                panic!("docker tests cannot run: {reason} (FUSEVOL_REQUIRE_SAMBA=1)");
            }
            eprintln!("SKIP: {reason}");
            return;
        }
    };
    // The swarm lives in its own network namespace: smbd and the plugin (with the mount
    // daemons it starts) join it; dockerd reaches the plugin by its unix socket.
    let Some(swarm) = Swarm::get() else { return };
    let Some(srv) = Samba::start_in_netns("default", &swarm.netns) else {
        return;
    };
    srv.put_fixture("share", "hello.txt", b"hello from samba\n");
    e.plugin_netns = Some(swarm.netns.clone());
    e.start_plugin();
    let drv = e.driver.clone();
    let share = format!("share=127.0.0.1:{}/share", srv.port);
    let user = format!("username={}", srv.user);
    let pass = format!("password={}", srv.password);

    // 1. SONM-style names, read-only use; as root and as nobody (allow_other).
    e.ok(&[
        "volume",
        "create",
        "-d",
        &drv,
        "-o",
        "type=cifs",
        "-o",
        &share,
        "-o",
        &user,
        "-o",
        &pass,
        "-o",
        "vers=3.0",
        "vro",
    ]);
    let t0 = Instant::now();
    let o = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "vro:/data:ro",
        &e.image,
        "cat",
        "/data/hello.txt",
    ]);
    eprintln!("docker run cat through the plugin: {:?}", t0.elapsed());
    assert_eq!(o, "hello from samba\n");
    let o = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-u",
        "65534:65534",
        "-v",
        "vro:/data:ro",
        &e.image,
        "cat",
        "/data/hello.txt",
    ]);
    assert_eq!(
        o, "hello from samba\n",
        "a non-root container user reads (allow_other)"
    );
    assert_eq!(
        e.plugin_mounts(),
        Vec::<String>::new(),
        "unmounted after the last container"
    );
    let status = e.ok(&["volume", "inspect", "-f", "{{json .Status}}", "vro"]);
    assert!(status.contains("\"type\":\"cifs\""), "{status}");
    assert!(
        !status.contains(&srv.password),
        "password in Status: {status}"
    );

    // 2. Docker `local` driver syntax, rw: a file written in the container lands on the share.
    let o_opt = format!(
        "o=port={},username={},password={},vers=3.0",
        srv.port, srv.user, srv.password
    );
    e.ok(&[
        "volume",
        "create",
        "-d",
        &drv,
        "-o",
        "type=cifs",
        "-o",
        "device=//127.0.0.1/share",
        "-o",
        &o_opt,
        "vrw",
    ]);
    e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "vrw:/data",
        &e.image,
        "sh",
        "-c",
        "echo from-container > /data/fromctr.txt",
    ]);
    assert_eq!(
        fs::read_to_string(srv.share_dir("share").join("fromctr.txt")).unwrap(),
        "from-container\n"
    );
    // Two containers at once: one FUSE mount, unmounted only after both exit.
    let long = Command::new("docker")
        .env("DOCKER_HOST", &e.host)
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "vrw:/data:nocopy",
            &e.image,
            "sh",
            "-c",
            "cat /data/hello.txt; sleep 4; cat /data/fromctr.txt",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while e.plugin_mounts().is_empty() && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "vrw:/data",
        &e.image,
        "cat",
        "/data/hello.txt",
    ]);
    assert_eq!(o, "hello from samba\n");
    assert_eq!(
        e.plugin_mounts().len(),
        1,
        "still mounted for the first container"
    );
    let lo = wait_output(long, Duration::from_secs(60), "long container");
    assert!(lo.status.success(), "{}", out(&lo));
    assert_eq!(
        String::from_utf8_lossy(&lo.stdout),
        "hello from samba\nfrom-container\n"
    );
    assert_eq!(e.plugin_mounts(), Vec::<String>::new());

    // 3. A torrent volume: right checksum, read-only even when asked rw.
    let magnet = format!("magnet={}", swarm.magnet_tr());
    e.ok(&[
        "volume",
        "create",
        "-d",
        &drv,
        "-o",
        "type=btfs",
        "-o",
        &magnet,
        "-o",
        "listen=127.0.0.1",
        "-o",
        "nodht",
        "vtor",
    ]);
    let o = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        "vtor:/t",
        &e.image,
        "sha256sum",
        "/t/payload/docs/small-100k.bin",
    ]);
    assert_eq!(
        o.split_whitespace().next(),
        Some(sha(swarm.file("docs/small-100k.bin")).as_str())
    );
    let o = e.run(&["-v", "vtor:/t", &e.image, "touch", "/t/x"]);
    assert!(!o.status.success(), "a torrent volume took a write");
    assert!(out(&o).contains("Read-only file system"), "{}", out(&o));

    // 4. Wrong password: a specific error, no secret in it; in well under Docker's 120 s.
    e.ok(&[
        "volume",
        "create",
        "-d",
        &drv,
        "-o",
        "type=cifs",
        "-o",
        &share,
        "-o",
        &user,
        "-o",
        "password=Wrong-Secret-77",
        "vbad",
    ]);
    let t0 = Instant::now();
    let o = e.run(&["-v", "vbad:/data", &e.image, "ls", "/data"]);
    assert!(!o.status.success());
    assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
    let msg = out(&o);
    assert!(
        msg.contains("cannot mount volume 'vbad'") && msg.to_lowercase().contains("logon"),
        "{msg}"
    );
    assert!(!msg.contains("Wrong-Secret-77"), "{msg}");
    // An unknown option is refused at create, by name.
    let o = e.docker(
        &[
            "volume",
            "create",
            "-d",
            &drv,
            "-o",
            "type=cifs",
            "-o",
            &share,
            "-o",
            "colour=red",
            "vx",
        ],
        Duration::from_secs(30),
    );
    assert!(!o.status.success());
    assert!(out(&o).contains("unknown option 'colour'"), "{}", out(&o));

    // 5. Plugin restart while a container runs: the live mount is re-adopted, and the
    //    container's exit still unmounts it.
    let long = Command::new("docker")
        .env("DOCKER_HOST", &e.host)
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            "-v",
            "vro:/data:nocopy",
            &e.image,
            "sh",
            "-c",
            "sleep 5; cat /data/hello.txt",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Restart only once the container runs: the mount is answered. (Killed between mounting
    // and answering, dockerd retries the request with the body already consumed, an empty
    // one: "no volume name given".)
    let running = || {
        let ps = e.docker(
            &["ps", "-q", "--filter", "status=running"],
            Duration::from_secs(20),
        );
        !String::from_utf8_lossy(&ps.stdout).trim().is_empty()
    };
    let t0 = Instant::now();
    while (e.plugin_mounts().is_empty() || !running()) && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    e.stop_plugin();
    e.start_plugin();
    let lo = wait_output(
        long,
        Duration::from_secs(60),
        "container across a plugin restart",
    );
    assert!(lo.status.success(), "{}", out(&lo));
    assert_eq!(String::from_utf8_lossy(&lo.stdout), "hello from samba\n");
    let t0 = Instant::now();
    while !e.plugin_mounts().is_empty() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        e.plugin_mounts(),
        Vec::<String>::new(),
        "re-adopted mount released"
    );

    // 6. Implicit create: options through `--mount …,volume-opt=`, and `Opts: null` through
    //    `--volume-driver` with the definition kept out of band in the plugin's defs dir.
    let mount_arg = format!(
        "type=volume,src=vimp,dst=/data,volume-driver={drv},volume-opt=type=cifs,volume-opt=share=127.0.0.1:{}/share,volume-opt=username={},volume-opt=password={},volume-opt=vers=3.0",
        srv.port, srv.user, srv.password
    );
    let o = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--mount",
        &mount_arg,
        &e.image,
        "cat",
        "/data/hello.txt",
    ]);
    assert_eq!(o, "hello from samba\n");
    let defs = e.plugin_state.join("defs/vdef.conf");
    fs::write(
        &defs,
        format!(
            "type=cifs\nshare=127.0.0.1:{}/share\nusername={}\npassword={}\n",
            srv.port, srv.user, srv.password
        ),
    )
    .unwrap();
    fs::set_permissions(&defs, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let o = e.ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--volume-driver",
        &drv,
        "-v",
        "vdef:/data",
        &e.image,
        "cat",
        "/data/hello.txt",
    ]);
    assert_eq!(o, "hello from samba\n");
    let o = e.run(&[
        "--volume-driver",
        &drv,
        "-v",
        "vnone:/data",
        &e.image,
        "true",
    ]);
    assert!(
        out(&o).contains("no options for volume 'vnone'"),
        "{}",
        out(&o)
    );

    // 7. docker volume rm leaves nothing mounted and forgets the volumes.
    for v in ["vro", "vrw", "vtor", "vbad", "vimp", "vdef"] {
        e.ok(&["volume", "rm", v]);
    }
    assert_eq!(mounts_under(&e.plugin_state), Vec::<String>::new());
    let ls = e.ok(&["volume", "ls", "-q"]);
    assert_eq!(ls.trim(), "", "volumes left: {ls}");
    let log = fs::read_to_string(e.dir.join("plugin.log")).unwrap_or_default();
    for secret in [srv.password.as_str(), "Wrong-Secret-77"] {
        assert!(!log.contains(secret), "secret in the plugin log");
    }
}
