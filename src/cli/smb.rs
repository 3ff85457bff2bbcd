//! `fusevol smb …`: smbclient-like commands on the library client, with the same `-o` options
//! and credential sources as `fusevol mount`.
use super::{CliError, describe, fail};
use crate::options::{self, CifsOptions, CredentialEnv, Unc};
use crate::smb::client::{Auth, Client, OpenOptions, Tree, smb_path};
use crate::smb::wire::fscc;
use std::collections::VecDeque;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Reads or writes kept in flight by `get`/`put`/`cat`.
const DEPTH: usize = 4;

/// Connect, log on and attach to the share named by `unc`.
pub async fn connect(unc: &Unc, opts: &CifsOptions) -> Result<Tree, CliError> {
    for w in &opts.warnings {
        eprintln!("fusevol: warning: {w}");
    }
    let auth = opts.auth(&CredentialEnv::from_process(), &unc.share_unc())?;
    connect_as(unc, opts, &auth).await
}

/// Connect, log on as `auth` and attach to the share named by `unc`.
pub async fn connect_as(unc: &Unc, opts: &CifsOptions, auth: &Auth) -> Result<Tree, CliError> {
    let cfg = opts.client_config(&unc.host, unc.port)?;
    let target = format!("{}:{}", unc.host, cfg.port);
    let client = Client::connect(cfg).await.map_err(|e| match &e {
        crate::smb::Error::Connect { .. } | crate::smb::Error::ConnectTimeout { .. } => {
            CliError::new(e.to_string())
        }
        _ => CliError::new(format!("cannot negotiate with {target}: {}", describe(&e))),
    })?;
    let session = client.session_setup(auth).await.map_err(|e| {
        let who = match auth {
            Auth::Ntlmv2(c) | Auth::Ntlmv1(c) => format!(" as '{}'", c.user()),
            Auth::Anonymous => " anonymously".into(),
            Auth::Guest(_) => " as guest".into(),
        };
        CliError::new(format!("cannot log on to {target}{who}: {}", describe(&e)))
    })?;
    session
        .tree_connect(&unc.share)
        .await
        .map_err(|e| fail("connect to share", &unc.share_unc(), &e))
}

/// A progress line on stderr, only when stderr is a terminal.
struct Progress {
    total: u64,
    done: u64,
    start: Instant,
    last: Instant,
    on: bool,
}

impl Progress {
    fn new(total: u64) -> Self {
        let now = Instant::now();
        Self {
            total,
            done: 0,
            start: now,
            last: now,
            on: std::io::stderr().is_terminal(),
        }
    }
    fn add(&mut self, n: u64) {
        self.done += n;
        if self.on && self.last.elapsed() >= Duration::from_millis(200) {
            self.last = Instant::now();
            self.print();
        }
    }
    fn print(&self) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-6);
        let pct = if self.total > 0 {
            self.done as f64 * 100.0 / self.total as f64
        } else {
            100.0
        };
        let width = 30usize;
        let fill = ((pct / 100.0) * width as f64) as usize;
        eprint!(
            "\r[{}{}] {:5.1}% {} / {}  {}/s   ",
            "#".repeat(fill.min(width)),
            " ".repeat(width - fill.min(width)),
            pct,
            human(self.done),
            human(self.total),
            human((self.done as f64 / secs) as u64)
        );
    }
    fn finish(&self) {
        if self.on {
            self.print();
            eprintln!();
        }
    }
}

