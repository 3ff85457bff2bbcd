//! mount.cifs options (`-o a=b,c,…`), credential files and the environment, parsed into one typed
//! value that `fusevol smb …` and `fusevol mount` share.
//!
//! Source of truth for names and meanings: mount.cifs(8) and the kernel's `smb3_fs_parameters[]`
//! (summarised in the project notes). An option we do not know is an error that names it; options
//! the kernel accepts but we do not act on are accepted with a warning; the fstab words the kernel
//! ignores are accepted silently.
use crate::smb::auth::Credentials;
use crate::smb::client::{Auth, ClientConfig};
use crate::smb::proto::negotiate::{VersError, dialects_for_vers};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

/// A password: zeroed on drop, never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An option's value as it may be shown (`Debug`, logs): the value of `password`, `pass` and
/// `password2` and the password part of `username=user%password` are `<redacted>`; the value of
/// `o` (the Docker `local` driver's option string) is redacted as an option string. Keys are
/// compared as the task file and plugin compare them (case and `-`/`_` alike).
pub fn redact_value<'a>(key: &str, value: &'a str) -> std::borrow::Cow<'a, str> {
    use std::borrow::Cow;
    let k = key.trim().to_ascii_lowercase().replace('-', "_");
    match k.as_str() {
        "password" | "pass" | "password2" => Cow::Borrowed("<redacted>"),
        "username" | "user" => match value.split_once('%') {
            Some((u, _)) => Cow::Owned(format!("{u}%<redacted>")),
            None => Cow::Borrowed(value),
        },
        "o" => Cow::Owned(redact(value)),
        _ => Cow::Borrowed(value),
    }
}

/// A mount.cifs option string with its secrets redacted (see [`redact_value`]); `,,` inside a
/// value is taken as mount.cifs takes it (an escaped comma).
pub fn redact(opts: &str) -> String {
    split_options(opts)
        .iter()
        .map(|item| match item.split_once('=') {
            Some((k, v)) => format!("{k}={}", redact_value(k, v).replace(',', ",,")),
            None => item.clone(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `sec=` (mount.cifs(8)); the `i` forms also require signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sec {
    /// NTLMv2 in NTLMSSP (`ntlmssp`, `ntlmsspi`, the default).
    Ntlmssp,
    /// NTLMv2 (`ntlmv2`, `ntlmv2i`): on SMB2 the same exchange as `ntlmssp`.
    Ntlmv2,
    /// NTLMv1 (`ntlm`, `ntlmi`): only servers with `ntlm auth = ntlmv1-permitted` accept it.
    Ntlm,
    /// The null session (`none`).
    None,
}

/// `cache=` (mount.cifs(8)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    #[default]
    Strict,
    Loose,
    None,
}

/// Every option a mount or `smb` command takes.
#[derive(Debug, Clone)]
pub struct CifsOptions {
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub domain: Option<String>,
    pub credentials: Option<PathBuf>,
    pub guest: bool,
    pub sec: Sec,
    pub sign: bool,
    pub seal: bool,
    pub vers: Option<String>,
    pub port: Option<u16>,
    pub addr: Option<IpAddr>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub forceuid: bool,
    pub forcegid: bool,
    pub file_mode: Option<u32>,
    pub dir_mode: Option<u32>,
    pub ro: bool,
    pub perm: bool,
    pub cache: CacheMode,
    pub actimeo: Option<Duration>,
    pub acregmax: Option<Duration>,
    pub acdirmax: Option<Duration>,
    pub rsize: Option<u32>,
    pub wsize: Option<u32>,
    pub echo_interval: Duration,
    pub hard: bool,
    /// Request leases, and with them durable handles v2 (off with `nolease`).
    pub lease: bool,
    pub strictsync: bool,
    pub mapposix: bool,
    pub serverino: bool,
    pub mfsymlinks: bool,
    pub allow_other: bool,
    pub default_permissions: bool,
    /// Options accepted but not acted on, for the caller to print.
    pub warnings: Vec<String>,
}

impl Default for CifsOptions {
    fn default() -> Self {
        Self {
            username: None,
            password: None,
            domain: None,
            credentials: None,
            guest: false,
            sec: Sec::Ntlmssp,
            sign: false,
            seal: false,
            vers: None,
            port: None,
            addr: None,
            uid: None,
            gid: None,
            forceuid: false,
            forcegid: false,
            file_mode: None,
            dir_mode: None,
            ro: false,
            perm: true,
            cache: CacheMode::Strict,
            actimeo: None,
            acregmax: None,
            acdirmax: None,
            rsize: None,
            wsize: None,
            echo_interval: Duration::from_secs(60),
            hard: false,
            lease: true,
            strictsync: true,
            mapposix: false,
            serverino: true,
            mfsymlinks: false,
            allow_other: false,
            default_permissions: false,
            warnings: Vec::new(),
        }
    }
}

/// A bad option string, credential file or credential source. Never contains a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    #[error("unknown option '{0}'")]
    Unknown(String),
    #[error("option '{0}' needs a value ({0}=…)")]
    MissingValue(String),
    #[error("option '{0}' takes no value")]
    UnexpectedValue(String),
    #[error("bad value for {name}: '{value}' ({why})")]
    BadValue {
        name: String,
        value: String,
        why: &'static str,
    },
    #[error(
        "sec={0}: Kerberos is not supported yet (use sec=ntlmssp, ntlmsspi, ntlmv2, ntlm or none)"
    )]
    Kerberos(String),
    #[error(
        "sec={0}: unknown security mode (use ntlmssp, ntlmsspi, ntlmv2, ntlmv2i, ntlm, ntlmi or none)"
    )]
    UnknownSec(String),
    #[error(transparent)]
    Vers(#[from] VersError),
    #[error("rdma is not supported")]
    Rdma,
    #[error("cannot read credentials file {path}: {why}")]
    CredentialsFile { path: String, why: String },
    #[error(
        "credentials file {path}, line {line}: unknown key '{key}' (use username=, password=, domain=)"
    )]
    CredentialsKey {
        path: String,
        line: usize,
        key: String,
    },
    #[error("cannot read PASSWD_FILE {path}: {why}")]
    PasswdFile { path: String, why: String },
    #[error(
        "no password given: use password=, credentials=FILE, PASSWD, PASSWD_FILE, or run on a terminal to be asked"
    )]
    NoPassword,
}

