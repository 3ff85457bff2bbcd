//! Reconnect through a real FUSE mount: a loopback proxy between the mount and smbd cuts live
//! connections (as a server restart or a network cut would) and can refuse new ones. Reads and
//! writes through open files carry on after a cut (reconnect + reopen); a `soft` mount answers EIO
//! quickly while the server is unreachable; a `hard` mount waits and completes once it is back.
use crate::samba::Samba;
use crate::smb_client::pattern;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A TCP proxy on 127.0.0.1 that can cut every live connection and refuse new ones.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    live: Arc<Mutex<Vec<TcpStream>>>,
    refuse: Arc<AtomicBool>,
}

impl Proxy {
    pub(crate) fn start(upstream: u16) -> Self {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let live = Arc::new(Mutex::new(Vec::new()));
        let refuse = Arc::new(AtomicBool::new(false));
        let (lv, rf) = (live.clone(), refuse.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { continue };
                if rf.load(Ordering::SeqCst) {
                    drop(c);
                    continue;
                }
                let Ok(u) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let mut g = lv.lock().unwrap();
                g.push(c.try_clone().unwrap());
                g.push(u.try_clone().unwrap());
                drop(g);
                let (mut c2, mut u2) = (c.try_clone().unwrap(), u.try_clone().unwrap());
                let (mut c, mut u) = (c, u);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c, &mut u);
                    let _ = u.shutdown(Shutdown::Both);
                });
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut u2, &mut c2);
                    let _ = c2.shutdown(Shutdown::Both);
                });
            }
        });
        Self { port, live, refuse }
    }

    /// Close every connection in flight (both directions).
    pub(crate) fn cut(&self) {
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub(crate) fn refuse(&self, on: bool) {
        self.refuse.store(on, Ordering::SeqCst);
    }
}

struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_fusevol"))
            .arg("umount")
            .arg(&self.0)
            .status();
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount(s: &Samba, proxy: &Proxy, extra: &str) -> Option<Mounted> {
    if !Path::new("/dev/fuse").exists() {
        eprintln!("SKIP: /dev/fuse is missing");
        return None;
    }
    let mnt = s.state_dir.join(format!("mnt-{}", proxy.port));
    std::fs::create_dir_all(&mnt).unwrap();
    let opts = format!(
        "port={},credentials={},{extra}",
        proxy.port,
        s.creds_file.display()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_fusevol"))
        .args(["mount", "//127.0.0.1/share"])
        .arg(&mnt)
        .args(["-o", &opts])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mount: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(Mounted(mnt))
}

#[test]
fn reads_and_writes_survive_a_cut_connection() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    let proxy = Proxy::start(s.port);
    let Some(m) = mount(&s, &proxy, "vers=3.1.1") else {
        return;
    };
    let data = pattern(6 << 20, 11);
    std::fs::write(m.0.join("a.bin"), &data).unwrap();

    // Path operations after a cut.
    proxy.cut();
    assert!(
        std::fs::read(m.0.join("a.bin")).unwrap() == data,
        "read after a cut"
    );

    // An open file keeps working across a cut (reopened by path).
    let mut f = std::fs::File::open(m.0.join("a.bin")).unwrap();
    let mut head = vec![0u8; 1 << 20];
    f.read_exact(&mut head).unwrap();
    proxy.cut();
    f.seek(SeekFrom::Start(5 << 20)).unwrap();
    let mut tail = Vec::new();
    f.read_to_end(&mut tail).unwrap();
    assert!(head[..] == data[..1 << 20] && tail[..] == data[5 << 20..]);
    drop(f);

    // Writes in flight across a cut land, and close reports success only when they did.
    let mut w = std::fs::File::create(m.0.join("w.bin")).unwrap();
    w.write_all(&data[..3 << 20]).unwrap();
    proxy.cut();
    w.write_all(&data[3 << 20..]).unwrap();
    w.sync_all().unwrap();
    drop(w);
    assert!(std::fs::read(s.share_dir("share").join("w.bin")).unwrap() == data);
}

#[test]
fn soft_mount_fails_fast_while_the_server_is_gone() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    let proxy = Proxy::start(s.port);
    let Some(m) = mount(&s, &proxy, "soft") else {
        return;
    };
    std::fs::write(m.0.join("x"), b"x").unwrap();
    proxy.refuse(true);
    proxy.cut();
    let t0 = Instant::now();
    let e = std::fs::read(m.0.join("x")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t0.elapsed()
    );
    // Back again: the mount recovers by itself.
    proxy.refuse(false);
    assert_eq!(std::fs::read(m.0.join("x")).unwrap(), b"x");
}

#[test]
fn hard_mount_waits_for_the_server_and_completes() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    let proxy = Proxy::start(s.port);
    let Some(m) = mount(&s, &proxy, "hard") else {
        return;
    };
    std::fs::write(m.0.join("h"), b"hard data").unwrap();
    proxy.refuse(true);
    proxy.cut();
    let path = m.0.join("h");
    let t0 = Instant::now();
    let reader = std::thread::spawn(move || std::fs::read(path));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !reader.is_finished(),
        "a hard mount waits while the server is gone"
    );
    proxy.refuse(false);
    let got = reader.join().unwrap().unwrap();
    assert_eq!(got, b"hard data");
    assert!(t0.elapsed() >= Duration::from_millis(1500));
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "took {:?}",
        t0.elapsed()
    );
}

