#!/usr/bin/env python3
"""scripts/benchlib.py — the measuring and checking half of scripts/bench.sh.

Each subcommand prints one JSON object on stdout (``report`` prints the table). Timings are
``time.monotonic()`` deltas taken inside this process. Every measurement carries its own check:
a wrong byte count, checksum or file count turns the result into ``"ok": false`` with an
``error`` naming what was wrong, so a broken client can never look fast.

    gen DIR --size-mib N --tree-dirs D --tree-files F --small N   data set (sources + tree)
    mkrepo DIR --files N                                          a bare git repo to clone
    readcrc PATH|--cmd CMD --size B --crc HEX                     timed read + inline CRC-32
    spotcheck PATH REF --blocks N                                 random 4 KiB blocks compared
    mkfiles DIR --src SRCDIR --n N                                timed create of N small files
    waitfiles DIR --n N --size B --timeout S                      poll until N files have landed
    verifyfiles DIR --src SRCDIR --n N                            contents compared
    hash PATH                                                     size + sha256
    rss PID                                                       VmHWM/VmRSS of a process
    report CSV [--md OUT]                                         medians, ratios, goals
    selftest                                                      the checks above catch bad data
"""
import argparse
import csv
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib

MIB = 1 << 20
BLOCK = 4096


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def fail(msg, **kw):
    return dict(ok=False, error=msg, **kw)


# ------------------------------------------------------------------------------------ data
def _fill(path, size):
    """Write SIZE random (incompressible) bytes; return (crc32, sha256)."""
    crc, h = 0, hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 * MIB)
            b = os.urandom(n)
            crc = zlib.crc32(b, crc)
            h.update(b)
            f.write(b)
            left -= n
    return "%08x" % crc, h.hexdigest()


def cmd_gen(a):
    """SRC/big.src (the file to read and write), SRC/small/fNNNN (files to create through the
    mount) and TREE/dNNN/fNNNN (the metadata tree, written straight to the share's backing dir)."""
    os.makedirs(a.src, exist_ok=True)
    big = os.path.join(a.src, "big.src")
    crc, sha = _fill(big, a.size_mib * MIB)
    small = os.path.join(a.src, "small")
    os.makedirs(small, exist_ok=True)
    rnd = random.Random(a.seed + 1)
    for i in range(a.small):
        with open(os.path.join(small, "f%04d" % i), "wb") as f:
            f.write(rnd.randbytes(BLOCK))
    if a.tree:
        per = a.tree_files // a.tree_dirs
        for d in range(a.tree_dirs):
            dd = os.path.join(a.tree, "d%03d" % d)
            os.makedirs(dd, exist_ok=True)
            for i in range(per):
                with open(os.path.join(dd, "f%04d" % i), "wb") as f:
                    f.write(rnd.randbytes(BLOCK))
    emit(dict(ok=True, size=a.size_mib * MIB, crc32=crc, sha256=sha))