/// Split an option string on commas; `,,` stands for a literal comma (mount.cifs(8), for
/// passwords that contain one).
pub(crate) fn split_options(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' {
            if chars.peek() == Some(&',') {
                chars.next();
                cur.push(',');
            } else {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

fn parse_num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, OptionError> {
    v.trim().parse().map_err(|_| OptionError::BadValue {
        name: name.into(),
        value: v.into(),
        why: "not a number",
    })
}

fn parse_mode(name: &str, v: &str) -> Result<u32, OptionError> {
    let m =
        u32::from_str_radix(v.trim_start_matches("0o"), 8).map_err(|_| OptionError::BadValue {
            name: name.into(),
            value: v.into(),
            why: "not an octal mode",
        })?;
    if m > 0o7777 {
        return Err(OptionError::BadValue {
            name: name.into(),
            value: v.into(),
            why: "above 07777",
        });
    }
    Ok(m)
}

/// A user or group given by number or by name (looked up in /etc/passwd or /etc/group).
fn parse_id(name: &str, v: &str, db: &str) -> Result<u32, OptionError> {
    if let Ok(n) = v.parse() {
        return Ok(n);
    }
    let text = std::fs::read_to_string(db).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let (n, _, id) = (f.next()?, f.next()?, f.next()?);
            (n == v).then(|| id.parse().ok()).flatten()
        })
        .next()
        .ok_or(OptionError::BadValue {
            name: name.into(),
            value: v.into(),
            why: "no such name",
        })
}

fn secs(name: &str, v: &str) -> Result<Duration, OptionError> {
    Ok(Duration::from_secs(parse_num::<u64>(name, v)?))
}

