#![no_main]
// Body and invariants: fusevol::fuzzing::fscc_info (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::fscc_info(data));
