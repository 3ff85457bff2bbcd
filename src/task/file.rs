//! The task-file grammar: SONM's (sonm-io/core v0.4.31) `container.volumes` and
//! `container.mounts`.
//!
//! ```yaml
//! container:
//!   volumes:                 # NAME -> {type, options}
//!     cifs:
//!       type: cifs
//!       options: {share: 127.0.0.1/share/, username: u, password: p, security: ntlmsspi, vers: 3.0}
//!   mounts:                  # "NAME:TARGET[:ro|rw]" (default rw)
//!     - cifs:/mnt/samba:ro
//! ```
//!
//! Other keys of `container` (and of the document) are ignored. Mount entries follow SONM's
//! `parseSpec`: at most three `:`-separated parts, a non-empty volume name, permission `ro` or
//! `rw`; unlike SONM, a mount naming an unknown volume is an error, and so are a missing volume
//! name (SONM's anonymous volumes), a relative target, and two mounts on the same target (Docker
//! refuses that too). Nested targets (`/mnt` and `/mnt/samba`) are fine, as in Docker.
//! Every error names the key it is about (`container.mounts[1]`, `container.volumes.x.type`).
use super::spec::{Kind, Lookup, SpecError, VolumeSpec};
use super::yaml::{self, Node, YamlError};
use std::path::{Component, Path, PathBuf};

/// Most volumes and mounts in one task.
pub const MAX_ENTRIES: usize = 256;

/// A task file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    #[error("not valid YAML: {0}")]
    Yaml(#[from] YamlError),
    /// The file could not be read (the caller names the file).
    #[error("{0}")]
    Read(String),
    #[error("{key}: {why}")]
    Key { key: String, why: String },
    #[error("{key}: {err}")]
    Spec { key: String, err: SpecError },
}

fn key_err(key: impl Into<String>, why: impl Into<String>) -> TaskError {
    TaskError::Key {
        key: key.into(),
        why: why.into(),
    }
}

/// One entry of `container.volumes`. `Debug` redacts passwords.
#[derive(Clone, PartialEq, Eq)]
pub struct VolumeDef {
    pub name: String,
    pub kind: String,
    /// Option names and their literal text (`vers: 3.0` → `"3.0"`; null → `""`).
    pub options: Vec<(String, String)>,
}

impl std::fmt::Debug for VolumeDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opts: Vec<_> = self
            .options
            .iter()
            .map(|(k, v)| (k, crate::options::redact_value(k, v)))
            .collect();
        f.debug_struct("VolumeDef")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("options", &opts)
            .finish()
    }
}

/// One entry of `container.mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub volume: String,
    /// Absolute, normalised (no `.`, `..` or doubled `/`).
    pub target: String,
    pub ro: bool,
}

/// The parts of a task file fusevol uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Task {
    pub volumes: Vec<VolumeDef>,
    pub mounts: Vec<MountEntry>,
}

/// Volume names become directory names: `[A-Za-z0-9][A-Za-z0-9_.-]*`, at most 64 bytes (Docker's
/// rule for volume names).
pub fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn scalar(key: &str, n: &Node) -> Result<String, TaskError> {
    match n {
        Node::Scalar { text, .. } => Ok(if n.is_null() {
            String::new()
        } else {
            text.clone()
        }),
        other => Err(key_err(
            key,
            format!(
                "must be a scalar, not {} (line {})",
                other.kind(),
                other.line()
            ),
        )),
    }
}

fn entries<'a>(key: &str, n: &'a Node) -> Result<&'a [(String, Node)], TaskError> {
    match n {
        Node::Map { entries, .. } => Ok(entries),
        other => Err(key_err(
            key,
            format!(
                "must be a mapping, not {} (line {})",
                other.kind(),
                other.line()
            ),
        )),
    }
}

