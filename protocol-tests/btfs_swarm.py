#!/usr/bin/env python3
"""Loopback BitTorrent swarm for fusevol's btfs tests: Debian's opentracker on 127.0.0.1 and a
python3-libtorrent seeder on 127.0.0.2 (its own address: clients all come from 127.0.0.1).

    btfs_swarm.py WORKDIR TRACKER_PORT SEED_PORT SEED_DIR TORRENT [TORRENT...]

Every TORRENT's infohash is whitelisted (Debian builds opentracker whitelist-only); the seeder
serves the torrents whose data is under SEED_DIR, complete or not (DHT, LSD, UPnP and NAT-PMP
off, unlimited unchoke slots, several connections per IP). Prints "READY" once every served
torrent is checked and announced, then runs until its standard input closes (the test process exited), stops the
tracker and removes WORKDIR (unless FUSEVOL_KEEP_BTFS=1). Errors go to stderr with a non-zero exit.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import libtorrent as lt


def loopback_up():
    """Bring `lo` up (a fresh network namespace from `unshare -n` has it down)."""
    import fcntl
    import struct
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sk:
        ifr = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sk, siocgifflags, ifr))[1]
        if not flags & iff_up:
            fcntl.ioctl(sk, siocsifflags, struct.pack("16sh", b"lo", flags | iff_up))


def main():
    loopback_up()
    work, tport, sport, seed_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    torrents = sys.argv[5:]
    infos = [lt.torrent_info(t) for t in torrents]
    ot_dir = os.path.join(work, "ot")
    os.makedirs(ot_dir, exist_ok=True)
    with open(os.path.join(ot_dir, "whitelist.txt"), "w") as f:
        for ti in infos:
            f.write(str(ti.info_hash()) + "\n")
    # The whitelist path is resolved inside opentracker's chroot (-d).
    with open(os.path.join(ot_dir, "opentracker.conf"), "w") as f:
        f.write("access.whitelist /whitelist.txt\n")
    os.chmod(ot_dir, 0o755)
    log = open(os.path.join(work, "opentracker.log"), "w")
    ot = subprocess.Popen(
        ["opentracker", "-i", "127.0.0.1", "-p", str(tport), "-P", str(tport),
         "-f", os.path.join(ot_dir, "opentracker.conf"), "-d", ot_dir],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)

    def stop(*_):
        ot.terminate()
        try:
            ot.wait(2)
        except subprocess.TimeoutExpired:
            ot.kill()
        if os.environ.get("FUSEVOL_KEEP_BTFS") != "1":
            shutil.rmtree(work, ignore_errors=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    # The test process holds our stdin: EOF means it is gone.
    threading.Thread(target=lambda: (sys.stdin.read(), stop()), daemon=True).start()

    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", tport), timeout=1).close()
            break
        except OSError:
            if ot.poll() is not None or time.time() > deadline:
                sys.stderr.write("opentracker did not start (see %s/opentracker.log)\n" % work)
                stop()
            time.sleep(0.05)

    s = lt.session({
        "listen_interfaces": "127.0.0.2:%d" % sport, "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False, "allow_multiple_connections_per_ip": True,
        "unchoke_slots_limit": -1, "connections_limit": 400, "user_agent": "fusevol-test-seeder",
        "alert_mask": 0})
    # Debugging: FUSEVOL_SWARM_LOG=FILE writes the seeder's peer log there.
    if os.environ.get("FUSEVOL_SWARM_LOG"):
        s.apply_settings({"alert_mask": lt.alert.category_t.all_categories})
        slog = open(os.environ["FUSEVOL_SWARM_LOG"], "w")

        def pump():
            while True:
                s.wait_for_alert(1000)
                for a in s.pop_alerts():
                    slog.write("%.3f %s %s\n" % (time.time(), a.what(), a.message()))
                slog.flush()
        threading.Thread(target=pump, daemon=True).start()
    handles, served = [], []
    for ti in infos:
        name = ti.name()
        if os.path.exists(os.path.join(seed_dir, name)):
            atp = lt.add_torrent_params()
            atp.ti = ti
            atp.save_path = seed_dir
            handles.append(s.add_torrent(atp))
            served.append(ti)
    announced = set()
    deadline = time.time() + 60
    partial = (lt.torrent_status.states.downloading, lt.torrent_status.states.finished)
    while len(announced) < len(handles):
        for i, h in enumerate(handles):
            st = h.status()
            # Checked: all there (seeding), or some pieces verified (damaged data).
            checked = st.is_seeding or (st.state in partial and st.num_pieces > 0)
            if i not in announced and checked:
                h.force_reannounce(0, -1, lt.reannounce_flags_t.ignore_min_interval)
                announced.add(i)
        if time.time() > deadline:
            sys.stderr.write("seeder did not finish checking its data\n")
            stop()
        time.sleep(0.05)
    # Wait until the tracker knows the seeder of each torrent (scrape: complete or
    # incomplete >= 1; a torrent whose data is damaged is served as incomplete).
    for ti in served:
        ih = bytes.fromhex(str(ti.info_hash()))
        q = "".join("%%%02X" % b for b in ih)
        while True:
            try:
                body = urllib.request.urlopen(
                    "http://127.0.0.1:%d/scrape?info_hash=%s" % (tport, q), timeout=1).read()
                counts = re.findall(rb"completei(\d+)e", body)
                if any(int(c) >= 1 for c in counts):
                    break
            except Exception:
                pass
            if time.time() > deadline:
                sys.stderr.write("seeder never announced to the tracker\n")
                stop()
            time.sleep(0.05)
    print("READY", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
