//! A volume definition (`type` + string options) turned into what `fusevol mount` takes: a
//! source, an `-o` option string and a filesystem type. Shared by task files and the Docker
//! volume plugin, so that both accept the same names:
//!
//! - SONM task-file names (`share`, `username`, `password`, `security` → `sec=`, `vers`, `magnet`);
//! - Docker `local` driver cifs names (`type=cifs`, `device=//host/share`,
//!   `o=addr=…,username=…,password=…,vers=…`; moby `volume/local/local_unix.go`), where a
//!   discrete key overrides the same key inside `o`;
//! - netshare's `domain`, `fileMode`, `dirMode`, `cifsopts`;
//! - ours: `password_file`, `credentials`, `uid`, `gid`, `file_mode`, `dir_mode`, `ro`, and the
//!   btfs options (`tracker`, `peer`, `listen`, `nodht`, `metadata_timeout`, …).
//!
//! Keys are case-insensitive and `-` and `_` are alike. An unknown key is an error naming it.
//! Everything inside `o=` / `cifsopts=` is checked by the mount.cifs option parser itself
//! (`crate::options::parse`). Error messages name keys, never values of secret options.
use crate::options::Secret;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Largest option value accepted (magnet links can be long; nothing else comes close).
pub const MAX_VALUE: usize = 16 * 1024;
/// Most options in one definition.
pub const MAX_OPTIONS: usize = 128;
/// Largest password or credentials file read.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// What is mounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An SMB2/3 share (`cifs`, `smb`, `smb3`).
    Cifs,
    /// A torrent, read-only (`btfs`, `torrent`).
    Btfs,
}

impl Kind {
    pub fn parse(t: &str) -> Result<Kind, SpecError> {
        match t.trim().to_ascii_lowercase().as_str() {
            "cifs" | "smb" | "smb3" | "smbfs" => Ok(Kind::Cifs),
            "btfs" | "torrent" => Ok(Kind::Btfs),
            _ => Err(SpecError::UnknownType(t.chars().take(64).collect())),
        }
    }

    /// The `-t` type `fusevol mount` takes.
    pub fn fstype(self) -> &'static str {
        match self {
            Kind::Cifs => "cifs",
            Kind::Btfs => "btfs",
        }
    }
}

