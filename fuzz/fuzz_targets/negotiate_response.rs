#![no_main]
// Body and invariants: fusevol::fuzzing::negotiate_response (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::negotiate_response(data));