/// Options that fstab lines carry and the kernel ignores: accepted silently.
const SILENT: &[&str] = &[
    "_netdev",
    "auto",
    "noauto",
    "nofail",
    "user",
    "nouser",
    "users",
    "owner",
    "group",
    "defaults",
    "noatime",
    "atime",
    "relatime",
    "norelatime",
    "strictatime",
    "nodiratime",
    "diratime",
    "suid",
    "nosuid",
    "exec",
    "noexec",
    "dev",
    "nodev",
    "mand",
    "nomand",
    "sync",
    "async",
    "dirsync",
    "lazytime",
    "nolazytime",
    "iversion",
    "noiversion",
    "loud",
    "silent",
    "comment",
    "sloppy",
    "nosharesock",
    "tcpnodelay",
    "noautotune",
    "noblocksend",
    "nbsessinit",
    "nonbsessinit",
    "nosparse",
    "nodelete",
    "rootfs",
    "intr",
    "nointr",
    "unc",
    "prefixpath",
    "iocharset",
    "upcall_target",
    "password2",
    "witness",
    "compress",
    "nomapchars",
    "nomapposix",
    "helper",
];

/// Kernel options we parse but do not implement yet: accepted with a warning.
const WARN: &[&str] = &[
    "cruid",
    "srcaddr",
    "netbiosname",
    "servern",
    "max_credits",
    "rasize",
    "multichannel",
    "nomultichannel",
    "max_channels",
    "resilienthandles",
    "noresilienthandles",
    "persistenthandles",
    "nopersistenthandles",
    "handletimeout",
    "snapshot",
    "cifsacl",
    "nocifsacl",
    "modefromsid",
    "modesid",
    "idsfromsid",
    "acl",
    "noacl",
    "backupuid",
    "backupgid",
    "sfu",
    "reparse",
    "symlink",
    "symlinkroot",
    "nativesocket",
    "nocase",
    "ignorecase",
    "user_xattr",
    "nouser_xattr",
    "locallease",
    "brl",
    "nobrl",
    "forcemandatorylock",
    "rwpidforward",
    "posixpaths",
    "noposixpaths",
    "multiuser",
    "mapchars",
    "posix",
    "noposix",
    "unix",
    "nounix",
    "linux",
    "nolinux",
    "setuids",
    "nosetuids",
    "dynperm",
    "nodynperm",
    "handlecache",
    "nohandlecache",
    "max_cached_dirs",
    "closetimeo",
    "retrans",
    "nodfs",
    "dfs",
    "bsize",
    "fsc",
    "noac",
    "domainauto",
    "nostrictsync_",
    "nounix_",
    "cache_ro",
];

