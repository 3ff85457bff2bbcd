#![no_main]
// Body and invariants: fusevol::fuzzing::lease (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::lease(data));
