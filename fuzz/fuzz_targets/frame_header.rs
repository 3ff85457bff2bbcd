#![no_main]
// Body and invariants: fusevol::fuzzing::frame_header (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::frame_header(data));