/// Parse a mount.cifs option string. Later options override earlier ones (and a later `sec=`
/// resets `sign`, as in the kernel).
pub fn parse(opts: &str) -> Result<CifsOptions, OptionError> {
    let mut o = CifsOptions::default();
    for item in split_options(opts) {
        let (name, value) = match item.split_once('=') {
            Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(v.to_string())),
            None => (item.trim().to_ascii_lowercase(), None),
        };
        let need = |v: &Option<String>| v.clone().ok_or(OptionError::MissingValue(name.clone()));
        let flag = |v: &Option<String>| match v {
            Some(_) => Err(OptionError::UnexpectedValue(name.clone())),
            None => Ok(true),
        };
        match name.as_str() {
            "username" | "user" if value.is_some() => {
                let v = need(&value)?;
                // mount.cifs: "username=user%password" and "DOMAIN/user" forms.
                let (u, p) = match v.split_once('%') {
                    Some((u, p)) => (u.to_string(), Some(Secret::new(p))),
                    None => (v, None),
                };
                let (d, u) = match u.split_once(['/', '\\']) {
                    Some((d, u)) => (Some(d.to_string()), u.to_string()),
                    None => (None, u),
                };
                o.username = Some(u);
                if let Some(p) = p {
                    o.password = Some(p);
                }
                if d.is_some() {
                    o.domain = d;
                }
            }
            "password" | "pass" => o.password = Some(Secret::new(need(&value)?)),
            "domain" | "dom" | "workgroup" => o.domain = Some(need(&value)?),
            "credentials" | "cred" => o.credentials = Some(PathBuf::from(need(&value)?)),
            "guest" => o.guest = flag(&value)?,
            "sec" => {
                let v = need(&value)?.to_ascii_lowercase();
                let (sec, sign) = match v.as_str() {
                    "ntlmssp" => (Sec::Ntlmssp, false),
                    "ntlmsspi" => (Sec::Ntlmssp, true),
                    "ntlmv2" => (Sec::Ntlmv2, false),
                    "ntlmv2i" => (Sec::Ntlmv2, true),
                    "ntlm" => (Sec::Ntlm, false),
                    "ntlmi" => (Sec::Ntlm, true),
                    "none" => (Sec::None, false),
                    k if k.starts_with("krb5") => return Err(OptionError::Kerberos(v)),
                    _ => return Err(OptionError::UnknownSec(v)),
                };
                o.sec = sec;
                o.sign = sign;
            }
            "sign" => o.sign = flag(&value)?,
            "seal" => o.seal = flag(&value)?,
            "vers" => {
                let v = need(&value)?;
                dialects_for_vers(Some(&v))?;
                o.vers = Some(v);
            }
            "port" => o.port = Some(parse_num(&name, &need(&value)?)?),
            "ip" | "addr" => {
                let v = need(&value)?;
                o.addr = Some(v.parse().map_err(|_| OptionError::BadValue {
                    name: name.clone(),
                    value: v.clone(),
                    why: "not an IP address",
                })?);
            }
            "uid" => o.uid = Some(parse_id(&name, &need(&value)?, "/etc/passwd")?),
            "gid" => o.gid = Some(parse_id(&name, &need(&value)?, "/etc/group")?),
            "forceuid" => o.forceuid = flag(&value)?,
            "noforceuid" => o.forceuid = !flag(&value)?,
            "forcegid" => o.forcegid = flag(&value)?,
            "noforcegid" => o.forcegid = !flag(&value)?,
            "file_mode" => o.file_mode = Some(parse_mode(&name, &need(&value)?)?),
            "dir_mode" | "dirmode" => o.dir_mode = Some(parse_mode(&name, &need(&value)?)?),
            "ro" => o.ro = flag(&value)?,
            "rw" => o.ro = !flag(&value)?,
            "perm" => o.perm = flag(&value)?,
            "noperm" => o.perm = !flag(&value)?,
            "cache" => {
                let v = need(&value)?;
                o.cache = match v.as_str() {
                    "strict" => CacheMode::Strict,
                    "loose" | "singleclient" => CacheMode::Loose,
                    "none" => CacheMode::None,
                    "ro" => CacheMode::Loose,
                    _ => {
                        return Err(OptionError::BadValue {
                            name,
                            value: v,
                            why: "use strict, loose or none",
                        });
                    }
                };
            }
            "actimeo" => o.actimeo = Some(secs(&name, &need(&value)?)?),
            "acregmax" => o.acregmax = Some(secs(&name, &need(&value)?)?),
            "acdirmax" => o.acdirmax = Some(secs(&name, &need(&value)?)?),
            "rsize" | "wsize" => {
                let v: u32 = parse_num(&name, &need(&value)?)?;
                if !(4096..=(16 << 20)).contains(&v) {
                    return Err(OptionError::BadValue {
                        name,
                        value: v.to_string(),
                        why: "must be between 4096 and 16777216",
                    });
                }
                if name == "rsize" {
                    o.rsize = Some(v);
                } else {
                    o.wsize = Some(v);
                }
            }
            "echo_interval" => {
                let v: u64 = parse_num(&name, &need(&value)?)?;
                if !(1..=600).contains(&v) {
                    return Err(OptionError::BadValue {
                        name,
                        value: v.to_string(),
                        why: "must be between 1 and 600 seconds",
                    });
                }
                o.echo_interval = Duration::from_secs(v);
            }
            "hard" => o.hard = flag(&value)?,
            "soft" => o.hard = !flag(&value)?,
            "nolease" => o.lease = !flag(&value)?,
            "strictsync" => o.strictsync = flag(&value)?,
            "nostrictsync" => o.strictsync = !flag(&value)?,
            "mapposix" => o.mapposix = flag(&value)?,
            "serverino" => o.serverino = flag(&value)?,
            "noserverino" => o.serverino = !flag(&value)?,
            "mfsymlinks" => o.mfsymlinks = flag(&value)?,
            "allow_other" => o.allow_other = flag(&value)?,
            "default_permissions" => o.default_permissions = flag(&value)?,
            "rdma" => return Err(OptionError::Rdma),
            "ignore_signature" | "signloosely" => {
                o.warnings
                    .push(format!("{name}: ignored; signatures are always verified"));
            }
            n if n.starts_with("x-") || SILENT.contains(&n) => {
                tracing::debug!(option = n, "accepted and ignored");
            }
            n if WARN.contains(&n) => {
                o.warnings.push(format!(
                    "option '{n}' is not supported yet and has no effect"
                ));
            }
            _ => return Err(OptionError::Unknown(item_name(&item))),
        }
    }
    Ok(o)
}

