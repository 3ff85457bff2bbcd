#![no_main]
// Body and invariants: fusevol::fuzzing::torrent_metainfo (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| fusevol::fuzzing::torrent_metainfo(data));
