#!/usr/bin/env python3
"""negotiate-probe.py — send one raw SMB2 NEGOTIATE and print what the server picked.

    negotiate-probe.py PORT [--host 127.0.0.1] [--dialects 202,210,300,302,311]
                            [--ciphers 1,2,3,4] [--signing 2,1,0] [--sign-required]

Prints one line, e.g.
    status=0x00000000 dialect=0x0311 security_mode=0x03 signing_required=1 cipher=AES-128-GCM signing=AES-128-GMAC
or "status=closed" / "status=0xc00000bb" when the server refuses. Exit status 0 when the server
answered NEGOTIATE with STATUS_SUCCESS, 1 otherwise. Used by verify.sh to check that each test
variant negotiates what its name says (std library only).
"""
import argparse
import os
import socket
import struct
import sys

CIPHERS = {1: "AES-128-CCM", 2: "AES-128-GCM", 3: "AES-256-CCM", 4: "AES-256-GCM"}
SIGNING = {0: "HMAC-SHA256", 1: "AES-128-CMAC", 2: "AES-128-GMAC"}


def ints(s):
    return [int(x, 16) if x.lower().startswith("0x") else int(x) for x in s.split(",") if x]


def dialect_code(x):
    # "311" -> 0x0311, "0x311" -> 0x311
    return int(str(x), 16)


def pad8(b):
    return b + b"\0" * (-len(b) % 8)


def build(dialects, ciphers, signing, sign_required):
    hdr = struct.pack(
        "<4sHHIHHIIQIIQ16s", b"\xfeSMB", 64, 0, 0, 0, 1, 0, 0, 0, 0xFEFF, 0, 0, b"\0" * 16
    )
    ctxs = []
    if 0x311 in dialects:
        salt = os.urandom(32)
        ctxs.append((1, struct.pack("<HHH", 1, 32, 1) + salt))
        if ciphers:
            ctxs.append((2, struct.pack("<H", len(ciphers)) + struct.pack(f"<{len(ciphers)}H", *ciphers)))
        if signing:
            ctxs.append((8, struct.pack("<H", len(signing)) + struct.pack(f"<{len(signing)}H", *signing)))
    sec_mode = 0x02 if sign_required else 0x01
    caps = 0x7F  # DFS, LEASING, LARGE_MTU, MULTI_CHANNEL, PERSISTENT, DIR_LEASING, ENCRYPTION
    fixed_len = 36
    dial = struct.pack(f"<{len(dialects)}H", *dialects)
    ctx_off = 0
    body_tail = b""
    if ctxs:
        ctx_off = 64 + fixed_len + len(dial)
        ctx_off += -ctx_off % 8
        blobs = [struct.pack("<HHI", t, len(d), 0) + d for t, d in ctxs]
        body_tail = b"".join(pad8(b) for b in blobs[:-1]) + blobs[-1]
    body = struct.pack(
        "<HHHHI16sIHH", 36, len(dialects), sec_mode, 0, caps, os.urandom(16), ctx_off, len(ctxs), 0
    ) + dial
    msg = hdr + body
    if ctxs:
        msg += b"\0" * (ctx_off - len(msg)) + body_tail
    return struct.pack(">I", len(msg)) + msg


def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--dialects", default="202,210,300,302,311")
    ap.add_argument("--ciphers", default="1,2,3,4")
    ap.add_argument("--signing", default="2,1,0")
    ap.add_argument("--sign-required", action="store_true")
    a = ap.parse_args()
    dialects = [dialect_code(x) for x in a.dialects.split(",") if x]
    req = build(dialects, ints(a.ciphers), ints(a.signing), a.sign_required)
    try:
        with socket.create_connection((a.host, a.port), timeout=10) as s:
            s.sendall(req)
            n = struct.unpack(">I", recv_exact(s, 4))[0] & 0xFFFFFF
            resp = recv_exact(s, n)
    except (EOFError, ConnectionResetError):
        print("status=closed")
        return 1
    status = struct.unpack_from("<I", resp, 8)[0]
    if status != 0:
        print(f"status=0x{status:08x}")
        return 1
    b = resp[64:]
    (_, sec_mode, dialect, ctx_count) = struct.unpack_from("<HHHH", b, 0)
    ctx_off = struct.unpack_from("<I", b, 60)[0]
    cipher = signing = "-"
    preauth = "-"
    off = ctx_off
    for _ in range(ctx_count if dialect == 0x311 else 0):
        t, ln = struct.unpack_from("<HH", resp, off)
        data = resp[off + 8 : off + 8 + ln]
        if t == 1:
            preauth = {1: "SHA-512"}.get(struct.unpack_from("<H", data, 4)[0], "?")
        elif t == 2:
            cnt = struct.unpack_from("<H", data, 0)[0]
            cipher = ",".join(CIPHERS.get(c, hex(c)) for c in struct.unpack_from(f"<{cnt}H", data, 2)) or "none"
        elif t == 8:
            cnt = struct.unpack_from("<H", data, 0)[0]
            signing = ",".join(SIGNING.get(c, hex(c)) for c in struct.unpack_from(f"<{cnt}H", data, 2))
        off += 8 + ln
        off += -off % 8
    print(
        f"status=0x{status:08x} dialect=0x{dialect:04x} security_mode=0x{sec_mode:02x} "
        f"signing_required={1 if sec_mode & 2 else 0} preauth={preauth} cipher={cipher} signing={signing}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