/// The name part of an option, for messages (never its value: it could be a password).
fn item_name(item: &str) -> String {
    item.split('=').next().unwrap_or(item).to_string()
}

/// Identity read from a mount.cifs credentials file.
#[derive(Debug, Default, Clone)]
pub struct FileCredentials {
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub domain: Option<String>,
}

/// Read a mount.cifs credentials file: `username=`, `password=`, `domain=` lines (also `user=`,
/// `pass=`, `dom=`, `workgroup=`); blank lines and `#` comments skipped. The password is the
/// rest of its line, verbatim.
pub fn read_credentials_file(path: &Path) -> Result<FileCredentials, OptionError> {
    let p = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| OptionError::CredentialsFile {
        path: p.clone(),
        why: e.to_string(),
    })?;
    if meta.len() > 64 * 1024 {
        return Err(OptionError::CredentialsFile {
            path: p,
            why: "larger than 64 KiB".into(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(|e| OptionError::CredentialsFile {
        path: p.clone(),
        why: e.to_string(),
    })?;
    let text = Zeroizing::new(text);
    let mut c = FileCredentials::default();
    for (i, line) in text.lines().enumerate() {
        let l = line.trim_start();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let Some((k, v)) = l.split_once('=') else {
            return Err(OptionError::CredentialsKey {
                path: p,
                line: i + 1,
                key: item_name(l),
            });
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "username" | "user" => c.username = Some(v.trim().to_string()),
            "password" | "pass" => c.password = Some(Secret::new(v.trim_end_matches('\r'))),
            "domain" | "dom" | "workgroup" => c.domain = Some(v.trim().to_string()),
            other => {
                return Err(OptionError::CredentialsKey {
                    path: p,
                    line: i + 1,
                    key: other.to_string(),
                });
            }
        }
    }
    Ok(c)
}

/// Asks the user for a password (given the prompt text).
pub type Prompt = Box<dyn Fn(&str) -> Option<Secret>>;

/// Where credentials may come from besides the options (so tests can fake the environment).
pub struct CredentialEnv {
    /// `USER` (may be `user%password`).
    pub user: Option<String>,
    /// `PASSWD`.
    pub passwd: Option<Secret>,
    /// `PASSWD_FILE`.
    pub passwd_file: Option<PathBuf>,
    /// Ask on the terminal when nothing else gave a password.
    pub prompt: Option<Prompt>,
}

impl CredentialEnv {
    /// The real environment; prompts only when stdin is a terminal.
    pub fn from_process() -> Self {
        use std::io::IsTerminal;
        let prompt: Option<Prompt> = if std::io::stdin().is_terminal() {
            Some(Box::new(|q: &str| {
                rpassword::prompt_password(q).ok().map(Secret::new)
            }))
        } else {
            None
        };
        Self {
            user: std::env::var("USER").ok(),
            passwd: std::env::var("PASSWD").ok().map(Secret::new),
            passwd_file: std::env::var_os("PASSWD_FILE").map(PathBuf::from),
            prompt,
        }
    }

    pub fn none() -> Self {
        Self {
            user: None,
            passwd: None,
            passwd_file: None,
            prompt: None,
        }
    }
}

impl CifsOptions {
    /// Who to log on as, from (in this order) the options, the credentials file, `USER`,
    /// `PASSWD`, `PASSWD_FILE`, and a prompt on a terminal.
    pub fn auth(&self, env: &CredentialEnv, target: &str) -> Result<Auth, OptionError> {
        if self.sec == Sec::None {
            return Ok(Auth::Anonymous);
        }
        let file = match &self.credentials {
            Some(p) => read_credentials_file(p)?,
            None => FileCredentials::default(),
        };
        let (env_user, env_pass) = match env.user.as_deref().map(|u| u.split_once('%')) {
            Some(Some((u, p))) => (Some(u.to_string()), Some(Secret::new(p))),
            Some(None) => (env.user.clone(), None),
            None => (None, None),
        };
        let user = self.username.clone().or(file.username.clone()).or(env_user);
        if self.guest {
            return Ok(Auth::Guest(self.username.clone()));
        }
        let user = user.unwrap_or_default();
        let domain = self.domain.clone().or(file.domain).unwrap_or_default();
        let password = match self.password.clone().or(file.password).or(env_pass) {
            Some(p) => p,
            None => match (&env.passwd, &env.passwd_file) {
                (Some(p), _) => p.clone(),
                (None, Some(f)) => {
                    let t = std::fs::read_to_string(f).map_err(|e| OptionError::PasswdFile {
                        path: f.display().to_string(),
                        why: e.to_string(),
                    })?;
                    let t = Zeroizing::new(t);
                    Secret::new(t.lines().next().unwrap_or(""))
                }
                (None, None) => match &env.prompt {
                    Some(ask) => ask(&format!("Password for {user}@{target}: "))
                        .ok_or(OptionError::NoPassword)?,
                    None => return Err(OptionError::NoPassword),
                },
            },
        };
        let creds = Credentials::new(&user, &domain, password.expose());
        Ok(match self.sec {
            Sec::Ntlm => Auth::Ntlmv1(creds),
            _ => Auth::Ntlmv2(creds),
        })
    }

    /// The client configuration for `host` (port from the options unless given).
    pub fn client_config(
        &self,
        host: &str,
        port: Option<u16>,
    ) -> Result<ClientConfig, OptionError> {
        let mut c = ClientConfig::new(host);
        c.port = port.or(self.port).unwrap_or(445);
        c.addr = self.addr;
        c.dialects = dialects_for_vers(self.vers.as_deref())?;
        c.require_signing = self.sign;
        c.require_encryption = self.seal;
        c.echo_interval = Some(self.echo_interval);
        c.max_read = self.rsize;
        c.max_write = self.wsize;
        Ok(c)
    }
}

/// `//host[:port]/share[/path]` (also with backslashes; IPv6 as `[::1]:port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unc {
    pub host: String,
    pub port: Option<u16>,
    pub share: String,
    /// Share-relative path with `/` separators, no leading `/` ("" for the share root).
    pub path: String,
}

impl Unc {
    pub fn parse(s: &str) -> Result<Self, OptionError> {
        let bad = |why| OptionError::BadValue {
            name: "UNC".into(),
            value: s.into(),
            why,
        };
        let norm = s.replace('\\', "/");
        let rest = norm
            .strip_prefix("//")
            .ok_or(bad("must start with //host/share"))?;
        let (hostport, after) = rest.split_once('/').ok_or(bad("no share name"))?;
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, p) = h.split_once(']').ok_or(bad("unclosed [ in IPv6 address"))?;
            let port = match p.strip_prefix(':') {
                Some(p) => Some(p.parse().map_err(|_| bad("bad port"))?),
                None if p.is_empty() => None,
                None => return Err(bad("junk after ]")),
            };
            (h.to_string(), port)
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p.parse().map_err(|_| bad("bad port"))?)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let mut parts = after.splitn(2, '/');
        let share = parts.next().unwrap_or("").to_string();
        if share.is_empty() {
            return Err(bad("no share name"));
        }
        let path = parts.next().unwrap_or("").trim_matches('/').to_string();
        Ok(Self {
            host,
            port,
            share,
            path,
        })
    }

    /// `//host/share` (what mountinfo and messages show; never a port or credentials).
    pub fn share_unc(&self) -> String {
        format!("//{}/{}", self.bracketed_host(), self.share)
    }

    /// The host as `parse` reads it back: an IPv6 address (or anything with a `:`, or starting
    /// with `[`) in brackets, so that `//::1/share` does not read as host "" and port ":1".
    fn bracketed_host(&self) -> std::borrow::Cow<'_, str> {
        if self.host.contains(':') || self.host.starts_with('[') {
            format!("[{}]", self.host).into()
        } else {
            self.host.as_str().into()
        }
    }
}

