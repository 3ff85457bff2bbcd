//! Bodies of the fuzz targets in `fuzz/fuzz_targets/` (one function per untrusted entry point).
//!
//! They live in the library, not in the fuzz crate, so that `tests/fuzz_corpus.rs` can replay
//! every committed corpus file and every past finding through the very same code on stable
//! Rust (`cargo test --test fuzz_corpus`), while `cargo +nightly fuzz run <name>` explores new
//! inputs. Each body accepts any byte string and asserts invariants, not only "no panic":
//! decode → encode → decode gives the same value, every returned slice lies inside the input,
//! a successful decode does not change when bytes are appended, secrets never reach errors.
//!
//! Not part of the public API: hidden from the docs and free to change.
use crate::options::{self, CredentialEnv, Unc};
use crate::smb::auth::ntlm::{self, ChallengeMessage, TargetInfo};
use crate::smb::auth::spnego::{self, NegState, NegTokenInit, NegTokenResp, OID_NTLMSSP, Oid};
use crate::smb::auth::{AuthError, AuthRandom, Credentials, NtlmMode, SpnegoNtlm};
use crate::smb::client::Auth;
use crate::smb::crypto::{Cipher, CryptoError, Opener, Sealer, Signer, SigningAlgorithm};
use crate::smb::proto::compound::{self, MAX_COMPOUND, SplitError};
use crate::smb::proto::negotiate::{CIPHERS, SIGNING_ALGORITHMS, settle};
use crate::smb::wire::close::CloseResponse;
use crate::smb::wire::create::{CreateResponse, MAX_CREATE_CONTEXTS, decode_contexts};
use crate::smb::wire::echo::EchoResponse;
use crate::smb::wire::error::{ErrorContext, ErrorResponse, SymlinkError};
use crate::smb::wire::flush::FlushResponse;
use crate::smb::wire::fscc::{self, DirEntry};
use crate::smb::wire::header::NEXT_COMMAND_OFFSET;
use crate::smb::wire::ioctl::{
    IoctlResponse, ValidateNegotiateInfoRequest, ValidateNegotiateInfoResponse,
};
use crate::smb::wire::logoff::LogoffResponse;
use crate::smb::wire::nbss::{self, FrameError, MAX_FRAME};
use crate::smb::wire::negotiate::{Dialect, MAX_NEGOTIATE_CONTEXTS, NegotiateResponse};
use crate::smb::wire::query_directory::QueryDirectoryResponse;
use crate::smb::wire::query_info::QueryInfoResponse;
use crate::smb::wire::read::ReadResponse;
use crate::smb::wire::session_setup::SessionSetupResponse;
use crate::smb::wire::set_info::SetInfoResponse;
use crate::smb::wire::transform::{TRANSFORM_HEADER_LEN, TransformHeader};
use crate::smb::wire::tree_connect::{TreeConnectResponse, TreeDisconnectResponse};
use crate::smb::wire::write::WriteResponse;
use crate::smb::wire::{Command, DecodeError, Header, SMB2_HEADER_LEN, SessionId};
use std::fmt::Debug;

/// A target body: any input, panics on a broken invariant.
pub type Body = fn(&[u8]);

/// Every target: its name (= `fuzz/fuzz_targets/<name>.rs` = `fuzz/corpus/<name>/`) and body.
pub const TARGETS: &[(&str, Body)] = &[
    ("frame_header", frame_header),
    ("header", header),
    ("negotiate_response", negotiate_response),
    ("session_setup_response", session_setup_response),
    ("tree_connect_response", tree_connect_response),
    ("create_response", create_response),
    ("close_response", close_response),
    ("flush_response", flush_response),
    ("read_response", read_response),
    ("write_response", write_response),
    ("query_directory_response", query_directory_response),
    ("query_info_response", query_info_response),
    ("set_info_response", set_info_response),
    ("ioctl_response", ioctl_response),
    ("error_response", error_response),
    ("echo_logoff_response", echo_logoff_response),
    ("compound_split", compound_split),
    ("transform", transform),
    ("signing", signing),
    ("ntlm_challenge", ntlm_challenge),
    ("spnego_ntlm_step", spnego_ntlm_step),
    ("spnego_tokens", spnego_tokens),
    ("fscc_directory", fscc_directory),
    ("fscc_info", fscc_info),
    ("mount_options", mount_options),
    ("unc", unc),
    ("credentials_file", credentials_file),
    ("lease", lease),
    ("task_file", task_file),
    ("docker_request", docker_request),
    ("docker_body", docker_body),
    ("magnet", magnet),
    ("btfs_options", btfs_options),
    ("torrent_metainfo", torrent_metainfo),
    ("bencode", bencode),
    ("peer_wire", peer_wire),
];

// ---------------------------------------------------------------------------------------------
// Helpers

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

/// `d[off..off + len]`, which a decoder claimed to have read (empty when `len` is 0).
fn claimed(d: &[u8], off: usize, len: usize) -> &[u8] {
    if len == 0 {
        return &[];
    }
    let end = off.checked_add(len).expect("claimed range overflows");
    d.get(off..end)
        .unwrap_or_else(|| panic!("claimed range {off}..{end} outside {} bytes", d.len()))
}

/// Junk appended to check that a successful decode only looks at what it declares.
const TAIL: [u8; 24] = [0xA5; 24];

/// The round trip every SMB2 response body must pass, returning the decoded value:
///
/// 1. a successful decode implies a whole header and does not change when bytes are appended;
/// 2. the value encodes after the same header (at offset 0 and at offset 5, which must give the
///    same body bytes: offsets count from the header) and decodes back to itself;
/// 3. encoding the decoded-again value gives the same bytes (encoding is canonical).
fn body_round_trip<T: PartialEq + Debug>(
    data: &[u8],
    decode: impl Fn(&[u8]) -> Result<T, DecodeError>,
    encode: impl Fn(&T, &mut Vec<u8>, usize),
) -> Option<T> {
    let v = decode(data).ok()?;
    assert!(
        data.len() >= SMB2_HEADER_LEN,
        "decoded a body without a header"
    );
    let mut longer = data.to_vec();
    longer.extend_from_slice(&TAIL);
    assert_eq!(
        decode(&longer).ok().as_ref(),
        Some(&v),
        "appending bytes changed the decode"
    );

    let hdr = &data[..SMB2_HEADER_LEN];
    let mut msg = hdr.to_vec();
    encode(&v, &mut msg, 0);
    let again = decode(&msg).unwrap_or_else(|e| panic!("re-encoded {v:?} does not decode: {e}"));
    assert_eq!(again, v, "decode(encode(v)) != v");

    let mut shifted = vec![0x5A; 5];
    shifted.extend_from_slice(hdr);
    encode(&v, &mut shifted, 5);
    assert_eq!(
        &shifted[5..],
        &msg[..],
        "encoding depends on where the header sits"
    );

    let mut msg2 = hdr.to_vec();
    encode(&again, &mut msg2, 0);
    assert_eq!(msg2, msg, "encoding is not canonical");
    Some(v)
}

/// An error's text and `Debug`, for checks that a secret does not leak.
fn texts(e: &impl std::fmt::Display, d: &impl Debug) -> String {
    format!("{e} / {d:?}")
}

// ---------------------------------------------------------------------------------------------
// Transport and header

/// Direct TCP transport header (MS-SMB2 2.1): `nbss::parse_frame_header` with a limit taken
/// from the input; every outcome is checked against the four bytes.
pub fn frame_header(data: &[u8]) {
    let mut h = [0u8; 4];
    for (d, s) in h.iter_mut().zip(data) {
        *d = *s;
    }
    let limit = match data.get(4..8) {
        Some(b) => u32::from_le_bytes(b.try_into().unwrap_or_default()) as usize,
        None => MAX_FRAME,
    };
    let announced = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
    match nbss::parse_frame_header(h, limit) {
        Ok(len) => {
            assert_eq!(h[0], 0);
            assert_eq!(len, announced);
            assert!(len >= 1 && len <= limit && len <= MAX_FRAME);
            assert_eq!(nbss::frame_header(len), h);
        }
        Err(FrameError::BadZeroByte(b)) => assert!(b == h[0] && b != 0),
        Err(FrameError::Empty) => assert_eq!((h[0], announced), (0, 0)),
        Err(FrameError::TooLarge { len, limit: l }) => {
            assert!(h[0] == 0 && len == announced && len > l && l == limit);
        }
    }
    // frame_header never announces more than it may.
    let n = announced.wrapping_mul(257);
    let enc = nbss::frame_header(n);
    let back = nbss::parse_frame_header(enc, MAX_FRAME);
    match n {
        0 => assert_eq!(back, Err(FrameError::Empty)),
        n if n > MAX_FRAME => assert_eq!(back, Ok(MAX_FRAME)),
        n => assert_eq!(back, Ok(n)),
    }
}

/// SMB2 header (MS-SMB2 2.2.1): decode → encode gives the same 64 bytes (Reserved, which is
/// not kept, read as zero in the sync form); the async/sync form follows the flag.
pub fn header(data: &[u8]) {
    let Ok(h) = Header::decode(data) else {
        return;
    };
    assert!(data.len() >= SMB2_HEADER_LEN);
    assert_eq!(
        h.is_async(),
        h.flags.has(crate::smb::wire::HeaderFlags::ASYNC_COMMAND)
    );
    let mut out = Vec::new();
    h.encode(&mut out);
    assert_eq!(out.len(), SMB2_HEADER_LEN);
    let mut expected = data[..SMB2_HEADER_LEN].to_vec();
    if !h.is_async() {
        expected[32..36].fill(0); // Reserved
    }
    assert_eq!(out, expected, "Header encode(decode(x)) != x");
    assert_eq!(Header::decode(&out).as_ref(), Ok(&h));
    let _ = (
        h.is_interim(),
        h.is_signed(),
        h.is_response(),
        format!("{h:?}"),
    );
}

/// Run the response decoder for `command` (the dispatch the client does after splitting).
fn response_for(command: Command, msg: &[u8]) {
    match command {
        Command::NEGOTIATE => negotiate_response(msg),
        Command::SESSION_SETUP => session_setup_response(msg),
        Command::TREE_CONNECT => tree_connect_response(msg),
        Command::CREATE => create_response(msg),
        Command::CLOSE => close_response(msg),
        Command::FLUSH => flush_response(msg),
        Command::READ => read_response(msg),
        Command::WRITE => write_response(msg),
        Command::QUERY_DIRECTORY => query_directory_response(msg),
        Command::QUERY_INFO => query_info_response(msg),
        Command::SET_INFO => set_info_response(msg),
        Command::IOCTL => ioctl_response(msg),
        Command::ECHO | Command::LOGOFF | Command::TREE_DISCONNECT => echo_logoff_response(msg),
        _ => {}
    }
    // Any of them may carry an ERROR body instead.
    error_response(msg);
}

