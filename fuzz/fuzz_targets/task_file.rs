#![no_main]
// Body and invariants: fusevol::fuzzing::task_file (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::task_file(data));
