#![no_main]
// Body and invariants: fusevol::fuzzing::echo_logoff_response (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::echo_logoff_response(data));
