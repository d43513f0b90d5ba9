#!/usr/bin/env python3
"""bench/compare.py: whole-session workloads, our popa3d against Debian's popa3d 1.0.3.

Run through bench/compare.sh, as root. Both servers run as root with privilege separation,
authenticate the same temporary system account (created here, removed at the end) and
serve the same /var/mail file, with the page cache warm:

  (a) login, STAT, UIDL, QUIT on the 100,000-message mbox (inetd mode, pipelined input)
  (b) the same on an empty mailbox (process and login cost)
  (c) RETR of every message of a ~100 MiB mbox: throughput of the stream phase
  (d) DELE all but the last 10, then QUIT, on a ~200 MiB mbox: time of the QUIT phase
  (e) DELE 1, then QUIT, on the same
  (f) sessions per second over loopback TCP with UIDL, one client at a time (-D mode, in a
      private network namespace; each session from its own 127/8 source address, so that
      the per-source limit of 50 sessions per 10 s never applies)
  (g) peak RSS of (a)

Each workload runs --repeat times per server (alternating servers; in (f) both daemons
listen at once, on ports 110 and 1110) after one untimed run, whose output is compared
byte for byte between the two servers. Prints medians and the ratio ours/theirs.
"""
import argparse
import hashlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

USER = "pop3bench"
NETNS = "pop3bench"
MAILBOX = "/var/mail/" + USER
CHROOT = "/var/lib/popa3d"
OLD = time.time() - 86400  # popa3d holds its lock one more second when mtime is this second


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


# --- one inetd-mode session over a socketpair ---------------------------------------------


class Result:
    pass


def inetd_session(cmd, first, second=None, wait_bytes=0, want_hash=False, keep=0):
    """Runs `cmd` on one end of a socketpair; sends `first`, and `second` once `wait_bytes`
    bytes of replies have arrived. Times: t0 spawn, t_login when the first 15 bytes (greeting,
    USER and PASS replies) are in, t_second when `second` was sent, t_last last byte, t_end reaped."""
    a, b = socket.socketpair()
    r = Result()
    r.t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=b, stdout=b, stderr=subprocess.DEVNULL, close_fds=True)
    b.close()
    send_errors = []

    def send(data):
        try:
            a.sendall(data)
        except OSError as e:  # the server ended early; the checks below will say so
            send_errors.append(e)

    writer = threading.Thread(target=send, args=(first,))
    writer.start()
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    h = hashlib.md5() if want_hash else None
    head = bytearray()
    tail = b""
    total = 0
    r.t_login = r.t_second = r.t_last = None
    a.settimeout(120)
    try:
        while True:
            n = a.recv_into(buf)
            if n == 0:
                break
            t = time.perf_counter()
            total += n
            if h:
                h.update(mv[:n])
            if len(head) < keep:
                head += mv[: min(n, keep - len(head))]
            tail = (tail + bytes(mv[max(0, n - 16) : n]))[-16:]
            if r.t_login is None and total >= 15:
                r.t_login = t
            r.t_last = t
            if second is not None and r.t_second is None and total >= wait_bytes:
                writer.join()
                r.t_second = time.perf_counter()
                send(second)
    finally:
        writer.join()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        r.t_end = time.perf_counter()
        a.close()
    r.total = total
    r.head = bytes(head)
    r.tail = tail
    r.digest = h.hexdigest() if h else None
    r.cpu = usage.ru_utime + usage.ru_stime
    r.status = p.returncode
    return r


# --- the TCP client, run inside the network namespace ---------------------------------------


def recv_until(s, buf, done):
    while not done(buf):
        chunk = s.recv(1 << 16)
        if not chunk:
            raise ConnectionError("connection closed early")
        buf += chunk
    return buf


