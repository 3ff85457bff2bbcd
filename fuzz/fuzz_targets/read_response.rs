#![no_main]
// Body and invariants: fusevol::fuzzing::read_response (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::read_response(data));
