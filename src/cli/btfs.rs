//! `fusevol mount -t btfs SOURCE MNT`: mount a magnet link, a `.torrent` file or an http(s) URL
//! of one, read-only. The mount is made only once the metadata is known and the tree is built;
//! it fails after `metadata_timeout` otherwise. `fusevol status MNT` prints progress.
use super::CliError;
use super::mount::MountRequest;
use crate::btfs::engine::{AddOptions, Engine, Source};
use crate::btfs::fs::{BtfsConfig, BtfsFs, STATUS_FILE};
use crate::btfs::options::{self, BtfsOptions};
use crate::btfs::rqbit::{RqbitConfig, RqbitEngine};
use crate::fuse::attr::Ownership;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Filesystem type names that mean a torrent mount.
const TYPES: [&str; 3] = ["btfs", "fuse.btfs", "torrent"];

/// Is this request a torrent mount? `-t btfs`, or (without `-t`) a `magnet:` source, an
/// http(s) URL or a path ending in `.torrent`.
pub fn wants_btfs(source: &str, fstype: Option<&str>) -> bool {
    match fstype {
        Some(t) => TYPES.contains(&t),
        None => {
            let l = source.to_ascii_lowercase();
            l.starts_with("magnet:")
                || l.starts_with("http://")
                || l.starts_with("https://")
                || l.ends_with(".torrent")
        }
    }
}

/// A short form of the source for messages (magnets can be kilobytes long).
fn short(source: &str) -> String {
    if source.len() > 100 {
        let mut end = 100;
        while !source.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &source[..end])
    } else {
        source.to_string()
    }
}

/// Checks that need no network; returns the options, the absolute source and mount point.
fn prepare(req: &MountRequest) -> Result<(BtfsOptions, String, PathBuf), CliError> {
    let o = options::parse(&req.options).map_err(|e| CliError::usage(e.0))?;
    let source = match Source::from_arg(&req.source) {
        Source::Path(p) => {
            let abs = std::fs::canonicalize(&p).map_err(|e| {
                CliError::new(format!("cannot open torrent file '{}': {e}", p.display()))
            })?;
            abs.to_string_lossy().into_owned()
        }
        _ => req.source.clone(),
    };
    let mp = &req.mountpoint;
    let meta = std::fs::metadata(mp)
        .map_err(|e| CliError::new(format!("cannot access mount point '{}': {e}", mp.display())))?;
    if !meta.is_dir() {
        return Err(CliError::new(format!(
            "mount point '{}' is not a directory",
            mp.display()
        )));
    }
    let mp = std::fs::canonicalize(mp)
        .map_err(|e| CliError::new(format!("cannot resolve '{}': {e}", mp.display())))?;
    if super::mount::mount_points()
        .iter()
        .any(|(m, _, _)| Path::new(m) == mp)
    {
        return Err(CliError::new(format!(
            "mount point '{}' is already a mount point",
            mp.display()
        )));
    }
    if o.allow_other && !nix::unistd::geteuid().is_root() {
        let conf = std::fs::read_to_string("/etc/fuse.conf").unwrap_or_default();
        if !conf.lines().any(|l| l.trim() == "user_allow_other") {
            return Err(CliError::new(
                "allow_other: only root may use it unless 'user_allow_other' is set in /etc/fuse.conf",
            ));
        }
    }
    Ok((o, source, mp))
}

/// `fusevol mount -t btfs …`: in the foreground, or through the daemon hand-off.
pub fn mount(req: MountRequest) -> Result<(), CliError> {
    let (o, source, mp) = prepare(&req)?;
    if req.foreground {
        return serve(&source, &o, &mp, || {});
    }
    let req = MountRequest {
        source,
        mountpoint: mp.clone(),
        fstype: Some("btfs".into()),
        ..req
    };
    // The parent waits for the metadata (and a little more for the session to start).
    let wait = o.metadata_timeout + Duration::from_secs(15);
    super::mount::spawn_daemon(&req, &mp, &crate::smb::client::Auth::Anonymous, wait)
}

