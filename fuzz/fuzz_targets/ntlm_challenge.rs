#![no_main]
// Body and invariants: fusevol::fuzzing::ntlm_challenge (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::ntlm_challenge(data));