impl fmt::Display for Unc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "//{}/{}", self.bracketed_host(), self.share)?;
        if !self.path.is_empty() {
            write!(f, "/{}", self.path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_fstab_line() {
        let o = parse(
            "username=alice,password=s3,,cret,domain=CORP,vers=3.1.1,sec=ntlmsspi,uid=1000,\
             gid=1000,file_mode=0640,dir_mode=0750,_netdev,nofail,x-systemd.automount,noatime,\
             rsize=1048576,echo_interval=30,hard,nostrictsync,mfsymlinks,cache=loose,actimeo=5",
        )
        .unwrap();
        assert_eq!(o.username.as_deref(), Some("alice"));
        assert_eq!(o.password.as_ref().unwrap().expose(), "s3,cret");
        assert_eq!(o.domain.as_deref(), Some("CORP"));
        assert_eq!(o.sec, Sec::Ntlmssp);
        assert!(o.sign);
        assert_eq!(
            (o.uid, o.gid, o.file_mode, o.dir_mode),
            (Some(1000), Some(1000), Some(0o640), Some(0o750))
        );
        assert_eq!(o.rsize, Some(1 << 20));
        assert_eq!(o.echo_interval, Duration::from_secs(30));
        assert!(o.hard && !o.strictsync && o.mfsymlinks);
        assert_eq!(o.cache, CacheMode::Loose);
        assert!(o.warnings.is_empty());
    }

    #[test]
    fn errors_name_the_option_and_never_the_password() {
        assert_eq!(
            parse("bogus=1").unwrap_err(),
            OptionError::Unknown("bogus".into())
        );
        assert_eq!(
            parse("port").unwrap_err(),
            OptionError::MissingValue("port".into())
        );
        assert_eq!(
            parse("ro=1").unwrap_err(),
            OptionError::UnexpectedValue("ro".into())
        );
        let e = parse("sec=krb5i").unwrap_err();
        assert!(
            e.to_string().contains("Kerberos is not supported yet"),
            "{e}"
        );
        let e = parse("vers=1.0").unwrap_err();
        assert!(e.to_string().contains("SMB1"), "{e}");
        let e = parse("password=hunter2,frobnicate=hunter2")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(format!("{:?}", parse("password=hunter2").unwrap()).contains("<redacted>"));
        assert!(!format!("{:?}", parse("password=hunter2").unwrap()).contains("hunter2"));
    }

    #[test]
    fn redact_hides_every_password_form() {
        assert_eq!(
            redact("username=bob%hunter2,PASS=p,,w,vers=3.0,password2=x,cred=/c,dom=a,,b"),
            "username=bob%<redacted>,PASS=<redacted>,vers=3.0,password2=<redacted>,cred=/c,dom=a,,b"
        );
        assert_eq!(redact_value("Pass-word", "x"), "x");
        assert_eq!(redact_value("pass", "x"), "<redacted>");
        assert_eq!(
            redact_value("o", "addr=1,password=hunter2"),
            "addr=1,password=<redacted>"
        );
        assert_eq!(redact("ro,guest"), "ro,guest");
    }

    #[test]
    fn last_sec_wins_and_resets_sign() {
        let o = parse("sec=ntlmsspi,sec=ntlmssp").unwrap();
        assert!(!o.sign);
        let o = parse("sec=ntlm,sign").unwrap();
        assert_eq!(o.sec, Sec::Ntlm);
        assert!(o.sign);
    }

    #[test]
    fn user_percent_password_and_domain_slash_user() {
        let o = parse("user=DOM/bob%pw").unwrap();
        assert_eq!(o.username.as_deref(), Some("bob"));
        assert_eq!(o.domain.as_deref(), Some("DOM"));
        assert_eq!(o.password.unwrap().expose(), "pw");
    }

    #[test]
    fn credential_sources_in_order() {
        let dir = std::env::temp_dir().join(format!("fusevol-opt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cf = dir.join("creds");
        std::fs::write(
            &cf,
            "# comment\nusername=fileuser\npassword= spaced pw \ndomain=FD\n",
        )
        .unwrap();
        let o = parse(&format!("credentials={}", cf.display())).unwrap();
        let Auth::Ntlmv2(c) = o.auth(&CredentialEnv::none(), "x").unwrap() else {
            panic!()
        };
        assert_eq!(c.user(), "fileuser");
        assert_eq!(c.domain(), "FD");
        assert_eq!(c.password(), " spaced pw ");

        let env = CredentialEnv {
            user: Some("envu%envp".into()),
            ..CredentialEnv::none()
        };
        let Auth::Ntlmv2(c) = parse("").unwrap().auth(&env, "x").unwrap() else {
            panic!()
        };
        assert_eq!((c.user(), c.password()), ("envu", "envp"));

        let pf = dir.join("pw");
        std::fs::write(&pf, "frompwfile\nignored\n").unwrap();
        let env = CredentialEnv {
            user: Some("u".into()),
            passwd_file: Some(pf),
            ..CredentialEnv::none()
        };
        let Auth::Ntlmv2(c) = parse("").unwrap().auth(&env, "x").unwrap() else {
            panic!()
        };
        assert_eq!(c.password(), "frompwfile");

        let env = CredentialEnv {
            user: Some("u".into()),
            ..CredentialEnv::none()
        };
        assert_eq!(
            parse("").unwrap().auth(&env, "x").unwrap_err(),
            OptionError::NoPassword
        );
        assert!(matches!(
            parse("sec=none").unwrap().auth(&env, "x"),
            Ok(Auth::Anonymous)
        ));
        assert!(matches!(
            parse("guest").unwrap().auth(&env, "x"),
            Ok(Auth::Guest(None))
        ));
        let env = CredentialEnv {
            user: Some("u".into()),
            prompt: Some(Box::new(|_| Some(Secret::new("typed")))),
            ..CredentialEnv::none()
        };
        let Auth::Ntlmv1(c) = parse("sec=ntlm").unwrap().auth(&env, "x").unwrap() else {
            panic!()
        };
        assert_eq!(c.password(), "typed");

        std::fs::write(&cf, "username=a\nfoo=b\n").unwrap();
        let e = parse(&format!("cred={}", cf.display()))
            .unwrap()
            .auth(&env, "x")
            .unwrap_err();
        assert!(e.to_string().contains("line 2: unknown key 'foo'"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unc_forms() {
        let u = Unc::parse("//127.0.0.1:4455/share/a/b/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.share.as_str(), u.path.as_str()),
            ("127.0.0.1", Some(4455), "share", "a/b")
        );
        assert_eq!(u.to_string(), "//127.0.0.1/share/a/b");
        let u = Unc::parse("\\\\srv\\pub").unwrap();
        assert_eq!(
            (u.host.as_str(), u.share.as_str(), u.path.as_str()),
            ("srv", "pub", "")
        );
        let u = Unc::parse("//[::1]:445/s").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", Some(445)));
        assert!(Unc::parse("//host").is_err());
        assert!(Unc::parse("//host/").is_err());
        assert!(Unc::parse("host/share").is_err());
        assert!(Unc::parse("//h:99999/s").is_err());
    }

    /// Fuzz finding (fuzz/corpus/unc/7e6d5a52…, 847f04fe…): `Display` and `share_unc` printed an
    /// IPv6 host without brackets, so `//[::1]/s` came back as `//::1/s`, which does not parse.
    #[test]
    fn fuzz_unc_display_brackets_ipv6_host() {
        for (s, shown) in [
            ("//[::1]:445/share/", "//[::1]/share"),
            ("//[fe80::1%eth0]/s/p//q/", "//[fe80::1%eth0]/s/p//q"),
            ("//[[x]/s/p", "//[[x]/s/p"),
            ("//plain/s/p", "//plain/s/p"),
        ] {
            let u = Unc::parse(s).unwrap();
            assert_eq!(u.to_string(), shown);
            assert!(Unc::parse(&u.share_unc()).is_ok());
            let back = Unc::parse(shown).unwrap();
            assert_eq!(
                (back.host, back.share, back.path),
                (u.host, u.share, u.path)
            );
        }
    }
}
