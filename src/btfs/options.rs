//! `-o` options of a btfs mount, in the vocabulary of johang/btfs (`data_dir`, `keep`,
//! `min_port`/`max_port`, `max_download_rate`/`max_upload_rate` in KiB/s) plus fusevol's own
//! (`dht`/`nodht`, `tracker=`, `peer=`, `read_timeout`, `metadata_timeout`, `fetch_all`,
//! `listen=`) and the FUSE ones (`allow_other`, `uid`, `gid`).
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// A bad option: names the option and says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError(pub String);

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OptionError {}

/// Parsed btfs mount options.
#[derive(Debug, Clone, PartialEq)]
pub struct BtfsOptions {
    /// Where downloaded pieces live (one folder per infohash below it). Default: a fresh
    /// directory under `$TMPDIR`, removed at unmount.
    pub data_dir: Option<PathBuf>,
    /// Keep the downloaded data at unmount.
    pub keep: bool,
    /// Listen port range for incoming peers (the first free one is used; 0 = any).
    pub min_port: u16,
    pub max_port: u16,
    /// Address to listen on (default: all IPv4 addresses).
    pub listen: IpAddr,
    /// Rate limits in bytes per second (the options are in KiB/s, as btfs').
    pub max_download_rate: Option<u32>,
    pub max_upload_rate: Option<u32>,
    /// Use the mainline DHT (BEP 5) to find peers and metadata.
    pub dht: bool,
    /// Extra trackers (BEP 3 / BEP 15), on top of the torrent's own.
    pub trackers: Vec<String>,
    /// Peers to dial at once, like a magnet's `x.pe=` (BEP 9).
    pub peers: Vec<SocketAddr>,
    /// A read that got no data within this time fails with EIO.
    pub read_timeout: Duration,
    /// The mount fails if the metadata (BEP 9) is not known within this time.
    pub metadata_timeout: Duration,
    /// Download the whole torrent in the background (default: only what is read).
    pub fetch_all: bool,
    pub allow_other: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Default for BtfsOptions {
    fn default() -> Self {
        Self {
            data_dir: None,
            keep: false,
            min_port: 0,
            max_port: 0,
            listen: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            max_download_rate: None,
            max_upload_rate: None,
            dht: true,
            trackers: Vec::new(),
            peers: Vec::new(),
            read_timeout: Duration::from_secs(30),
            metadata_timeout: Duration::from_secs(60),
            fetch_all: false,
            allow_other: false,
            uid: None,
            gid: None,
        }
    }
}

/// `30`, `1.5`, `30s`, `500ms`, `2m`: a duration (plain numbers are seconds).
pub fn parse_duration(key: &str, v: &str) -> Result<Duration, OptionError> {
    let bad = || {
        OptionError(format!(
            "{key}: '{v}' is not a duration (seconds, or a number with ms/s/m)"
        ))
    };
    let (num, unit) = if let Some(n) = v.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else {
        (v, 1.0)
    };
    let x: f64 = num.trim().parse().map_err(|_| bad())?;
    if !x.is_finite() || x <= 0.0 || x * unit > 86_400.0 * 365.0 {
        return Err(bad());
    }
    let d = Duration::from_secs_f64(x * unit);
    // `1e-300` is positive but rounds to zero: a zero deadline would fail every read at once.
    if d < Duration::from_millis(1) {
        return Err(OptionError(format!(
            "{key}: '{v}' is shorter than a millisecond"
        )));
    }
    Ok(d)
}

fn parse_num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, OptionError> {
    v.parse()
        .map_err(|_| OptionError(format!("{key}: '{v}' is not a valid number")))
}

/// A peer address: `IP:PORT`, `[IPv6]:PORT` or `HOST:PORT` (resolved now).
pub fn parse_peer(v: &str) -> Result<SocketAddr, OptionError> {
    if let Ok(a) = v.parse::<SocketAddr>() {
        return Ok(a);
    }
    v.to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| OptionError(format!("peer: '{v}' is not HOST:PORT or IP:PORT")))
}

/// KiB/s → bytes/s (0 = unlimited).
fn rate(key: &str, v: &str) -> Result<Option<u32>, OptionError> {
    let kib: u32 = parse_num(key, v)?;
    if kib == 0 {
        return Ok(None);
    }
    kib.checked_mul(1024)
        .map(Some)
        .ok_or_else(|| OptionError(format!("{key}: {kib} KiB/s is too large")))
}

