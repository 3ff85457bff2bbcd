#![no_main]
//! Tracker responses, through the parsers librqbit runs (crate `librqbit-tracker-comms`,
//! vendored under `fuzz/vendor/` only to make them reachable: see its README.fusevol.md).
//! Fuzz-crate only: the main crate cannot name these private modules, so this target is not in
//! `fusevol::fuzzing::TARGETS`; its seeds are replayed by every `cargo fuzz run` (CI smoke run).
//!
//! The first byte picks the parser, the rest is what a hostile tracker sends:
//! - `% 3 == 0`: an HTTP announce body (BEP 3, compact peers BEP 23, `peers6` BEP 7), parsed as
//!   librqbit does: a bencoded `failure reason` first, then the response.
//! - `% 3 == 1` / `2`: a UDP tracker datagram (BEP 15) from an IPv4 / IPv6 tracker.
//!
//! Invariants, beyond "no panic": a parsed HTTP response never yields more peers than its bytes
//! can encode (6 per compact IPv4 peer, 18 per IPv6 one, more for a dict) and its unparsed rest
//! is a suffix of the input; a UDP datagram shorter than its 8-byte header is refused, a longer
//! one always yields the transaction id written in bytes 4..8, a CONNECT is exactly 16 bytes and
//! an ANNOUNCE's peer list exactly covers the bytes after its 20-byte header.
use librqbit_tracker_comms::tracker_comms_http::{TrackerError, TrackerResponse};
use librqbit_tracker_comms::tracker_comms_udp::Response;

fn http(body: &[u8]) {
    if let Ok((e, rest)) = librqbit_bencode::from_bytes_with_rest::<TrackerError>(body) {
        assert!(rest.len() < body.len());
        let _ = e.failure_reason.to_string();
        return;
    }
    if let Ok((r, rest)) = librqbit_bencode::from_bytes_with_rest::<TrackerResponse>(body) {
        let used = body.len() - rest.len();
        assert!(used > 0 && std::ptr::eq(rest.as_ptr(), body[used..].as_ptr()));
        let n = r.iter_peers().count();
        assert!(n <= used / 6, "{n} peers from {used} bytes");
    }
}

fn udp(d: &[u8], v6: bool) {
    let parsed = Response::parse(d, v6);
    if d.len() < 8 {
        assert!(parsed.is_err(), "{} bytes: shorter than the header", d.len());
        return;
    }
    let (tid, r) = parsed.expect("an 8-byte header always parses");
    assert_eq!(tid.to_be_bytes(), d[4..8]);
    let action = u32::from_be_bytes(d[..4].try_into().expect("4 bytes"));
    match r {
        Response::Connect(_) => assert!(action == 0 && d.len() == 16),
        Response::Announce(a) => {
            assert_eq!(action, 1);
            let stride = if v6 { 18 } else { 6 };
            assert!(d.len() >= 20 && (d.len() - 20) % stride == 0);
            assert_eq!(a.addrs.len(), (d.len() - 20) / stride);
        }
        Response::Error(_) => assert_eq!(action, 3),
        Response::Unknown => {}
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    match ctl % 3 {
        // librqbit-bencode's known integer overflow (see `unless_atoi_overflow`) is skipped.
        0 => {
            let _ = fusevol::fuzzing::unless_atoi_overflow(|| http(rest));
        }
        n => udp(rest, n == 2),
    }
});