def cmd_mkrepo(a):
    """A source-tree-like repository: N files of skewed sizes in nested dirs, 3 commits, cloned
    bare to DIR/repo.git. Prints HEAD and the number of files it tracks."""
    work = os.path.join(a.dir, "repo-work")
    os.makedirs(work, exist_ok=True)
    rnd = random.Random(1200)
    words = ["fn", "let", "mut", "self", "match", "impl", "struct", "return", "0x1f", "{", "}", "\n"]
    paths = []
    for i in range(a.files):
        d = os.path.join("crate%02d" % (i % 30), "mod%d" % (i % 4))
        os.makedirs(os.path.join(work, d), exist_ok=True)
        p = os.path.join(d, "f%04d.%s" % (i, ("rs", "c", "md", "toml")[i % 4]))
        n = min(int(rnd.paretovariate(1.3) * 80), 20000)
        with open(os.path.join(work, p), "w") as f:
            f.write(" ".join(rnd.choice(words) for _ in range(n)) + "\n")
        paths.append(p)

    def git(*args):
        subprocess.run(["git", "-C", work, "-c", "user.name=bench", "-c", "user.email=bench@localhost",
                        "-c", "init.defaultBranch=main", *args],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "import")
    for k in (1, 2):
        for p in rnd.sample(paths, 200):
            with open(os.path.join(work, p), "a") as f:
                f.write("// edit %d\n" % k)
        git("commit", "-qam", "edit %d" % k)
    bare = os.path.join(a.dir, "repo.git")
    subprocess.run(["git", "clone", "-q", "--bare", work, bare], check=True, timeout=300,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    head = subprocess.run(["git", "-C", bare, "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True, timeout=60).stdout.strip()
    emit(dict(ok=True, head=head, files=len(paths), bare=bare))


# ------------------------------------------------------------------------------------ reads
def _read_crc(fd, bs):
    """Read FD to EOF in BS-sized read()s; CRC-32 is computed by a second thread so hashing
    overlaps with waiting for the next read. Returns (bytes, crc32)."""
    bufs = [bytearray(bs) for _ in range(6)]
    ready = []  # (index, length), consumed in order
    cv = threading.Condition()
    free = list(range(len(bufs)))
    result = {"crc": 0}
    done = [False]

    def hasher():
        crc = 0
        while True:
            with cv:
                while not ready and not done[0]:
                    cv.wait()
                if not ready:
                    break
                i, n = ready.pop(0)
            crc = zlib.crc32(memoryview(bufs[i])[:n], crc)
            with cv:
                free.append(i)
                cv.notify_all()
        result["crc"] = crc

    t = threading.Thread(target=hasher, daemon=True)
    t.start()
    total = 0
    try:
        while True:
            with cv:
                while not free:
                    cv.wait()
                i = free.pop(0)
            n = os.readv(fd, [bufs[i]])
            if n == 0:
                with cv:
                    free.append(i)
                break
            total += n
            with cv:
                ready.append((i, n))
                cv.notify_all()
    finally:
        with cv:
            done[0] = True
            cv.notify_all()
        t.join()
    return total, "%08x" % result["crc"]


def cmd_readcrc(a):
    """Read PATH (or the stdout of --cmd) from open/spawn to EOF; MB/s = 10^6 bytes/s."""
    t0 = time.monotonic()
    err = None
    try:
        if a.cmd:
            p = subprocess.Popen(["bash", "-c", a.cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                total, crc = _read_crc(p.stdout.fileno(), a.bs)
            finally:
                stderr = p.stderr.read()
                rc = p.wait(timeout=60)
            if rc:
                err = "command exited %d: %s" % (rc, stderr.decode(errors="replace").strip()[-200:])
        else:
            fd = os.open(a.path, os.O_RDONLY)
            try:
                total, crc = _read_crc(fd, a.bs)
            finally:
                os.close(fd)
    except (OSError, subprocess.SubprocessError) as e:
        emit(fail("%s: %s" % (type(e).__name__, e), seconds=time.monotonic() - t0))
        return
    dt = time.monotonic() - t0
    r = dict(ok=False, seconds=dt, bytes=total, crc32=crc, MBps=total / dt / 1e6)
    if err:
        r["error"] = err
    elif total != a.size:
        r["error"] = "read %d bytes, expected %d" % (total, a.size)
    elif crc != a.crc:
        r["error"] = "CRC-32 %s, expected %s" % (crc, a.crc)
    else:
        r["ok"] = True
    emit(r)


def cmd_spotcheck(a):
    rnd = random.Random(a.seed)
    try:
        size = os.path.getsize(a.ref)
        with open(a.path, "rb", buffering=0) as f, open(a.ref, "rb", buffering=0) as g:
            bad = 0
            for _ in range(a.blocks):
                off = rnd.randrange(size // BLOCK) * BLOCK
                if os.pread(f.fileno(), BLOCK, off) != os.pread(g.fileno(), BLOCK, off):
                    bad += 1
    except OSError as e:
        emit(fail("%s: %s" % (type(e).__name__, e)))
        return
    emit(dict(ok=True, blocks=a.blocks) if not bad else
         fail("%d of %d random 4 KiB blocks differ from the source" % (bad, a.blocks)))


def cmd_hash(a):
    h = hashlib.sha256()
    try:
        with open(a.path, "rb") as f:
            while True:
                b = f.read(4 * MIB)
                if not b:
                    break
                h.update(b)
        emit(dict(ok=True, size=os.path.getsize(a.path), sha256=h.hexdigest()))
    except OSError as e:
        emit(fail("%s: %s" % (type(e).__name__, e)))


# ------------------------------------------------------------------------------------ small files
def _small_names(src, n):
    names = sorted(os.listdir(src))[:n]
    if len(names) < n:
        raise SystemExit("benchlib: only %d source files in %s, need %d" % (len(names), src, n))
    return names


def cmd_mkfiles(a):
    """mkdir DIR, then N × (open O_CREAT|O_EXCL, write 4 KiB, close). Time covers all of it."""
    names = _small_names(a.src, a.n)
    data = [open(os.path.join(a.src, n), "rb").read() for n in names]
    wall0, t0 = time.time(), time.monotonic()
    try:
        os.mkdir(a.dir)
        for n, d in zip(names, data):
            fd = os.open(os.path.join(a.dir, n), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                if os.write(fd, d) != len(d):
                    raise OSError("short write on %s" % n)
            finally:
                os.close(fd)
    except OSError as e:
        emit(fail("%s: %s" % (type(e).__name__, e), seconds=time.monotonic() - t0))
        return
    emit(dict(ok=True, seconds=time.monotonic() - t0, wall0=wall0, files=len(names)))


def _count_landed(d, size):
    try:
        return sum(1 for e in os.scandir(d) if e.is_file(follow_symlinks=False) and e.stat().st_size == size)
    except OSError:
        return 0


def cmd_waitfiles(a):
    """Poll DIR (the server's backing dir) until N files of SIZE bytes are there. landed is
    seconds since --since (wall clock), or null when they were all there at the first look."""
    deadline = time.monotonic() + a.timeout
    first = True
    while True:
        n = _count_landed(a.dir, a.size)
        if n >= a.n:
            emit(dict(ok=True, landed=None if first else time.time() - a.since))
            return
        if time.monotonic() >= deadline:
            emit(fail("only %d of %d files of %d bytes on the server after %.0f s" % (n, a.n, a.size, a.timeout)))
            return
        first = False
        time.sleep(0.02)


def cmd_verifyfiles(a):
    names = _small_names(a.src, a.n)
    wrong, missing = [], []
    for n in names:
        try:
            with open(os.path.join(a.dir, n), "rb") as f:
                got = f.read()
        except OSError:
            missing.append(n)
            continue
        with open(os.path.join(a.src, n), "rb") as f:
            if got != f.read():
                wrong.append(n)
    try:
        extra = sorted(set(os.listdir(a.dir)) - set(names))
    except OSError as e:
        emit(fail("cannot list %s: %s" % (a.dir, e)))
        return
    if wrong or missing or extra:
        emit(fail("%d files with wrong content, %d missing, %d unexpected (first: %s)"
                  % (len(wrong), len(missing), len(extra), (wrong + missing + extra)[0])))
    else:
        emit(dict(ok=True, files=len(names)))


# ------------------------------------------------------------------------------------ memory
def proc_mem(pid):
    """VmHWM (peak RSS) and VmRSS of PID in KiB, from /proc/PID/status."""
    r = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                r[k] = int(v.split()[0])
    return r


def cmd_rss(a):
    """Sum over the PIDs given (a daemon and its helpers); a pid that is gone counts 0."""
    hwm = rss = 0
    seen = 0
    for pid in a.pid:
        try:
            m = proc_mem(pid)
        except (OSError, ValueError):
            continue
        seen += 1
        hwm += m.get("VmHWM", 0)
        rss += m.get("VmRSS", 0)
    emit(dict(ok=seen > 0, processes=seen, hwm_mib=hwm / 1024, rss_mib=rss / 1024)
         if seen else fail("none of pids %s is running" % a.pid))


# ------------------------------------------------------------------------------------ report
# metric -> (title, unit, higher is better)
METRICS = {
    "seqread": ("1 seq read, cold", "MB/s", True),
    "seqwrite": ("2 seq write + fsync", "MB/s", True),
    "rss_read": ("1 peak RSS (VmHWM)", "MiB", False),
    "rss_write": ("2 peak RSS (VmHWM)", "MiB", False),
    "randread": ("3 random 4 KiB reads, 4 jobs", "IOPS", True),
    "lsR": ("4 ls -lR tree, cold", "s", False),
    "find": ("4 find tree, cold", "s", False),
    "du": ("4 du -s tree, cold", "s", False),
    "smallfiles": ("5 create 4 KiB files", "files/s", True),
    "mount": ("6 mount to first ls", "s", False),
    "gitclone": ("7 git clone", "s", False),
    "gitfsck": ("7 git fsck in the mount", "s", False),
    "sigread": ("8 seq read, signed GMAC", "MB/s", True),
    "sigwrite": ("8 seq write, signed GMAC", "MB/s", True),
    "encread": ("8 seq read, encrypted GCM", "MB/s", True),
    "encwrite": ("8 seq write, encrypted GCM", "MB/s", True),
}
CONTENDER_ORDER = ["fusevol", "rclone", "smbnetfs", "smbclient", "local", "bindfs"]
OURS = "fusevol"

# (metric, versus, minimum speed ratio fusevol/versus); versus None = absolute bound on value
GOALS = [
    ("seqread", "smbclient", 0.85), ("seqread", "rclone", 3.0),
    ("seqwrite", "smbclient", 0.85), ("seqwrite", "rclone", 3.0),
    ("sigread", "smbclient", 0.80), ("sigwrite", "smbclient", 0.80),
    ("encread", "smbclient", 0.80), ("encwrite", "smbclient", 0.80),
    ("lsR", "smbclient", 1.0), ("lsR", "rclone", 3.0), ("lsR", "smbnetfs", 3.0),
    ("smallfiles", "smbclient", 1.0),
    ("randread", "smbnetfs", 3.0),
    ("gitclone", None, 3.0),
    ("rss_read", None, 64.0), ("rss_write", None, 64.0),
]


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3f" % v


def summarize(rows):
    """{metric: {contender: {"med", "min", "max", "n", "fails", "err"}}}"""
    out = {}
    for r in rows:
        s = out.setdefault(r["metric"], {}).setdefault(
            r["contender"], dict(vals=[], bad_vals=[], n=0, fails=0, err=""))
        s["n"] += 1
        if r["ok"] == "1" and r["value"] not in ("", "nan"):
            s["vals"].append(float(r["value"]))
        else:
            s["fails"] += 1
            if r["value"] not in ("", "nan"):
                s["bad_vals"].append(float(r["value"]))
            s["err"] = s["err"] or r.get("note", "") or "failed"
    for m in out.values():
        for s in m.values():
            v, bad = s.pop("vals"), s.pop("bad_vals")
            s["bad_med"] = statistics.median(bad) if bad else None
            s.update(med=statistics.median(v) if v else None,
                     min=min(v) if v else None, max=max(v) if v else None)
    return out


def speed_ratio(metric, a, b):
    """How many times faster A is than B (>1: A faster), from medians."""
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return a / b if METRICS.get(metric, ("", "", True))[2] else b / a


def cell(s):
    if s is None:
        return "n/a"
    if s["fails"]:
        return "FAIL %d/%d" % (s["fails"], s["n"])
    return fmt(s["med"])


def goal_lines(summary):
    lines = []
    for metric, vs, bound in GOALS:
        m = summary.get(metric, {})
        ours = m.get(OURS)
        if ours is None:
            continue
        title = METRICS[metric][0].strip()
        if ours["fails"]:
            lines.append((False, "%s: fusevol FAILED (%s)" % (title, ours["err"][:120])))
            continue
        if vs is None:
            ok = ours["med"] <= bound
            lines.append((ok, "%s: %s %s (goal <= %s)" % (title, fmt(ours["med"]), METRICS[metric][1], fmt(bound))))
            continue
        other = m.get(vs)
        if other is None:
            lines.append((None, "%s vs %s: %s not run" % (title, vs, vs)))
            continue
        if other["fails"] or other["med"] is None:
            lines.append((True, "%s vs %s: %s failed (%s)" % (title, vs, vs, other["err"][:100])))
            continue
        r = speed_ratio(metric, ours["med"], other["med"])
        lines.append((r >= bound, "%s: fusevol/%s = %.2fx (goal >= %.2fx)" % (title, vs, r, bound)))
    return lines


def render(rows, meta):
    summary = summarize(rows)
    present = [c for c in CONTENDER_ORDER if any(c in m for m in summary.values())]
    present += sorted({r["contender"] for r in rows} - set(present))
    others = [c for c in present if c != OURS]
    L = []
    if meta:
        L.append(meta.strip() + "\n")
    L.append("Medians over verified repetitions (FAIL k/n: k of n runs failed their check). "
             "Ratios are fusevol's speed over the other's (>1 = fusevol faster; for times, "
             "speed = 1/time, and for memory the ratio is the other's peak over fusevol's).\n")
    head = ["workload", "unit"] + present + ["fusevol/" + c for c in others if OURS in present]
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    for metric in [m for m in METRICS if m in summary] + sorted(set(summary) - set(METRICS)):
        title, unit, _ = METRICS.get(metric, (metric, "", True))
        m = summary[metric]
        cells = [title.strip(), unit] + [cell(m.get(c)) for c in present]
        if OURS in present:
            for c in others:
                o, t = m.get(OURS), m.get(c)
                r = None
                if o and t and not o["fails"] and not t["fails"]:
                    r = speed_ratio(metric, o["med"], t["med"])
                cells.append("%.2f" % r if r is not None else "-")
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    L.append("Spread (min–max of verified runs):\n")
    for metric in [m for m in METRICS if m in summary]:
        parts = []
        for c in present:
            s = summary[metric].get(c)
            if s and s["med"] is not None:
                parts.append("%s %s–%s" % (c, fmt(s["min"]), fmt(s["max"])))
        L.append("- %s: %s" % (metric, "; ".join(parts)))
    fails = [(metric, c, s) for metric, m in summary.items() for c, s in m.items() if s["fails"]]
    if fails:
        L.append("\nFailures (first reason):\n")
        for metric, c, s in fails:
            took = " (median of the failed runs, not a score: %s %s)" % (
                fmt(s["bad_med"]), METRICS.get(metric, ("", "", 1))[1]) if s["bad_med"] is not None else ""
            L.append("- %s / %s, %d of %d runs: %s%s" % (metric, c, s["fails"], s["n"], s["err"][:240], took))
    goals = goal_lines(summary)
    if goals:
        L.append("\nGoals (issue 6):\n")
        for ok, text in goals:
            L.append("- %s %s" % ({True: "met ", False: "MISS", None: "n/a "}[ok], text))
    return "\n".join(L) + "\n"


def cmd_report(a):
    with open(a.csv) as f:
        rows = list(csv.DictReader(f))
    meta = open(a.meta).read() if a.meta and os.path.exists(a.meta) else ""
    text = render(rows, meta)
    if a.md:
        with open(a.md, "w") as f:
            f.write(text)
    sys.stdout.write(text)


# ------------------------------------------------------------------------------------ selftest
def cmd_selftest(_a):
    """The verification helpers must reject wrong data: run each on good and on corrupted input."""
    import contextlib
    import io

    def run(fn, **kw):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            fn(argparse.Namespace(**kw))
        return json.loads(buf.getvalue())

    with tempfile.TemporaryDirectory() as t:
        src = os.path.join(t, "src")
        g = run(cmd_gen, src=src, size_mib=1, seed=5, small=20, tree=None, tree_dirs=1, tree_files=0)
        big = os.path.join(src, "big.src")
        good = dict(path=big, cmd=None, size=g["size"], crc=g["crc32"], bs=MIB)
        checks = [
            ("readcrc accepts the source", run(cmd_readcrc, **good)["ok"]),
            ("readcrc rejects a wrong CRC", not run(cmd_readcrc, **{**good, "crc": "00000000"})["ok"]),
            ("readcrc rejects a short file", not run(cmd_readcrc, **{**good, "size": g["size"] + 1})["ok"]),
            ("readcrc --cmd accepts cat", run(cmd_readcrc, **{**good, "path": None, "cmd": "cat " + big})["ok"]),
            ("readcrc --cmd rejects a failing command",
             not run(cmd_readcrc, **{**good, "path": None, "cmd": "cat %s; exit 3" % big})["ok"]),
            ("hash matches gen", run(cmd_hash, path=big)["sha256"] == g["sha256"]),
        ]
        bad = os.path.join(t, "bad.bin")
        with open(big, "rb") as f:
            data = bytearray(f.read())
        data[BLOCK * 100 + 7] ^= 1
        with open(bad, "wb") as f:
            f.write(data)
        checks += [
            ("spotcheck accepts a copy", run(cmd_spotcheck, path=big, ref=big, blocks=64, seed=1)["ok"]),
            ("spotcheck rejects a flipped bit",
             not run(cmd_spotcheck, path=bad, ref=big, blocks=2000, seed=1)["ok"]),
            ("readcrc rejects a flipped bit", not run(cmd_readcrc, **{**good, "path": bad})["ok"]),
        ]
        d = os.path.join(t, "made")
        mk = run(cmd_mkfiles, dir=d, src=os.path.join(src, "small"), n=20)
        vf = dict(dir=d, src=os.path.join(src, "small"), n=20)
        checks += [
            ("mkfiles creates", mk["ok"]),
            ("verifyfiles accepts", run(cmd_verifyfiles, **vf)["ok"]),
            ("waitfiles sees 20", run(cmd_waitfiles, dir=d, n=20, size=BLOCK, since=0, timeout=1)["ok"]),
            ("waitfiles times out on 21", not run(cmd_waitfiles, dir=d, n=21, size=BLOCK, since=0, timeout=0.1)["ok"]),
        ]
        with open(os.path.join(d, "f0003"), "r+b") as f:
            f.write(b"x")
        checks.append(("verifyfiles rejects changed content", not run(cmd_verifyfiles, **vf)["ok"]))
        os.unlink(os.path.join(d, "f0004"))
        open(os.path.join(d, "stray"), "w").close()
        checks.append(("verifyfiles rejects missing + stray", not run(cmd_verifyfiles, **vf)["ok"]))
        checks.append(("rss reads this process", run(cmd_rss, pid=[os.getpid()])["hwm_mib"] > 1))
        rows = [dict(metric="seqread", contender=c, value=v, ok=ok, note=n)
                for c, v, ok, n in [("fusevol", "500", "1", ""), ("fusevol", "700", "1", ""),
                                    ("fusevol", "600", "1", ""), ("smbclient", "600", "1", ""),
                                    ("rclone", "100", "0", "crc mismatch")]]
        s = summarize(rows)
        txt = render(rows, "")
        checks += [
            ("median of verified runs", s["seqread"]["fusevol"]["med"] == 600),
            ("a failed run never scores", s["seqread"]["rclone"]["med"] is None and "FAIL 1/1" in txt),
            ("ratio vs smbclient", "| 1.00 |" in txt),
            ("time ratio inverted", abs(speed_ratio("lsR", 1.0, 2.0) - 2.0) < 1e-9),
        ]
    bad = [name for name, ok in checks if not ok]
    for name, ok in checks:
        print("%s %s" % ("ok  " if ok else "FAIL", name), file=sys.stderr)
    emit(dict(ok=not bad, checks=len(checks), failed=bad))
    sys.exit(1 if bad else 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def add(name, fn):
        p = sub.add_parser(name)
        p.set_defaults(fn=fn)
        return p

    p = add("gen", cmd_gen)
    p.add_argument("src")
    p.add_argument("--size-mib", type=int, required=True)
    p.add_argument("--small", type=int, default=1000)
    p.add_argument("--tree")
    p.add_argument("--tree-dirs", type=int, default=100)
    p.add_argument("--tree-files", type=int, default=10000)
    p.add_argument("--seed", type=int, default=2026)
    p = add("mkrepo", cmd_mkrepo)
    p.add_argument("dir")
    p.add_argument("--files", type=int, default=1200)
    p = add("readcrc", cmd_readcrc)
    p.add_argument("path", nargs="?")
    p.add_argument("--cmd")
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--crc", required=True)
    p.add_argument("--bs", type=int, default=MIB)
    p = add("spotcheck", cmd_spotcheck)
    p.add_argument("path")
    p.add_argument("ref")
    p.add_argument("--blocks", type=int, default=512)
    p.add_argument("--seed", type=int, default=11)
    p = add("hash", cmd_hash)
    p.add_argument("path")
    p = add("mkfiles", cmd_mkfiles)
    p.add_argument("dir")
    p.add_argument("--src", required=True)
    p.add_argument("--n", type=int, required=True)
    p = add("waitfiles", cmd_waitfiles)
    p.add_argument("dir")
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--size", type=int, default=BLOCK)
    p.add_argument("--since", type=float, required=True)
    p.add_argument("--timeout", type=float, default=120)
    p = add("verifyfiles", cmd_verifyfiles)
    p.add_argument("dir")
    p.add_argument("--src", required=True)
    p.add_argument("--n", type=int, required=True)
    p = add("rss", cmd_rss)
    p.add_argument("pid", type=int, nargs="+")
    p = add("report", cmd_report)
    p.add_argument("csv")
    p.add_argument("--md")
    p.add_argument("--meta")
    add("selftest", cmd_selftest)
    a = ap.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