/// A mount target: absolute, normalised, not `/`.
fn target(key: &str, t: &str) -> Result<String, TaskError> {
    if t.is_empty() {
        return Err(key_err(key, "empty target path"));
    }
    if !t.starts_with('/') {
        return Err(key_err(
            key,
            format!("target '{t}' is not an absolute path"),
        ));
    }
    let mut parts = Vec::new();
    for c in Path::new(t).components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                return Err(key_err(key, format!("target '{t}' contains '..'")));
            }
            Component::Prefix(_) => return Err(key_err(key, "bad target")),
        }
    }
    if parts.is_empty() {
        return Err(key_err(key, "target '/' is not allowed"));
    }
    Ok(format!("/{}", parts.join("/")))
}

/// SONM `parseSpec`: `NAME:TARGET[:ro|rw]`.
fn mount_entry(key: &str, spec: &str) -> Result<MountEntry, TaskError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (name, tgt, mode) = match parts.as_slice() {
        [_] => {
            return Err(key_err(
                key,
                format!("'{spec}' names no volume (use NAME:TARGET[:ro|rw])"),
            ));
        }
        [n, t] => (*n, *t, "rw"),
        [n, t, m] => (*n, *t, *m),
        _ => {
            return Err(key_err(
                key,
                format!(
                    "'{spec}' has more than three ':'-separated parts (use NAME:TARGET[:ro|rw])"
                ),
            ));
        }
    };
    if name.is_empty() {
        return Err(key_err(key, format!("'{spec}': empty volume name")));
    }
    let ro = match mode {
        "ro" => true,
        "rw" => false,
        m => {
            return Err(key_err(
                key,
                format!("invalid permission mode '{m}' (use ro or rw)"),
            ));
        }
    };
    Ok(MountEntry {
        volume: name.to_string(),
        target: target(key, tgt)?,
        ro,
    })
}

impl Task {
    /// Parse a task file's text.
    pub fn parse(text: &str) -> Result<Task, TaskError> {
        let doc = yaml::parse(text)?;
        let top = entries("(document)", &doc)?;
        let Some((_, container)) = top.iter().find(|(k, _)| k == "container") else {
            return Err(key_err("container", "missing"));
        };
        let c = entries("container", container)?;
        let mut task = Task::default();
        if let Some((_, vols)) = c.iter().find(|(k, _)| k == "volumes")
            && !vols.is_null()
        {
            let vols = entries("container.volumes", vols)?;
            if vols.len() > MAX_ENTRIES {
                return Err(key_err("container.volumes", "too many volumes"));
            }
            for (name, def) in vols {
                let vk = format!("container.volumes.{name}");
                if !valid_name(name) {
                    return Err(key_err(
                        &vk,
                        "bad volume name (letters, digits, '_', '.', '-'; at most 64)",
                    ));
                }
                let mut kind = None;
                let mut options = Vec::new();
                for (k, v) in entries(&vk, def)? {
                    let kk = format!("{vk}.{k}");
                    match k.as_str() {
                        "type" => kind = Some(scalar(&kk, v)?),
                        "options" if v.is_null() => {}
                        "options" => {
                            for (ok, ov) in entries(&kk, v)? {
                                options.push((ok.clone(), scalar(&format!("{kk}.{ok}"), ov)?));
                            }
                        }
                        _ => return Err(key_err(kk, "unknown key (use type and options)")),
                    }
                }
                let Some(kind) = kind else {
                    return Err(key_err(format!("{vk}.type"), "missing"));
                };
                Kind::parse(&kind).map_err(|err| TaskError::Spec {
                    key: format!("{vk}.type"),
                    err,
                })?;
                task.volumes.push(VolumeDef {
                    name: name.clone(),
                    kind,
                    options,
                });
            }
        }
        if let Some((_, mounts)) = c.iter().find(|(k, _)| k == "mounts")
            && !mounts.is_null()
        {
            let Node::Seq { items, .. } = mounts else {
                return Err(key_err(
                    "container.mounts",
                    format!("must be a list, not {}", mounts.kind()),
                ));
            };
            if items.len() > MAX_ENTRIES {
                return Err(key_err("container.mounts", "too many mounts"));
            }
            for (i, item) in items.iter().enumerate() {
                let key = format!("container.mounts[{i}]");
                let m = mount_entry(&key, &scalar(&key, item)?)?;
                if !task.volumes.iter().any(|v| v.name == m.volume) {
                    return Err(key_err(
                        &key,
                        format!("unknown volume '{}' (not in container.volumes)", m.volume),
                    ));
                }
                if let Some(j) = task.mounts.iter().position(|o| o.target == m.target) {
                    return Err(key_err(
                        &key,
                        format!(
                            "target '{}' is already used by container.mounts[{j}]",
                            m.target
                        ),
                    ));
                }
                task.mounts.push(m);
            }
        }
        Ok(task)
    }

