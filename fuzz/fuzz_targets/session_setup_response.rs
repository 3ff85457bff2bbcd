#![no_main]
// Body and invariants: fusevol::fuzzing::session_setup_response (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::session_setup_response(data));