def tcp_client(args):
    """Sessions one after another until --sessions or --seconds; prints JSON."""
    deadline = time.perf_counter() + args.seconds
    done = 0
    errors = 0
    start = time.perf_counter()
    for i in range(args.sessions):
        if time.perf_counter() > deadline:
            break
        k = args.first_source + i
        src = "127.%d.%d.%d" % (10 + (k // 62500) % 200, (k // 250) % 250 + 1, k % 250 + 1)
        try:
            with socket.create_connection(("127.0.0.1", args.port), timeout=10, source_address=(src, 0)) as s:
                buf = recv_until(s, bytearray(), lambda b: b.endswith(b"\r\n"))
                s.sendall(b"USER %s\r\n" % args.user.encode())
                buf = recv_until(s, bytearray(), lambda b: b.endswith(b"\r\n"))
                s.sendall(b"PASS %s\r\n" % args.password.encode())
                buf = recv_until(s, bytearray(), lambda b: b.endswith(b"\r\n"))
                if not buf.startswith(b"+OK"):
                    raise ConnectionError("login refused")
                s.sendall(b"UIDL\r\n")
                buf = recv_until(s, bytearray(), lambda b: b.endswith(b"\r\n.\r\n"))
                if buf.count(b"\r\n") != args.messages + 2:
                    raise ConnectionError("short UIDL listing")
                s.sendall(b"QUIT\r\n")
                buf = recv_until(s, bytearray(), lambda b: b.endswith(b"\r\n"))
                while s.recv(4096):
                    pass
            done += 1
        except (OSError, ConnectionError):
            errors += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({"sessions": done, "errors": errors, "seconds": elapsed}))


def wait_for_port(port, timeout=10.0):
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(16)
            return True
        except OSError:
            time.sleep(0.05)
    return False


# --- the comparison ----------------------------------------------------------------------


class Server:
    def __init__(self, name, inetd_cmd, daemon_cmd, port, foreground):
        self.name = name
        self.inetd_cmd = inetd_cmd
        self.daemon_cmd = daemon_cmd
        self.port = port  # where daemon_cmd listens on 127.0.0.1
        self.foreground = foreground  # the daemon command stays in the foreground


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.workdir
        self.password = secrets.token_hex(8)
        self.user_created = False
        self.netns_created = False
        self.rows = []
        self.problems = []
        self.floors = {}

    # setup and teardown

    def setup(self):
        try:
            run(["getent", "passwd", USER], stdout=subprocess.DEVNULL)
            sys.exit("compare: user %s already exists; remove it (userdel %s) first" % (USER, USER))
        except subprocess.CalledProcessError:
            pass
        if os.path.exists(MAILBOX):
            sys.exit("compare: %s already exists; remove it first" % MAILBOX)
        run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", USER])
        self.user_created = True
        # SHA-512 crypt (login.defs default) rather than PAM's yescrypt, slow by design: its cost
        # per login (DESIGN.md) would swamp the process and login cost being compared.
        run(["chpasswd", "-c", "SHA512"], input=("%s:%s\n" % (USER, self.password)).encode())
        os.makedirs(CHROOT, exist_ok=True)

    def teardown(self):
        for path in (MAILBOX, MAILBOX + ".tmp"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        if self.netns_created:
            self.stop_netns_processes()
            subprocess.run(["ip", "netns", "del", NETNS], stderr=subprocess.DEVNULL)
        if self.user_created:
            subprocess.run(["userdel", USER], stderr=subprocess.DEVNULL)

    def generate(self, messages):
        path = os.path.join(self.work, "m%d.mbox" % messages)
        if not os.path.exists(path):
            log("generating %d messages -> %s" % (messages, path))
            run([self.args.gen, "-n", str(messages), "-s", "1", "-o", path], stderr=subprocess.DEVNULL)
        return path

    def install(self, source):
        """Copies `source` to the account's mailbox, flushed to disk, owned by the account,
        with an old mtime. An empty source path makes an empty mailbox. The copy is written
        8 KiB at a time, as delivered mail is appended: a file written in large writes sits
        in the page cache in large folios, which map with far fewer page faults (which
        would flatter mmap readers), and delivered mail is appended in small writes."""
        tmp = MAILBOX + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            if source:
                with open(source, "rb") as f:
                    while True:
                        block = f.read(8192)
                        if not block:
                            break
                        view = memoryview(block)
                        while view:
                            view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        shutil.chown(tmp, USER, "mail")
        os.utime(tmp, (OLD, OLD))
        os.rename(tmp, MAILBOX)

    def age_mailbox(self):
        os.utime(MAILBOX, (OLD, OLD))

    # measurement helpers

    def script(self, body):
        return b"USER %s\r\nPASS %s\r\n" % (USER.encode(), self.password.encode()) + body

    def record(self, key, label, unit, better, target, ours, theirs):
        self.rows.append((key, label, unit, better, target, ours, theirs))

    def alternate(self, servers, reps, fn):
        """One untimed run per server, then `reps` timed runs, alternating. Returns
        {name: [values]} and {name: warm-up result}."""
        values = {s.name: [] for s in servers}
        warm = {}
        for s in servers:
            warm[s.name] = fn(s, True)
        for _ in range(reps):
            for s in servers:
                values[s.name].append(fn(s, False))
        return values, warm

    def check_same(self, what, warm, attr):
        got = {name: getattr(r, attr) for name, r in warm.items()}
        if len(set(got.values())) > 1:
            self.problems.append("%s: outputs differ between servers: %s" % (what, got))

    # the workloads

    def login_uidl(self, servers, source, label, key, target):
        self.install(source)
        body = self.script(b"STAT\r\nUIDL\r\nQUIT\r\n")

        def one(server, warmup):
            self.age_mailbox()
            r = inetd_session(server.inetd_cmd, body, want_hash=warmup)
            if r.status != 0 or not r.tail.endswith(b".\r\n+OK\r\n"):
                self.problems.append("%s: %s: session failed (status %d)" % (label, server.name, r.status))
            # Client-visible: from the spawn to the last reply byte (QUIT's "+OK"); the
            # process exit after it is left out, the CPU time includes it.
            return (r.t_last - r.t0, r.cpu) if not warmup else r

        values, warm = self.alternate(servers, self.args.repeat, one)
        self.check_same(label, warm, "digest")
        if source:
            # The floor the issue quotes: reading the same file with wc -l and with cat.
            for tool in (["wc", "-l"], ["cat"]):
                times = []
                for _ in range(self.args.repeat):
                    t0 = time.perf_counter()
                    run(tool + [MAILBOX], stdout=subprocess.DEVNULL)
                    times.append((time.perf_counter() - t0) * 1000)
                self.floors[key] = self.floors.get(key, "") + "%s%s %.0f ms" % (
                    "; " if key in self.floors else "", " ".join(tool), statistics.median(times))
        wall = {n: [v[0] * 1000 for v in vals] for n, vals in values.items()}
        cpu = {n: [v[1] * 1000 for v in vals] for n, vals in values.items()}
        self.record(key, label, "ms", "lower", target, wall.get("ours"), wall.get("theirs"))
        self.record(key + "-cpu", "    CPU time (user+sys) of the same", "ms", "lower", None,
                    cpu.get("ours"), cpu.get("theirs"))

    def peak_rss(self, servers, source, label):
        """Peak RSS through GNU time: the rusage of a child forked from this Python process
        would report Python's own RSS, since ru_maxrss survives exec."""
        self.install(source)
        body = self.script(b"STAT\r\nUIDL\r\nQUIT\r\n")
        out = os.path.join(self.work, "rss.txt")

        def one(server, warmup):
            self.age_mailbox()
            r = inetd_session(["/usr/bin/time", "-f", "%M", "-o", out] + server.inetd_cmd, body)
            with open(out) as f:
                kib = int(f.read().split()[-1])
            if r.status != 0 or not r.tail.endswith(b".\r\n+OK\r\n"):
                self.problems.append("%s: %s: session failed (status %d)" % (label, server.name, r.status))
            return kib / 1024

        values, _ = self.alternate(servers, self.args.repeat, one)
        self.record("g", label, "MiB", "lower", 1.5, values.get("ours"), values.get("theirs"))

    def retr_all(self, servers, source, messages):
        self.install(source)
        body = self.script(b"".join(b"RETR %d\r\n" % i for i in range(1, messages + 1)) + b"QUIT\r\n")
        size = os.path.getsize(source)

        def one(server, warmup):
            self.age_mailbox()
            r = inetd_session(server.inetd_cmd, body, want_hash=warmup)
            if r.status != 0 or not r.tail.endswith(b".\r\n+OK\r\n"):
                self.problems.append("(c): %s: session failed (status %d)" % (server.name, r.status))
            if warmup:
                return r
            return (r.total - 15) / (r.t_last - r.t_login) / 1e6

        values, warm = self.alternate(servers, self.args.repeat, one)
        self.check_same("(c) RETR", warm, "digest")
        label = "(c) RETR all, %d msgs %.0f MiB: stream phase" % (messages, size / 2**20)
        self.record("c", label, "MB/s", "higher", 3.0, values.get("ours"), values.get("theirs"))

    def dele_quit(self, servers, source, messages, key, dele):
        size = os.path.getsize(source)
        body = self.script(b"".join(b"DELE %d\r\n" % i for i in dele))
        wait = 5 * (3 + len(dele))
        results = {}

        def one(server, warmup):
            self.install(source)
            r = inetd_session(server.inetd_cmd, body, second=b"QUIT\r\n", wait_bytes=wait)
            ok = r.status == 0 and r.total == wait + 5 and r.t_second is not None
            if not ok:
                self.problems.append("(%s): %s: session failed (status %d, %d bytes)" %
                                     (key, server.name, r.status, r.total))
            if warmup:
                with open(MAILBOX, "rb") as f:
                    results[server.name] = Result()
                    results[server.name].digest = hashlib.md5(f.read()).hexdigest()
                return r
            return (r.t_last - r.t_second) * 1000 if ok else float("nan")

        values, _ = self.alternate(servers, self.args.repeat, one)
        self.check_same("(%s) mailbox after UPDATE" % key, results, "digest")
        what = "DELE all but last 10" if len(dele) > 1 else "DELE 1"
        label = "(%s) %s + QUIT, %d msgs %.0f MiB: QUIT phase" % (key, what, messages, size / 2**20)
        self.record(key, label, "ms", "lower", 1.0, values.get("ours"), values.get("theirs"))

    # (f): the daemons in a network namespace of their own

    def stop_netns_processes(self):
        out = subprocess.run(["ip", "netns", "pids", NETNS], capture_output=True, text=True).stdout
        for pid in out.split():
            try:
                os.kill(int(pid), 15)
            except (ProcessLookupError, ValueError):
                pass
        deadline = time.time() + 5
        while time.time() < deadline:
            out = subprocess.run(["ip", "netns", "pids", NETNS], capture_output=True, text=True).stdout
            if not out.split():
                return
            time.sleep(0.05)
        for pid in out.split():
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass

    def sessions_per_second(self, servers, source, messages):
        """All the daemons listen at once, each on its own port, and the timed runs alternate
        between them as in the other workloads, so that a burst of load on the shared host
        falls on both servers alike rather than on whichever ran at the time."""
        self.install(source)
        run(["ip", "netns", "add", NETNS])
        self.netns_created = True
        run(["ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up"])
        values = {s.name: [] for s in servers}
        daemons = []
        try:
            listening = []
            for s in servers:
                daemon = subprocess.Popen(["ip", "netns", "exec", NETNS] + s.daemon_cmd, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if s.foreground:
                    daemons.append(daemon)
                else:
                    daemon.wait(timeout=10)
                probe = ["ip", "netns", "exec", NETNS, sys.executable, os.path.abspath(__file__),
                         "--wait-port", str(s.port)]
                if subprocess.run(probe).returncode != 0:
                    self.problems.append("(f): %s: daemon did not listen on port %d" % (s.name, s.port))
                else:
                    listening.append(s)
            time.sleep(0.2)
            first_source = 0
            for rep in range(self.args.repeat + 1):
                for s in listening:
                    self.age_mailbox()
                    client = ["ip", "netns", "exec", NETNS, sys.executable, os.path.abspath(__file__),
                              "--tcp-client", "--port", str(s.port), "--user", USER, "--password", self.password,
                              "--messages", str(messages), "--sessions", str(self.args.tcp_sessions),
                              "--seconds", "3", "--first-source", str(first_source)]
                    out = subprocess.run(client, capture_output=True, text=True, timeout=60).stdout
                    first_source += self.args.tcp_sessions
                    res = json.loads(out)
                    if res["errors"]:
                        self.problems.append("(f): %s: %d failed sessions" % (s.name, res["errors"]))
                    if rep > 0 and res["sessions"]:
                        values[s.name].append(res["sessions"] / res["seconds"])
        finally:
            for daemon in daemons:
                daemon.terminate()
                try:
                    daemon.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    daemon.kill()
            self.stop_netns_processes()
        subprocess.run(["ip", "netns", "del", NETNS])
        self.netns_created = False
        label = "(f) sessions/s over TCP with UIDL, %d msgs" % messages
        self.record("f", label, "/s", "higher", 5.0, values.get("ours"), values.get("theirs"))

    # the table

    def print_table(self, servers):
        names = {"ours": "ours", "theirs": "popa3d 1.0.3"}
        print()
        print("%-58s %12s %14s %12s  %s" % ("workload (median of %d)" % self.args.repeat, "ours",
                                          names["theirs"], "ours/theirs", "target"))
        print("-" * 120)
        for key, label, unit, better, target, ours, theirs in self.rows:
            mo = statistics.median(ours) if ours else None
            mt = statistics.median(theirs) if theirs else None
            ratio = mo / mt if mo is not None and mt else None
            verdict = ""
            if ratio is not None:
                if key == "g":
                    verdict = "%.2fx theirs" % ratio
                    if target is not None:
                        verdict += "; target <= %.1fx: %s" % (target, "met" if ratio <= target else "NOT MET")
                else:
                    gain = ratio if better == "higher" else 1 / ratio
                    verdict = "%.2fx %s" % (gain, "as fast" if gain >= 1 else "as fast (slower)")
                    if target is not None:
                        verdict += "; target >= %.1fx: %s" % (target, "met" if gain >= target else "NOT MET")
            fmt = lambda v: "-" if v is None else ("%.1f %s" % (v, unit))
            print("%-58s %12s %14s %12s  %s" % (label, fmt(mo), fmt(mt),
                                              "-" if ratio is None else "%.3f" % ratio, verdict))
        for key, text in self.floors.items():
            print("floor for (%s), same file: %s" % (key, text))
        for p in self.problems:
            print("PROBLEM: " + p)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ours", nargs="?", default=os.path.join(root, "build", "src", "popa3d"),
                    help="our popa3d binary (default: build/src/popa3d)")
    ap.add_argument("--theirs", default="/usr/sbin/popa3d", help="Debian's popa3d (skipped if missing)")
    ap.add_argument("--gen", help="gen_mbox (default: bench/gen_mbox next to the popa3d build)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="small mailboxes, 3 repetitions")
    ap.add_argument("--only", default="abcdefg", help="workloads to run, e.g. 'ab'")
    ap.add_argument("--workdir", help="where generated mailboxes go (default: a temporary directory)")
    ap.add_argument("--tcp-sessions", type=int, default=40)
    # internal: run inside the network namespace
    ap.add_argument("--tcp-client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--wait-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=110, help=argparse.SUPPRESS)
    ap.add_argument("--user", default=USER, help=argparse.SUPPRESS)
    ap.add_argument("--password", help=argparse.SUPPRESS)
    ap.add_argument("--messages", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--sessions", type=int, default=40, help=argparse.SUPPRESS)
    ap.add_argument("--seconds", type=float, default=3, help=argparse.SUPPRESS)
    ap.add_argument("--first-source", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.wait_port:
        sys.exit(0 if wait_for_port(args.wait_port) else 1)
    if args.tcp_client:
        tcp_client(args)
        return

    if os.geteuid() != 0:
        sys.exit("compare: must run as root (system account, /var/mail, privilege separation)")
    ours = os.path.abspath(args.ours)
    if not os.access(ours, os.X_OK):
        sys.exit("compare: %s: not an executable (build the popa3d target first)" % ours)
    if args.gen is None:
        args.gen = os.path.join(os.path.dirname(os.path.dirname(ours)), "bench", "gen_mbox")
    if not os.access(args.gen, os.X_OK):
        sys.exit("compare: %s: not an executable (configure with -DPOP3_BUILD_BENCH=ON and build the gen_mbox target, or pass --gen)" % args.gen)
    if args.quick:
        args.repeat = min(args.repeat, 3)
    sizes = {"a": 10000 if args.quick else 100000, "c": 1000 if args.quick else 10000,
             "d": 2000 if args.quick else 20000, "f": 100 if args.quick else 1000}

    servers = [Server("ours", [ours, "--chroot", CHROOT],
                      [ours, "-D", "--foreground", "--listen", "127.0.0.1", "--port", "1110", "--chroot", CHROOT,
                       "--max-sessions", "65535", "--max-per-source", "65535"], 1110, True)]
    if os.access(args.theirs, os.X_OK):
        # Debian's popa3d always listens on port 110 of every address.
        servers.append(Server("theirs", [args.theirs], [args.theirs, "-D"], 110, False))
    else:
        log("compare: %s not found: measuring ours only" % args.theirs)

    own_workdir = args.workdir is None
    if own_workdir:
        args.workdir = tempfile.mkdtemp(prefix="pop3-compare-")
    os.makedirs(args.workdir, exist_ok=True)
    bench = Bench(args)
    started = time.perf_counter()
    try:
        bench.setup()
        if "a" in args.only:
            src = bench.generate(sizes["a"])
            gib = os.path.getsize(src) / 1e9
            log("(a) login, STAT, UIDL, QUIT on %d messages" % sizes["a"])
            bench.login_uidl(servers, src, "(a) login+STAT+UIDL+QUIT, %d msgs %.2f GB" % (sizes["a"], gib), "a", 2.5)
        if "b" in args.only:
            log("(b) the same on an empty mailbox")
            bench.login_uidl(servers, "", "(b) the same, empty mailbox", "b", None)
        if "c" in args.only:
            log("(c) RETR of every message")
            bench.retr_all(servers, bench.generate(sizes["c"]), sizes["c"])
        if "d" in args.only or "e" in args.only:
            src = bench.generate(sizes["d"])
            n = sizes["d"]
            if "d" in args.only:
                log("(d) DELE all but the last 10, QUIT")
                bench.dele_quit(servers, src, n, "d", list(range(1, n - 9)))
            if "e" in args.only:
                log("(e) DELE 1, QUIT")
                bench.dele_quit(servers, src, n, "e", [1])
        if "f" in args.only:
            log("(f) sessions per second over TCP")
            bench.sessions_per_second(servers, bench.generate(sizes["f"]), sizes["f"])
        if "g" in args.only:
            log("(g) peak RSS of (a)")
            bench.peak_rss(servers, bench.generate(sizes["a"]), "(g) peak RSS of (a), GNU time %M")
    finally:
        bench.teardown()
        if own_workdir:
            shutil.rmtree(args.workdir, ignore_errors=True)
    bench.print_table(servers)
    print("(total %.0f s)" % (time.perf_counter() - started))
    sys.exit(1 if bench.problems else 0)


if __name__ == "__main__":
    main()