fn human(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// Copy a remote file to `out`, keeping [`DEPTH`] reads of `max_read` in flight.
async fn download(
    tree: &Tree,
    unc: &Unc,
    out: &mut dyn Write,
    progress: bool,
) -> Result<u64, CliError> {
    let name = unc.to_string();
    let f = tree
        .open(&unc.path, &OpenOptions::read())
        .await
        .map_err(|e| fail("open", &name, &e))?;
    if f.info().is_dir() {
        return Err(CliError::new(format!(
            "cannot read '{name}': is a directory"
        )));
    }
    let size = f.info().size;
    let chunk = u64::from(tree.max_read());
    let mut bar = Progress::new(size);
    bar.on &= progress;
    let mut q = VecDeque::new();
    let mut next = 0u64;
    let mut written = 0u64;
    let mut eof = false;
    loop {
        while !eof && q.len() < DEPTH && next < size.max(1) {
            let len = chunk.min(size.saturating_sub(next)).max(1);
            q.push_back((
                next,
                len,
                tokio::spawn(f.start_read(next, len as u32).wait()),
            ));
            next += len;
        }
        let Some((off, len, h)) = q.pop_front() else {
            break;
        };
        let data = h
            .await
            .map_err(|e| CliError::new(e.to_string()))?
            .map_err(|e| fail("read", &name, &e))?;
        if off != written {
            // An earlier chunk came back short: the file shrank under us.
            break;
        }
        out.write_all(&data)
            .map_err(|e| CliError::new(format!("write error: {e}")))?;
        written += data.len() as u64;
        bar.add(data.len() as u64);
        if (data.len() as u64) < len {
            // Short read: end of file (the file may have been truncated since we opened it).
            eof = true;
            if !data.is_empty() && written < size {
                // A server may return less than asked before EOF; continue from here.
                eof = false;
                next = written;
                for (_, _, h) in q.drain(..) {
                    h.abort();
                }
            }
        }
        if written >= size && !eof {
            // Grew since open? Read on until a short read.
            if q.is_empty() && next >= size {
                let more = f.start_read(written, chunk as u32).wait().await;
                let more = more.map_err(|e| fail("read", &name, &e))?;
                if more.is_empty() {
                    break;
                }
                out.write_all(&more)
                    .map_err(|e| CliError::new(format!("write error: {e}")))?;
                written += more.len() as u64;
                next = written;
                eof = (more.len() as u64) < chunk;
                if eof {
                    break;
                }
            }
        }
    }
    bar.finish();
    out.flush()
        .map_err(|e| CliError::new(format!("write error: {e}")))?;
    f.close().await.map_err(|e| fail("close", &name, &e))?;
    Ok(written)
}

/// `fusevol smb get //h/s/path [LOCAL|-]`.
pub async fn get(unc: &Unc, local: Option<&str>, opts: &CifsOptions) -> Result<(), CliError> {
    let tree = connect(unc, opts).await?;
    let base = unc.path.rsplit('/').next().unwrap_or("").to_string();
    let dest = match local {
        Some(l) => l.to_string(),
        None if base.is_empty() => return Err(CliError::usage("get: no file name in the path")),
        None => base,
    };
    if dest == "-" {
        let stdout = std::io::stdout();
        let mut lock = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
        download(&tree, unc, &mut lock, false).await?;
        return Ok(());
    }
    let mut file = std::fs::File::create(&dest)
        .map_err(|e| CliError::new(format!("cannot create '{dest}': {e}")))?;
    let show = dest != "/dev/null" || std::io::stderr().is_terminal();
    download(&tree, unc, &mut file, show).await?;
    Ok(())
}

/// `fusevol smb cat //h/s/path`.
pub async fn cat(unc: &Unc, opts: &CifsOptions) -> Result<(), CliError> {
    get(unc, Some("-"), opts).await
}

/// `fusevol smb put LOCAL //h/s/path`.
pub async fn put(local: &str, unc: &Unc, opts: &CifsOptions) -> Result<(), CliError> {
    let mut src: Box<dyn Read> = if local == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(local)
                .map_err(|e| CliError::new(format!("cannot open '{local}': {e}")))?,
        )
    };
    let total = if local == "-" {
        0
    } else {
        std::fs::metadata(local).map(|m| m.len()).unwrap_or(0)
    };
    let tree = connect(unc, opts).await?;
    let name = unc.to_string();
    let mut path = unc.path.clone();
    if path.is_empty() || path.ends_with('/') {
        let base = Path::new(local)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("stdin");
        path = format!("{path}{base}");
    }
    let f = tree
        .open(&path, &OpenOptions::create_truncate())
        .await
        .map_err(|e| fail("create", &name, &e))?;
    let chunk = tree.max_write() as usize;
    let mut bar = Progress::new(total);
    let mut q = VecDeque::new();
    let mut off = 0u64;
    loop {
        let mut buf = vec![0u8; chunk];
        let mut filled = 0;
        while filled < chunk {
            let n = src
                .read(&mut buf[filled..])
                .map_err(|e| CliError::new(format!("cannot read '{local}': {e}")))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        if filled == 0 {
            break;
        }
        buf.truncate(filled);
        let f2 = f.clone();
        let at = off;
        q.push_back((
            filled,
            tokio::spawn(async move { f2.write_at(at, &buf).await }),
        ));
        off += filled as u64;
        while q.len() >= DEPTH {
            if let Some((n, h)) = q.pop_front() {
                h.await
                    .map_err(|e| CliError::new(e.to_string()))?
                    .map_err(|e| fail("write", &name, &e))?;
                bar.add(n as u64);
            }
        }
    }
    while let Some((n, h)) = q.pop_front() {
        h.await
            .map_err(|e| CliError::new(e.to_string()))?
            .map_err(|e| fail("write", &name, &e))?;
        bar.add(n as u64);
    }
    bar.finish();
    f.close().await.map_err(|e| fail("close", &name, &e))?;
    Ok(())
}