// ---------------------------------------------------------------------------------------------
// Responses (MS-SMB2 2.2.x)

/// NEGOTIATE response (2.2.4) with its 3.1.1 contexts, then `proto::negotiate::settle`.
pub fn negotiate_response(data: &[u8]) {
    let Some(r) = body_round_trip(data, NegotiateResponse::decode, NegotiateResponse::encode)
    else {
        return;
    };
    let off = usize::from(u16_at(data, 64 + 56).unwrap_or(0));
    let len = usize::from(u16_at(data, 64 + 58).unwrap_or(0));
    assert_eq!(r.security_buffer, claimed(data, off, len));
    assert!(r.contexts.len() <= MAX_NEGOTIATE_CONTEXTS);
    if r.dialect != Dialect::SMB_3_1_1 {
        assert!(r.contexts.is_empty(), "contexts outside 3.1.1");
    }
    let offered = [
        Dialect::SMB_2_0_2,
        Dialect::SMB_2_1,
        Dialect::SMB_3_0,
        Dialect::SMB_3_0_2,
        Dialect::SMB_3_1_1,
    ];
    if let Ok(n) = settle(&offered, &r) {
        assert!(offered.contains(&n.dialect));
        assert!(n.max_read.min(n.max_write).min(n.max_transact) >= 4096);
        assert!(n.cipher.is_none_or(|c| CIPHERS.contains(&c)));
        assert!(SIGNING_ALGORITHMS.contains(&n.signing_algorithm));
        if !n.dialect.is_smb3() {
            assert!(n.cipher.is_none());
        }
        assert_eq!(n.security_blob, r.security_buffer);
    }
    // Only offered dialects are ever accepted.
    assert!(settle(&[], &r).is_err());
    // The GSS hint is parsed next.
    spnego_tokens(&r.security_buffer);
}

/// SESSION_SETUP response (2.2.6); its security buffer then goes to SPNEGO.
pub fn session_setup_response(data: &[u8]) {
    let Some(r) = body_round_trip(
        data,
        SessionSetupResponse::decode,
        SessionSetupResponse::encode,
    ) else {
        return;
    };
    let off = usize::from(u16_at(data, 64 + 4).unwrap_or(0));
    let len = usize::from(u16_at(data, 64 + 6).unwrap_or(0));
    assert_eq!(r.security_buffer, claimed(data, off, len));
    spnego_tokens(&r.security_buffer);
}

/// TREE_CONNECT response (2.2.10).
pub fn tree_connect_response(data: &[u8]) {
    body_round_trip(
        data,
        TreeConnectResponse::decode,
        TreeConnectResponse::encode,
    );
}

/// CREATE response (2.2.14) with its create-context chain (2.2.13.2).
pub fn create_response(data: &[u8]) {
    // The encoder (test server) cannot express a DataOffset past a name of almost 64 KiB: its
    // u16 saturates. Such a context needs a 64 KiB+ input and is no client concern, so the round
    // trip is skipped for it (decode must still not panic).
    if let Ok(r) = CreateResponse::decode(data)
        && r.contexts
            .iter()
            .any(|c| !c.data.is_empty() && c.name.len() > usize::from(u16::MAX) - 24)
    {
        return;
    }
    let Some(r) = body_round_trip(data, CreateResponse::decode, CreateResponse::encode) else {
        return;
    };
    let off = u32_at(data, 64 + 80).unwrap_or(0) as usize;
    let len = u32_at(data, 64 + 84).unwrap_or(0) as usize;
    let chain = claimed(data, off, len);
    assert!(r.contexts.len() <= MAX_CREATE_CONTEXTS);
    // Contexts occupy disjoint parts of the chain, so neither names nor data can add up to more.
    let names: usize = r.contexts.iter().map(|c| c.name.len()).sum();
    let datas: usize = r.contexts.iter().map(|c| c.data.len()).sum();
    assert!(names <= chain.len() && datas <= chain.len());
    assert_eq!(
        decode_contexts(chain, 0, chain.len()).as_ref(),
        Ok(&r.contexts)
    );
    for c in &r.contexts {
        let found = crate::smb::wire::create::find_context(&r.contexts, &c.name);
        assert_eq!(found.map(|f| &f.name), Some(&c.name));
    }
}

/// CLOSE response (2.2.16).
pub fn close_response(data: &[u8]) {
    body_round_trip(data, CloseResponse::decode, CloseResponse::encode);
}

/// FLUSH response (2.2.18).
pub fn flush_response(data: &[u8]) {
    body_round_trip(data, FlushResponse::decode, FlushResponse::encode);
}

/// READ response (2.2.20): zero-copy, so the claimed range must lie inside the message.
pub fn read_response(data: &[u8]) {
    let Ok(r) = ReadResponse::decode(data) else {
        return;
    };
    assert!(data.len() >= SMB2_HEADER_LEN);
    let got = r.data(data);
    assert_eq!(got.len(), r.data_length);
    assert_eq!(got, claimed(data, r.data_offset, r.data_length));
    assert_eq!(r.data_offset, usize::from(data[64 + 2]));
    let mut longer = data.to_vec();
    longer.extend_from_slice(&TAIL);
    assert_eq!(ReadResponse::decode(&longer), Ok(r));

    let mut msg = data[..SMB2_HEADER_LEN].to_vec();
    let enc = ReadResponse::encode(&mut msg, 0, got, r.data_remaining);
    let back = ReadResponse::decode(&msg).expect("re-encoded READ response decodes");
    assert_eq!(back, enc);
    assert_eq!(back.data(&msg), got);
    assert_eq!(back.data_remaining, r.data_remaining);
}

/// WRITE response (2.2.22).
pub fn write_response(data: &[u8]) {
    body_round_trip(data, WriteResponse::decode, WriteResponse::encode);
}

/// QUERY_DIRECTORY response (2.2.34); its buffer is then parsed as directory entries.
pub fn query_directory_response(data: &[u8]) {
    let Some(r) = body_round_trip(
        data,
        QueryDirectoryResponse::decode,
        QueryDirectoryResponse::encode,
    ) else {
        return;
    };
    let off = usize::from(u16_at(data, 64 + 2).unwrap_or(0));
    let len = u32_at(data, 64 + 4).unwrap_or(0) as usize;
    assert_eq!(r.buffer, claimed(data, off, len));
    fscc_directory(&r.buffer);
}

/// QUERY_INFO response (2.2.38); its buffer is then decoded as every info class.
pub fn query_info_response(data: &[u8]) {
    let Some(r) = body_round_trip(data, QueryInfoResponse::decode, QueryInfoResponse::encode)
    else {
        return;
    };
    let off = usize::from(u16_at(data, 64 + 2).unwrap_or(0));
    let len = u32_at(data, 64 + 4).unwrap_or(0) as usize;
    assert_eq!(r.buffer, claimed(data, off, len));
    for class in 0..FSCC_CLASSES {
        fscc_class(class, &r.buffer);
    }
}

/// SET_INFO response (2.2.40).
pub fn set_info_response(data: &[u8]) {
    body_round_trip(data, SetInfoResponse::decode, SetInfoResponse::encode);
}

/// IOCTL response (2.2.32) and the VALIDATE_NEGOTIATE_INFO payloads (2.2.31.4, 2.2.32.6).
pub fn ioctl_response(data: &[u8]) {
    if let Some(r) = body_round_trip(data, IoctlResponse::decode, IoctlResponse::encode) {
        let at = 64 + 24;
        let in_off = u32_at(data, at).unwrap_or(0) as usize;
        let in_len = u32_at(data, at + 4).unwrap_or(0) as usize;
        let out_off = u32_at(data, at + 8).unwrap_or(0) as usize;
        let out_len = u32_at(data, at + 12).unwrap_or(0) as usize;
        assert_eq!(r.input, claimed(data, in_off, in_len));
        assert_eq!(r.output, claimed(data, out_off, out_len));
        validate_negotiate(&r.output);
    }
    // The payloads on their own (the body may be anything).
    validate_negotiate(data.get(SMB2_HEADER_LEN..).unwrap_or_default());
}

fn validate_negotiate(buf: &[u8]) {
    if let Ok(v) = ValidateNegotiateInfoResponse::decode(buf) {
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(out.len(), ValidateNegotiateInfoResponse::SIZE);
        assert_eq!(&out[..], &buf[..ValidateNegotiateInfoResponse::SIZE]);
    }
    if let Ok(v) = ValidateNegotiateInfoRequest::decode(buf) {
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(&out[..], &buf[..out.len()]);
        assert_eq!(ValidateNegotiateInfoRequest::decode(&out), Ok(v));
    }
}

/// ERROR response (2.2.2), its 3.1.1 error contexts (2.2.2.1) and the symlink error
/// (2.2.2.2.1).
pub fn error_response(data: &[u8]) {
    if let Some(r) = body_round_trip(data, ErrorResponse::decode, ErrorResponse::encode) {
        let count = u32_at(data, 64 + 4).unwrap_or(0) as usize;
        assert_eq!(r.error_data, claimed(data, 72, count));
        if let Ok(contexts) = r.contexts() {
            assert_eq!(contexts.len(), usize::from(r.error_context_count));
            let mut again = Vec::new();
            ErrorContext::encode_all(&contexts, &mut again);
            let r2 = ErrorResponse {
                error_context_count: r.error_context_count,
                error_data: again,
            };
            assert_eq!(r2.contexts().as_ref(), Ok(&contexts));
        }
        if let Some(s) = r.symlink() {
            symlink_round_trip(&s);
        }
        let _ = r.required_buffer_length();
    }
    // The symlink error on its own.
    let buf = data.get(SMB2_HEADER_LEN..).unwrap_or(data);
    if let Ok(s) = SymlinkError::decode(buf) {
        symlink_round_trip(&s);
    }
}

fn symlink_round_trip(s: &SymlinkError) {
    let mut out = Vec::new();
    s.encode(&mut out);
    assert_eq!(SymlinkError::decode(&out).as_ref(), Ok(s));
}