    /// Read and parse a task file (at most 1 MiB).
    pub fn load(path: &Path) -> Result<Task, TaskError> {
        let f = std::fs::File::open(path).map_err(|e| TaskError::Read(e.to_string()))?;
        let mut text = String::new();
        use std::io::Read;
        f.take(yaml::MAX_INPUT as u64 + 1)
            .read_to_string(&mut text)
            .map_err(|e| TaskError::Read(e.to_string()))?;
        Task::parse(&text)
    }

    /// The volumes that some mount uses, checked, in definition order, with the mode each is
    /// mounted in: a cifs volume is read-only only if every target is; a torrent always is.
    /// Relative `password_file` / `credentials` paths are taken from `base_dir`.
    pub fn specs(&self, base_dir: &Path) -> Result<Vec<(String, VolumeSpec)>, TaskError> {
        let lookup = Lookup {
            base_dir: Some(base_dir.to_path_buf()),
            cred_dir: None,
        };
        let mut out = Vec::new();
        for v in &self.volumes {
            let targets: Vec<&MountEntry> =
                self.mounts.iter().filter(|m| m.volume == v.name).collect();
            if targets.is_empty() {
                continue;
            }
            let mut opts = v.options.clone();
            let all_ro = targets.iter().all(|m| m.ro);
            if all_ro && !opts.iter().any(|(k, _)| k == "ro" || k == "rw") {
                opts.push(("ro".into(), String::new()));
            }
            let mut spec =
                VolumeSpec::new(Some(&v.kind), &opts, &lookup).map_err(|err| TaskError::Spec {
                    key: format!("container.volumes.{}.options", v.name),
                    err,
                })?;
            if spec.kind == Kind::Btfs {
                spec.warnings.clear();
                if !all_ro {
                    spec.warnings.push(format!(
                        "volume '{}' is a torrent: mounted read-only although a mount asks for rw",
                        v.name
                    ));
                }
            }
            if spec.ro && !all_ro && spec.kind == Kind::Cifs {
                spec.warnings.push(format!(
                    "volume '{}' has option ro: its rw mounts are read-only too",
                    v.name
                ));
            }
            out.push((v.name.clone(), spec));
        }
        Ok(out)
    }

    /// Volumes that no mount uses (skipped, with a warning).
    pub fn unused(&self) -> Vec<&str> {
        self.volumes
            .iter()
            .filter(|v| !self.mounts.iter().any(|m| m.volume == v.name))
            .map(|v| v.name.as_str())
            .collect()
    }
}

/// The name of a target's directory under a state dir: the path without its leading `/`, with
/// `%` and `/` percent-encoded (`/mnt/samba` → `mnt%2Fsamba`), so that nested targets (`/mnt`
/// and `/mnt/samba`) get separate, non-nested directories.
pub fn target_dir_name(target: &str) -> String {
    target
        .trim_start_matches('/')
        .replace('%', "%25")
        .replace('/', "%2F")
}