/// The daemon side: the options came over the hand-off pipe.
pub fn daemon_serve(
    source: &str,
    mountpoint: &Path,
    options: &str,
    ready: impl FnOnce(),
) -> Result<(), CliError> {
    let req = MountRequest {
        source: source.to_string(),
        mountpoint: mountpoint.to_path_buf(),
        options: options.to_string(),
        foreground: true,
        fstype: Some("btfs".into()),
    };
    let (o, source, mp) = prepare(&req)?;
    serve(&source, &o, &mp, ready)
}

/// Where the data goes: `(parent of the per-infohash folders, whether we created it)`.
fn data_parent(o: &BtfsOptions) -> (PathBuf, bool) {
    match &o.data_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("fusevol-btfs.{}", std::process::id())),
            true,
        ),
    }
}

/// Start the engine, add the torrent, mount, serve until unmounted or SIGINT/SIGTERM.
pub fn serve(
    source: &str,
    o: &BtfsOptions,
    mp: &Path,
    ready: impl FnOnce(),
) -> Result<(), CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the runtime: {e}")))?;
    let (parent, ours) = data_parent(o);
    let cleanup_parent = |keep: bool| {
        if ours && !keep {
            let _ = std::fs::remove_dir_all(&parent);
        }
    };
    let cfg = RqbitConfig {
        listen: o.listen,
        min_port: o.min_port,
        max_port: o.max_port,
        dht: o.dht,
        download_bps: o.max_download_rate,
        upload_bps: o.max_upload_rate,
        ..RqbitConfig::new(parent.clone())
    };
    let engine = match rt.block_on(RqbitEngine::start(cfg)) {
        Ok(e) => Arc::new(e),
        Err(e) => {
            cleanup_parent(false);
            return Err(CliError::new(format!(
                "cannot mount '{}': {e}",
                short(source)
            )));
        }
    };
    let add = AddOptions {
        trackers: o.trackers.clone(),
        peers: o.peers.clone(),
        metadata_timeout: o.metadata_timeout,
        fetch_all: o.fetch_all,
    };
    let info = match rt.block_on(engine.add(Source::from_arg(source), add)) {
        Ok(i) => i,
        Err(e) => {
            rt.block_on(engine.shutdown(false));
            cleanup_parent(false);
            return Err(CliError::new(format!(
                "cannot mount '{}': {e}",
                short(source)
            )));
        }
    };
    let info_name = info.name.clone();
    let fsname = fsname_of(&info_name);
    let engine_dyn: Arc<dyn Engine> = engine.clone();
    let own = Ownership {
        uid: o.uid.unwrap_or_else(|| nix::unistd::getuid().as_raw()),
        gid: o.gid.unwrap_or_else(|| nix::unistd::getgid().as_raw()),
        file_mode: 0o444,
        dir_mode: 0o555,
    };
    let fs = BtfsFs::new(
        engine_dyn,
        vec![info],
        BtfsConfig {
            own,
            read_timeout: o.read_timeout,
        },
        rt.handle().clone(),
    );
    let mut config = fuser::Config::default();
    use fuser::MountOption as M;
    config.mount_options = vec![
        M::FSName(fsname),
        M::Subtype("fusevol".into()),
        M::NoDev,
        M::NoSuid,
        M::RO,
    ];
    if o.allow_other {
        config.acl = fuser::SessionACL::All;
    }
    config.n_threads = Some(2);
    let stop = fs.stopper();
    let mut session = match fuser::Session::new(fs, mp, &config) {
        Ok(s) => s,
        Err(e) => {
            rt.block_on(engine.shutdown(o.keep));
            cleanup_parent(o.keep);
            return Err(CliError::new(format!(
                "cannot mount on '{}': {e}",
                mp.display()
            )));
        }
    };
    let mut unmounter = session.unmount_callable();
    let mp_owned = mp.to_path_buf();
    let mp_str = mp.to_string_lossy().into_owned();
    let (engine2, keep) = (engine.clone(), o.keep);
    let parent2 = if ours { Some(parent.clone()) } else { None };
    let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ended2 = ended.clone();
    rt.spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        // Our mount as /proc/self/mountinfo lists it; gone after a lazy unmount (`umount -l`).
        let mounted = move || {
            super::mount::mount_points()
                .iter()
                .any(|(m, t, _)| *m == mp_str && (t == "fuse" || t.starts_with("fuse.")))
        };
        let detached = async {
            // Only a mount seen once can go away (a name we fail to match must not stop us).
            let mut seen = false;
            loop {
                let now = mounted();
                if seen && !now {
                    break;
                }
                seen |= now;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        };
        let signalled = tokio::select! {
            _ = term.recv() => true,
            _ = int.recv() => true,
            _ = detached => false,
        };
        // Pending reads fail now, so that their readers let go of the mount.
        stop.send_replace(true);
        if !signalled {
            // Detached with readers inside: the kernel ends the session once they let go,
            // which they do now that their reads fail.
            tracing::info!("the mount was detached: failing pending reads");
        } else if let Err(e) = {
            tracing::info!("signal received: unmounting");
            tokio::time::sleep(Duration::from_millis(50)).await;
            unmounter.unmount()
        } {
            // Busy (a reader still has a file open): detach it instead, so we can exit.
            tracing::warn!(error = %e, "unmount on signal failed; detaching");
            let _ =
                nix::mount::umount2(&mp_owned, nix::mount::MntFlags::MNT_DETACH).or_else(|_| {
                    std::process::Command::new("fusermount3")
                        .arg("-uz")
                        .arg(&mp_owned)
                        .status()
                        .map(|_| ())
                        .map_err(|_| nix::errno::Errno::EIO)
                });
        }
        // Normally the session ends now and `serve` cleans up. If a reader still holds the
        // detached mount open, the session would live on: stop anyway, within two seconds.
        tokio::time::sleep(Duration::from_millis(800)).await;
        if ended2.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        tracing::warn!("the FUSE session is still busy; exiting");
        let _ = tokio::time::timeout(Duration::from_millis(700), engine2.shutdown(keep)).await;
        if let Some(p) = parent2
            && !keep
        {
            let _ = std::fs::remove_dir_all(p);
        }
        std::process::exit(0);
    });
    ready();
    let r = session.run();
    ended.store(true, std::sync::atomic::Ordering::SeqCst);
    let t = std::time::Instant::now();
    // Bounded: SIGTERM and unmount must finish within two seconds.
    let _ = rt.block_on(async {
        tokio::time::timeout(Duration::from_millis(1500), engine.shutdown(o.keep)).await
    });
    rt.shutdown_timeout(Duration::from_millis(300));
    cleanup_parent(o.keep);
    tracing::debug!(
        ms = t.elapsed().as_millis() as u64,
        "stopped after the FUSE session"
    );
    r.map_err(|e| CliError::new(format!("FUSE session ended with an error: {e}")))
}