/// A definition that cannot be mounted. Never contains a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("unknown option '{0}'")]
    UnknownOption(String),
    #[error("option '{key}' is not for a {kind} volume")]
    WrongKind { key: String, kind: &'static str },
    #[error("missing option '{0}'")]
    Missing(&'static str),
    #[error("missing option 'type' (cifs or btfs)")]
    MissingType,
    #[error("unknown volume type '{0}' (use cifs or btfs)")]
    UnknownType(String),
    #[error("option '{key}': {why}")]
    Bad { key: String, why: String },
    #[error("options '{0}' and '{1}' disagree")]
    Conflict(&'static str, &'static str),
    #[error("too many options (more than {MAX_OPTIONS})")]
    TooMany,
    #[error("{0}")]
    Cifs(#[from] crate::options::OptionError),
    #[error("{0}")]
    Btfs(String),
}

fn bad(key: &str, why: impl Into<String>) -> SpecError {
    SpecError::Bad {
        key: key.to_string(),
        why: why.into(),
    }
}

/// Where relative `credentials` / `password_file` paths and bare credential names are looked up.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// Relative paths are taken from here (the task file's directory).
    pub base_dir: Option<PathBuf>,
    /// A bare name (no `/`) is a file in this directory (the plugin's credentials dir).
    pub cred_dir: Option<PathBuf>,
}

impl Lookup {
    fn resolve(&self, key: &str, v: &str) -> Result<PathBuf, SpecError> {
        let p = Path::new(v);
        if v.is_empty() {
            return Err(bad(key, "empty path"));
        }
        if p.is_absolute() {
            return Ok(p.to_path_buf());
        }
        if let Some(d) = &self.cred_dir
            && !v.contains('/')
        {
            return Ok(d.join(v));
        }
        match &self.base_dir {
            Some(b) => Ok(b.join(p)),
            None => Err(bad(key, "must be an absolute path")),
        }
    }
}

/// A file holding a secret: regular, at most 64 KiB, not readable by group or others.
fn check_secret_file(key: &str, p: &Path) -> Result<(), SpecError> {
    let m = std::fs::metadata(p).map_err(|e| bad(key, format!("{}: {e}", p.display())))?;
    if !m.is_file() {
        return Err(bad(key, format!("{} is not a regular file", p.display())));
    }
    if m.len() > MAX_SECRET_FILE {
        return Err(bad(key, format!("{} is larger than 64 KiB", p.display())));
    }
    if m.mode() & 0o077 != 0 {
        return Err(bad(
            key,
            format!(
                "{} is readable by group or others (mode {:o}; chmod 600 it)",
                p.display(),
                m.mode() & 0o777
            ),
        ));
    }
    Ok(())
}

/// A checked volume definition, ready to mount.
#[derive(Debug, Clone)]
pub struct VolumeSpec {
    pub kind: Kind,
    /// `//host[:port]/share[/path]`, or a magnet link, torrent path or URL.
    pub source: String,
    /// `-o` items without secrets (values with `,` already doubled for cifs).
    options: Vec<String>,
    password: Option<Secret>,
    password_file: Option<PathBuf>,
    /// Mounted read-only (always for btfs).
    pub ro: bool,
    /// Things worth telling the user (e.g. a btfs volume asked for `rw`).
    pub warnings: Vec<String>,
}

/// Canonical key: lower case, `-` → `_`, and the aliases folded.
fn canonical(k: &str) -> String {
    let k = k.trim().to_ascii_lowercase().replace('-', "_");
    match k.as_str() {
        "user" => "username",
        "pass" => "password",
        "dom" | "workgroup" => "domain",
        "ip" => "addr",
        "filemode" => "file_mode",
        "dirmode" => "dir_mode",
        "cred" => "credentials",
        "passwordfile" | "passwd_file" => "password_file",
        "sec" => "security",
        _ => return k,
    }
    .to_string()
}

/// Keys that may be given on their own (not inside `o=`), and which kinds take them.
const COMMON: &[&str] = &["type", "ro", "rw", "uid", "gid", "o"];
const CIFS_KEYS: &[&str] = &[
    "share",
    "device",
    "username",
    "password",
    "password_file",
    "credentials",
    "security",
    "vers",
    "domain",
    "file_mode",
    "dir_mode",
    "port",
    "addr",
    "seal",
    "sign",
    "guest",
    "cifsopts",
];
const BTFS_KEYS: &[&str] = &[
    "magnet",
    "torrent",
    "tracker",
    "peer",
    "listen",
    "dht",
    "nodht",
    "min_port",
    "max_port",
    "metadata_timeout",
    "read_timeout",
    "fetch_all",
    "max_download_rate",
    "max_upload_rate",
    "data_dir",
    "keep",
];

/// `ro=`/`rw=` values: empty (a bare flag) or a boolean word.
fn boolean(key: &str, v: &str) -> Result<bool, SpecError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(bad(key, "not a boolean (true or false)")),
    }
}

/// Split `o=` on commas; `,,` is a literal comma (mount.cifs(8)); blank items are dropped.
fn split_o(s: &str) -> Vec<String> {
    let mut v = crate::options::split_options(s);
    v.retain(|s| !s.trim().is_empty());
    v
}

/// An ordered key → value map where a later set replaces the earlier value in place.
#[derive(Default)]
struct Opts(Vec<(String, Option<String>)>);

impl Opts {
    fn set(&mut self, k: String, v: Option<String>) {
        match self.0.iter_mut().find(|(x, _)| *x == k) {
            Some(slot) => slot.1 = v,
            None => self.0.push((k, v)),
        }
    }
    fn take(&mut self, k: &str) -> Option<Option<String>> {
        let i = self.0.iter().position(|(x, _)| x == k)?;
        Some(self.0.remove(i).1)
    }
}

/// `share` / `device` → `//host[:port]/share[/path]` (leading `//` optional, trailing `/` and
/// backslashes allowed).
fn normalize_share(key: &str, v: &str) -> Result<String, SpecError> {
    let s = v.trim().replace('\\', "/");
    let s = s.trim_start_matches('/').trim_end_matches('/');
    if s.is_empty() {
        return Err(bad(key, "empty"));
    }
    let unc = format!("//{s}");
    crate::options::Unc::parse(&unc).map_err(|e| bad(key, e.to_string()))?;
    Ok(unc)
}

