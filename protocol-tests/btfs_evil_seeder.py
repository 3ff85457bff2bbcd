#!/usr/bin/env python3
"""A lying BitTorrent seeder for fusevol's btfs tests (BEP 3 peer wire protocol, no extensions).

    btfs_evil_seeder.py TORRENT DATA_FILE ADDR PORT BAD_PIECE

Serves the single-file torrent TORRENT from DATA_FILE (the correct data) to anyone who connects:
claims every piece, unchokes at once and answers every request. The first block it sends of
piece BAD_PIECE is corrupted (every byte inverted); later requests get the correct bytes, so a
client that rejects the piece (its SHA-1 does not match) and asks again succeeds.

Prints "LISTENING" once bound, then one line per event: "CORRUPTED piece begin" for the bad
block, "SERVED piece begin" for the later blocks of BAD_PIECE. Runs until stdin closes.
"""
import os
import socket
import struct
import sys
import threading

import libtorrent as lt


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def main():
    torrent, data_path, addr, port, bad = sys.argv[1], sys.argv[2], sys.argv[3], int(
        sys.argv[4]), int(sys.argv[5])
    ti = lt.torrent_info(torrent)
    info_hash = bytes.fromhex(str(ti.info_hash()))
    plen = ti.piece_length()
    npieces = ti.num_pieces()
    size = os.path.getsize(data_path)
    lock = threading.Lock()
    state = {"corrupted": False}

    def say(line):
        with lock:
            print(line, flush=True)

    def serve(conn):
        try:
            hs = recv_exact(conn, 68)
            if hs[0] != 19 or hs[1:20] != b"BitTorrent protocol" or hs[28:48] != info_hash:
                return
            conn.sendall(bytes([19]) + b"BitTorrent protocol" + bytes(8) + info_hash
                         + b"-EV0001-" + os.urandom(12))
            bits = bytearray((npieces + 7) // 8)
            for i in range(npieces):
                bits[i // 8] |= 0x80 >> (i % 8)
            conn.sendall(struct.pack(">IB", 1 + len(bits), 5) + bytes(bits))
            conn.sendall(struct.pack(">IB", 1, 1))  # unchoke
            with open(data_path, "rb") as f:
                while True:
                    (n,) = struct.unpack(">I", recv_exact(conn, 4))
                    if n == 0:
                        continue  # keep-alive
                    if n > 1 << 20:
                        return
                    msg = recv_exact(conn, n)
                    if msg[0] != 6 or n != 13:
                        continue  # only requests matter
                    index, begin, length = struct.unpack(">III", msg[1:])
                    off = index * plen + begin
                    if index >= npieces or length > 1 << 17 or off + length > size:
                        return
                    f.seek(off)
                    block = f.read(length)
                    if index == bad:
                        with lock:
                            first = not state["corrupted"]
                            state["corrupted"] = True
                        if first:
                            block = bytes(b ^ 0xFF for b in block)
                            say("CORRUPTED %d %d" % (index, begin))
                        else:
                            say("SERVED %d %d" % (index, begin))
                    conn.sendall(struct.pack(">IBII", 9 + len(block), 7, index, begin) + block)
        except (EOFError, OSError):
            pass
        finally:
            conn.close()

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, port))
    srv.listen(16)

    def accept():
        while True:
            conn, _ = srv.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    say("LISTENING")
    sys.stdin.read()


if __name__ == "__main__":
    main()
