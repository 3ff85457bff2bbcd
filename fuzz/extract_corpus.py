#!/usr/bin/env python3
"""Seed the fuzz corpora from packet captures of real SMB2/3 traffic (see fuzz/README.md).

    fuzz/extract_corpus.py [--port 4460] [--out fuzz/corpus] [--per-target 40] CAPTURE.pcap...

Reads classic pcap files (Ethernet, Linux cooked or BSD loopback link types; no third-party
modules), reassembles every TCP connection to or from --port in both directions, splits the
streams into Direct TCP frames (MS-SMB2 2.1: a zero byte and a 24-bit length), the frames into
SMB2 messages by NextCommand (compounds), and writes each *server -> client* message into the
corpus of the target that decodes it:

  whole frames                      -> compound_split (TRANSFORM frames -> transform)
  the 4-byte transport headers      -> frame_header
  each message's first 64 bytes     -> header
  a message with a success-shaped   -> <command>_response (negotiate_response, ...)
  body; an error body (ERROR,
  STATUS_PENDING interim)           -> error_response
  NEGOTIATE / SESSION_SETUP tokens  -> spnego_tokens; the NTLM CHALLENGE inside -> ntlm_challenge;
                                       CHALLENGE token + final token -> spnego_ntlm_step
  QUERY_DIRECTORY output buffers    -> fscc_directory
  QUERY_INFO output buffers         -> fscc_info (class byte from the matching request)
  signed messages                   -> signing

READ payloads longer than --max-read (4096) bytes are truncated and DataLength fixed up, so
the corpus stays small. Some targets take a control byte first (see src/fuzzing.rs); the seeds
here add it. Finally a few synthetic seeds are written for the targets no capture feeds
(mount option strings, UNCs, credentials files, seal-then-open, FILETIMEs). Files are named by
the SHA-1 of their content, like libFuzzer's, so re-running only adds what is new.
"""

import argparse
import hashlib
import os
import struct
import sys
from collections import defaultdict

SMB2 = b"\xfeSMB"
TRANSFORM = b"\xfdSMB"
SMB1 = b"\xffSMB"

COMMANDS = {
    0x00: "negotiate_response",
    0x01: "session_setup_response",
    0x02: "echo_logoff_response",  # LOGOFF
    0x03: "tree_connect_response",
    0x04: "echo_logoff_response",  # TREE_DISCONNECT
    0x05: "create_response",
    0x06: "close_response",
    0x07: "flush_response",
    0x08: "read_response",
    0x09: "write_response",
    0x0B: "ioctl_response",
    0x0D: "echo_logoff_response",  # ECHO
    0x0E: "query_directory_response",
    0x10: "query_info_response",
    0x11: "set_info_response",
}

STATUS_SUCCESS = 0x00000000
STATUS_MORE_PROCESSING_REQUIRED = 0xC0000016
STATUS_BUFFER_OVERFLOW = 0x80000005

# fscc_info's class selector (src/fuzzing.rs fscc_class) for (InfoType, FileInfoClass).
FSCC_SELECTOR = {
    (1, 4): 0,  # FileBasicInformation
    (1, 5): 1,  # FileStandardInformation
    (1, 6): 2,  # FileInternalInformation
    (1, 34): 3,  # FileNetworkOpenInformation
    (1, 20): 4,  # FileEndOfFileInformation
    (1, 13): 5,  # FileDispositionInformation
    (1, 10): 6,  # FileRenameInformation
    (1, 18): 7,  # FileAllInformation
    (2, 1): 8,  # FileFsVolumeInformation
    (2, 3): 9,  # FileFsSizeInformation
    (2, 7): 10,  # FileFsFullSizeInformation
    (2, 5): 11,  # FileFsAttributeInformation
}


# ---------------------------------------------------------------------------------------------
# pcap and TCP