/// ECHO (2.2.29), LOGOFF (2.2.8) and TREE_DISCONNECT (2.2.12) responses: StructureSize 4.
pub fn echo_logoff_response(data: &[u8]) {
    let e = body_round_trip(data, EchoResponse::decode, EchoResponse::encode);
    let l = body_round_trip(data, LogoffResponse::decode, LogoffResponse::encode);
    let t = body_round_trip(
        data,
        TreeDisconnectResponse::decode,
        TreeDisconnectResponse::encode,
    );
    assert_eq!(e.is_some(), l.is_some());
    assert_eq!(e.is_some(), t.is_some());
}

// ---------------------------------------------------------------------------------------------
// Compounds, encryption, signing

/// `proto::compound::split` (MS-SMB2 3.2.5.1.9): ranges start at 0, are contiguous, cover the
/// frame, follow NextCommand, are each at least a header long except the last, and number at
/// most MAX_COMPOUND; then each message goes to its header and response decoder.
pub fn compound_split(data: &[u8]) {
    let next_at = |at: usize| u32_at(data, at + NEXT_COMMAND_OFFSET).unwrap_or(0);
    match compound::split(data) {
        Ok(ranges) => {
            assert!(!ranges.is_empty() && ranges.len() <= MAX_COMPOUND);
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges.last().map(|r| r.end), Some(data.len()));
            for w in ranges.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            let (last, rest) = ranges.split_last().expect("not empty");
            for r in rest {
                assert!(r.end - r.start >= SMB2_HEADER_LEN);
                assert_eq!(next_at(r.start) as usize, r.end - r.start);
            }
            assert_eq!(next_at(last.start), 0);
            assert!(last.start <= last.end);
            for r in ranges {
                let msg = &data[r];
                if let Ok(h) = Header::decode(msg) {
                    header(msg);
                    response_for(h.command, msg);
                }
            }
        }
        Err(SplitError::TooMany) => {
            // MAX_COMPOUND links were followed without reaching the last message.
            let mut at = 0usize;
            for _ in 0..MAX_COMPOUND {
                let n = next_at(at) as usize;
                assert!(n >= SMB2_HEADER_LEN && at + n < data.len());
                at += n;
            }
        }
        Err(SplitError::BadNextCommand { at, next, len }) => {
            assert_eq!(len, data.len());
            assert_eq!(next_at(at), next);
            assert!(next != 0);
            let bad = (next as usize) < SMB2_HEADER_LEN
                || at
                    .checked_add(next as usize)
                    .is_none_or(|e| e >= data.len());
            assert!(bad, "BadNextCommand for a good NextCommand");
        }
    }
}

const KEY: [u8; 32] = *b"fusevol-fuzz-fixed-key-0123456\x01\x02";

fn cipher_of(b: u8) -> Cipher {
    [
        Cipher::AES_128_CCM,
        Cipher::AES_128_GCM,
        Cipher::AES_256_CCM,
        Cipher::AES_256_GCM,
    ][usize::from(b & 3)]
}

/// TRANSFORM_HEADER (2.2.41) decode and `Opener::open` with a fixed key. Byte 0 picks the
/// cipher and the mode: open the rest as a received frame (it must fail and leave no plaintext
/// behind: the body is unchanged or zeroed), or seal the rest with the same key, optionally
/// flip one byte, and open (success exactly when nothing was flipped, with the plaintext back).
pub fn transform(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let cipher = cipher_of(ctl);
    let key = &KEY[..cipher.key_len().expect("known cipher")];
    let opener = Opener::new(cipher, key).expect("key length");
    if ctl & 4 == 0 {
        transform_header(rest);
        let mut buf = rest.to_vec();
        let res = opener.open(&mut buf);
        if res.is_ok() {
            // Only possible with a forged tag; the header was good at least.
            assert!(TransformHeader::decode(rest).is_ok());
            return;
        }
        let n = TRANSFORM_HEADER_LEN.min(rest.len());
        assert_eq!(&buf[..n], &rest[..n], "open changed the TRANSFORM_HEADER");
        let (body, orig) = (&buf[n..], &rest[n..]);
        assert!(
            body == orig || body.iter().all(|b| *b == 0),
            "failed open left partial plaintext"
        );
        return;
    }
    // Seal, maybe tamper, open.
    let mut nonce = [0u8; 16];
    for (d, s) in nonce.iter_mut().zip(rest) {
        *d = *s;
    }
    let rest = rest.get(16..).unwrap_or_default();
    let (pos, mask, plain) = match rest {
        [a, b, m, plain @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), *m, plain),
        _ => return,
    };
    let sealer = Sealer::new(cipher, key).expect("key length");
    let mut buf = vec![0u8; TRANSFORM_HEADER_LEN];
    buf.extend_from_slice(plain);
    let sealed = sealer.seal(SessionId(0x1234), nonce, &mut buf);
    if plain.is_empty() {
        assert!(matches!(sealed, Err(CryptoError::TooShort { .. })));
        return;
    }
    sealed.expect("seal");
    let h = TransformHeader::decode(&buf).expect("our own TRANSFORM_HEADER decodes");
    assert_eq!(h.session_id, SessionId(0x1234));
    assert_eq!(h.original_message_size as usize, plain.len());
    let at = pos % buf.len();
    buf[at] ^= mask;
    let tampered = buf.clone();
    match opener.open(&mut buf) {
        Ok(()) => {
            assert_eq!(mask, 0, "a tampered frame (byte {at}) opened");
            assert_eq!(&buf[TRANSFORM_HEADER_LEN..], plain);
        }
        Err(e) => {
            assert_ne!(mask, 0, "an untouched frame failed to open: {e}");
            let body = &buf[TRANSFORM_HEADER_LEN..];
            assert!(
                body == &tampered[TRANSFORM_HEADER_LEN..] || body.iter().all(|b| *b == 0),
                "failed open left partial plaintext"
            );
        }
    }
}

fn transform_header(frame: &[u8]) {
    let Ok(h) = TransformHeader::decode(frame) else {
        return;
    };
    assert!(frame.len() > TRANSFORM_HEADER_LEN);
    assert_eq!(
        h.original_message_size as usize,
        frame.len() - TRANSFORM_HEADER_LEN
    );
    assert_eq!(h.flags, TransformHeader::FLAGS_ENCRYPTED);
    assert!(TransformHeader::is_transform(frame));
    let mut out = Vec::new();
    h.encode(&mut out);
    let mut expected = frame[..TRANSFORM_HEADER_LEN].to_vec();
    expected[40..42].fill(0); // Reserved
    assert_eq!(out, expected);
    let mut fixed = [0u8; TRANSFORM_HEADER_LEN];
    h.write_to(&mut fixed);
    assert_eq!(&fixed[..], &out[..]);
}

/// Message signing (MS-SMB2 3.1.4.1, 3.1.5.1) with a fixed key: `verify` of anything never
/// panics; what `sign` produced verifies, and flipping any byte makes it fail.
pub fn signing(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let alg = [
        SigningAlgorithm::HMAC_SHA256,
        SigningAlgorithm::AES_CMAC,
        SigningAlgorithm::AES_GMAC,
    ][usize::from(ctl % 3)];
    let signer = Signer::new(alg, &KEY[..16]).expect("key length");
    let (pos, mask, msg) = match rest {
        [a, b, m, msg @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), *m, msg),
        _ => return,
    };
    let v = signer.verify(msg);
    if msg.len() < SMB2_HEADER_LEN {
        assert!(v.is_err());
        assert!(signer.sign(&mut msg.to_vec()).is_err());
        return;
    }
    let mut m = msg.to_vec();
    signer.sign(&mut m).expect("sign");
    assert_eq!(&m[..48], &with_signed_flag(msg)[..48]);
    assert_eq!(&m[64..], &msg[64..]);
    signer.verify(&m).expect("what we signed verifies");
    let at = pos % m.len();
    m[at] ^= mask;
    assert_eq!(signer.verify(&m).is_ok(), mask == 0, "flip at {at}");
}

fn with_signed_flag(msg: &[u8]) -> Vec<u8> {
    let mut m = msg.to_vec();
    m[16] |= 0x08;
    m
}

// ---------------------------------------------------------------------------------------------
// Authentication

/// NTLM CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) and the TargetInfo AV_PAIR list (2.2.2.1).
pub fn ntlm_challenge(data: &[u8]) {
    if let Ok(c) = ChallengeMessage::parse(data) {
        let tn_len = usize::from(u16_at(data, 12).unwrap_or(0));
        let tn_off = u32_at(data, 16).unwrap_or(0) as usize;
        assert_eq!(c.target_name, claimed(data, tn_off, tn_len));
        assert_eq!(&c.server_challenge[..], &data[24..32]);
        if !c.flags.contains(ntlm::NegotiateFlags::TARGET_INFO) {
            assert!(c.target_info.is_none());
        }
        if let Some(ti) = &c.target_info {
            let ti_len = usize::from(u16_at(data, 40).unwrap_or(0));
            let ti_off = u32_at(data, 44).unwrap_or(0) as usize;
            assert!(!claimed(data, ti_off, ti_len).is_empty());
            target_info_round_trip(ti);
        }
        let mut longer = data.to_vec();
        longer.extend_from_slice(&TAIL);
        assert_eq!(ChallengeMessage::parse(&longer).as_ref(), Ok(&c));
    }
    if let Ok(ti) = TargetInfo::parse(data) {
        target_info_round_trip(&ti);
    }
}

fn target_info_round_trip(ti: &TargetInfo) {
    assert!(ti.pairs.len() <= ntlm::MAX_AV_PAIRS);
    let enc = ti.encode();
    assert_eq!(TargetInfo::parse(&enc).as_ref(), Ok(ti));
    let _ = (ti.timestamp(), ti.flags());
    for id in 0..12 {
        let _ = ti.name(ntlm::AvId(id));
    }
    // What NTLMv2 sends back (MsvAvFlags with the MIC bit). A list already at our own
    // MAX_AV_PAIRS cap may grow past it: the spec sets no limit, so only the bit is checked then.
    let mut t = ti.clone();
    t.add_flags(ntlm::AV_FLAG_MIC_PRESENT);
    assert!(
        t.flags()
            .is_some_and(|f| f & ntlm::AV_FLAG_MIC_PRESENT != 0)
    );
    if t.pairs.len() <= ntlm::MAX_AV_PAIRS {
        assert_eq!(TargetInfo::parse(&t.encode()).as_ref(), Ok(&t));
    }
}

const PASSWORD: &str = "pw-zqxsecret-9";

fn no_password(e: &AuthError) {
    let t = texts(e, e);
    assert!(!t.contains(PASSWORD), "password in an error: {t}");
}

