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

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FUSEVOL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
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
