#![no_main]
// Body and invariants: fusevol::fuzzing::btfs_options (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::btfs_options(data));
