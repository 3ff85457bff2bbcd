//! Replays every committed fuzz corpus file (seeds from real captures and every past finding)
//! through the same target bodies `cargo fuzz` runs (`fusevol::fuzzing`), on stable Rust.
//!
//! One `#[test]` per target; `fuzz/README.md` says how the corpora were made. A new crash found
//! by `cargo fuzz` goes into `fuzz/corpus/<target>/` and is then replayed here for good.
use std::path::{Path, PathBuf};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

/// Run `body` on every file of `fuzz/corpus/<target>/`, naming the file that fails.
fn replay(target: &str, body: fn(&[u8])) {
    let dir = corpus_dir(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: empty corpus", dir.display());
    for f in &files {
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if let Err(e) = std::panic::catch_unwind(|| body(&data)) {
            let why = e
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| e.downcast_ref::<&str>().copied())
                .unwrap_or("panic");
            panic!("{target}: {} fails: {why}", f.display());
        }
    }
}

/// Targets whose body lives in the fuzz crate alone, because it calls what this crate cannot
/// name (librqbit's private tracker parsers, reached through a vendored copy in `fuzz/vendor/`).
/// Their seeds are replayed by `cargo fuzz run` (the CI smoke run), not here.
const FUZZ_CRATE_ONLY: &[&str] = &["tracker_response"];

/// Every target has a fuzz_targets file, a `[[bin]]` and a corpus, and nothing else is there.
#[test]
fn targets_match_the_fuzz_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut names: Vec<&str> = fusevol::fuzzing::TARGETS.iter().map(|(n, _)| *n).collect();
    names.extend_from_slice(FUZZ_CRATE_ONLY);
    let mut files: Vec<String> = std::fs::read_dir(root.join("fuzz_targets"))
        .expect("fuzz/fuzz_targets")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut want: Vec<String> = names.iter().map(|n| format!("{n}.rs")).collect();
    want.sort();
    assert_eq!(
        files, want,
        "fuzz/fuzz_targets/ and fusevol::fuzzing::TARGETS (+ FUZZ_CRATE_ONLY) differ"
    );
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for n in &names {
        assert!(
            manifest.contains(&format!("name = \"{n}\"")),
            "fuzz/Cargo.toml lacks [[bin]] {n}"
        );
        assert!(corpus_dir(n).is_dir(), "no fuzz/corpus/{n}/");
    }
}

macro_rules! corpus_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                replay(stringify!($name), fusevol::fuzzing::$name);
            }
        )*
        /// The list above covers every target.
        #[test]
        fn every_target_is_replayed() {
            let mut listed = vec![$(stringify!($name)),*];
            listed.sort_unstable();
            let mut all: Vec<&str> = fusevol::fuzzing::TARGETS.iter().map(|(n, _)| *n).collect();
            all.sort_unstable();
            assert_eq!(listed, all);
        }
    };
}

corpus_tests! {
    frame_header,
    header,
    negotiate_response,
    session_setup_response,
    tree_connect_response,
    create_response,
    close_response,
    flush_response,
    read_response,
    write_response,
    query_directory_response,
    query_info_response,
    set_info_response,
    ioctl_response,
    error_response,
    echo_logoff_response,
    compound_split,
    transform,
    signing,
    ntlm_challenge,
    spnego_ntlm_step,
    spnego_tokens,
    fscc_directory,
    fscc_info,
    mount_options,
    unc,
    credentials_file,
    lease,
    task_file,
    docker_request,
    docker_body,
    magnet,
    btfs_options,
    torrent_metainfo,
    bencode,
    peer_wire,
}