fn escape(v: &str) -> String {
    v.replace(',', ",,")
}

impl VolumeSpec {
    /// Check a definition. `kind` is the task file's `type:` (the plugin passes `None` and the
    /// `type` option decides, or failing that `magnet`/`torrent` vs `share`/`device`).
    pub fn new(
        kind: Option<&str>,
        options: &[(String, String)],
        lookup: &Lookup,
    ) -> Result<VolumeSpec, SpecError> {
        if options.len() > MAX_OPTIONS {
            return Err(SpecError::TooMany);
        }
        // Discrete keys first checked by name, `o` expanded in place.
        let mut discrete: Vec<(String, String)> = Vec::new();
        let mut from_o: Vec<(String, Option<String>)> = Vec::new();
        let mut type_opt: Option<String> = None;
        for (k, v) in options {
            let key = canonical(k);
            if v.len() > MAX_VALUE {
                return Err(bad(&key, "value too long"));
            }
            if key.is_empty() {
                return Err(SpecError::UnknownOption(String::new()));
            }
            if key == "o" || key == "cifsopts" {
                let items = split_o(v);
                if items.len() > MAX_OPTIONS {
                    return Err(SpecError::TooMany);
                }
                for item in items {
                    let (ik, iv) = match item.split_once('=') {
                        Some((a, b)) => (canonical(a), Some(b.to_string())),
                        None => (canonical(&item), None),
                    };
                    from_o.push((ik, iv));
                }
                continue;
            }
            if key == "type" {
                type_opt = Some(v.clone());
                continue;
            }
            if !COMMON.contains(&key.as_str())
                && !CIFS_KEYS.contains(&key.as_str())
                && !BTFS_KEYS.contains(&key.as_str())
            {
                return Err(SpecError::UnknownOption(k.chars().take(64).collect()));
            }
            discrete.push((key, v.clone()));
        }
        let has = |names: &[&str]| discrete.iter().any(|(k, _)| names.contains(&k.as_str()));
        let kind = match (kind, type_opt.as_deref()) {
            (Some(a), Some(b)) => {
                let (a, b) = (Kind::parse(a)?, Kind::parse(b)?);
                if a != b {
                    return Err(SpecError::Conflict("type", "options.type"));
                }
                a
            }
            (Some(t), None) | (None, Some(t)) => Kind::parse(t)?,
            (None, None) if has(&["magnet", "torrent"]) => Kind::Btfs,
            (None, None) if has(&["share", "device"]) => Kind::Cifs,
            (None, None) => return Err(SpecError::MissingType),
        };
        let (own, other, kname) = match kind {
            Kind::Cifs => (CIFS_KEYS, BTFS_KEYS, "cifs"),
            Kind::Btfs => (BTFS_KEYS, CIFS_KEYS, "btfs"),
        };
        for (k, _) in &discrete {
            if other.contains(&k.as_str()) && !own.contains(&k.as_str()) {
                return Err(SpecError::WrongKind {
                    key: k.clone(),
                    kind: kname,
                });
            }
        }
        // `o` first, then the discrete keys override (moby local driver users expect that).
        let mut m = Opts::default();
        for (k, v) in from_o {
            m.set(k, v);
        }
        for (k, v) in discrete {
            // An empty value is a bare flag (`-o ro`, `nodht:` in YAML).
            m.set(k, (!v.is_empty()).then_some(v));
        }
        // ro / rw, wherever they came from (the later one wins).
        let mut ro = false;
        let mut i = 0;
        while i < m.0.len() {
            let (k, v) = &m.0[i];
            if k == "ro" || k == "rw" {
                let b = boolean(k, v.as_deref().unwrap_or(""))?;
                ro = if k == "ro" { b } else { !b };
                m.0.remove(i);
            } else {
                i += 1;
            }
        }
        match kind {
            Kind::Cifs => Self::cifs(m, ro, lookup),
            Kind::Btfs => Self::btfs(m, ro),
        }
    }