/// `base/<target_dir_name(target)>`.
pub fn under(base: &Path, target: &str) -> PathBuf {
    base.join(target_dir_name(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUE: &str = r#"
container:
  image: httpd@sha256:0123
  env: {A: b}
  volumes:
    cifs:
      type: cifs
      options: {share: 127.0.0.1/share/, username: u, password: p, security: ntlmsspi, vers: 3.0}
    btfs:
      type: btfs
      options: {magnet: "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567"}
  mounts:
    - cifs:/mnt/samba:ro
    - btfs:/mnt:ro
"#;

    fn err(text: &str) -> String {
        Task::parse(text).unwrap_err().to_string()
    }

    fn with_mounts(m: &str) -> String {
        format!(
            "container:\n  volumes:\n    v: {{type: cifs, options: {{share: h/s, username: u, password: p}}}}\n  mounts: {m}\n"
        )
    }

    #[test]
    fn the_issue_example() {
        let t = Task::parse(&ISSUE.replace("btfs:/mnt:ro", "btfs:/mnt")).unwrap();
        assert_eq!(t.volumes.len(), 2);
        let cifs = &t.volumes[0];
        assert_eq!(cifs.kind, "cifs");
        assert!(
            cifs.options.contains(&("vers".into(), "3.0".into())),
            "literal float text"
        );
        assert_eq!(
            t.mounts,
            vec![
                MountEntry {
                    volume: "cifs".into(),
                    target: "/mnt/samba".into(),
                    ro: true
                },
                MountEntry {
                    volume: "btfs".into(),
                    target: "/mnt".into(),
                    ro: false
                },
            ]
        );
        let specs = t.specs(Path::new("/")).unwrap();
        assert_eq!(specs.len(), 2);
        let (_, c) = &specs[0];
        assert!(c.ro, "only ro targets: mounted ro");
        assert_eq!(
            c.mount_options(&[]).unwrap().expose(),
            "username=u,sec=ntlmsspi,vers=3.0,ro,password=p"
        );
        let (_, b) = &specs[1];
        assert!(b.ro);
        assert_eq!(b.warnings.len(), 1, "rw asked of a torrent: warned");
    }

    #[test]
    fn one_volume_several_targets_mixed_modes() {
        let t = Task::parse(&with_mounts("[v:/a, 'v:/b:ro', 'v:/c/./d//:rw']")).unwrap();
        assert_eq!(t.mounts[2].target, "/c/d");
        let specs = t.specs(Path::new("/")).unwrap();
        assert_eq!(specs.len(), 1);
        assert!(!specs[0].1.ro, "one rw target: rw mount, ro binds");
    }

    #[test]
    fn mount_entry_errors_name_the_entry() {
        for (m, want) in [
            (
                "['v:/a:ro:x']",
                "container.mounts[0]: 'v:/a:ro:x' has more than three",
            ),
            (
                "[':/mnt:rw']",
                "container.mounts[0]: ':/mnt:rw': empty volume name",
            ),
            ("['/mnt']", "container.mounts[0]: '/mnt' names no volume"),
            (
                "['v:/a', 'w:/b']",
                "container.mounts[1]: unknown volume 'w'",
            ),
            (
                "['v:/a:rx']",
                "container.mounts[0]: invalid permission mode 'rx'",
            ),
            (
                "['v:rel']",
                "container.mounts[0]: target 'rel' is not an absolute path",
            ),
            (
                "['v:/a/../b']",
                "container.mounts[0]: target '/a/../b' contains '..'",
            ),
            ("['v:/']", "container.mounts[0]: target '/' is not allowed"),
            ("['v:']", "container.mounts[0]: empty target path"),
            (
                "['v:/a', 'v:/a/']",
                "container.mounts[1]: target '/a' is already used by container.mounts[0]",
            ),
            ("[[v]]", "container.mounts[0]: must be a scalar"),
            ("{a: b}", "container.mounts: must be a list"),
        ] {
            let e = err(&with_mounts(m));
            assert!(e.starts_with(want), "{m}: {e}");
        }
    }

    #[test]
    fn volume_errors_name_the_key() {
        let vol = |v: &str| format!("container:\n  volumes:\n    v: {v}\n  mounts: [v:/x]\n");
        for (v, want) in [
            ("{options: {}}", "container.volumes.v.type: missing"),
            (
                "{type: nfs}",
                "container.volumes.v.type: unknown volume type 'nfs'",
            ),
            (
                "{type: cifs, opts: {}}",
                "container.volumes.v.opts: unknown key",
            ),
            (
                "{type: cifs, options: [a]}",
                "container.volumes.v.options: must be a mapping",
            ),
            (
                "{type: cifs, options: {share: {a: b}}}",
                "container.volumes.v.options.share: must be a scalar",
            ),
            ("[1]", "container.volumes.v: must be a mapping"),
        ] {
            let e = err(&vol(v));
            assert!(e.starts_with(want), "{v}: {e}");
        }
        let spec_err = |o: &str| {
            Task::parse(&vol(&format!("{{type: cifs, options: {o}}}")))
                .unwrap()
                .specs(Path::new("/"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            spec_err("{username: u, password: p}"),
            "container.volumes.v.options: missing option 'share'"
        );
        assert_eq!(
            spec_err("{share: h/s, password: p}"),
            "container.volumes.v.options: missing option 'username'"
        );
        assert_eq!(
            spec_err("{share: h/s, username: u}"),
            "container.volumes.v.options: missing option 'password'"
        );
        assert_eq!(
            spec_err("{share: h/s, username: u, password: p, colour: red}"),
            "container.volumes.v.options: unknown option 'colour'"
        );
        let e = spec_err("{share: h/s, username: u, password: hunter2, vers: 7}");
        assert!(e.contains("vers") && !e.contains("hunter2"), "{e}");
        assert_eq!(
            err("container:\n  volumes:\n    'a/b': {type: cifs}\n")
                .split(':')
                .next(),
            Some("container.volumes.a/b")
        );
        let btfs = Task::parse(&vol("{type: btfs, options: {}}"))
            .unwrap()
            .specs(Path::new("/"))
            .unwrap_err()
            .to_string();
        assert_eq!(btfs, "container.volumes.v.options: missing option 'magnet'");
    }

    #[test]
    fn document_shape_errors() {
        assert_eq!(err("image: x\n"), "container: missing");
        assert!(err("- a\n").starts_with("(document): must be a mapping"));
        assert!(err("container: [a]\n").starts_with("container: must be a mapping"));
        assert!(
            err("container: {volumes: [a]}\n").starts_with("container.volumes: must be a mapping")
        );
        assert!(err("container: {a: *x}\n").starts_with("not valid YAML"));
        // No volumes and no mounts: an empty task is fine.
        assert_eq!(
            Task::parse("container: {image: x}\n").unwrap(),
            Task::default()
        );
        let t = Task::parse(
            "container:\n  volumes:\n    v: {type: btfs, options: {magnet: 'magnet:?x'}}\n",
        )
        .unwrap();
        assert_eq!(t.unused(), vec!["v"]);
        assert!(t.specs(Path::new("/")).unwrap().is_empty());
    }

    #[test]
    fn names_and_paths() {
        assert!(valid_name("a.b_c-1"));
        assert!(
            !valid_name(".a")
                && !valid_name("a/b")
                && !valid_name("")
                && !valid_name(&"a".repeat(65))
        );
        assert_eq!(
            under(Path::new("/s/t"), "/mnt/x"),
            PathBuf::from("/s/t/mnt%2Fx")
        );
        assert_eq!(target_dir_name("/a%2Fb/c"), "a%252Fb%2Fc");
        assert_ne!(target_dir_name("/a/b"), target_dir_name("/a%2Fb"));
    }

    #[test]
    fn volume_def_debug_redacts_passwords() {
        let v = VolumeDef {
            name: "v".into(),
            kind: "cifs".into(),
            options: vec![
                ("password".into(), "hunter2".into()),
                ("username".into(), "bob%hunter3".into()),
            ],
        };
        let d = format!("{v:?}");
        assert!(!d.contains("hunter"), "{d}");
        assert!(d.contains("bob%<redacted>"), "{d}");
    }
}
