#![no_main]
// Body and invariants: fusevol::fuzzing::bencode (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::bencode(data));
