//! The `fusevol` binary: argument parsing and logging; everything else is in the library.
use clap::{Parser, Subcommand};
use fusevol::cli::{self, CliError};
use fusevol::options::Unc;

#[derive(Parser)]
#[command(
    name = "fusevol",
    version,
    about = "Mount SMB2/3 shares through FUSE, without root"
)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Mount //host[:port]/share[/subdir], or a torrent (magnet:, .torrent, http(s) URL,
    /// read-only), on MOUNTPOINT (rootless through fusermount3).
    Mount {
        source: String,
        mountpoint: std::path::PathBuf,
        /// mount.cifs options (username=…,credentials=FILE,vers=…,sec=…,uid=…,ro,…)
        #[arg(short = 'o')]
        options: Option<String>,
        /// Stay in the foreground (until unmounted, SIGINT or SIGTERM).
        #[arg(short = 'f')]
        foreground: bool,
        /// Filesystem type: cifs or smb3 (both mean this client), or btfs for a torrent
        /// (implied by a magnet:, http(s):// or *.torrent source). btfs options: data_dir,
        /// keep, min_port, max_port, max_download_rate, max_upload_rate (KiB/s), dht/nodht,
        /// tracker=URL, peer=IP:PORT, listen=IP, read_timeout, metadata_timeout, fetch_all,
        /// allow_other, uid, gid.
        #[arg(short = 't')]
        fstype: Option<String>,
        #[arg(long, hide = true)]
        daemon_child: bool,
    },
    /// Unmount a fusevol mount.
    #[command(alias = "unmount")]
    Umount {
        /// Detach now even while programs still use the mount (umount -l); it goes away
        /// completely once they let go.
        #[arg(short = 'l', long)]
        lazy: bool,
        mountpoint: std::path::PathBuf,
    },
    /// Show a torrent mount's progress: peers, bytes fetched, pieces done per file.
    Status { mountpoint: std::path::PathBuf },
    /// Mount the volumes of a task file (container.volumes / container.mounts).
    Task {
        #[command(subcommand)]
        op: TaskOp,
    },
    /// Serve the Docker volume plugin protocol on a unix socket (driver name = socket name).
    DockerPlugin {
        /// Unix socket to listen on.
        #[arg(long, default_value = cli::docker::DEFAULT_SOCKET)]
        socket: std::path::PathBuf,
        /// Where volume definitions, credentials and mount points live.
        #[arg(long, default_value = cli::docker::DEFAULT_STATE_DIR)]
        state_dir: std::path::PathBuf,
    },
    /// Use a share directly, like smbclient (same -o options as mount).
    Smb {
        /// mount.cifs options: username=…,password=…,credentials=FILE,vers=…,sec=…,port=…
        #[arg(short = 'o', global = true)]
        options: Option<String>,
        #[command(subcommand)]
        op: SmbOp,
    },
}

