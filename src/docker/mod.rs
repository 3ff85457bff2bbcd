//! The Docker volume plugin protocol (docker/cli `docs/extend/plugins_volume.md`,
//! `plugin_api.md`): a [`Driver`] answering `/Plugin.Activate` and `/VolumeDriver.*` calls, with
//! volume definitions persisted under a state dir, and [`http`] to read them off a unix socket.
//!
//! Semantics (measured against dockerd 20.10, see the project notes):
//!
//! - `Create` only checks and stores the definition (options as in [`crate::task::spec`]);
//!   `"Opts": null` (implicit create via `--volume-driver`) takes the definition from
//!   `<state>/defs/<name>.conf` (`key=value` lines, mode 0600) or fails naming that file.
//! - `Mount` / `Unmount` carry a random 64-hex ID per (container, mount point); each volume
//!   keeps the **set** of IDs it is mounted for: mounted on the first, unmounted after the last;
//!   a repeated ID is idempotent and an unknown ID on `Unmount` is logged and succeeds.
//! - `Remove` of a volume mounted for any ID fails.
//! - Failures answer HTTP 500 with `{"Err": "…"}` naming what went wrong, never option values.
//! - State (`<state>/volumes/<name>.json`, mode 0600 in a 0700 dir: they can hold a password,
//!   as Docker's own metadata.db does) survives a restart: at start, dead FUSE mounts
//!   (`ENOTCONN`) are unmounted and live ones re-adopted with their IDs.
pub mod http;

use crate::task::file::valid_name;
use crate::task::{Lookup, VolumeSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Most IDs one volume may be mounted for (each is a container mount point).
const MAX_IDS: usize = 4096;
/// Largest state or definition file read.
const MAX_FILE: u64 = 1 << 20;

/// What is mounted on a volume's mount point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountState {
    NotMounted,
    /// Mounted and answering.
    Live,
    /// Mounted but its FUSE daemon is gone (`ENOTCONN`).
    Dead,
}

/// How volumes get mounted: `fusevol mount`'s daemon in the binary, something simpler in tests.
pub trait Mounter: Send + Sync + 'static {
    /// Mount `spec` on the existing directory `mp`, in bounded time. The error is shown to
    /// Docker users: specific, and without secrets.
    fn mount(&self, spec: &VolumeSpec, mp: &Path) -> Result<(), String>;
    /// Unmount `mp` (lazily if need be).
    fn unmount(&self, mp: &Path) -> Result<(), String>;
    fn state(&self, mp: &Path) -> MountState;
}

/// A failure to set up the driver.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {err}")]
    Io { path: String, err: std::io::Error },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |err| Error::Io {
        path: path.display().to_string(),
        err,
    }
}

/// What is stored per volume. `Debug` redacts passwords in `opts`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "CreatedAt")]
    created_at: String,
    #[serde(rename = "Opts")]
    opts: BTreeMap<String, String>,
    #[serde(rename = "IDs", default)]
    ids: BTreeSet<String>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opts: BTreeMap<_, _> = self
            .opts
            .iter()
            .map(|(k, v)| (k, crate::options::redact_value(k, v)))
            .collect();
        f.debug_struct("Record")
            .field("name", &self.name)
            .field("created_at", &self.created_at)
            .field("opts", &opts)
            .field("ids", &self.ids)
            .finish()
    }
}

struct Vol {
    rec: Record,
    /// The checked definition, or why it no longer checks (a credentials file removed, …).
    spec: Result<VolumeSpec, String>,
    mounted: bool,
}

/// The volume driver: protocol semantics over a [`Mounter`].
pub struct Driver<M: Mounter> {
    dir: PathBuf,
    mounter: M,
    vols: Mutex<BTreeMap<String, Vol>>,
    /// One lock per volume name, held across a mount or unmount of that volume.
    ops: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// RFC 3339 UTC time of `t` (`2026-11-22T11:43:48Z`).
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, d) = crate::cli::smb::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn ok(v: Value) -> (u16, Value) {
    (200, v)
}

fn fail(msg: impl Into<String>) -> (u16, Value) {
    (500, json!({ "Err": msg.into() }))
}