    fn cifs(mut m: Opts, ro: bool, lookup: &Lookup) -> Result<VolumeSpec, SpecError> {
        let share = m.take("share").flatten();
        let device = m.take("device").flatten();
        let source = match (share, device) {
            (Some(s), Some(d)) => {
                let (a, b) = (
                    normalize_share("share", &s)?,
                    normalize_share("device", &d)?,
                );
                if a != b {
                    return Err(SpecError::Conflict("share", "device"));
                }
                a
            }
            (Some(s), None) => normalize_share("share", &s)?,
            (None, Some(d)) => normalize_share("device", &d)?,
            (None, None) => return Err(SpecError::Missing("share")),
        };
        let password = match m.take("password") {
            Some(Some(p)) => Some(Secret::new(p)),
            Some(None) => return Err(bad("password", "needs a value")),
            None => None,
        };
        let password_file = match m.take("password_file") {
            Some(Some(p)) => {
                let p = lookup.resolve("password_file", &p)?;
                check_secret_file("password_file", &p)?;
                Some(p)
            }
            Some(None) => return Err(bad("password_file", "needs a value")),
            None => None,
        };
        if password.is_some() && password_file.is_some() {
            return Err(SpecError::Conflict("password", "password_file"));
        }
        if let Some((_, v)) = m.0.iter_mut().find(|(k, _)| k == "credentials") {
            let Some(p) = v.as_deref() else {
                return Err(bad("credentials", "needs a value"));
            };
            let p = lookup.resolve("credentials", p)?;
            check_secret_file("credentials", &p)?;
            *v = Some(p.to_string_lossy().into_owned());
        }
        let get = |k: &str| m.0.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone());
        let anonymous = get("security")
            .flatten()
            .is_some_and(|s| s.eq_ignore_ascii_case("none"))
            || get("guest").is_some();
        let has_creds = get("credentials").is_some();
        if !anonymous && !has_creds {
            if get("username").flatten().is_none_or(|u| u.is_empty()) {
                return Err(SpecError::Missing("username"));
            }
            if password.is_none() && password_file.is_none() {
                return Err(SpecError::Missing("password"));
            }
        }
        let mut options = Vec::new();
        for (k, v) in m.0 {
            let k = if k == "security" {
                "sec".to_string()
            } else {
                k
            };
            options.push(match v {
                Some(v) => format!("{k}={}", escape(&v)),
                None => k,
            });
        }
        if ro {
            options.push("ro".into());
        }
        // The mount.cifs parser names any option it does not know.
        let parsed = crate::options::parse(&options.join(","))?;
        Ok(VolumeSpec {
            kind: Kind::Cifs,
            source,
            options,
            password,
            password_file,
            ro,
            warnings: parsed.warnings,
        })
    }

    fn btfs(mut m: Opts, ro: bool) -> Result<VolumeSpec, SpecError> {
        let magnet = m.take("magnet").flatten();
        let torrent = m.take("torrent").flatten();
        let source = match (magnet, torrent) {
            (Some(_), Some(_)) => return Err(SpecError::Conflict("magnet", "torrent")),
            (Some(s), None) => {
                if !s.trim().to_ascii_lowercase().starts_with("magnet:") {
                    return Err(bad("magnet", "not a magnet: link"));
                }
                s.trim().to_string()
            }
            (None, Some(s)) => s.trim().to_string(),
            (None, None) => return Err(SpecError::Missing("magnet")),
        };
        let mut warnings = Vec::new();
        if !ro {
            warnings.push("btfs volumes are read-only; mounting read-only".to_string());
        }
        let mut options = Vec::new();
        for (k, v) in m.0 {
            options.push(match v {
                Some(v) if v.contains(',') => return Err(bad(&k, "must not contain ','")),
                Some(v) => format!("{k}={v}"),
                None => k,
            });
        }
        crate::btfs::options::parse(&options.join(",")).map_err(|e| SpecError::Btfs(e.0))?;
        Ok(VolumeSpec {
            kind: Kind::Btfs,
            source,
            options,
            password: None,
            password_file: None,
            ro: true,
            warnings,
        })
    }

    /// The `-o` string for `fusevol mount`, with `extra` options (e.g. `allow_other`) added
    /// unless already given, and the password (read from `password_file` now) appended. The
    /// result holds the secret: it goes only to the mount daemon's hand-off pipe.
    pub fn mount_options(&self, extra: &[&str]) -> Result<Secret, SpecError> {
        let mut items = self.options.clone();
        for e in extra {
            let name = e.split('=').next().unwrap_or(e);
            if !items
                .iter()
                .any(|i| i.split('=').next().unwrap_or(i) == name)
            {
                items.push(e.to_string());
            }
        }
        let pw = match (&self.password, &self.password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(f)) => {
                check_secret_file("password_file", f)?;
                let t = zeroize::Zeroizing::new(
                    std::fs::read_to_string(f)
                        .map_err(|e| bad("password_file", format!("{}: {e}", f.display())))?,
                );
                Some(Secret::new(t.lines().next().unwrap_or("")))
            }
            (None, None) => None,
        };
        let mut s = zeroize::Zeroizing::new(items.join(","));
        if let Some(p) = pw {
            if p.expose().contains('\n') {
                return Err(bad("password", "contains a newline"));
            }
            if !s.is_empty() {
                s.push(',');
            }
            s.push_str("password=");
            s.push_str(&escape(p.expose()));
        }
        Ok(Secret::new(s.as_str()))
    }

    /// The source shortened for status output (magnets can be kilobytes long).
    pub fn short_source(&self) -> String {
        let mut s: String = self.source.chars().take(100).collect();
        if s.len() < self.source.len() {
            s.push('…');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn o(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn spec(kind: Option<&str>, pairs: &[(&str, &str)]) -> Result<VolumeSpec, SpecError> {
        VolumeSpec::new(kind, &o(pairs), &Lookup::default())
    }

    fn opts(s: &VolumeSpec) -> String {
        s.mount_options(&[]).unwrap().expose().to_string()
    }

    #[test]
    fn sonm_names() {
        let s = spec(
            Some("cifs"),
            &[
                ("share", "127.0.0.1/share/"),
                ("username", "u"),
                ("password", "p,w"),
                ("security", "ntlmsspi"),
                ("vers", "3.0"),
            ],
        )
        .unwrap();
        assert_eq!(s.kind, Kind::Cifs);
        assert_eq!(s.source, "//127.0.0.1/share");
        assert_eq!(opts(&s), "username=u,sec=ntlmsspi,vers=3.0,password=p,,w");
        assert!(!s.ro);
        assert!(!format!("{s:?}").contains("p,w"), "password in Debug");
        let parsed = crate::options::parse(&opts(&s)).unwrap();
        assert_eq!(parsed.vers.as_deref(), Some("3.0"));
        assert_eq!(parsed.password.unwrap().expose(), "p,w");
    }

    #[test]
    fn docker_local_driver_names_and_overrides() {
        let s = spec(
            None,
            &[
                ("type", "cifs"),
                ("device", "//10.0.0.5/music"),
                (
                    "o",
                    "addr=127.0.0.1,username=a,password=x,,y,vers=3.0,uid=1000,file_mode=0644,ro",
                ),
                ("Username", "b"),
                ("dir-mode", "0755"),
            ],
        )
        .unwrap();
        assert_eq!(s.source, "//10.0.0.5/music");
        assert!(s.ro);
        let o = opts(&s);
        assert_eq!(
            o,
            "addr=127.0.0.1,username=b,vers=3.0,uid=1000,file_mode=0644,dir_mode=0755,ro,password=x,,y"
        );
        let p = crate::options::parse(&o).unwrap();
        assert_eq!(p.username.as_deref(), Some("b"));
        assert_eq!(p.dir_mode, Some(0o755));
        // netshare's names
        let s = spec(
            Some("cifs"),
            &[
                ("share", "h/s"),
                ("username", "u"),
                ("password", "p"),
                ("fileMode", "0600"),
                ("domain", "D"),
                ("cifsopts", "nobrl"),
                ("rw", ""),
            ],
        )
        .unwrap();
        assert_eq!(
            opts(&s),
            "nobrl,username=u,file_mode=0600,domain=D,password=p"
        );
        assert!(!s.ro);
    }

    #[test]
    fn type_inference_and_errors() {
        assert_eq!(
            spec(None, &[("magnet", "magnet:?xt=urn:btih:00")])
                .unwrap()
                .kind,
            Kind::Btfs
        );
        assert_eq!(
            spec(None, &[("username", "u")]).unwrap_err(),
            SpecError::MissingType
        );
        assert_eq!(
            spec(Some("nfs"), &[]).unwrap_err(),
            SpecError::UnknownType("nfs".into())
        );
        assert_eq!(
            spec(Some("cifs"), &[("type", "btfs")]).unwrap_err(),
            SpecError::Conflict("type", "options.type")
        );
        assert_eq!(
            spec(Some("cifs"), &[("bogus", "1")])
                .unwrap_err()
                .to_string(),
            "unknown option 'bogus'"
        );
        assert_eq!(
            spec(Some("cifs"), &[("share", "h/s"), ("magnet", "magnet:?")]).unwrap_err(),
            SpecError::WrongKind {
                key: "magnet".into(),
                kind: "cifs"
            }
        );
        assert_eq!(
            spec(Some("btfs"), &[("magnet", "magnet:?x"), ("share", "h/s")]).unwrap_err(),
            SpecError::WrongKind {
                key: "share".into(),
                kind: "btfs"
            }
        );
    }

    #[test]
    fn cifs_errors_name_the_key_and_hide_secrets() {
        let e = |p: &[(&str, &str)]| spec(Some("cifs"), p).unwrap_err();
        assert_eq!(e(&[("username", "u")]), SpecError::Missing("share"));
        assert_eq!(
            e(&[("share", "h/s"), ("password", "p")]),
            SpecError::Missing("username")
        );
        assert_eq!(
            e(&[("share", "h/s"), ("username", "u")]),
            SpecError::Missing("password")
        );
        assert!(
            matches!(e(&[("share", "h"), ("username", "u"), ("password", "p")]), SpecError::Bad { key, .. } if key == "share")
        );
        assert!(
            matches!(e(&[("share", "  "), ("username", "u")]), SpecError::Bad { key, .. } if key == "share")
        );
        assert_eq!(
            e(&[
                ("share", "h/s"),
                ("device", "//h/t"),
                ("username", "u"),
                ("password", "p")
            ]),
            SpecError::Conflict("share", "device")
        );
        let err = e(&[
            ("share", "h/s"),
            ("username", "u"),
            ("password", "sekrit"),
            ("o", "frobnicate=sekrit"),
        ]);
        assert_eq!(err.to_string(), "unknown option 'frobnicate'");
        let err = e(&[
            ("share", "h/s"),
            ("username", "u"),
            ("password", "sekrit"),
            ("vers", "9.9"),
        ]);
        assert!(err.to_string().contains("vers"), "{err}");
        let err = e(&[
            ("share", "h/s"),
            ("username", "u"),
            ("password", "sekrit"),
            ("security", "krb5"),
        ]);
        assert!(err.to_string().contains("sec="), "{err}");
        assert!(
            matches!(e(&[("share", "h/s"), ("username", "u"), ("password", "p"), ("ro", "maybe")]), SpecError::Bad { key, .. } if key == "ro")
        );
        assert!(
            matches!(e(&[("share", "h/s"), ("password_file", "rel")]), SpecError::Bad { key, .. } if key == "password_file")
        );
        assert!(matches!(
            e(&[
                ("share", "h/s"),
                ("username", "u"),
                ("password", "p"),
                ("uid", "nosuchuser-xyz")
            ]),
            SpecError::Cifs(_)
        ));
        assert_eq!(
            e(&[("share", "h/s"), ("vers", &"9".repeat(MAX_VALUE + 1))]),
            bad("vers", "value too long")
        );
        let many: Vec<(String, String)> = (0..=MAX_OPTIONS)
            .map(|i| (format!("k{i}"), String::new()))
            .collect();
        assert_eq!(
            VolumeSpec::new(Some("cifs"), &many, &Lookup::default()).unwrap_err(),
            SpecError::TooMany
        );
        // anonymous and guest need no password
        assert!(spec(Some("cifs"), &[("share", "h/s"), ("security", "none")]).is_ok());
        assert!(spec(Some("cifs"), &[("share", "h/s"), ("o", "guest")]).is_ok());
    }

    #[test]
    fn password_file_and_credentials() {
        let d = std::env::temp_dir().join(format!("fusevol-spec-test.{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let pf = d.join("pw");
        std::fs::write(&pf, "s3cret,x\nignored\n").unwrap();
        std::fs::set_permissions(&pf, std::fs::Permissions::from_mode(0o644)).unwrap();
        let lookup = Lookup {
            base_dir: Some(d.clone()),
            cred_dir: None,
        };
        let mk = |extra: (&str, &str)| {
            VolumeSpec::new(
                Some("cifs"),
                &o(&[("share", "h/s"), ("username", "u"), extra]),
                &lookup,
            )
        };
        let err = mk(("password_file", "pw")).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&pf, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = mk(("password_file", "pw")).unwrap();
        assert_eq!(
            s.mount_options(&["allow_other"]).unwrap().expose(),
            "username=u,allow_other,password=s3cret,,x"
        );
        let err = mk(("password_file", "missing")).unwrap_err();
        assert!(matches!(err, SpecError::Bad { key, .. } if key == "password_file"));
        // credentials: a bare name in the plugin's credentials dir; no username needed
        let cf = d.join("prof");
        std::fs::write(&cf, "username=u\npassword=p\n").unwrap();
        std::fs::set_permissions(&cf, std::fs::Permissions::from_mode(0o600)).unwrap();
        let l2 = Lookup {
            base_dir: None,
            cred_dir: Some(d.clone()),
        };
        let s =
            VolumeSpec::new(None, &o(&[("share", "h/s"), ("credentials", "prof")]), &l2).unwrap();
        assert_eq!(
            s.mount_options(&[]).unwrap().expose(),
            format!("credentials={}", cf.display())
        );
        let err = VolumeSpec::new(None, &o(&[("share", "h/s"), ("credentials", "nope")]), &l2)
            .unwrap_err();
        assert!(matches!(err, SpecError::Bad { key, .. } if key == "credentials"));
        let err = VolumeSpec::new(
            None,
            &o(&[("share", "h/s"), ("credentials", "x"), ("password", "a")]),
            &Lookup::default(),
        )
        .unwrap_err();
        assert!(matches!(err, SpecError::Bad { key, .. } if key == "credentials"));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn btfs_options() {
        let s = spec(
            Some("btfs"),
            &[
                ("magnet", "magnet:?xt=urn:btih:abc&tr=http%3A%2F%2Fx"),
                ("tracker", "http://127.0.0.1:1/announce"),
                ("nodht", ""),
                ("listen", "127.0.0.1"),
            ],
        )
        .unwrap();
        assert!(s.ro);
        assert_eq!(s.warnings.len(), 1, "rw by default: warned");
        assert_eq!(
            opts(&s),
            "tracker=http://127.0.0.1:1/announce,nodht,listen=127.0.0.1"
        );
        let s = spec(Some("btfs"), &[("magnet", "magnet:?x"), ("ro", "true")]).unwrap();
        assert!(s.warnings.is_empty());
        let e = |p: &[(&str, &str)]| spec(Some("btfs"), p).unwrap_err();
        assert_eq!(e(&[("tracker", "x")]), SpecError::Missing("magnet"));
        assert!(
            matches!(e(&[("magnet", "http://x")]), SpecError::Bad { key, .. } if key == "magnet")
        );
        assert_eq!(
            e(&[("magnet", "magnet:?x"), ("torrent", "/a.torrent")]),
            SpecError::Conflict("magnet", "torrent")
        );
        assert!(
            matches!(e(&[("magnet", "magnet:?x"), ("listen", "nope")]), SpecError::Btfs(m) if m.contains("listen"))
        );
        assert!(
            matches!(e(&[("magnet", "magnet:?x"), ("o", "bogus")]), SpecError::Btfs(m) if m.contains("bogus"))
        );
        assert!(
            matches!(e(&[("magnet", "magnet:?x"), ("tracker", "a,b")]), SpecError::Bad { key, .. } if key == "tracker")
        );
        assert_eq!(
            e(&[("magnet", "magnet:?x"), ("file_mode", "0644")]),
            SpecError::WrongKind {
                key: "file_mode".into(),
                kind: "btfs"
            }
        );
    }
}