/// Year, month and day of a count of days since 1970-01-01 (H. Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A FILETIME as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_filetime(ft: u64) -> String {
    let secs = (ft / 10_000_000) as i64 - 11_644_473_600;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn attr_names(a: u32) -> String {
    use fscc::attributes as A;
    let names = [
        (A::READONLY, "READONLY"),
        (A::HIDDEN, "HIDDEN"),
        (A::SYSTEM, "SYSTEM"),
        (A::DIRECTORY, "DIRECTORY"),
        (A::ARCHIVE, "ARCHIVE"),
        (A::NORMAL, "NORMAL"),
        (A::REPARSE_POINT, "REPARSE_POINT"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(b, _)| a & b != 0)
        .map(|(_, n)| *n)
        .collect();
    v.join("|")
}

/// `fusevol smb ls [-l] //h/s/path`.
pub async fn ls(unc: &Unc, long: bool, opts: &CifsOptions) -> Result<(), CliError> {
    let tree = connect(unc, opts).await?;
    let name = unc.to_string();
    let info = tree
        .stat(&unc.path)
        .await
        .map_err(|e| fail("access", &name, &e))?;
    let mut out = std::io::stdout().lock();
    let w = |out: &mut std::io::StdoutLock<'_>, s: String| {
        writeln!(out, "{s}").map_err(|e| CliError::new(format!("write error: {e}")))
    };
    if !info.is_dir() {
        let base = unc.path.rsplit('/').next().unwrap_or("");
        let line = if long {
            format!(
                "- {:>12} {} {base}",
                info.size,
                format_filetime(info.last_write_time)
            )
        } else {
            base.to_string()
        };
        return w(&mut out, line);
    }
    let mut entries = tree
        .list(&unc.path)
        .await
        .map_err(|e| fail("list", &name, &e))?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        let line = if long {
            let dir = e.file_attributes & fscc::attributes::DIRECTORY != 0;
            format!(
                "{} {:>12} {} {}",
                if dir { 'd' } else { '-' },
                e.end_of_file,
                format_filetime(e.last_write_time),
                e.name
            )
        } else {
            e.name
        };
        w(&mut out, line)?;
    }
    Ok(())
}

/// `fusevol smb stat //h/s/path`.
pub async fn stat(unc: &Unc, opts: &CifsOptions) -> Result<(), CliError> {
    let tree = connect(unc, opts).await?;
    let name = unc.to_string();
    let i = tree
        .stat(&unc.path)
        .await
        .map_err(|e| fail("stat", &name, &e))?;
    println!("  File: {name}");
    println!(
        "  Size: {:<12} Allocated: {:<12} Type: {}",
        i.size,
        i.allocation_size,
        if i.is_dir() {
            "directory"
        } else {
            "regular file"
        }
    );
    println!(
        "Attrs: {:#06x} ({})",
        i.attributes,
        attr_names(i.attributes)
    );
    if let Some(ix) = i.file_index {
        println!("FileId: {ix}");
    }
    println!("Create: {}", format_filetime(i.creation_time));
    println!("Access: {}", format_filetime(i.last_access_time));
    println!("Modify: {}", format_filetime(i.last_write_time));
    println!("Change: {}", format_filetime(i.change_time));
    Ok(())
}

/// `mkdir`, `rm`, `rmdir`.
pub async fn simple(op: &str, unc: &Unc, opts: &CifsOptions) -> Result<(), CliError> {
    let tree = connect(unc, opts).await?;
    let name = unc.to_string();
    if unc.path.is_empty() {
        return Err(CliError::usage(format!("{op}: '{name}' is the share root")));
    }
    let r = match op {
        "mkdir" => tree.mkdir(&unc.path).await.map(|_| ()),
        "rm" => tree.remove(&unc.path).await,
        "rmdir" => tree.rmdir(&unc.path).await,
        _ => return Err(CliError::usage(format!("unknown operation {op}"))),
    };
    let verb = match op {
        "mkdir" => "create directory",
        "rm" => "remove",
        _ => "remove directory",
    };
    r.map_err(|e| fail(verb, &name, &e))
}

/// `fusevol smb mv //h/s/from TO` (TO: a path on the same share, or a UNC naming it).
pub async fn mv(unc: &Unc, to: &str, opts: &CifsOptions) -> Result<(), CliError> {
    let dest = if to.starts_with("//") || to.starts_with("\\\\") {
        let d = Unc::parse(to)?;
        if d.host != unc.host || d.share != unc.share {
            return Err(CliError::usage(
                "mv: source and destination must be on the same share",
            ));
        }
        d.path
    } else {
        to.trim_matches('/').to_string()
    };
    let tree = connect(unc, opts).await?;
    tree.rename(&unc.path, &smb_path(&dest), true)
        .await
        .map_err(|e| fail("move", &unc.to_string(), &e))
}

/// Parse the `-o` string (empty when absent).
pub fn parse_opts(o: Option<&str>) -> Result<CifsOptions, CliError> {
    Ok(options::parse(o.unwrap_or(""))?)
}