/// A file holding a definition or credentials: regular, small, not group/world-readable.
fn read_private(p: &Path) -> Result<String, String> {
    let m = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if !m.is_file() || m.len() > MAX_FILE {
        return Err(format!(
            "{}: not a regular file of at most 1 MiB",
            p.display()
        ));
    }
    if m.mode() & 0o077 != 0 {
        return Err(format!(
            "{} is readable by group or others (chmod 600 it)",
            p.display()
        ));
    }
    std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
}

/// `key=value` lines (`#` comments, blank lines skipped).
fn parse_defs(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut m = BTreeMap::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if m.insert(k.trim().to_string(), v.to_string()).is_some() {
            return Err(format!("line {}: '{}' given twice", i + 1, k.trim()));
        }
    }
    Ok(m)
}

impl<M: Mounter> Driver<M> {
    /// Open (or create) the state dir and recover the volumes stored there.
    pub fn open(dir: &Path, mounter: M) -> Result<Self, Error> {
        let mk = |p: &Path, mode: u32| {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(p)
                .map_err(io(p))
        };
        mk(dir, 0o711)?;
        mk(&dir.join("volumes"), 0o700)?;
        mk(&dir.join("credentials"), 0o700)?;
        mk(&dir.join("defs"), 0o700)?;
        mk(&dir.join("mnt"), 0o755)?;
        let d = Driver {
            dir: dir.to_path_buf(),
            mounter,
            vols: Mutex::new(BTreeMap::new()),
            ops: Mutex::new(HashMap::new()),
        };
        d.recover()?;
        Ok(d)
    }

    fn lookup(&self) -> Lookup {
        Lookup {
            base_dir: None,
            cred_dir: Some(self.dir.join("credentials")),
        }
    }

    fn spec(&self, opts: &BTreeMap<String, String>) -> Result<VolumeSpec, String> {
        let v: Vec<(String, String)> = opts.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        VolumeSpec::new(None, &v, &self.lookup()).map_err(|e| e.to_string())
    }

    fn record_path(&self, name: &str) -> PathBuf {
        self.dir.join("volumes").join(format!("{name}.json"))
    }

