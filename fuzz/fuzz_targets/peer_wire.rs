#![no_main]
// Body and invariants: fusevol::fuzzing::peer_wire (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::peer_wire(data));