/// `SpnegoNtlm` driven by arbitrary server tokens. Byte 0: bits 0-1 the mode (NTLMv2, NTLMv1,
/// anonymous, NTLMv1 without extended session security), bit 2 wraps the first token (then a raw
/// CHALLENGE) in a NegTokenResp, bit 3 likewise for the final token, bits 4-5 the negState of
/// the wrapping. Bytes 1-2: the first token's length; the rest is the final token.
pub fn spnego_ntlm_step(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let (len, rest) = match rest {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => (rest.len(), &[][..]),
    };
    let (t1, t2) = rest.split_at(len.min(rest.len()));
    let wrap = |t: &[u8]| {
        NegTokenResp {
            neg_state: Some(NegState(ctl >> 4 & 3)),
            supported_mech: Some(Oid::from_der_content(OID_NTLMSSP)),
            response_token: Some(t.to_vec()),
            mech_list_mic: None,
        }
        .encode()
    };
    let t1 = if ctl & 4 != 0 { wrap(t1) } else { t1.to_vec() };
    let t2 = if ctl & 8 != 0 { wrap(t2) } else { t2.to_vec() };
    let (mode, ess) = match ctl & 3 {
        0 => (NtlmMode::V2, true),
        1 => (NtlmMode::V1, true),
        2 => (NtlmMode::Anonymous, true),
        _ => (NtlmMode::V1, false),
    };
    let new_ctx = || {
        let creds = match mode {
            NtlmMode::Anonymous => Credentials::anonymous(),
            _ => Credentials::new("fuzzuser", "FUZZDOM", PASSWORD),
        };
        let random = AuthRandom {
            client_challenge: [0x11; 8],
            exported_session_key: [0x22; 16],
        };
        SpnegoNtlm::new(creds, mode, "FUZZWS", random).with_v1_extended_session_security(ess)
    };
    const NOW: u64 = 0x01D0_0000_0000_0000;
    let out_of_order = |r: Result<_, AuthError>| matches!(r, Err(AuthError::OutOfOrder(_)));

    assert!(out_of_order(new_ctx().step(&t1, NOW).map(drop)));
    let mut ctx = new_ctx();
    let init = ctx.initial_token();
    assert!(NegTokenInit::parse(&init).is_ok());
    let reply = match ctx.step(&t1, NOW) {
        Ok(r) => r,
        Err(e) => {
            no_password(&e);
            assert!(ctx.session_key().is_none() && !ctx.is_complete());
            assert!(out_of_order(ctx.finish(&t2)));
            return;
        }
    };
    assert!(!format!("{ctx:?}").contains(PASSWORD));
    let resp = NegTokenResp::parse(&reply).expect("our reply parses");
    let auth = resp.response_token.expect("reply carries AUTHENTICATE");
    assert_eq!(&auth[..8], &ntlm::SIGNATURE);
    assert_eq!(u32_at(&auth, 8), Some(ntlm::NTLM_AUTHENTICATE));
    assert_eq!(ctx.session_key().is_some(), mode != NtlmMode::Anonymous);
    assert!(!ctx.is_complete());

    // Same inputs, same AUTHENTICATE (randomness and time are inputs).
    let mut twin = new_ctx();
    twin.initial_token();
    assert_eq!(
        twin.step(&t1, NOW).ok().as_ref(),
        Some(&reply),
        "step is not deterministic"
    );

    match ctx.finish(&t2) {
        Ok(()) => assert!(ctx.is_complete()),
        Err(e) => {
            no_password(&e);
            assert!(!ctx.is_complete());
        }
    }
    assert!(out_of_order(ctx.finish(&t2)));
    assert!(out_of_order(ctx.step(&t1, NOW).map(drop)));
}

/// SPNEGO NegTokenResp and NegTokenInit(2) (RFC 4178, MS-SPNG): a parsed token re-encodes to
/// one that parses to the same value; when that encoding is as long as the input, it is the
/// input (DER is canonical here: extensions, reqFlags and long-form lengths only add bytes).
pub fn spnego_tokens(data: &[u8]) {
    if let Ok(t) = NegTokenResp::parse(data) {
        let enc = t.encode();
        assert_eq!(NegTokenResp::parse(&enc).as_ref(), Ok(&t));
        assert!(enc.len() <= data.len());
        if enc.len() == data.len() {
            assert_eq!(enc, data, "NegTokenResp not canonical");
        }
        if let Some(m) = &t.supported_mech {
            let _ = (m.to_string(), m.is_ntlmssp());
        }
    }
    let init = NegTokenInit::parse(data);
    if let Ok(t) = &init {
        let enc = t.encode();
        assert_eq!(NegTokenInit::parse(&enc).as_ref(), Ok(t));
        assert!(enc.len() <= data.len());
        if enc.len() == data.len() {
            assert_eq!(enc, data, "NegTokenInit not canonical");
        }
        assert!(t.mech_types.len() <= spnego::MAX_MECHS);
        for m in &t.mech_types {
            let _ = m.to_string();
        }
    }
    match spnego::server_mechanisms(data) {
        Ok(m) if data.is_empty() => assert!(m.is_empty()),
        Ok(m) => assert_eq!(Some(m), init.ok().map(|t| t.mech_types)),
        Err(_) => assert!(init.is_err()),
    }
    let _ = spnego::check_server_hint(data);
}

// ---------------------------------------------------------------------------------------------
// MS-FSCC

/// QUERY_DIRECTORY buffer of FileIdBothDirectoryInformation entries (MS-FSCC 2.4.17):
/// parse → encode → parse gives the same entries.
pub fn fscc_directory(data: &[u8]) {
    let Ok(entries) = fscc::parse_id_both_directory(data) else {
        return;
    };
    assert!(entries.len() <= fscc::MAX_DIR_ENTRIES);
    assert!(entries.len() * DirEntry::FIXED <= data.len());
    let names: usize = entries.iter().map(|e| e.name.len()).sum();
    assert!(names <= data.len() * 3 / 2, "names larger than the buffer");
    let mut out = Vec::new();
    fscc::encode_id_both_directory(&entries, &mut out);
    let again = fscc::parse_id_both_directory(&out).expect("re-encoded entries parse");
    assert_eq!(again, entries);
    let mut out2 = Vec::new();
    fscc::encode_id_both_directory(&again, &mut out2);
    assert_eq!(out2, out);
}

const FSCC_CLASSES: u8 = 13;

/// One MS-FSCC information class (byte 0 picks it) decoded from the rest: decode → encode →
/// decode gives the same value; fixed-size classes encode to their size (and to the input's
/// bytes where no field is reserved or boolean). Class 12 is the FILETIME conversion.
pub fn fscc_info(data: &[u8]) {
    let Some((&class, rest)) = data.split_first() else {
        return;
    };
    fscc_class(class % FSCC_CLASSES, rest);
}

macro_rules! info_round_trip {
    ($t:ty, $buf:expr, $size:expr, $exact:expr) => {{
        let buf: &[u8] = $buf;
        if let Ok(v) = <$t>::decode(buf) {
            let mut out = Vec::new();
            v.encode(&mut out);
            assert_eq!(<$t>::decode(&out).as_ref(), Ok(&v), stringify!($t));
            let size: Option<usize> = $size;
            if let Some(size) = size {
                assert_eq!(out.len(), size, stringify!($t));
                if $exact {
                    assert_eq!(&out[..], &buf[..size], stringify!($t));
                }
            }
        }
    }};
}