    /// A volume's mount point.
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.dir.join("mnt").join(name)
    }

    fn save(&self, rec: &Record) -> Result<(), String> {
        let p = self.record_path(&rec.name);
        let tmp = p.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(rec).map_err(|e| e.to_string())?;
        let r = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(&body))
            .and_then(|()| std::fs::rename(&tmp, &p));
        r.map_err(|e| format!("cannot store volume '{}': {e}", rec.name))
    }

    fn recover(&self) -> Result<(), Error> {
        let vdir = self.dir.join("volumes");
        let mut vols = lock(&self.vols);
        for e in std::fs::read_dir(&vdir).map_err(io(&vdir))?.flatten() {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let rec: Record = match read_private(&p)
                .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(file = %p.display(), error = %e, "skipping a bad volume record");
                    continue;
                }
            };
            if !valid_name(&rec.name) || p.file_stem() != Some(rec.name.as_ref()) {
                tracing::warn!(file = %p.display(), "skipping a volume record with a bad name");
                continue;
            }
            let mut rec = rec;
            let mp = self.mountpoint(&rec.name);
            let mounted = match self.mounter.state(&mp) {
                MountState::Live if !rec.ids.is_empty() => {
                    tracing::info!(volume = %rec.name, ids = rec.ids.len(), "re-adopted a live mount");
                    true
                }
                MountState::Live => {
                    tracing::info!(volume = %rec.name, "unmounting a mount nobody uses");
                    let _ = self.mounter.unmount(&mp);
                    false
                }
                MountState::Dead => {
                    tracing::info!(volume = %rec.name, "cleaning up a dead mount");
                    let _ = self.mounter.unmount(&mp);
                    rec.ids.clear();
                    false
                }
                MountState::NotMounted => {
                    rec.ids.clear();
                    false
                }
            };
            if !mounted {
                rec.ids.clear();
            }
            let spec = self.spec(&rec.opts);
            let _ = self.save(&rec);
            vols.insert(rec.name.clone(), Vol { rec, spec, mounted });
        }
        Ok(())
    }

    fn op_lock(&self, name: &str) -> Arc<Mutex<()>> {
        lock(&self.ops)
            .entry(name.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(())))
            .clone()
    }

    /// Answer one call: `path` is `/Plugin.Activate` or `/VolumeDriver.<Method>`, `body` its
    /// JSON (possibly empty). Returns the HTTP status and the JSON answer.
    pub fn handle(&self, path: &str, body: &[u8]) -> (u16, Value) {
        let req: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return (400, json!({ "Err": format!("bad JSON request: {e}") })),
            }
        };
        let name = req.get("Name").and_then(Value::as_str).unwrap_or("");
        let id = req.get("ID").and_then(Value::as_str).unwrap_or("");
        match path {
            "/Plugin.Activate" => ok(json!({ "Implements": ["VolumeDriver"] })),
            "/VolumeDriver.Capabilities" => ok(json!({ "Capabilities": { "Scope": "local" } })),
            "/VolumeDriver.List" => self.list(),
            _ if path.starts_with("/VolumeDriver.") && !valid_name(name) => {
                fail(if name.is_empty() {
                    "no volume name given".to_string()
                } else {
                    "invalid volume name (letters, digits, '_', '.', '-'; at most 64)".to_string()
                })
            }
            "/VolumeDriver.Create" => self.create(name, req.get("Opts")),
            "/VolumeDriver.Remove" => self.remove(name),
            "/VolumeDriver.Mount" => self.mount(name, id),
            "/VolumeDriver.Unmount" => self.unmount(name, id),
            "/VolumeDriver.Path" => self.path(name),
            "/VolumeDriver.Get" => self.get(name),
            _ => (404, json!({ "Err": "unknown endpoint" })),
        }
    }

    fn create(&self, name: &str, opts: Option<&Value>) -> (u16, Value) {
        let mut map = BTreeMap::new();
        match opts {
            None | Some(Value::Null) => {}
            Some(Value::Object(o)) => {
                for (k, v) in o {
                    match v {
                        Value::String(s) => {
                            map.insert(k.clone(), s.clone());
                        }
                        _ => return fail(format!("option '{k}': the value must be a string")),
                    }
                }
            }
            Some(_) => return fail("Opts must be an object"),
        }
        if map.is_empty() {
            let p = self.dir.join("defs").join(format!("{name}.conf"));
            if !p.exists() {
                return fail(format!(
                    "no options for volume '{name}': give them (-o type=cifs -o share=… or --mount …,volume-opt=…) or put them in {}",
                    p.display()
                ));
            }
            match read_private(&p).and_then(|t| parse_defs(&t)) {
                Ok(m) => map = m,
                Err(e) => return fail(format!("volume '{name}': {e}")),
            }
        }
        let spec = match self.spec(&map) {
            Ok(s) => s,
            Err(e) => return fail(format!("volume '{name}': {e}")),
        };
        let op = self.op_lock(name);
        let _g = lock(&op);
        if let Some(v) = lock(&self.vols).get(name) {
            return if v.rec.opts == map {
                ok(json!({ "Err": "" }))
            } else {
                fail(format!(
                    "volume '{name}' already exists with other options (remove it first)"
                ))
            };
        }
        let rec = Record {
            name: name.to_string(),
            created_at: rfc3339(std::time::SystemTime::now()),
            opts: map,
            ids: BTreeSet::new(),
        };
        if let Err(e) = self.save(&rec) {
            return fail(e);
        }
        tracing::info!(volume = name, kind = ?spec.kind, "created");
        lock(&self.vols).insert(
            name.to_string(),
            Vol {
                rec,
                spec: Ok(spec),
                mounted: false,
            },
        );
        ok(json!({ "Err": "" }))
    }

    fn remove(&self, name: &str) -> (u16, Value) {
        let op = self.op_lock(name);
        let _g = lock(&op);
        let mut vols = lock(&self.vols);
        let Some(v) = vols.get(name) else {
            return fail(format!("no such volume '{name}'"));
        };
        if v.mounted || !v.rec.ids.is_empty() {
            return fail(format!(
                "volume '{name}' is in use (mounted for {} container mount(s))",
                v.rec.ids.len()
            ));
        }
        if let Err(e) = std::fs::remove_file(self.record_path(name))
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return fail(format!("cannot remove volume '{name}': {e}"));
        }
        let _ = std::fs::remove_dir(self.mountpoint(name));
        vols.remove(name);
        drop(vols);
        lock(&self.ops).remove(name);
        tracing::info!(volume = name, "removed");
        ok(json!({ "Err": "" }))
    }

    fn valid_id(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    }

    fn mount(&self, name: &str, id: &str) -> (u16, Value) {
        if !Self::valid_id(id) {
            return fail("missing or invalid mount ID");
        }
        let op = self.op_lock(name);
        let _g = lock(&op);
        let mp = self.mountpoint(name);
        let (spec, mounted) = {
            let vols = lock(&self.vols);
            let Some(v) = vols.get(name) else {
                return fail(format!("no such volume '{name}'"));
            };
            if v.rec.ids.len() >= MAX_IDS && !v.rec.ids.contains(id) {
                return fail(format!(
                    "volume '{name}' is mounted for too many containers"
                ));
            }
            (v.spec.clone(), v.mounted)
        };
        let spec = match spec {
            Ok(s) => s,
            Err(e) => return fail(format!("volume '{name}': {e}")),
        };
        let mut live = mounted;
        if mounted && self.mounter.state(&mp) != MountState::Live {
            tracing::warn!(volume = name, "the mount died; mounting again");
            let _ = self.mounter.unmount(&mp);
            live = false;
        }
        if !live {
            if let Err(e) = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&mp)
            {
                return fail(format!("cannot create the mount point of '{name}': {e}"));
            }
            if let Err(e) = self.mounter.mount(&spec, &mp) {
                tracing::warn!(volume = name, error = %e, "mount failed");
                let mut vols = lock(&self.vols);
                if let Some(v) = vols.get_mut(name) {
                    v.mounted = false;
                    v.rec.ids.clear();
                    let _ = self.save(&v.rec);
                }
                return fail(format!("cannot mount volume '{name}': {e}"));
            }
            tracing::info!(volume = name, "mounted");
        }
        let mut vols = lock(&self.vols);
        let Some(v) = vols.get_mut(name) else {
            return fail(format!("no such volume '{name}'"));
        };
        if !live {
            v.rec.ids.clear();
        }
        v.mounted = true;
        v.rec.ids.insert(id.to_string());
        if let Err(e) = self.save(&v.rec) {
            tracing::warn!(volume = name, error = %e, "cannot persist mount IDs");
        }
        ok(json!({ "Mountpoint": mp.to_string_lossy(), "Err": "" }))
    }

    fn unmount(&self, name: &str, id: &str) -> (u16, Value) {
        let op = self.op_lock(name);
        let _g = lock(&op);
        let mp = self.mountpoint(name);
        let last = {
            let mut vols = lock(&self.vols);
            let Some(v) = vols.get_mut(name) else {
                tracing::warn!(volume = name, "unmount of an unknown volume");
                return ok(json!({ "Err": "" }));
            };
            if !v.rec.ids.remove(id) {
                tracing::warn!(volume = name, id, "unmount with an unknown ID");
                return ok(json!({ "Err": "" }));
            }
            let last = v.rec.ids.is_empty() && v.mounted;
            let _ = self.save(&v.rec);
            last
        };
        if !last {
            return ok(json!({ "Err": "" }));
        }
        let r = self.mounter.unmount(&mp);
        let still = self.mounter.state(&mp) != MountState::NotMounted;
        let mut vols = lock(&self.vols);
        if let Some(v) = vols.get_mut(name) {
            v.mounted = still;
        }
        match r {
            Ok(()) if !still => {
                tracing::info!(volume = name, "unmounted");
                ok(json!({ "Err": "" }))
            }
            Ok(()) => fail(format!("volume '{name}' is still mounted")),
            Err(e) => fail(format!("cannot unmount volume '{name}': {e}")),
        }
    }

    fn path(&self, name: &str) -> (u16, Value) {
        let vols = lock(&self.vols);
        match vols.get(name) {
            None => fail(format!("no such volume '{name}'")),
            Some(v) if v.mounted => ok(json!({
                "Mountpoint": self.mountpoint(name).to_string_lossy(),
                "Err": ""
            })),
            Some(_) => ok(json!({ "Err": "" })),
        }
    }

    fn get(&self, name: &str) -> (u16, Value) {
        let vols = lock(&self.vols);
        let Some(v) = vols.get(name) else {
            return fail("no such volume");
        };
        let mut status = serde_json::Map::new();
        match &v.spec {
            Ok(s) => {
                status.insert("type".into(), json!(s.kind.fstype()));
                status.insert("source".into(), json!(s.short_source()));
                status.insert("readonly".into(), json!(s.ro));
            }
            Err(e) => {
                status.insert("error".into(), json!(e));
            }
        }
        status.insert("mounted".into(), json!(v.mounted));
        status.insert("mounts".into(), json!(v.rec.ids.len()));
        let mut vol = json!({
            "Name": name,
            "CreatedAt": v.rec.created_at,
            "Status": status,
        });
        if v.mounted {
            vol["Mountpoint"] = json!(self.mountpoint(name).to_string_lossy());
        }
        ok(json!({ "Volume": vol, "Err": "" }))
    }

    fn list(&self) -> (u16, Value) {
        let vols = lock(&self.vols);
        let list: Vec<Value> = vols
            .values()
            .map(|v| {
                let mut o = json!({ "Name": v.rec.name });
                if v.mounted {
                    o["Mountpoint"] = json!(self.mountpoint(&v.rec.name).to_string_lossy());
                }
                o
            })
            .collect();
        ok(json!({ "Volumes": list, "Err": "" }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Records calls; "mounts" by creating a marker file in the mount point.
    #[derive(Default)]
    struct Fake {
        mounts: AtomicUsize,
        unmounts: AtomicUsize,
        fail_next: Mutex<Option<String>>,
    }

    impl Mounter for Arc<Fake> {
        fn mount(&self, _spec: &VolumeSpec, mp: &Path) -> Result<(), String> {
            if let Some(e) = lock(&self.fail_next).take() {
                return Err(e);
            }
            self.mounts.fetch_add(1, Ordering::SeqCst);
            std::fs::write(mp.join(".mounted"), b"").map_err(|e| e.to_string())
        }
        fn unmount(&self, mp: &Path) -> Result<(), String> {
            self.unmounts.fetch_add(1, Ordering::SeqCst);
            let _ = std::fs::remove_file(mp.join(".mounted"));
            Ok(())
        }
        fn state(&self, mp: &Path) -> MountState {
            if mp.join(".mounted").exists() {
                MountState::Live
            } else {
                MountState::NotMounted
            }
        }
    }

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fusevol-docker-{tag}.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn call<M: Mounter>(d: &Driver<M>, path: &str, body: Value) -> (u16, Value) {
        d.handle(path, body.to_string().as_bytes())
    }

    fn err_of(r: &(u16, Value)) -> String {
        r.1["Err"].as_str().unwrap_or("").to_string()
    }

    const CIFS: &str =
        r#"{"type":"cifs","share":"127.0.0.1/share","username":"u","password":"hunter2"}"#;

    #[test]
    fn activate_capabilities_and_empty_bodies() {
        let d = Driver::open(&dir("act"), Arc::new(Fake::default())).unwrap();
        assert_eq!(
            d.handle("/Plugin.Activate", b""),
            (200, json!({"Implements": ["VolumeDriver"]}))
        );
        assert_eq!(
            d.handle("/VolumeDriver.Capabilities", b"{}"),
            (200, json!({"Capabilities": {"Scope": "local"}}))
        );
        assert_eq!(
            d.handle("/VolumeDriver.List", b"{}"),
            (200, json!({"Volumes": [], "Err": ""}))
        );
        assert_eq!(d.handle("/VolumeDriver.Bogus", b"{\"Name\":\"v\"}").0, 404);
        assert_eq!(d.handle("/VolumeDriver.Get", b"{nope").0, 400);
        let r = d.handle("/VolumeDriver.Get", b"{\"Name\":\"v\"}");
        assert_eq!(err_of(&r), "no such volume");
        let r = d.handle("/VolumeDriver.Get", b"{\"Name\":\"../x\"}");
        assert!(err_of(&r).contains("invalid volume name"));
    }

    #[test]
    fn id_set_refcounting_and_remove() {
        let fake = Arc::new(Fake::default());
        let d = Driver::open(&dir("ids"), fake.clone()).unwrap();
        let opts: Value = serde_json::from_str(CIFS).unwrap();
        assert_eq!(
            call(
                &d,
                "/VolumeDriver.Create",
                json!({"Name": "v", "Opts": opts})
            )
            .0,
            200
        );
        // Same options again: fine; other options: refused.
        assert_eq!(
            call(
                &d,
                "/VolumeDriver.Create",
                json!({"Name": "v", "Opts": opts})
            )
            .0,
            200
        );
        let mut other = opts.clone();
        other["vers"] = json!("3.0");
        let r = call(
            &d,
            "/VolumeDriver.Create",
            json!({"Name": "v", "Opts": other}),
        );
        assert!(err_of(&r).contains("already exists"), "{r:?}");
        // Path before mount: no Mountpoint.
        let r = call(&d, "/VolumeDriver.Path", json!({"Name": "v"}));
        assert_eq!(r, (200, json!({"Err": ""})));
        let mp = d.mountpoint("v").to_string_lossy().into_owned();
        // docker run: A pair (copy-up), then B; two containers overlap (X, Y).
        for (op, id) in [
            ("Mount", "A"),
            ("Unmount", "A"),
            ("Mount", "B"),
            ("Mount", "B"),
        ] {
            let r = call(
                &d,
                &format!("/VolumeDriver.{op}"),
                json!({"Name": "v", "ID": id}),
            );
            assert_eq!(r.0, 200, "{op} {id}: {r:?}");
        }
        assert_eq!(fake.mounts.load(Ordering::SeqCst), 2);
        assert_eq!(fake.unmounts.load(Ordering::SeqCst), 1);
        let r = call(&d, "/VolumeDriver.Mount", json!({"Name": "v", "ID": "C"}));
        assert_eq!(r.1["Mountpoint"], json!(mp));
        assert_eq!(
            fake.mounts.load(Ordering::SeqCst),
            2,
            "already mounted: no new mount"
        );
        let r = call(&d, "/VolumeDriver.Remove", json!({"Name": "v"}));
        assert!(err_of(&r).contains("in use"), "{r:?}");
        let r = call(&d, "/VolumeDriver.Get", json!({"Name": "v"}));
        assert_eq!(r.1["Volume"]["Status"]["mounts"], json!(2));
        assert_eq!(r.1["Volume"]["Mountpoint"], json!(mp));
        assert!(!r.1.to_string().contains("hunter2"), "no secret in Get");
        let r = call(&d, "/VolumeDriver.List", json!({}));
        assert_eq!(r.1["Volumes"][0]["Mountpoint"], json!(mp));
        // Unknown ID: logged, succeeds, changes nothing.
        assert_eq!(
            call(&d, "/VolumeDriver.Unmount", json!({"Name": "v", "ID": "Z"})).0,
            200
        );
        call(&d, "/VolumeDriver.Unmount", json!({"Name": "v", "ID": "C"}));
        assert_eq!(fake.unmounts.load(Ordering::SeqCst), 1, "B still holds it");
        call(&d, "/VolumeDriver.Unmount", json!({"Name": "v", "ID": "B"}));
        assert_eq!(
            fake.unmounts.load(Ordering::SeqCst),
            2,
            "last ID: unmounted"
        );
        assert_eq!(
            call(&d, "/VolumeDriver.Remove", json!({"Name": "v"})).0,
            200
        );
        assert!(!d.record_path("v").exists());
        let r = call(&d, "/VolumeDriver.Mount", json!({"Name": "v", "ID": "D"}));
        assert!(err_of(&r).contains("no such volume"));
        let r = call(&d, "/VolumeDriver.Mount", json!({"Name": "v"}));
        assert!(err_of(&r).contains("mount ID"));
    }

    #[test]
    fn create_errors_are_specific_and_secret_free() {
        let d = Driver::open(&dir("create"), Arc::new(Fake::default())).unwrap();
        let create = |opts: Value| {
            call(
                &d,
                "/VolumeDriver.Create",
                json!({"Name": "v", "Opts": opts}),
            )
        };
        let e = err_of(&create(
            json!({"type": "cifs", "share": "h/s", "username": "u", "password": "hunter2", "bogus": "hunter2"}),
        ));
        assert_eq!(e, "volume 'v': unknown option 'bogus'");
        let e = err_of(&create(
            json!({"type": "cifs", "device": "//h/s", "o": "username=u,password=hunter2,frob=hunter2"}),
        ));
        assert_eq!(e, "volume 'v': unknown option 'frob'");
        let e = err_of(&create(
            json!({"type": "cifs", "share": "h/s", "o": "password=hunter2"}),
        ));
        assert_eq!(e, "volume 'v': missing option 'username'");
        let e = err_of(&create(json!({"share": "h/s", "uid": 5})));
        assert_eq!(e, "option 'uid': the value must be a string");
        let e = err_of(&create(Value::Null));
        assert!(e.starts_with("no options for volume 'v'"), "{e}");
        // Opts null with a definition file (0600 required).
        let defs = d.dir.join("defs/v.conf");
        std::fs::write(
            &defs,
            "# out of band\ntype=cifs\nshare=127.0.0.1/share\nusername=u\npassword=p=q\n",
        )
        .unwrap();
        std::fs::set_permissions(&defs, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(err_of(&create(Value::Null)).contains("chmod 600"));
        std::fs::set_permissions(&defs, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(create(Value::Null).0, 200);
        let rec = std::fs::metadata(d.record_path("v")).unwrap();
        assert_eq!(rec.mode() & 0o777, 0o600);
    }

    #[test]
    fn failed_mount_is_reported_and_state_survives_restart() {
        let tmp = dir("restart");
        let fake = Arc::new(Fake::default());
        {
            let d = Driver::open(&tmp, fake.clone()).unwrap();
            let opts: Value = serde_json::from_str(CIFS).unwrap();
            call(
                &d,
                "/VolumeDriver.Create",
                json!({"Name": "v", "Opts": opts.clone()}),
            );
            call(
                &d,
                "/VolumeDriver.Create",
                json!({"Name": "w", "Opts": opts}),
            );
            *lock(&fake.fail_next) = Some("logon failure (STATUS_LOGON_FAILURE)".into());
            let r = call(&d, "/VolumeDriver.Mount", json!({"Name": "v", "ID": "A"}));
            assert_eq!(r.0, 500);
            assert_eq!(
                err_of(&r),
                "cannot mount volume 'v': logon failure (STATUS_LOGON_FAILURE)"
            );
            assert_eq!(
                call(&d, "/VolumeDriver.Mount", json!({"Name": "v", "ID": "A"})).0,
                200
            );
            assert_eq!(
                call(&d, "/VolumeDriver.Mount", json!({"Name": "w", "ID": "B"})).0,
                200
            );
        }
        // "Restart": v's mount is still live and re-adopted with its ID; w's mount is gone.
        std::fs::remove_file(tmp.join("mnt/w/.mounted")).unwrap();
        let d = Driver::open(&tmp, fake.clone()).unwrap();
        let r = call(&d, "/VolumeDriver.Get", json!({"Name": "v"}));
        assert_eq!(r.1["Volume"]["Status"]["mounted"], json!(true));
        assert_eq!(r.1["Volume"]["Status"]["mounts"], json!(1));
        let r = call(&d, "/VolumeDriver.Get", json!({"Name": "w"}));
        assert_eq!(r.1["Volume"]["Status"]["mounted"], json!(false));
        let before = fake.unmounts.load(Ordering::SeqCst);
        call(&d, "/VolumeDriver.Unmount", json!({"Name": "v", "ID": "A"}));
        assert_eq!(fake.unmounts.load(Ordering::SeqCst), before + 1);
        assert_eq!(
            call(&d, "/VolumeDriver.Remove", json!({"Name": "w"})).0,
            200
        );
        assert_eq!(
            call(&d, "/VolumeDriver.Remove", json!({"Name": "v"})).0,
            200
        );
        let _ = std::fs::remove_dir_all(&tmp);
    }

    #[test]
    fn timestamps() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_347_828);
        assert_eq!(rfc3339(t), "2026-11-22T11:43:48Z");
        assert_eq!(rfc3339(std::time::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn record_and_request_debug_hide_secrets() {
        let r = Record {
            name: "v".into(),
            created_at: String::new(),
            opts: [
                ("Password".to_string(), "hunter2".to_string()),
                ("o".to_string(), "username=u,password=hunter3".to_string()),
                ("vers".to_string(), "3.0".to_string()),
            ]
            .into(),
            ids: BTreeSet::new(),
        };
        let d = format!("{r:?}");
        assert!(!d.contains("hunter"), "{d}");
        assert!(d.contains("3.0"), "{d}");
        let q = http::Request {
            method: "POST".into(),
            path: "/VolumeDriver.Create".into(),
            body: br#"{"Opts":{"password":"hunter2"}}"#.to_vec(),
            close: false,
        };
        let d = format!("{q:?}");
        assert!(!d.contains("hunter") && d.contains("<31 bytes>"), "{d}");
    }
}
