#![no_main]
// Body and invariants: fusevol::fuzzing::set_info_response (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::set_info_response(data));
