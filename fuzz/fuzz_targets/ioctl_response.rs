#![no_main]
// Body and invariants: fusevol::fuzzing::ioctl_response (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::ioctl_response(data));