fn fscc_class(class: u8, buf: &[u8]) {
    use fscc::*;
    match class {
        0 => info_round_trip!(
            FileBasicInformation,
            buf,
            Some(FileBasicInformation::SIZE),
            false
        ),
        1 => info_round_trip!(
            FileStandardInformation,
            buf,
            Some(FileStandardInformation::SIZE),
            false
        ),
        2 => info_round_trip!(
            FileInternalInformation,
            buf,
            Some(FileInternalInformation::SIZE),
            true
        ),
        3 => info_round_trip!(
            FileNetworkOpenInformation,
            buf,
            Some(FileNetworkOpenInformation::SIZE),
            false
        ),
        4 => info_round_trip!(
            FileEndOfFileInformation,
            buf,
            Some(FileEndOfFileInformation::SIZE),
            true
        ),
        5 => info_round_trip!(
            FileDispositionInformation,
            buf,
            Some(FileDispositionInformation::SIZE),
            false
        ),
        6 => info_round_trip!(FileRenameInformation, buf, None, false),
        7 => info_round_trip!(FileAllInformation, buf, None, false),
        8 => info_round_trip!(FileFsVolumeInformation, buf, None, false),
        9 => info_round_trip!(
            FileFsSizeInformation,
            buf,
            Some(FileFsSizeInformation::SIZE),
            true
        ),
        10 => info_round_trip!(
            FileFsFullSizeInformation,
            buf,
            Some(FileFsFullSizeInformation::SIZE),
            true
        ),
        11 => info_round_trip!(FileFsAttributeInformation, buf, None, false),
        _ => {
            for c in buf.chunks_exact(8) {
                let ft = u64::from_le_bytes(c.try_into().expect("8 bytes"));
                match filetime_to_system_time(ft) {
                    Some(t) => assert_eq!(system_time_to_filetime(t), ft),
                    None => assert!(ft == 0 || ft > i64::MAX as u64),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Options

/// A marker password: never in the fuzzer's own text (checked), so it may not appear in any
/// error or `Debug` output.
const MARK: &str = "zqxmarkpw";

fn join_items(items: &[String]) -> String {
    items
        .iter()
        .map(|i| i.replace(',', ",,"))
        .collect::<Vec<_>>()
        .join(",")
}

/// mount.cifs option strings (`options::parse`): never panics, is deterministic, keeps its
/// promises (validated sizes and modes, a usable client configuration), and never puts the
/// value of `password=`/`pass=`/`user=u%pass` into an error or `Debug` output, wherever the
/// password item sits among the fuzzer's items.
pub fn mount_options(data: &[u8]) {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let s = String::from_utf8_lossy(rest);
    let a = options::parse(&s);
    let b = options::parse(&s);
    match (&a, &b) {
        (Ok(x), Ok(y)) => {
            assert_eq!(format!("{x:?}"), format!("{y:?}"));
            assert_eq!(
                x.password.as_ref().map(|p| p.expose()),
                y.password.as_ref().map(|p| p.expose())
            );
        }
        (Err(x), Err(y)) => assert_eq!(x, y),
        _ => panic!("parse is not deterministic"),
    }
    if let Ok(o) = &a {
        options_invariants(o);
    }

    if s.to_lowercase().contains(MARK) {
        return;
    }
    let item = match ctl % 3 {
        0 => format!("password={MARK}"),
        1 => format!("pass={MARK}"),
        _ => format!("user=someone%{MARK}"),
    };
    // Empty items are dropped by the splitter: kept, one would turn the separator before an
    // inserted item into a literal comma (",,") and glue it to its neighbour.
    let mut items = options::split_options(&s);
    let at = usize::from(ctl / 3) % (items.len() + 1);
    items.insert(at, item);
    let with = join_items(&items);
    match options::parse(&with) {
        Err(e) => {
            let t = texts(&e, &e).to_lowercase();
            assert!(!t.contains(MARK), "password in an error: {t}");
        }
        Ok(o) => {
            let t = format!("{o:?}").to_lowercase();
            assert!(!t.contains(MARK), "password in Debug: {t}");
            assert!(o.password.is_some());
            options_invariants(&o);
        }
    }
}

fn options_invariants(o: &options::CifsOptions) {
    for size in [o.rsize, o.wsize].into_iter().flatten() {
        assert!((4096..=16 << 20).contains(&size));
    }
    for mode in [o.file_mode, o.dir_mode].into_iter().flatten() {
        assert!(mode <= 0o7777);
    }
    assert!((1..=600).contains(&o.echo_interval.as_secs()));
    // vers= was validated by parse, so the configuration cannot fail.
    let c = o
        .client_config("h", None)
        .expect("client_config after parse");
    assert!(!c.dialects.is_empty());
    assert_eq!(c.port, o.port.unwrap_or(445));
    if o.credentials.is_none() {
        // No file to read: the identity comes from the options alone.
        match o.auth(&CredentialEnv::none(), "//h/s") {
            Ok(Auth::Anonymous) => assert_eq!(o.sec, options::Sec::None),
            Ok(Auth::Guest(_)) => assert!(o.guest),
            Ok(Auth::Ntlmv1(_) | Auth::Ntlmv2(_)) => assert!(o.password.is_some()),
            Err(e) => {
                assert!(matches!(e, options::OptionError::NoPassword));
                assert!(o.password.is_none());
            }
        }
    }
}

/// `Unc::parse`: a parsed UNC names a host and a share, its path has no leading or trailing
/// separator, and its `Display` (and `share_unc`) parse back to the same host, share and path.
pub fn unc(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let Ok(u) = Unc::parse(&s) else {
        return;
    };
    assert!(!u.host.is_empty() && !u.share.is_empty());
    assert!(!u.share.contains('/') && !u.share.contains('\\'));
    assert!(!u.path.starts_with('/') && !u.path.ends_with('/'));
    assert!(!u.path.contains('\\'));
    let shown = u.to_string();
    let back = Unc::parse(&shown).unwrap_or_else(|e| panic!("{shown:?} does not re-parse: {e}"));
    assert_eq!(
        (&back.host, &back.share, &back.path),
        (&u.host, &u.share, &u.path),
        "{shown:?}"
    );
    let share = u.share_unc();
    let back = Unc::parse(&share).unwrap_or_else(|e| panic!("{share:?} does not re-parse: {e}"));
    assert_eq!(
        (&back.host, &back.share, back.path.as_str()),
        (&u.host, &u.share, "")
    );
}

/// The mount.cifs credentials-file reader, on the input written to a temporary file: never
/// panics, trims names but keeps the password verbatim, and never puts a `password=` value into
/// an error or `Debug` output.
pub fn credentials_file(data: &[u8]) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    // tmpfs when there is one: a file per execution on a disk file system is 20x slower.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!(
        "fusevol-fuzz-cred-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, data).expect("write temp file");
    let plain = options::read_credentials_file(&path);
    let mut marked = format!("password={MARK}\n").into_bytes();
    marked.extend_from_slice(data);
    std::fs::write(&path, &marked).expect("write temp file");
    let with = options::read_credentials_file(&path);
    let _ = std::fs::remove_file(&path);

    if let Ok(c) = &plain {
        for name in [&c.username, &c.domain].into_iter().flatten() {
            assert_eq!(name.trim(), name);
        }
        if let Some(p) = &c.password {
            assert!(!p.expose().ends_with('\r') && !p.expose().contains('\n'));
        }
    }
    if String::from_utf8_lossy(data).to_lowercase().contains(MARK) {
        return;
    }
    match with {
        Ok(c) => {
            assert!(c.password.is_some());
            assert!(!format!("{c:?}").contains(MARK));
        }
        Err(e) => {
            let t = texts(&e, &e);
            assert!(!t.contains(MARK), "password in an error: {t}");
        }
    }
}

/// Leases and durable handles (MS-SMB2 2.2.13.2.10-12, 2.2.14.2.12, 2.2.23, 2.2.25.2): the
/// first byte picks the decoder, the rest is its input. Every decode re-encodes to itself.
pub fn lease(data: &[u8]) {
    use crate::smb::wire::lease::{
        BreakNotification, DurableReconnectV2, DurableRequestV2, DurableResponseV2, LeaseBreakAck,
        LeaseV2,
    };
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    match sel % 6 {
        0 => {
            let Ok(b) = BreakNotification::decode(rest) else {
                return;
            };
            let mut m = rest[..SMB2_HEADER_LEN].to_vec();
            b.encode(&mut m);
            assert_eq!(BreakNotification::decode(&m), Ok(b));
        }
        1 => {
            body_round_trip(rest, LeaseBreakAck::decode, |v, m, h| {
                crate::smb::wire::RequestBody::encode(v, m, h)
            });
        }
        2 => {
            if let Ok(l) = LeaseV2::decode(rest) {
                assert_eq!(LeaseV2::decode(&l.to_context().data), Ok(l));
            }
        }
        3 => {
            // Reserved bytes are not kept: the re-encoding decodes to the same value.
            if let Ok(d) = DurableRequestV2::decode(rest) {
                assert_eq!(DurableRequestV2::decode(&d.to_context().data), Ok(d));
                assert_eq!(d.to_context().data[..8], rest[..8]);
            }
        }
        4 => {
            if let Ok(d) = DurableResponseV2::decode(rest) {
                assert_eq!(d.to_context().data, rest);
            }
        }
        _ => {
            if let Ok(d) = DurableReconnectV2::decode(rest) {
                assert_eq!(d.to_context().data, rest);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Volume front ends: task files, the Docker plugin

/// `key` as `task::spec` folds it (trimmed, ASCII lower case, `-` → `_`), for the checks below.
fn spec_key(k: &str) -> String {
    k.trim().to_ascii_lowercase().replace('-', "_")
}

/// Whether `btfs::options::parse_peer(v)` answers without a name lookup: a literal socket
/// address, or something `ToSocketAddrs` refuses before resolving (no `:`, a bad port) or
/// resolves without the network (an IP host).
fn peer_is_literal(v: &str) -> bool {
    if v.parse::<std::net::SocketAddr>().is_ok() {
        return true;
    }
    match v.rsplit_once(':') {
        None => true,
        Some((host, port)) => {
            port.parse::<u16>().is_err() || host.parse::<std::net::IpAddr>().is_ok()
        }
    }
}

/// A `peer` value that would make `parse_peer` resolve a host name (DNS: the network, and
/// seconds per input) gets its `:` replaced, so it fails without a lookup. Everything else is
/// left as the fuzzer made it.
fn defuse_peer(v: &str) -> String {
    if peer_is_literal(v.trim()) {
        v.to_string()
    } else {
        v.replace(':', "_")
    }
}

/// [`defuse_peer`] for every `peer` of an option list (discrete, or inside `o=` / `cifsopts=`,
/// which `task::spec` splits on `,`; an item holding `,,` is refused there before any lookup).
fn defuse_peers(opts: &mut [(String, String)]) {
    for (k, v) in opts.iter_mut() {
        match spec_key(k).as_str() {
            "peer" => *v = defuse_peer(v),
            "o" | "cifsopts" => {
                let items: Vec<String> = v
                    .split(',')
                    .map(|item| match item.split_once('=') {
                        Some((ik, iv)) if spec_key(ik) == "peer" => {
                            format!("{ik}={}", defuse_peer(iv))
                        }
                        _ => item.to_string(),
                    })
                    .collect();
                *v = items.join(",");
            }
            _ => {}
        }
    }
}

/// A YAML double-quoted scalar holding exactly `s` (YAML 1.2 §7.3.1): printable ASCII as is,
/// everything else escaped.
fn yaml_quote(s: &str) -> String {
    use std::fmt::Write;
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            ' '..='~' => o.push(c),
            c if (c as u32) <= 0xFFFF => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(o, "\\U{:08X}", c as u32);
            }
        }
    }
    o.push('"');
    o
}

/// One `key: value` line of a block mapping, with an explicit key (`? k` / `: v`) when the key
/// is too long for an implicit one (YAML 1.2 limits those to 1024 characters).
fn yaml_entry(out: &mut String, indent: &str, key: &str, value: &str) {
    let k = yaml_quote(key);
    if k.len() > 1000 {
        out.push_str(&format!("{indent}? {k}\n{indent}: {value}\n"));
    } else {
        out.push_str(&format!("{indent}{k}: {value}\n"));
    }
}

/// The canonical task file of `t`: block style, every scalar double-quoted.
fn canonical_task(t: &crate::task::Task) -> String {
    let mut s = String::from("container:\n");
    if t.volumes.is_empty() {
        s.push_str("  volumes: {}\n");
    } else {
        s.push_str("  volumes:\n");
        for v in &t.volumes {
            s.push_str(&format!("    {}:\n", yaml_quote(&v.name)));
            s.push_str(&format!("      type: {}\n", yaml_quote(&v.kind)));
            if v.options.is_empty() {
                s.push_str("      options: {}\n");
            } else {
                s.push_str("      options:\n");
                for (k, val) in &v.options {
                    yaml_entry(&mut s, "        ", k, &yaml_quote(val));
                }
            }
        }
    }
    if t.mounts.is_empty() {
        s.push_str("  mounts: []\n");
    } else {
        s.push_str("  mounts:\n");
        for m in &t.mounts {
            let mode = if m.ro { "ro" } else { "rw" };
            s.push_str(&format!(
                "    - {}\n",
                yaml_quote(&format!("{}:{}:{mode}", m.volume, m.target))
            ));
        }
    }
    s
}

fn yaml_depth(n: &crate::task::yaml::Node) -> usize {
    use crate::task::yaml::Node;
    match n {
        Node::Scalar { .. } => 0,
        Node::Seq { items, .. } => 1 + items.iter().map(yaml_depth).max().unwrap_or(0),
        Node::Map { entries, .. } => {
            1 + entries
                .iter()
                .map(|(_, v)| yaml_depth(v))
                .max()
                .unwrap_or(0)
        }
    }
}

fn yaml_keys_unique(n: &crate::task::yaml::Node) {
    use crate::task::yaml::Node;
    match n {
        Node::Scalar { .. } => {}
        Node::Seq { items, .. } => items.iter().for_each(yaml_keys_unique),
        Node::Map { entries, .. } => {
            let keys: std::collections::HashSet<&str> =
                entries.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys.len(), entries.len(), "duplicate key kept");
            entries.iter().for_each(|(_, v)| yaml_keys_unique(v));
        }
    }
}

/// A task file (`task::Task::parse`, through `task::yaml::parse`): deterministic; the YAML tree
/// is at most `MAX_DEPTH` deep with unique keys; a parsed task has valid, unique volume names
/// with a known type, every mount names a defined volume, targets are absolute, normalised
/// (no `.`, `..`, `//`, trailing `/`, not `/`) and unique; the canonical form (every scalar
/// double-quoted) parses back to the same task, scalar text included (`vers: 3.0` stays
/// `"3.0"`). Then `specs` with a marker password added to every cifs volume: the password never
/// shows in an error or `Debug`, and a cifs mount's `-o` string ends with it.
pub fn task_file(data: &[u8]) {
    use crate::task::file::{MAX_ENTRIES, valid_name};
    use crate::task::{Kind, Task, yaml};
    let text = String::from_utf8_lossy(data);
    if let Ok(doc) = yaml::parse(&text) {
        assert!(yaml_depth(&doc) <= yaml::MAX_DEPTH, "nested too deep");
        yaml_keys_unique(&doc);
    }
    let a = Task::parse(&text);
    assert_eq!(a, Task::parse(&text), "parse is not deterministic");
    let Ok(t) = a else {
        return;
    };
    assert!(t.volumes.len() <= MAX_ENTRIES && t.mounts.len() <= MAX_ENTRIES);
    for (i, v) in t.volumes.iter().enumerate() {
        assert!(valid_name(&v.name), "volume name {:?}", v.name);
        assert!(Kind::parse(&v.kind).is_ok(), "type {:?}", v.kind);
        assert!(
            t.volumes[..i].iter().all(|o| o.name != v.name),
            "two volumes {:?}",
            v.name
        );
    }
    for (i, m) in t.mounts.iter().enumerate() {
        assert!(
            t.volumes.iter().any(|v| v.name == m.volume),
            "mount of {:?}",
            m.volume
        );
        let tg = &m.target;
        assert!(tg.starts_with('/') && tg.len() > 1, "target {tg:?}");
        assert!(
            !tg.ends_with('/') && !tg.contains("//") && !tg.contains(':'),
            "target {tg:?}"
        );
        assert!(
            tg.split('/').skip(1).all(|c| c != "." && c != ".."),
            "target {tg:?}"
        );
        assert!(
            t.mounts[..i].iter().all(|o| o.target != *tg),
            "two mounts on {tg:?}"
        );
    }

    let canon = canonical_task(&t);
    let back = Task::parse(&canon).unwrap_or_else(|e| panic!("canonical form {canon:?}: {e}"));
    assert_eq!(back, t, "canonical form {canon:?} parses to another task");

    if text.to_lowercase().contains(MARK) {
        return;
    }
    let mut marked = t.clone();
    for v in &mut marked.volumes {
        defuse_peers(&mut v.options);
        if Kind::parse(&v.kind) == Ok(Kind::Cifs) {
            v.options.push(("password".into(), MARK.into()));
        }
    }
    let base = std::path::Path::new("/nonexistent/fusevol-fuzz");
    match marked.specs(base) {
        Err(e) => {
            let s = texts(&e, &e);
            assert!(!s.contains(MARK), "password in an error: {s}");
        }
        Ok(specs) => {
            let used = marked.volumes.len() - marked.unused().len();
            assert_eq!(specs.len(), used);
            for (name, s) in &specs {
                assert!(valid_name(name));
                let d = format!("{s:?}");
                assert!(!d.contains(MARK), "password in Debug: {d}");
                match s.mount_options(&[]) {
                    Ok(o) if s.kind == Kind::Cifs => {
                        assert!(o.expose().ends_with(&format!("password={MARK}")));
                    }
                    Ok(o) => assert!(!o.expose().contains(MARK)),
                    Err(e) => {
                        let s = texts(&e, &e);
                        assert!(!s.contains(MARK), "password in an error: {s}");
                    }
                }
            }
        }
    }
}

/// `docker::http::read_request` over one connection's bytes, request after request (keep-alive):
/// each request takes at least the shortest possible request's bytes and no more than it
/// needs (parsing just its own bytes gives the same request), has a token method, a non-empty
/// path and a body of at most `MAX_BODY`; re-encoding it with `Content-Length` reads back the
/// same; an error carries a 4xx/5xx status and a reason; at most `len / 14` requests.
pub fn docker_request(data: &[u8]) {
    use crate::docker::http::{MAX_BODY, read_request};
    use std::io::Cursor;
    // "P / HTTP/1.1\n\n"
    const MIN_REQUEST: usize = 14;
    let mut cur = Cursor::new(data);
    let mut count = 0;
    loop {
        let at = cur.position() as usize;
        let r = read_request(&mut cur);
        let end = cur.position() as usize;
        assert!(at <= end && end <= data.len());
        let r = match r {
            Ok(None) => break,
            Err(e) => {
                assert!(
                    matches!(e.status, 400 | 411 | 413 | 431 | 501 | 505),
                    "{e:?}"
                );
                assert!(!e.why.is_empty());
                break;
            }
            Ok(Some(r)) => r,
        };
        count += 1;
        assert!(end - at >= MIN_REQUEST, "{} bytes gave {r:?}", end - at);
        assert!(count * MIN_REQUEST <= data.len());
        assert!(r.body.len() <= MAX_BODY && r.body.len() < end - at);
        assert!(
            !r.method.is_empty() && r.method.bytes().all(|b| b.is_ascii_graphic()),
            "method {:?}",
            r.method
        );
        assert!(
            !r.path.is_empty() && !r.path.contains(' '),
            "path {:?}",
            r.path
        );
        // Its own bytes are enough: the request boundary does not depend on what follows.
        let mut alone = Cursor::new(&data[at..end]);
        assert_eq!(read_request(&mut alone).ok().flatten().as_ref(), Some(&r));
        assert_eq!(alone.position() as usize, end - at);
        // Re-encoded with Content-Length, it reads back the same.
        let mut enc = format!(
            "{} {} {}\r\nContent-Length: {}\r\n\r\n",
            r.method,
            r.path,
            if r.close { "HTTP/1.0" } else { "HTTP/1.1" },
            r.body.len()
        )
        .into_bytes();
        enc.extend_from_slice(&r.body);
        let mut c = Cursor::new(&enc[..]);
        assert_eq!(read_request(&mut c).ok().flatten().as_ref(), Some(&r));
        assert_eq!(c.position() as usize, enc.len());
    }
}

/// Records mount points as mounted (the fuzz target's stand-in for `fusevol mount`).
#[derive(Clone, Default)]
struct FakeMounter(std::sync::Arc<std::sync::Mutex<std::collections::HashSet<std::path::PathBuf>>>);

impl FakeMounter {
    fn set(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<std::path::PathBuf>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl crate::docker::Mounter for FakeMounter {
    fn mount(&self, _spec: &crate::task::VolumeSpec, mp: &std::path::Path) -> Result<(), String> {
        assert!(mp.is_dir(), "mount point {} missing", mp.display());
        self.set().insert(mp.to_path_buf());
        Ok(())
    }
    fn unmount(&self, mp: &std::path::Path) -> Result<(), String> {
        self.set().remove(mp);
        Ok(())
    }
    fn state(&self, mp: &std::path::Path) -> crate::docker::MountState {
        if self.set().contains(mp) {
            crate::docker::MountState::Live
        } else {
            crate::docker::MountState::NotMounted
        }
    }
}

/// A fresh directory per execution, on tmpfs when there is one.
fn scratch_dir(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let shm = std::path::Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    base.join(format!(
        "fusevol-fuzz-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The plugin endpoints; byte 0 of each call picks one.
const DOCKER_PATHS: &[&str] = &[
    "/VolumeDriver.Create",
    "/VolumeDriver.Mount",
    "/VolumeDriver.Unmount",
    "/VolumeDriver.Remove",
    "/VolumeDriver.Path",
    "/VolumeDriver.Get",
    "/VolumeDriver.List",
    "/VolumeDriver.Capabilities",
    "/Plugin.Activate",
    "/VolumeDriver.Nope",
];

/// A Create body with a marker password added to its `Opts` (one of three spellings, or none), and
/// `peer` values defused; other bodies unchanged.
fn mark_create(body: &[u8], how: u8) -> Vec<u8> {
    use serde_json::Value;
    let Ok(Value::Object(mut req)) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let mut opts = match req.remove("Opts") {
        Some(Value::Object(o)) => o,
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(other) => {
            req.insert("Opts".into(), other);
            return serde_json::to_vec(&Value::Object(req)).unwrap_or_default();
        }
    };
    let mut strings: Vec<(String, String)> = opts
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    defuse_peers(&mut strings);
    for (k, v) in strings {
        opts.insert(k, Value::String(v));
    }
    match how % 4 {
        // No password: btfs definitions (which refuse one) get through too.
        3 => {}
        0 => {
            opts.insert("password".into(), Value::String(MARK.into()));
        }
        1 => {
            opts.insert("Pass".into(), Value::String(MARK.into()));
        }
        _ => {
            let o = match opts.get("o").and_then(Value::as_str) {
                Some(o) if !o.is_empty() => format!("{o},password={MARK}"),
                _ => format!("password={MARK}"),
            };
            opts.insert("o".into(), Value::String(o));
        }
    }
    req.insert("Opts".into(), Value::Object(opts));
    serde_json::to_vec(&Value::Object(req)).unwrap_or_default()
}

/// Docker volume plugin calls (`docker::Driver::handle`, options through
/// `task::spec::VolumeSpec::new`) on a fresh state dir with a recording mounter: up to 16 calls
/// separated by NUL bytes, byte 0 of each picking the endpoint, the rest its JSON body (Create
/// bodies get a marker password in `Opts`). Every answer: a known status, a JSON object whose
/// `Err` is empty exactly on 200, never the password; a `Mountpoint` is the volume's
/// directory under `<state>/mnt` and mounted; `Path` agrees with `Mount`. A restarted driver
/// lists the same volumes; the state dir holds only `<valid name>.json` records, mode 0600.
pub fn docker_body(data: &[u8]) {
    use crate::docker::Driver;
    use crate::task::file::valid_name;
    use serde_json::Value;
    use std::os::unix::fs::MetadataExt;
    let check_marks = !String::from_utf8_lossy(data).to_lowercase().contains(MARK);
    let dir = scratch_dir("docker");
    let fake = FakeMounter::default();
    let d = Driver::open(&dir, fake.clone()).expect("open the state dir");
    let names = |d: &Driver<FakeMounter>| -> Vec<String> {
        let (status, ans) = d.handle("/VolumeDriver.List", b"");
        assert_eq!(status, 200);
        let mut v: Vec<String> = ans["Volumes"]
            .as_array()
            .expect("Volumes")
            .iter()
            .map(|v| v["Name"].as_str().expect("Name").to_string())
            .collect();
        v.sort();
        v
    };
    for call in data.split(|&b| b == 0).take(16) {
        let Some((&sel, body)) = call.split_first() else {
            continue;
        };
        let path = DOCKER_PATHS[usize::from(sel) % DOCKER_PATHS.len()];
        let body = if path == "/VolumeDriver.Create" && check_marks {
            mark_create(body, sel / 16)
        } else {
            body.to_vec()
        };
        let (status, ans) = d.handle(path, &body);
        let text = ans.to_string();
        if check_marks {
            assert!(!text.contains(MARK), "password in an answer: {text}");
        }
        assert!(matches!(status, 200 | 400 | 404 | 500), "{status} {text}");
        let obj = ans.as_object().expect("the answer is an object");
        match obj.get("Err") {
            None => assert_eq!(status, 200, "{text}"),
            Some(Value::String(e)) => assert_eq!(e.is_empty(), status == 200, "{status} {text}"),
            Some(_) => panic!("Err is not a string: {text}"),
        }
        let name = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("Name")?.as_str().map(str::to_string));
        if let Some(mp) = obj.get("Mountpoint") {
            let mp = std::path::PathBuf::from(mp.as_str().expect("Mountpoint is a string"));
            let name = name.as_deref().expect("a Mountpoint for a named volume");
            assert!(valid_name(name));
            assert_eq!(mp, dir.join("mnt").join(name));
            assert!(
                fake.set().contains(&mp),
                "{} answered but not mounted",
                mp.display()
            );
        }
        if status == 200 && path == "/VolumeDriver.Mount" {
            let name = name.as_deref().expect("a mounted volume has a name");
            let (s, p) = d.handle("/VolumeDriver.Path", &body);
            assert_eq!((s, p.get("Mountpoint")), (200, obj.get("Mountpoint")));
            assert!(names(&d).iter().any(|n| n == name));
        }
    }
    let before = names(&d);
    drop(d);
    let d = Driver::open(&dir, fake.clone()).expect("reopen the state dir");
    assert_eq!(names(&d), before, "a restart changed the volumes");
    let vdir = dir.join("volumes");
    for e in std::fs::read_dir(&vdir).expect("volumes dir").flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        let stem = f
            .strip_suffix(".json")
            .unwrap_or_else(|| panic!("stray file {f}"));
        assert!(valid_name(stem), "record {f}");
        let mode = e.metadata().expect("metadata").mode();
        assert_eq!(mode & 0o077, 0, "{f} mode {mode:o}");
    }
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Torrents

std::thread_local! {
    static EXPECT_ATOI: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static ATOI_OVERFLOWED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs one of librqbit's bencode decoders; `None` if it hit the known overflow of
/// `librqbit-bencode` 9.1.0: it reads integers and string lengths with atoi's unchecked
/// `from_radix_10`, so a number too large for its field (`i256e` for a `u8`, 20 digits for a
/// length) overflows — a panic with overflow checks (fuzz and test builds), a silently wrapped
/// value in release builds. Reported upstream-bound; not ours to fix, so inputs that reach it
/// are skipped. Any other panic propagates. A panic hook installed once (it wraps the previous
/// one, libFuzzer's aborting hook included) keeps quiet only for such an overflow, and only on
/// a thread inside this function.
pub fn unless_atoi_overflow<T>(f: impl FnOnce() -> T) -> Option<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
                .unwrap_or("");
            let in_atoi = info.location().is_some_and(|l| l.file().contains("/atoi-"));
            if in_atoi && msg.contains("overflow") && EXPECT_ATOI.with(|e| e.get()) {
                ATOI_OVERFLOWED.with(|h| h.set(true));
                return;
            }
            prev(info)
        }));
    });
    EXPECT_ATOI.with(|e| e.set(true));
    ATOI_OVERFLOWED.with(|h| h.set(false));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    EXPECT_ATOI.with(|e| e.set(false));
    match r {
        Ok(v) => Some(v),
        Err(_) if ATOI_OVERFLOWED.with(|h| h.get()) => None,
        Err(p) => std::panic::resume_unwind(p),
    }
}

/// A magnet or other btfs source (`btfs::engine::Source::from_arg`,
/// `btfs::rqbit::magnet_extras`, `librqbit::Magnet::parse`): the classification follows the
/// scheme (case-insensitive); `x.pe=` hints give at most one peer each; an infohash is 40
/// lower-case hex digits and comes only from a magnet librqbit parses. `x.pe=` values that
/// would need a name lookup are defused first (see [`defuse_peer`]).
pub fn magnet(data: &[u8]) {
    use crate::btfs::engine::Source;
    let s = String::from_utf8_lossy(data);
    let lower = s.to_ascii_lowercase();
    match Source::from_arg(&s) {
        Source::Magnet(m) => {
            assert!(lower.starts_with("magnet:"));
            assert_eq!(m, s);
        }
        Source::Url(u) => {
            assert!(lower.starts_with("http://") || lower.starts_with("https://"));
            assert_eq!(u, s);
        }
        Source::Path(p) => {
            assert!(
                !["magnet:", "http://", "https://"]
                    .iter()
                    .any(|p| lower.starts_with(p))
            );
            assert_eq!(p.as_os_str(), std::ffi::OsStr::new(s.as_ref()));
        }
        Source::Bytes(_) => panic!("from_arg gave bytes"),
    }
    // The query as magnet_extras splits it, with every x.pe= value defused.
    let uri = match s.split_once('?') {
        None => s.to_string(),
        Some((head, q)) => {
            let items: Vec<String> = q
                .split('&')
                .map(|kv| match kv.strip_prefix("x.pe=") {
                    Some(v) if v.contains('%') || !peer_is_literal(v) => {
                        format!("x.pe={}", v.replace(['%', ':'], "_"))
                    }
                    _ => kv.to_string(),
                })
                .collect();
            format!("{head}?{}", items.join("&"))
        }
    };
    let (peers, hash) = crate::btfs::rqbit::magnet_extras(&uri);
    assert!(peers.len() <= uri.matches("x.pe=").count());
    if let Some(h) = &hash {
        assert_eq!(h.len(), 40, "{h:?}");
        assert!(
            h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
            "{h:?}"
        );
        assert!(librqbit::Magnet::parse(&uri).is_ok());
    }
    // What check_magnet lets through, librqbit parses without a huge allocation (the BEP 53
    // `so=` ranges it would collect are bounded); what it refuses yields no infohash.
    match crate::btfs::rqbit::check_magnet(&uri) {
        Ok(()) => drop(librqbit::Magnet::parse(&uri)),
        Err(e) => {
            assert!(e.starts_with("magnet: "), "{e}");
            assert_eq!(hash, None);
        }
    }
    assert_eq!(crate::btfs::rqbit::magnet_extras(&uri), (peers, hash));
}

/// btfs `-o` options (`btfs::options::parse`), `peer=` host names defused: deterministic; the
/// port range is ordered and both ends are set or neither; rates are whole KiB/s; timeouts are
/// at most a year; trackers are http(s):// or udp:// URLs; one peer per `peer=`;
/// errors say something.
pub fn btfs_options(data: &[u8]) {
    use crate::btfs::options::parse;
    let s = String::from_utf8_lossy(data);
    let items: Vec<String> = s
        .split(',')
        .map(|item| match item.split_once('=') {
            Some((k, v)) if k.trim() == "peer" => format!("{k}={}", defuse_peer(v)),
            _ => item.to_string(),
        })
        .collect();
    let s = items.join(",");
    let r = parse(&s);
    assert_eq!(r, parse(&s), "parse is not deterministic");
    match r {
        Err(e) => assert!(!e.0.is_empty()),
        Ok(o) => {
            assert!(o.min_port <= o.max_port);
            assert_eq!(o.min_port == 0, o.max_port == 0);
            for r in [o.max_download_rate, o.max_upload_rate]
                .into_iter()
                .flatten()
            {
                assert!(r > 0 && r % 1024 == 0);
            }
            // At least a millisecond (`read_timeout=1e-300` once gave a zero Duration).
            let year = std::time::Duration::from_secs(86_400 * 365);
            for t in [o.read_timeout, o.metadata_timeout] {
                assert!(t <= year, "{t:?}");
                assert!(t >= std::time::Duration::from_millis(1), "{t:?}");
            }
            for t in &o.trackers {
                assert!(
                    ["http://", "https://", "udp://"]
                        .iter()
                        .any(|p| t.starts_with(p))
                );
            }
            assert!(o.peers.len() <= items.len());
        }
    }
}

/// Checks a tree built from torrents: every shown file path has components that are
/// non-empty, not `.` or `..`, without `/` or NUL and at most 255 bytes; paths are unique and
/// no file is inside another; each path resolves with `lookup`; the status file's name is free
/// in the root; `shown` lists exactly the (torrent, file) pairs expected.
fn check_tree(tree: &crate::btfs::fs::Tree, shown: &[(usize, usize)]) {
    use crate::btfs::fs::STATUS_FILE;
    use crate::fuse::inode::ROOT;
    let files = tree.files();
    let mut got: Vec<(usize, usize)> = files.iter().map(|(_, k, i, _)| (k.0, *i)).collect();
    got.sort_unstable();
    let mut want = shown.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "the files shown");
    let mut paths = std::collections::HashSet::new();
    for (p, _, _, _) in &files {
        let mut ino = ROOT;
        for c in p.split('/') {
            assert!(
                !c.is_empty() && c != "." && c != "..",
                "component {c:?} in {p:?}"
            );
            assert!(
                !c.contains('\0') && c.len() <= 255,
                "component {c:?} in {p:?}"
            );
            ino = tree
                .lookup(ino, c)
                .unwrap_or_else(|| panic!("{p:?} does not resolve at {c:?}"));
        }
        assert!(paths.insert(p.clone()), "two files at {p:?}");
    }
    for (p, _, _, _) in &files {
        let mut prefix = String::new();
        for c in p.split('/') {
            if !prefix.is_empty() {
                assert!(!paths.contains(&prefix), "{p:?} is inside file {prefix:?}");
                prefix.push('/');
            }
            prefix.push_str(c);
        }
    }
    assert_eq!(tree.lookup(ROOT, STATUS_FILE), None);
}

/// The torrent's files as `btfs::rqbit::describe` gives them, but without librqbit's
/// validation (`..`, `/`, empty paths and duplicates kept), names decoded as lossy UTF-8: what
/// our sanitising must cope with alone.
fn raw_info(
    key: usize,
    hash: &str,
    info: &librqbit::TorrentMetaV1Info<librqbit::ByteBuf<'_>>,
) -> crate::btfs::engine::TorrentInfo {
    use crate::btfs::engine::{FileEntry, TorrentInfo, TorrentKey};
    let lossy = |b: &librqbit::ByteBuf<'_>| String::from_utf8_lossy(b.as_ref()).into_owned();
    let attr_has =
        |a: Option<&librqbit::ByteBuf<'_>>, c: u8| a.is_some_and(|a| a.as_ref().contains(&c));
    let files = match &info.files {
        Some(files) => files
            .iter()
            .enumerate()
            .map(|(index, f)| FileEntry {
                index,
                path: f.path.iter().map(lossy).collect(),
                len: f.length,
                padding: attr_has(f.attr.as_ref(), b'p'),
                executable: attr_has(f.attr.as_ref(), b'x'),
            })
            .collect(),
        None => vec![FileEntry {
            index: 0,
            path: vec![info.name.as_ref().map(lossy).unwrap_or_default()],
            len: info.length.unwrap_or(0),
            padding: attr_has(info.attr.as_ref(), b'p'),
            executable: attr_has(info.attr.as_ref(), b'x'),
        }],
    };
    TorrentInfo {
        key: TorrentKey(key),
        info_hash: hash.to_string(),
        name: info.name.as_ref().map(lossy).unwrap_or_default(),
        multi_file: info.files.is_some(),
        piece_length: u64::from(info.piece_length),
        files,
    }
}

/// Which (torrent, file) pairs a tree must show: all but BEP 47 pad files (attribute `p`, or
/// the conventional `.pad/N` path).
fn expected_files(info: &crate::btfs::engine::TorrentInfo) -> Vec<(usize, usize)> {
    info.files
        .iter()
        .filter(|f| {
            let conventional = f.path.len() == 2
                && f.path[0] == ".pad"
                && f.path[1].bytes().all(|b| b.is_ascii_digit());
            !f.padding && !conventional
        })
        .map(|f| (info.key.0, f.index))
        .collect()
}

/// `.torrent` metainfo (BEP 3, `librqbit::torrent_from_bytes`), then our file tree
/// (`btfs::fs::sanitise`, `Tree::add_torrent`): from validated metainfo as `btfs::rqbit` does
/// it, added twice (two torrents of one name), and from the unvalidated file list (path
/// traversal, separators, empty and duplicate names kept): every component shown is sane,
/// names in a directory are unique, pad files are hidden and every other file is shown once.
/// The info hash is the SHA-1 of the raw info dictionary, which lies inside the input.
pub fn torrent_metainfo(data: &[u8]) {
    use crate::btfs::fs::{Tree, sanitise};
    let Some(Ok(t)) = unless_atoi_overflow(|| librqbit::torrent_from_bytes(data)) else {
        return;
    };
    let raw = t.info.raw_bytes.as_ref();
    let start = (raw.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
    assert!(
        start <= data.len() && raw.len() <= data.len() - start,
        "info outside the input"
    );
    let hash = t.info_hash.as_string();
    assert_eq!(hash.len(), 40);

    let mut tree = Tree::new();
    let mut shown = Vec::new();
    let info = raw_info(0, &hash, &t.info.data);
    for f in &info.files {
        for c in &f.path {
            if let Some(s) = sanitise(c) {
                assert!(!s.is_empty() && s != "." && s != "..", "{c:?} → {s:?}");
                assert!(!s.contains(['/', '\0']) && s.len() <= 255, "{c:?} → {s:?}");
            } else {
                assert!(c.is_empty() || c == ".", "{c:?} dropped");
            }
        }
    }
    tree.add_torrent(&info);
    shown.extend(expected_files(&info));
    check_tree(&tree, &shown);

    let Ok(v) = t.info.data.clone().validate() else {
        return;
    };
    let mut tree = Tree::new();
    let mut shown = Vec::new();
    for key in [1, 2] {
        let info = crate::btfs::rqbit::describe(crate::btfs::engine::TorrentKey(key), &hash, &v);
        tree.add_torrent(&info);
        shown.extend(expected_files(&info));
    }
    check_tree(&tree, &shown);
}

/// Bencode (BEP 3) into a dynamic value (`librqbit-bencode`): what was consumed is a prefix of
/// the input; the value encodes to no more bytes than it came from, decodes back to itself,
/// and re-encoding is byte-identical (dictionary keys sorted); appending bytes changes nothing.
pub fn bencode(data: &[u8]) {
    use librqbit_bencode::{
        BencodeValue, bencode_serialize_to_writer, from_bytes, from_bytes_with_rest,
    };
    type V<'a> = BencodeValue<librqbit::ByteBuf<'a>>;
    let Some(Ok((v, rest))) = unless_atoi_overflow(|| from_bytes_with_rest::<V>(data)) else {
        return;
    };
    let used = data.len() - rest.len();
    assert!(used > 0 && std::ptr::eq(rest.as_ptr(), data[used..].as_ptr()));
    let mut longer = data[..used].to_vec();
    longer.extend_from_slice(&TAIL);
    let (v2, rest2) = from_bytes_with_rest::<V>(&longer).expect("appending bytes broke it");
    assert!(
        v2 == v && rest2 == TAIL,
        "appending bytes changed the value"
    );
    let mut enc = Vec::new();
    bencode_serialize_to_writer(&v, &mut enc).expect("encode");
    assert!(enc.len() <= used, "{} bytes encode to {}", used, enc.len());
    let back: V = from_bytes(&enc).unwrap_or_else(|e| panic!("re-encoded value: {e}"));
    assert!(back == v, "decode(encode(v)) != v");
    let mut enc2 = Vec::new();
    bencode_serialize_to_writer(&back, &mut enc2).expect("encode");
    assert_eq!(enc2, enc, "encoding is not canonical");
}

/// Serialise a peer-wire message (ut_metadata and ut_pex under librqbit's own ids).
fn try_wire_bytes(
    m: &librqbit_peer_protocol::Message<'_>,
    hint: usize,
) -> Result<Vec<u8>, librqbit_peer_protocol::SerializeError> {
    use librqbit_peer_protocol::extended::PeerExtendedMessageIds;
    let mut out = vec![0u8; hint * 2 + 4096];
    let n = m.serialize(&mut out, &PeerExtendedMessageIds::my)?;
    out.truncate(n);
    Ok(out)
}

fn wire_bytes(m: &librqbit_peer_protocol::Message<'_>, hint: usize) -> Vec<u8> {
    try_wire_bytes(m, hint).unwrap_or_else(|e| panic!("serialize {m:?}: {e}"))
}

/// Peer-wire messages (BEP 3, BEP 10; `librqbit-peer-protocol`): a handshake at the start
/// re-encodes to its 68 bytes; then message after message from the stream: each consumes its length prefix
/// plus 4 bytes, at most what is there; the same message split over two buffers (byte 0 picks
/// where) decodes to the same or asks for a contiguous buffer; a message other than an
/// extended one re-encodes to exactly its bytes; an extended one re-encodes to bytes that
/// decode and re-encode identically.
pub fn peer_wire(data: &[u8]) {
    use librqbit_peer_protocol::{Handshake, Message, MessageDeserializeError};
    let Some((&ctl, stream)) = data.split_first() else {
        return;
    };
    // A stream starts with the handshake when it is one; the messages follow it.
    let mut at = 0;
    if let Ok((h, n)) = Handshake::deserialize(stream) {
        assert_eq!(n, 68);
        let mut b = [0u8; 68];
        assert_eq!(h.serialize_unchecked_len(&mut b), 68);
        assert_eq!(&b[..], &stream[..68]);
        at = n;
    }
    for _ in 0..64 {
        let buf = &stream[at..];
        let Some(Ok((m, n))) = unless_atoi_overflow(|| Message::deserialize(buf, &[])) else {
            break;
        };
        assert!(n >= 4 && n <= buf.len(), "consumed {n} of {}", buf.len());
        let prefix = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes"));
        assert_eq!(n, prefix as usize + 4);
        let extended = matches!(m, Message::Extended(_));
        let enc = if extended {
            // A decoded extended message need not encode (librqbit's serde may refuse it).
            match try_wire_bytes(&m, n) {
                Ok(e) => e,
                Err(_) => {
                    at += n;
                    continue;
                }
            }
        } else {
            wire_bytes(&m, n)
        };
        if extended {
            let (m2, n2) = Message::deserialize(&enc, &[])
                .unwrap_or_else(|e| panic!("re-encoded {m:?} does not decode: {e}"));
            assert_eq!(n2, enc.len());
            assert_eq!(wire_bytes(&m2, n2), enc, "extended message not canonical");
        } else {
            assert_eq!(enc, &buf[..n], "{m:?} re-encodes differently");
        }
        let split = usize::from(ctl) % (n + 1);
        match Message::deserialize(&buf[..split], &buf[split..n]) {
            Ok((m3, n3)) => {
                assert_eq!(n3, n);
                assert_eq!(
                    wire_bytes(&m3, n3),
                    enc,
                    "split at {split} decodes differently"
                );
            }
            Err(MessageDeserializeError::NeedContiguous) => {}
            Err(e) => panic!("split at {split} fails: {e}"),
        }
        at += n;
    }
}