#[derive(Subcommand)]
enum TaskOp {
    /// Mount every volume once and show it at each target; returns when all are readable.
    Up {
        task: std::path::PathBuf,
        /// State dir (default /run/fusevol/tasks/<hash> as root, else under $XDG_RUNTIME_DIR).
        #[arg(long)]
        state_dir: Option<std::path::PathBuf>,
    },
    /// Unmount everything `task up` mounted.
    Down {
        task: std::path::PathBuf,
        #[arg(long)]
        state_dir: Option<std::path::PathBuf>,
    },
    /// Print `-v SRC:TARGET:MODE` arguments for `docker run`, one per line.
    DockerArgs {
        task: std::path::PathBuf,
        #[arg(long)]
        state_dir: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum SmbOp {
    /// List a directory (or show one file).
    Ls {
        /// Long format: type, size, modification time.
        #[arg(short = 'l')]
        long: bool,
        unc: String,
    },
    /// Copy a remote file to LOCAL (default: its base name; '-' for stdout).
    Get { unc: String, local: Option<String> },
    /// Copy LOCAL ('-' for stdin) to the share.
    Put { local: String, unc: String },
    /// Print a remote file.
    Cat { unc: String },
    /// Show a file's attributes.
    Stat { unc: String },
    /// Create a directory.
    Mkdir { unc: String },
    /// Remove a file.
    Rm { unc: String },
    /// Remove an empty directory.
    Rmdir { unc: String },
    /// Rename within a share (TO: share-relative path or //host/share/path).
    Mv { unc: String, to: String },
}

fn unc(s: &str) -> Result<Unc, CliError> {
    Ok(Unc::parse(s)?)
}

async fn run(args: Args) -> Result<(), CliError> {
    match args.cmd {
        Cmd::Mount { .. }
        | Cmd::Umount { .. }
        | Cmd::Status { .. }
        | Cmd::Task { .. }
        | Cmd::DockerPlugin { .. } => unreachable_in_async(),
        Cmd::Smb { options, op } => {
            let o = cli::smb::parse_opts(options.as_deref())?;
            match op {
                SmbOp::Ls { long, unc: u } => cli::smb::ls(&unc(&u)?, long, &o).await,
                SmbOp::Get { unc: u, local } => {
                    cli::smb::get(&unc(&u)?, local.as_deref(), &o).await
                }
                SmbOp::Put { local, unc: u } => cli::smb::put(&local, &unc(&u)?, &o).await,
                SmbOp::Cat { unc: u } => cli::smb::cat(&unc(&u)?, &o).await,
                SmbOp::Stat { unc: u } => cli::smb::stat(&unc(&u)?, &o).await,
                SmbOp::Mkdir { unc: u } => cli::smb::simple("mkdir", &unc(&u)?, &o).await,
                SmbOp::Rm { unc: u } => cli::smb::simple("rm", &unc(&u)?, &o).await,
                SmbOp::Rmdir { unc: u } => cli::smb::simple("rmdir", &unc(&u)?, &o).await,
                SmbOp::Mv { unc: u, to } => cli::smb::mv(&unc(&u)?, &to, &o).await,
            }
        }
    }
}

/// Mount and umount run outside the async runtime (they build their own); `dispatch` routes them
/// before one is started.
fn unreachable_in_async() -> Result<(), CliError> {
    Err(CliError::new(
        "internal error: mount dispatched on the async path",
    ))
}

fn sync_commands(cmd: &Cmd) -> Option<Result<(), CliError>> {
    match cmd {
        Cmd::Mount {
            source,
            mountpoint,
            options,
            foreground,
            fstype,
            daemon_child,
        } => Some(if *daemon_child {
            cli::mount::daemon_child(source, mountpoint, fstype.as_deref())
        } else {
            cli::mount::mount(cli::mount::MountRequest {
                source: source.clone(),
                mountpoint: mountpoint.clone(),
                options: options.clone().unwrap_or_default(),
                foreground: *foreground,
                fstype: fstype.clone(),
            })
        }),
        Cmd::Umount { lazy, mountpoint } => Some(cli::mount::umount(mountpoint, *lazy)),
        Cmd::Status { mountpoint } => Some(cli::btfs::status(mountpoint)),
        Cmd::Task { op } => Some(match op {
            TaskOp::Up { task, state_dir } => cli::task::up(task, state_dir.as_deref()),
            TaskOp::Down { task, state_dir } => cli::task::down(task, state_dir.as_deref()),
            TaskOp::DockerArgs { task, state_dir } => {
                cli::task::docker_args(task, state_dir.as_deref())
            }
        }),
        Cmd::DockerPlugin { socket, state_dir } => {
            Some(cli::docker::docker_plugin(socket, state_dir))
        }
        Cmd::Smb { .. } => None,
    }
}

fn exit_with(r: Result<(), CliError>) -> ! {
    match r {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("fusevol: {e}");
            std::process::exit(e.code);
        }
    }
}

/// glibc gives every thread that allocates under contention an arena of its own, and 1 MiB
/// write buffers freed into several arenas stay mapped: a 1 GiB `dd` into a mount peaked at
/// 41–72 MiB RSS from one run to the next, 38–42 MiB with `MALLOC_ARENA_MAX=2`, at the same
/// speed. The crate has no `unsafe` (so no `mallopt`): a process that will serve mounts, or
/// start daemons that do, runs itself again once with the variable set, unless it is set
/// already (the user's value wins). Daemons inherit it.
fn cap_malloc_arenas(serves_mounts: bool) {
    use std::os::unix::process::CommandExt;
    if !cfg!(all(target_os = "linux", target_env = "gnu"))
        || !serves_mounts
        || std::env::var_os("MALLOC_ARENA_MAX").is_some()
    {
        return;
    }
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let Some((arg0, rest)) = argv.split_first() else {
        return;
    };
    let err = std::process::Command::new("/proc/self/exe")
        .arg0(arg0)
        .args(rest)
        .env("MALLOC_ARENA_MAX", "2")
        .exec();
    // Only reached if exec failed: carry on with the default arenas.
    tracing::debug!(error = %err, "could not run again with MALLOC_ARENA_MAX=2");
}

/// Is this a mount through a helper's command line? mount(8) runs `mount.fusevol` (or
/// `mount.fuse.fusevol`) as `SOURCE DIR -o OPTS`, and mount.fuse3 runs `fusevol SOURCE DIR -o
/// OPTS` for type fuse.fusevol: `prog` is argv[0], `first` argv[1].
fn is_helper_invocation(prog: &str, first: Option<&str>) -> bool {
    prog.rsplit('/')
        .next()
        .unwrap_or(prog)
        .starts_with("mount.")
        || first.is_some_and(|a| a.starts_with("//") || a.starts_with("\\\\"))
}

fn main() {
    {
        let mut a = std::env::args_os();
        let prog = a.next().unwrap_or_default();
        let first = a.next();
        let first = first.as_deref().map(|f| f.to_string_lossy());
        let serves = is_helper_invocation(&prog.to_string_lossy(), first.as_deref())
            || matches!(first.as_deref(), Some("mount" | "task" | "docker-plugin"));
        cap_malloc_arenas(serves);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FUSEVOL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour only for a terminal: a daemon's log file or journal gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let argv: Vec<String> = std::env::args().collect();
    if is_helper_invocation(
        argv.first().map_or("", String::as_str),
        argv.get(1).map(String::as_str),
    ) {
        match cli::mount::helper_args(&argv[1..]) {
            Ok(Some(req)) => exit_with(cli::mount::mount(req)),
            Ok(None) => exit_with(Ok(())),
            Err(e) => exit_with(Err(e)),
        }
    }
    let args = Args::parse();
    if let Some(r) = sync_commands(&args.cmd) {
        exit_with(r);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fusevol: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("fusevol: {e}");
        std::process::exit(e.code);
    }
}