def read_pcap(path):
    """Yield (ts, link_type, frame bytes) of a classic pcap file."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        sys.exit(f"{path}: not a classic pcap file (pcapng? convert with editcap -F pcap)")
    link = struct.unpack(end + "I", data[20:24])[0]
    pos = 24
    while pos + 16 <= len(data):
        ts, _, incl, _ = struct.unpack(end + "IIII", data[pos : pos + 16])
        pos += 16
        yield ts, link, data[pos : pos + incl]
        pos += incl


def ip_payload(link, frame):
    """(src, dst, proto, payload) of an IPv4/IPv6 packet, or None."""
    if link == 1:  # Ethernet
        if len(frame) < 14:
            return None
        ethertype, off = struct.unpack(">H", frame[12:14])[0], 14
        while ethertype == 0x8100 and len(frame) >= off + 4:  # VLAN
            ethertype, off = struct.unpack(">H", frame[off + 2 : off + 4])[0], off + 4
    elif link == 113:  # Linux cooked
        ethertype, off = struct.unpack(">H", frame[14:16])[0], 16
    elif link == 0:  # BSD loopback
        family = struct.unpack("<I", frame[:4])[0]
        ethertype, off = (0x0800 if family == 2 else 0x86DD), 4
    else:
        return None
    p = frame[off:]
    if ethertype == 0x0800 and len(p) >= 20:
        ihl = (p[0] & 0x0F) * 4
        total = struct.unpack(">H", p[2:4])[0]
        return p[12:16], p[16:20], p[9], p[ihl:total]
    if ethertype == 0x86DD and len(p) >= 40:
        plen = struct.unpack(">H", p[4:6])[0]
        return p[8:24], p[24:40], p[6], p[40 : 40 + plen]
    return None


def tcp_streams(paths, port):
    """{(conn, 'c2s'|'s2c'): bytes} for every TCP connection with `port` on one side."""
    segs = defaultdict(list)  # (conn, dir) -> [(seq, syn, payload)]
    for path in paths:
        for _, link, frame in read_pcap(path):
            ip = ip_payload(link, frame)
            if ip is None or ip[2] != 6:
                continue
            src, dst, _, t = ip
            if len(t) < 20:
                continue
            sport, dport, seq = struct.unpack(">HHI", t[:8])
            flags = t[13]
            payload = t[(t[12] >> 4) * 4 :]
            if dport == port:
                conn, d = (src, sport, dst, dport), "c2s"
            elif sport == port:
                conn, d = (dst, dport, src, sport), "s2c"
            else:
                continue
            segs[(conn, d)].append((seq, bool(flags & 0x02), payload))
    streams = {}
    for key, items in segs.items():
        base = next((s + 1 for s, syn, _ in items if syn), None)
        if base is None:
            base = min(s for s, _, p in items if p) if any(p for _, _, p in items) else 0
        out, expect = bytearray(), base
        for seq, _, p in items:  # loopback: in order, retransmissions possible
            if not p:
                continue
            rel = (seq - expect) & 0xFFFFFFFF
            if rel == 0:
                out += p
                expect = (expect + len(p)) & 0xFFFFFFFF
            elif rel > 0x80000000:  # old data (retransmission), maybe overlapping
                skip = (expect - seq) & 0xFFFFFFFF
                if skip < len(p):
                    out += p[skip:]
                    expect = (expect + len(p) - skip) & 0xFFFFFFFF
            else:
                print(f"warning: gap in {key}; stream cut", file=sys.stderr)
                break
        streams[key] = bytes(out)
    return streams


def frames(stream):
    """Split a Direct TCP byte stream into (4-byte header, frame)."""
    pos = 0
    while pos + 4 <= len(stream):
        hdr = stream[pos : pos + 4]
        if hdr[0] != 0:
            return
        n = int.from_bytes(hdr[1:4], "big")
        if pos + 4 + n > len(stream):
            return
        yield hdr, stream[pos + 4 : pos + 4 + n]
        pos += 4 + n


def split_compound(frame):
    """(offset, message) for each message of a (plain) frame, by NextCommand."""
    at = 0
    while True:
        nxt = struct.unpack("<I", frame[at + 20 : at + 24])[0] if at + 24 <= len(frame) else 0
        if nxt == 0 or nxt < 64 or at + nxt >= len(frame):
            yield at, frame[at:]
            return
        yield at, frame[at : at + nxt]
        at += nxt


def hdr_fields(msg):
    cmd, = struct.unpack("<H", msg[12:14])
    status, = struct.unpack("<I", msg[8:12])
    flags, = struct.unpack("<I", msg[16:20])
    mid, = struct.unpack("<Q", msg[24:32])
    return cmd, status, flags, mid


# ---------------------------------------------------------------------------------------------
# DER, just enough to take the responseToken out of a NegTokenResp


def der(buf, pos=0):
    """(tag, content, next position) of the element at pos, or None."""
    if pos + 2 > len(buf):
        return None
    tag, first = buf[pos], buf[pos + 1]
    pos += 2
    if first < 0x80:
        n = first
    else:
        k = first & 0x7F
        if k == 0 or k > 4 or pos + k > len(buf):
            return None
        n = int.from_bytes(buf[pos : pos + k], "big")
        pos += k
    if pos + n > len(buf):
        return None
    return tag, buf[pos : pos + n], pos + n


def response_token(tok):
    """The responseToken of a NegTokenResp (a1 { 30 { ... [2] OCTET STRING } }), or None."""
    e = der(tok)
    if not e or e[0] != 0xA1:
        return None
    s = der(e[1])
    if not s or s[0] != 0x30:
        return None
    body, pos = s[1], 0
    while pos < len(body):
        f = der(body, pos)
        if not f:
            return None
        if f[0] == 0xA2:
            o = der(f[1])
            return o[1] if o and o[0] == 0x04 else None
        pos = f[2]
    return None


# ---------------------------------------------------------------------------------------------
# Corpus


class Corpus:
    def __init__(self, out, per_target):
        self.out, self.per_target = out, per_target
        self.seen = defaultdict(set)  # target -> variety keys taken
        self.count = defaultdict(int)  # seeds taken this run
        self.new = defaultdict(int)  # of which not yet in the corpus

    def add(self, target, data, key=None):
        """Keep `data` unless the target already holds `per_target` seeds or one like it
        (same `key`; default: same length)."""
        key = (len(data),) if key is None else key
        if key in self.seen[target] or self.count[target] >= self.per_target:
            return
        self.seen[target].add(key)
        self.count[target] += 1
        d = os.path.join(self.out, target)
        os.makedirs(d, exist_ok=True)
        name = os.path.join(d, hashlib.sha1(data).hexdigest())
        if not os.path.exists(name):
            with open(name, "wb") as f:
                f.write(data)
            self.new[target] += 1


def truncate_read(msg, limit):
    """A READ response with at most `limit` data bytes (DataLength fixed up), or msg."""
    if len(msg) < 80:
        return msg
    off = msg[66]
    n, = struct.unpack("<I", msg[68:72])
    if n <= limit or off + limit > len(msg):
        return msg
    return msg[:68] + struct.pack("<I", limit) + msg[72 : off + limit]


def is_error_body(cmd, status):
    if status == STATUS_SUCCESS:
        return False
    if cmd == 0x01 and status == STATUS_MORE_PROCESSING_REQUIRED:
        return False
    if cmd in (0x08, 0x0B, 0x10) and status == STATUS_BUFFER_OVERFLOW:
        return False
    return True


def extract(streams, corpus, max_read):
    conns = {c for c, _ in streams}
    for conn in sorted(conns):
        c2s = streams.get((conn, "c2s"), b"")
        s2c = streams.get((conn, "s2c"), b"")
        # Requests by MessageId, for QUERY_INFO classes.
        requests = {}
        for _, frame in frames(c2s):
            if frame[:4] != SMB2:
                continue
            for _, msg in split_compound(frame):
                if len(msg) < 64 or msg[:4] != SMB2:
                    continue
                cmd, _, _, mid = hdr_fields(msg)
                requests[mid] = (cmd, msg)
        challenge = None
        for fh, frame in frames(s2c):
            corpus.add("frame_header", fh + struct.pack("<I", 0xFFFFFF), key=(fh[1],))
            if frame[:4] == TRANSFORM:
                corpus.add("transform", b"\x01" + frame[: 52 + 512], key=(frame[42:44], len(frame) > 564))
                corpus.add("transform", b"\x00" + frame[: 52 + 512], key=(b"ccm", frame[42:44], len(frame) > 564))
                continue
            if frame[:4] != SMB2:
                corpus.add("compound_split", frame, key=("other", frame[:4]))
                continue
            msgs = list(split_compound(frame))
            if len(frame) <= 8192:
                corpus.add("compound_split", frame, key=(len(msgs), hdr_fields(frame)[0], hdr_fields(frame)[1]))
            for _, msg in msgs:
                if len(msg) < 64:
                    continue
                cmd, status, flags, mid = hdr_fields(msg)
                corpus.add("header", msg[:64], key=(cmd, status, flags & 0xF))
                if cmd == 0x08:
                    msg = truncate_read(msg, max_read)
                if flags & 0x08:  # signed
                    corpus.add("signing", bytes([cmd % 3]) + b"\x40\x00\x00" + msg[:1024], key=(cmd, status))
                target = "error_response" if is_error_body(cmd, status) else COMMANDS.get(cmd)
                if target is None:
                    continue
                body_len = len(msg) - 64
                # One per shape; NEGOTIATE also once per dialect.
                dialect = msg[68:70] if cmd == 0x00 else b""
                corpus.add(target, msg, key=(cmd, status, body_len, dialect, flags & 0x08))
                if target == "error_response":
                    continue
                body = msg[64:]
                if cmd == 0x00 and len(body) >= 64:  # NEGOTIATE: the NegTokenInit2 hint
                    off, n = struct.unpack("<HH", body[56:60])
                    tok = msg[off : off + n]
                    if tok:
                        corpus.add("spnego_tokens", tok, key=("init", len(tok)))
                if cmd == 0x01 and len(body) >= 8:  # SESSION_SETUP: NegTokenResp
                    off, n = struct.unpack("<HH", body[4:8])
                    tok = msg[off : off + n]
                    if tok:
                        corpus.add("spnego_tokens", tok, key=("resp", len(tok)))
                        inner = response_token(tok)
                        if inner and inner[:8] == b"NTLMSSP\x00" and inner[8:12] == b"\x02\x00\x00\x00":
                            corpus.add("ntlm_challenge", inner, key=(len(inner), inner[20:24]))
                            challenge = tok
                    if status == STATUS_SUCCESS and challenge is not None:
                        # ctl 0 (NTLMv2) and 2 (anonymous), tokens as the server sent them.
                        for ctl in (0, 1, 2):
                            seed = bytes([ctl]) + struct.pack("<H", len(challenge)) + challenge + tok
                            corpus.add("spnego_ntlm_step", seed, key=(ctl, len(seed)))
                        challenge = None
                if cmd == 0x0E and status == STATUS_SUCCESS and len(body) >= 8:
                    off, n = struct.unpack("<HI", body[2:8])
                    buf = msg[off : off + n]
                    if buf:
                        corpus.add("fscc_directory", buf[:8192])
                if cmd == 0x10 and len(body) >= 8:
                    off, n = struct.unpack("<HI", body[2:8])
                    buf = msg[off : off + n]
                    req = requests.get(mid)
                    if req and req[0] == 0x10 and len(req[1]) >= 68:
                        sel = FSCC_SELECTOR.get((req[1][66], req[1][67]))
                        if sel is not None and buf:
                            corpus.add("fscc_info", bytes([sel]) + buf, key=(sel, len(buf)))


def synthetic(corpus):
    """Seeds for the targets that no capture feeds."""
    opts = [
        "username=alice,password=secret,domain=WORKGROUP,vers=3.1.1,seal",
        "user=bob%pa,,ss,sec=ntlmsspi,port=4455,rsize=65536,wsize=1048576",
        "credentials=/tmp/creds,uid=1000,gid=1000,file_mode=0644,dir_mode=0755,noperm",
        "guest,vers=2.1,cache=loose,actimeo=5,echo_interval=30,soft,_netdev,x-systemd.automount",
        "DOM/carol,pass=x,ip=127.0.0.1,sign,nobrl,mfsymlinks,serverino,sec=ntlm",
        "sec=none,vers=default,ro,allow_other,default_permissions,nostrictsync,mapposix",
        "sec=krb5i",
        "vers=1.0",
        "rdma",
        "password",
        "unknown_option=1,password=shh",
    ]
    for i, s in enumerate(opts):
        corpus.add("mount_options", bytes([i * 7 % 256]) + s.encode(), key=("syn", i))
    uncs = [
        "//server/share",
        "//127.0.0.1:4455/share/dir/file.txt",
        "\\\\host\\share\\a\\b",
        "//[::1]:445/share/",
        "//[fe80::1%eth0]/s/p//q/",
        "//h/s///",
    ]
    for i, s in enumerate(uncs):
        corpus.add("unc", s.encode(), key=("syn", i))
    creds = [
        b"username=alice\npassword=secret\ndomain=WORKGROUP\n",
        b"user = bob \r\npass=with spaces and = signs \r\n# comment\n\ndom=D\n",
        b"workgroup=W\nbogus\n",
        b"password=x\nfoo=bar\n",
    ]
    for i, c in enumerate(creds):
        corpus.add("credentials_file", c, key=("syn", i))
    # Shapes Samba did not send us: a CREATE response with contexts (MxAc, QFid), a FLUSH, ERROR
    # responses carrying a symlink error (STATUS_STOPPED_ON_SYMLINK) plain and in 3.1.1 error
    # contexts.
    def header(cmd, status):
        return (SMB2 + struct.pack("<HHIHHIIQIIQ", 64, 1, status, cmd, 1, 1, 0, 7, 0, 1, 0x55)
                + bytes(16))

    def context(name, data, last):
        fixed = 16 + len(name)
        pad = (-fixed) % 8
        size = fixed + pad + len(data)
        nxt = 0 if last else size + (-size) % 8
        c = struct.pack("<IHHHHI", nxt, 16, len(name), 0, fixed + pad, len(data)) + name
        c += bytes(pad) + data
        return c + (b"" if last else bytes((-size) % 8))

    ctxs = context(b"MxAc", struct.pack("<II", 0, 0x001F01FF), False)
    ctxs += context(b"QFid", bytes(range(32)), True)
    body = struct.pack("<HBBI", 89, 0, 0, 1) + struct.pack("<QQQQQQ", *([132_000_000_000_000_000] * 4), 4096, 6)
    body += struct.pack("<II", 0x20, 0) + struct.pack("<QQ", 0x11, 0x22) + struct.pack("<II", 152, len(ctxs))
    corpus.add("create_response", header(5, 0) + body + ctxs, key=("syn-contexts",))

    def utf16(s):
        return s.encode("utf-16-le")

    sub, prn = utf16("target\\file.txt"), utf16("target\\file.txt")
    sym = struct.pack("<IIIHHHHHHI", 24 + len(sub) + len(prn), 0x4C4D5953, 0xA000000C,
                      12 + len(sub) + len(prn), 8, 0, len(sub), len(sub), len(prn), 1) + sub + prn
    stopped = 0x8000002D
    err = struct.pack("<HBBI", 9, 0, 0, len(sym)) + sym
    corpus.add("error_response", header(5, stopped) + err, key=("syn-symlink",))
    ctx = struct.pack("<II", len(sym), 0) + sym
    ctx += bytes((-len(ctx)) % 8) + struct.pack("<II", 4, 0x72645253) + b"\x01\x02\x03\x04"
    err = struct.pack("<HBBI", 9, 2, 0, len(ctx)) + ctx
    corpus.add("error_response", header(5, stopped) + err, key=("syn-symlink-311",))
    # FLUSH (fusevol smb has no command that sends one yet).
    corpus.add("flush_response", header(7, 0) + struct.pack("<HH", 4, 0), key=("syn",))
    small = struct.pack("<HBBI", 9, 0, 0, 4) + struct.pack("<I", 4096)
    corpus.add("error_response", header(0x10, 0xC0000023) + small, key=("syn-too-small",))

    # transform, seal-then-open (ctl bit 2): nonce (16), flip position (2), mask (1), plaintext.
    plain = b"\xfeSMB" + b"\x40\x00" + bytes(58) + b"\x09\x00\x00\x00\x48\x00\x00\x00"
    for ctl in (4, 5, 6, 7):
        for mask in (0, 1):
            seed = bytes([ctl]) + bytes(range(16)) + struct.pack("<HB", 60, mask) + plain
            corpus.add("transform", seed, key=("seal", ctl, mask))
    # FILETIMEs (fscc_info class 12): 0, the Unix epoch, now-ish, -1, -2, i64::MAX.
    times = [0, 116444736000000000, 133_500_000_000_000_000, 2**64 - 1, 2**64 - 2, 2**63 - 1]
    corpus.add("fscc_info", bytes([12]) + b"".join(struct.pack("<Q", t) for t in times), key=("ft",))
    corpus.add("frame_header", b"\x00\x00\x00\x00", key=("empty",))
    corpus.add("frame_header", b"\xff\x53\x4d\x42", key=("smb1",))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pcaps", nargs="+")
    ap.add_argument("--port", type=int, default=4460)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus"))
    ap.add_argument("--per-target", type=int, default=40)
    ap.add_argument("--max-read", type=int, default=4096)
    a = ap.parse_args()
    corpus = Corpus(a.out, a.per_target)
    extract(tcp_streams(a.pcaps, a.port), corpus, a.max_read)
    synthetic(corpus)
    for t in sorted(corpus.count):
        print(f"{t}: {corpus.count[t]} seeds, {corpus.new[t]} new")


if __name__ == "__main__":
    main()