/// Parse a comma-separated `-o` string. Unknown options are errors naming the option.
pub fn parse(s: &str) -> Result<BtfsOptions, OptionError> {
    let mut o = BtfsOptions::default();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, val) = match item.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (item, None),
        };
        let need = || {
            val.filter(|v| !v.is_empty())
                .ok_or_else(|| OptionError(format!("option '{key}' needs a value ({key}=…)")))
        };
        let flag = |o: &mut bool| -> Result<(), OptionError> {
            match val {
                None => {
                    *o = true;
                    Ok(())
                }
                Some(_) => Err(OptionError(format!("option '{key}' takes no value"))),
            }
        };
        match key {
            "data_dir" | "data_directory" => o.data_dir = Some(PathBuf::from(need()?)),
            "keep" => flag(&mut o.keep)?,
            "min_port" => o.min_port = parse_num(key, need()?)?,
            "max_port" => o.max_port = parse_num(key, need()?)?,
            "listen" => {
                let v = need()?;
                o.listen = v
                    .parse()
                    .map_err(|_| OptionError(format!("listen: '{v}' is not an IP address")))?
            }
            "max_download_rate" => o.max_download_rate = rate(key, need()?)?,
            "max_upload_rate" => o.max_upload_rate = rate(key, need()?)?,
            "dht" => flag(&mut o.dht)?,
            "nodht" => {
                let mut x = false;
                flag(&mut x)?;
                o.dht = false;
            }
            "tracker" => o.trackers.push(need()?.to_string()),
            "peer" => o.peers.push(parse_peer(need()?)?),
            "read_timeout" => o.read_timeout = parse_duration(key, need()?)?,
            "metadata_timeout" => o.metadata_timeout = parse_duration(key, need()?)?,
            "fetch_all" => flag(&mut o.fetch_all)?,
            "allow_other" => flag(&mut o.allow_other)?,
            "uid" => o.uid = Some(parse_num(key, need()?)?),
            "gid" => o.gid = Some(parse_num(key, need()?)?),
            // Generic mount(8)/fstab words that mean nothing more here.
            "ro" | "defaults" | "auto" | "noauto" | "nofail" | "_netdev" | "user" | "users"
            | "nouser" | "nodev" | "nosuid" | "noexec" | "exec" | "noatime" | "relatime" => {}
            "rw" => {
                return Err(OptionError(
                    "rw: a torrent mount is read-only (leave 'rw' out)".into(),
                ));
            }
            k if k.starts_with("x-") || k.starts_with("comment=") => {}
            _ => return Err(OptionError(format!("unknown btfs option '{key}'"))),
        }
    }
    if o.max_port == 0 {
        o.max_port = o.min_port;
    }
    if o.min_port == 0 && o.max_port != 0 {
        o.min_port = o.max_port;
    }
    if o.min_port > o.max_port {
        return Err(OptionError(format!(
            "min_port ({}) is above max_port ({})",
            o.min_port, o.max_port
        )));
    }
    for t in &o.trackers {
        if !(t.starts_with("http://") || t.starts_with("https://") || t.starts_with("udp://")) {
            return Err(OptionError(format!(
                "tracker: '{t}' is not an http(s):// or udp:// URL"
            )));
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_flags() {
        let o = parse("").unwrap();
        assert_eq!(o, BtfsOptions::default());
        assert!(o.dht);
        let o = parse("nodht,keep,fetch_all,allow_other,uid=1000,gid=100,ro").unwrap();
        assert!(!o.dht && o.keep && o.fetch_all && o.allow_other);
        assert_eq!((o.uid, o.gid), (Some(1000), Some(100)));
    }

    #[test]
    fn values() {
        let o = parse(
            "data_dir=/var/tmp/x,min_port=6881,max_port=6889,max_download_rate=100,\
             tracker=http://127.0.0.1:1/announce,tracker=udp://t:2,peer=127.0.0.2:17001,\
             peer=[::1]:5,read_timeout=500ms,metadata_timeout=2m,listen=127.0.0.1",
        )
        .unwrap();
        assert_eq!(o.data_dir, Some(PathBuf::from("/var/tmp/x")));
        assert_eq!((o.min_port, o.max_port), (6881, 6889));
        assert_eq!(o.max_download_rate, Some(102_400));
        assert_eq!(o.trackers.len(), 2);
        assert_eq!(o.peers[0], "127.0.0.2:17001".parse().unwrap());
        assert_eq!(o.peers[1], "[::1]:5".parse().unwrap());
        assert_eq!(o.read_timeout, Duration::from_millis(500));
        assert_eq!(o.metadata_timeout, Duration::from_secs(120));
        assert_eq!(o.listen, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(parse("min_port=7000").unwrap().max_port, 7000);
    }

    #[test]
    fn errors_name_the_option() {
        for (s, word) in [
            ("frobnicate", "frobnicate"),
            ("read_timeout=soon", "read_timeout"),
            ("read_timeout=0", "read_timeout"),
            ("read_timeout=1e-300", "read_timeout"),
            ("metadata_timeout=0.5ms", "metadata_timeout"),
            ("peer=nowhere", "peer"),
            ("min_port=9,max_port=8", "min_port"),
            ("uid=-1", "uid"),
            ("keep=yes", "keep"),
            ("tracker=ftp://x", "tracker"),
            ("data_dir", "data_dir"),
            ("rw", "rw"),
        ] {
            let e = parse(s).unwrap_err();
            assert!(e.0.contains(word), "{s}: {e}");
        }
    }
}