/// The mount's source name in /proc/self/mountinfo (no separators mount options would split).
fn fsname_of(torrent_name: &str) -> String {
    format!("btfs:{}", torrent_name.replace([',', ' ', '\t', '\n'], "_"))
}

/// `fusevol status MNT`: the mount's status file.
pub fn status(mountpoint: &Path) -> Result<(), CliError> {
    let p = mountpoint.join(STATUS_FILE);
    let text = std::fs::read_to_string(&p).map_err(|e| {
        CliError::new(format!(
            "'{}' is not a fusevol torrent mount ({e})",
            mountpoint.display()
        ))
    })?;
    print!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_sources_are_torrents() {
        assert!(wants_btfs("magnet:?xt=urn:btih:x", None));
        assert!(wants_btfs("https://example.org/a.torrent", None));
        assert!(wants_btfs("/tmp/A.TORRENT", None));
        assert!(wants_btfs("/tmp/anything", Some("btfs")));
        assert!(!wants_btfs("//host/share", None));
        assert!(!wants_btfs("magnet:?xt=urn:btih:x", Some("cifs")));
    }

    #[test]
    fn long_sources_are_shortened_on_char_boundaries() {
        let s = format!("magnet:?dn={}", "é".repeat(100));
        assert!(short(&s).ends_with('…'));
        assert_eq!(short("x"), "x");
    }
}