/// Mount with the daemon's log (FUSEVOL_LOG) in a file; returns the mount and the log path.
fn mount_logged(s: &Samba, proxy: &Proxy, extra: &str) -> Option<(Mounted, PathBuf)> {
    if !Path::new("/dev/fuse").exists() {
        eprintln!("SKIP: /dev/fuse is missing");
        return None;
    }
    let mnt = s.state_dir.join(format!("mnt-{}", proxy.port));
    std::fs::create_dir_all(&mnt).unwrap();
    let log = s.state_dir.join(format!("mount-{}.log", proxy.port));
    let opts = format!(
        "port={},credentials={},{extra}",
        proxy.port,
        s.creds_file.display()
    );
    // A file, not a pipe, for stderr: the daemon keeps it open while it runs.
    let status = Command::new(env!("CARGO_BIN_EXE_fusevol"))
        .args(["mount", "//127.0.0.1/share"])
        .arg(&mnt)
        .args(["-o", &opts])
        .env("FUSEVOL_LOG", "fusevol=info")
        .stderr(std::fs::File::create(&log).unwrap())
        .status()
        .unwrap();
    assert!(
        status.success(),
        "mount: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    Some((Mounted(mnt), log))
}

/// Cut the proxy `n` times, `every` apart, while `busy` runs on another thread.
fn cut_during<T: Send + 'static>(
    proxy: &Proxy,
    n: usize,
    every: Duration,
    busy: impl FnOnce() -> T + Send + 'static,
) -> T {
    let h = std::thread::spawn(busy);
    for _ in 0..n {
        std::thread::sleep(every);
        assert!(!h.is_finished(), "the transfer ended before the cut");
        proxy.cut();
    }
    h.join().unwrap()
}

#[test]
fn long_read_and_write_survive_cuts_through_durable_handles() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    let proxy = Proxy::start(s.port);
    let Some((m, log)) = mount_logged(&s, &proxy, "vers=3.1.1,hard") else {
        return;
    };
    const CHUNK: usize = 1 << 20;
    const CHUNKS: usize = 48;
    let data = Arc::new(pattern(CHUNK * CHUNKS, 23));

    // A long write (paced, so the cuts land in the middle of it), fsync'd, then checked on the
    // server's disk byte for byte.
    let (path, d) = (m.0.join("long-w.bin"), data.clone());
    cut_during(&proxy, 2, Duration::from_millis(400), move || {
        let mut f = std::fs::File::create(&path).unwrap();
        for c in d.chunks(CHUNK) {
            f.write_all(c).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        f.sync_all().unwrap();
    });
    let on_disk = std::fs::read(s.share_dir("share").join("long-w.bin")).unwrap();
    assert!(
        on_disk.len() == data.len() && on_disk == *data,
        "written file differs"
    );

    // A long read of the same file, cut twice.
    let path = m.0.join("long-w.bin");
    let got = cut_during(&proxy, 2, Duration::from_millis(400), move || {
        let mut f = std::fs::File::open(&path).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = f.read(&mut buf).unwrap();
            if n == 0 {
                break out;
            }
            out.extend_from_slice(&buf[..n]);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    assert!(got.len() == data.len() && got == *data, "read data differs");

    // The open files came back as the same server opens (durable handles v2), not by path.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("durable handle reclaimed"),
        "no durable reclaim in the log:\n{}",
        text.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    assert!(!text.contains("not reclaimed"), "{text}");
}

/// The pid of the daemon serving `mnt` (its argv names the mount point).
fn daemon_of(mnt: &Path) -> Option<u32> {
    let want = mnt.as_os_str().as_encoded_bytes();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid = e.file_name().to_string_lossy().parse::<u32>().ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        (args.contains(&&b"--daemon-child"[..]) && args.contains(&want)).then_some(pid)
    })
}

fn mounted(mnt: &Path) -> bool {
    let want = mnt.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

#[test]
fn a_hard_mount_waiting_for_a_dead_server_still_unmounts() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    let proxy = Proxy::start(s.port);
    let Some(m) = mount(&s, &proxy, "hard") else {
        return;
    };
    std::fs::write(m.0.join("h"), b"data").unwrap();
    let daemon = daemon_of(&m.0).expect("the mount daemon");
    proxy.refuse(true);
    proxy.cut();
    // A program blocked on the dead server (hard: it waits).
    let mut cat = Command::new("cat")
        .arg(m.0.join("h"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert!(cat.try_wait().unwrap().is_none(), "cat should be waiting");

    let fusevol = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_fusevol"))
            .args(args)
            .arg(&m.0)
            .output()
            .unwrap()
    };
    let busy = fusevol(&["umount"]);
    let msg = String::from_utf8_lossy(&busy.stderr);
    assert!(!busy.status.success() && msg.contains("umount -l"), "{msg}");

    let t0 = Instant::now();
    let lazy = fusevol(&["umount", "-l"]);
    assert!(
        lazy.status.success(),
        "{}",
        String::from_utf8_lossy(&lazy.stderr)
    );
    assert!(!mounted(&m.0), "still in mountinfo after umount -l");
    // The waiting program can be killed, and then the daemon goes away by itself.
    cat.kill().unwrap();
    cat.wait().unwrap();
    while Path::new(&format!("/proc/{daemon}")).exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "daemon {daemon} still running after the lazy unmount"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // /proc/PID lingers for a zombie; the daemon's parent (the mount command) is gone, so init
    // reaps it: nothing to wait for beyond the directory.
}
