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
  (t) TLS, ours only, each against a baseline measured in the same run: (t1) RETR of every
      message of (c)'s mbox over implicit TLS from -D as root (the privilege-separated relay)
      against a floor, one process writing the same bytes over TLS to the same client; (t2)
      the same from the daemon run as the account (TLS in one process); (t3) the TLS record
      sizes the client received; (t4) TLS sessions per second (login, STAT, UIDL, QUIT) with
      an ECDSA P-256 certificate against the handshakes per second of openssl s_server on the
      same certificate, and openssl s_time -new against both
  (h) login, STAT, LIST, UIDL, QUIT on a Maildir of 100,000 files (Dovecot names, with ,W=),
      ours only, against the floor of issue 14 in the other column: `find cur -printf %s`,
      which is `ls -f` plus one stat per file, on the same directory in the same run

Each workload runs --repeat times per server (alternating servers; in (f) both daemons
listen at once, on ports 110 and 1110) after one untimed run, whose output is compared
byte for byte between the two servers. Prints medians and the ratio ours/theirs, and for
the workloads that record it the servers' CPU time (user+sys of the session process and
the children it reaped) beside the wall time. (a) also gets a floor from the same run: one
pass of 256 KiB preads into a page-aligned buffer over the same file.

--variant NAME=PATH adds another build of ours (e.g. one configured with
-DPOP3_DAEMON_MBOX_SOURCE=pop3::PreadSource) to (a), (c) and (g): each variant gets rows of
its own against popa3d, measured in the same alternation, on the same file.
"""
import argparse
import grp
import hashlib
import json
import mmap
import os
import pwd
import re
import resource
import secrets
import shlex
import shutil
import socket
import ssl
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


# --- TLS workloads (t): ours only (popa3d 1.0.3 has no TLS), each against a baseline ------


class TlsStream:
    """A TLS client over a blocking socket through ssl.MemoryBIO, so that it also sees the
    raw records: `records` holds the length of every application-data record received."""

    def __init__(self, port, ca):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        context = ssl.create_default_context(cafile=ca)
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname="localhost")
        self.records = []
        self._header = b""   # a record header cut by a read
        self._skip = 0       # bytes of the current record still to come
        self.closed = False  # close_notify received
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._receive()
        self._flush()

    def _flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def _receive(self):
        data = self.sock.recv(1 << 20)
        if not data:
            return False
        i, n = 0, len(data)
        while i < n:
            if self._skip:
                step = min(self._skip, n - i)
                self._skip -= step
                i += step
                continue
            need = 5 - len(self._header)
            self._header += data[i : i + need]
            i += need
            if len(self._header) == 5:
                length = int.from_bytes(self._header[3:5], "big")
                if self._header[0] == 23:
                    self.records.append(length)
                self._skip = length
                self._header = b""
        self.incoming.write(data)
        return True

    def encrypt(self, plaintext):
        """`plaintext` as records to send (all at once, from any thread)."""
        self.tls.write(plaintext)
        return self.outgoing.read()

    def chunks(self):
        """Plaintext as it arrives, until close_notify or the end of the connection."""
        while True:
            try:
                data = self.tls.read(1 << 20)
            except ssl.SSLWantReadError:
                if not self._receive():
                    return   # the end of the connection without close_notify
                continue
            if not data:   # close_notify
                self.closed = True
                try:
                    self.tls.unwrap()   # close_notify back
                except ssl.SSLError:
                    pass
                self._flush()
                return
            yield data

    def close(self):
        self.sock.close()


def tls_stream_session(port, ca, script=b"", want_hash=False, keep=None):
    """One TLS session: handshake, `script` sent at once (by a writer thread), the replies
    read to the end. Times as inetd_session's: t_login when the first 15 bytes are in, t_last
    the last byte. `keep`: a file to write the plaintext received to."""
    r = Result()
    r.t0 = time.perf_counter()
    stream = TlsStream(port, ca)
    r.version, r.cipher = stream.tls.version(), stream.tls.cipher()[0]
    writer = threading.Thread(target=stream.sock.sendall, args=(stream.encrypt(script),)) \
        if script else None
    if writer:
        writer.start()
    h = hashlib.md5() if want_hash else None
    out = open(keep, "wb") if keep else None
    total = 0
    tail = b""
    r.t_login = r.t_last = None
    try:
        for data in stream.chunks():
            t = time.perf_counter()
            total += len(data)
            if h:
                h.update(data)
            if out:
                out.write(data)
            tail = (tail + data[-16:])[-16:]
            if r.t_login is None and total >= 15:
                r.t_login = t
            r.t_last = t
    finally:
        if writer:
            writer.join()
        if out:
            out.close()
        stream.close()
    r.total, r.tail, r.closed = total, tail, stream.closed
    r.digest = h.hexdigest() if h else None
    r.records = stream.records
    return r


def tls_floor_server(args):
    """One process writing a file's bytes over TLS to one client: the floor for the RETR
    stream (the bytes ours sent in the same run, the same certificate, OpenSSL's own record
    splitting of one large SSL_write)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    with open(args.stream, "rb") as f:
        data = f.read()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(1)
    print("ready", flush=True)
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tls = context.wrap_socket(conn, server_side=True)
    tls.sendall(data)
    tls.unwrap()
    tls.close()


def tls_sessions_client(args):
    """TLS sessions one after another for --seconds: login, STAT, UIDL, QUIT (with
    --handshake-only, the handshake alone; with --plain, the session without TLS); prints
    JSON."""
    context = ssl.create_default_context(cafile=args.ca)
    done = errors = 0
    start = time.perf_counter()
    deadline = start + args.seconds
    while done + errors < args.sessions and time.perf_counter() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", args.port), timeout=10) as raw:
                with (raw if args.plain else context.wrap_socket(raw, server_hostname="localhost")) as s:
                    if not args.handshake_only:
                        lines = lambda b: b.endswith(b"\r\n")
                        recv_until(s, bytearray(), lines)
                        s.sendall(b"USER %s\r\nPASS %s\r\nSTAT\r\nUIDL\r\n" %
                                  (args.user.encode(), args.password.encode()))
                        buf = recv_until(s, bytearray(), lambda b: b.endswith(b"\r\n.\r\n"))
                        if not buf.startswith(b"+OK\r\n+OK\r\n+OK"):
                            raise ConnectionError("login refused")
                        s.sendall(b"QUIT\r\n")
                        recv_until(s, bytearray(), lines)
            done += 1
        except (OSError, ConnectionError, ssl.SSLError):
            errors += 1
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"sessions": done, "errors": errors, "seconds": elapsed,
                      "cpu": usage.ru_utime + usage.ru_stime}))


def tree_cpu(pid):
    """CPU seconds of a process and of its reaped descendants (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class TlsDaemon:
    """Ours in -D mode with implicit TLS on `tls_port`, started by `prefix` (setpriv, or
    nothing for root), after which every session is reaped before the next starts."""

    def __init__(self, ours, prefix, tls_port, cert, key, extra):
        self.port = tls_port
        self.proc = subprocess.Popen(
            prefix + [ours, "-D", "--foreground", "--listen", "127.0.0.1", "--port",
                      str(tls_port + 1), "--tls-port", str(tls_port), "--tls-cert", cert,
                      "--tls-key", key, "--max-sessions", "65535", "--max-per-source",
                      "65535"] + extra,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid   # setpriv execs the daemon
        if not wait_for_listen(tls_port):
            self.stop()
            raise RuntimeError("ours did not listen on port %d" % tls_port)

    def idle(self, timeout=10.0):
        """Waits until no session process is left (each one's CPU time is then counted)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if not any(tree_parent(p) == self.pid for p in os.listdir("/proc") if p.isdigit()):
                return
            time.sleep(0.01)

    def cpu(self):
        self.idle()
        return tree_cpu(self.pid)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def tree_parent(pid):
    try:
        with open("/proc/%s/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        return None


def wait_for_listen(port, timeout=10.0):
    """True once something listens on 127.0.0.1:port: a bind to it fails. Unlike
    wait_for_port it never connects (a TLS port sends no greeting before the handshake)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return True
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
        self.tls_rows = []
        self.tls_notes = []

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
        # Only a run that created the account owns the mailbox: one that stopped in setup()
        # because another run was going must not delete that run's mailbox.
        for path in (MAILBOX, MAILBOX + ".tmp") if self.user_created else ():
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

    def record(self, key, label, unit, better, target, ours, theirs, cpu=None):
        """A row of the table; `cpu`: {server name: [CPU ms]} of the same runs, for the CPU columns."""
        self.rows.append((key, label, unit, better, target, ours, theirs, cpu or {}))

    def record_variants(self, servers, key, label, unit, better, target, values, cpu=None):
        """The same row for each --variant build of ours, against the same popa3d runs."""
        for s in servers:
            if s.name.startswith("ours-"):
                self.record(key, "%s [%s]" % (label, s.name[5:]), unit, better, target, values.get(s.name),
                            values.get("theirs"), {"ours": (cpu or {}).get(s.name), "theirs": (cpu or {}).get("theirs")})

    def aligned_pread_floor(self, path):
        """ms for one pass of 256 KiB preads over `path` into a page-aligned buffer (an
        anonymous mapping), the page cache warm: the kernel's copy alone."""
        block = 256 << 10
        buf = mmap.mmap(-1, block)
        fd = os.open(path, os.O_RDONLY)
        try:
            t0 = time.perf_counter()
            offset = 0
            while True:
                n = os.preadv(fd, [buf], offset)
                if n <= 0:
                    break
                offset += n
            return (time.perf_counter() - t0) * 1000
        finally:
            os.close(fd)
            buf.close()

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
        floor = []
        if source:
            floor = [self.aligned_pread_floor(MAILBOX) for _ in range(self.args.repeat)]
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
        self.record(key, label, "ms", "lower", target, wall.get("ours"), wall.get("theirs"), cpu)
        self.record_variants(servers, key, label, "ms", "lower", target, wall, cpu)
        if floor:
            self.floors[key] += "; aligned pread pass %.0f ms (range %.0f-%.0f)" % (
                statistics.median(floor), min(floor), max(floor))
            # The target of issue 12: at most 1.5x the floor; as a row, "theirs" is the floor.
            for s in servers:
                if s.name.startswith("ours"):
                    self.record(key + "-floor", "    %s against the aligned-pread floor" % s.name, "ms", "floor", 1.5,
                                wall.get(s.name), floor)

    def maildir_login(self, servers, messages):
        ours = servers[0]
        maildir = os.path.join(self.work, "maildirs", USER)
        cur = os.path.join(maildir, "cur")
        if not os.path.isdir(cur):
            log("writing %d Maildir files -> %s" % (messages, maildir))
            for sub in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(maildir, sub))
            for k in range(messages):
                text = b"Message-ID: <%d@bench>\nSubject: maildir\n\n" % k + b"line of the body\n" * (4 + k % 8)
                name = "%d.M%dP4242.bench,S=%d,W=%d:2,S" % (1700000000 + k, k, len(text), len(text) + text.count(b"\n"))
                with open(os.path.join(cur, name), "wb") as f:
                    f.write(text)
            run(["chown", "-R", USER, os.path.dirname(maildir)])
            os.chmod(self.work, 0o755)  # the session, as the account, must reach the maildir
        cmd = ours.inetd_cmd + ["--mailbox", "maildir:%s/%%u" % os.path.dirname(maildir)]
        body = self.script(b"STAT\r\nLIST\r\nUIDL\r\nQUIT\r\n")
        wall = {"ours": [], "theirs": []}
        cpu = []
        for rep in range(self.args.repeat + 1):
            r = inetd_session(cmd, body)
            if r.status != 0 or not r.tail.endswith(b".\r\n+OK\r\n"):
                self.problems.append("(h): session failed (status %d)" % r.status)
            t0 = time.perf_counter()
            run(["find", cur, "-maxdepth", "1", "-type", "f", "-printf", "%s\n"], stdout=subprocess.DEVNULL)
            floor = time.perf_counter() - t0
            if rep:  # the first of each is the warm-up
                wall["ours"].append((r.t_last - r.t0) * 1000)
                cpu.append(r.cpu * 1000)
                wall["theirs"].append(floor * 1000)
        self.record("h", "(h) Maildir login+STAT+LIST+UIDL, %d files; other column: ls -f + stat" % messages, "ms",
                    "lower", 0.5, wall["ours"], wall["theirs"])
        self.record("h-cpu", "    CPU time (user+sys) of the same, ours", "ms", "lower", None, cpu, None)

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
        self.record_variants(servers, "g", label, "MiB", "lower", 1.5, values)

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
            return (r.total - 15) / (r.t_last - r.t_login) / 1e6, r.cpu * 1000

        values, warm = self.alternate(servers, self.args.repeat, one)
        self.check_same("(c) RETR", warm, "digest")
        label = "(c) RETR all, %d msgs %.0f MiB: stream phase" % (messages, size / 2**20)
        rate = {n: [v[0] for v in vals] for n, vals in values.items()}
        # The whole session's CPU, login included: the same bytes for both, so its ratio is
        # the ratio of CPU per byte.
        cpu = {n: [v[1] for v in vals] for n, vals in values.items()}
        self.record("c", label, "MB/s", "higher", 3.0, rate.get("ours"), rate.get("theirs"), cpu)
        self.record_variants(servers, "c", label, "MB/s", "higher", 3.0, rate, cpu)

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
            return ((r.t_last - r.t_second) * 1000 if ok else float("nan"), r.cpu * 1000)

        values, _ = self.alternate(servers, self.args.repeat, one)
        # The whole session's CPU, the login's scan included (the same work for both servers).
        cpu = {n: [v[1] for v in vals] for n, vals in values.items()}
        values = {n: [v[0] for v in vals] for n, vals in values.items()}
        self.check_same("(%s) mailbox after UPDATE" % key, results, "digest")
        what = "DELE all but last 10" if len(dele) > 1 else "DELE 1"
        label = "(%s) %s + QUIT, %d msgs %.0f MiB: QUIT phase" % (key, what, messages, size / 2**20)
        # With the UPDATE journal (issue 13): at most 1.2x popa3d's time for (d), 2.2x for (e),
        # where the journal holds nearly the whole file.
        target = 1 / 1.2 if len(dele) > 1 else 1 / 2.2
        self.record(key, label, "ms", "lower", target, values.get("ours"), values.get("theirs"), cpu)

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

    # (t): TLS, ours only (popa3d 1.0.3 has none), each against a baseline from the same run

    def tls_setup(self):
        """A self-signed ECDSA P-256 certificate for localhost; its key as root's (for
        privilege separation) and as the account's (for the daemon run as the account, with
        a users file, in one process)."""
        d = os.path.join(self.work, "tls")
        os.makedirs(d, exist_ok=True)
        os.chmod(self.work, 0o755)  # the daemon run as the account must reach its key and users file
        os.chmod(d, 0o755)
        f = Result()
        f.cert, f.root_key, f.user_key = (os.path.join(d, n) for n in ("cert.pem", "key-root.pem", "key-user.pem"))
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
             "-keyout", f.root_key, "-out", f.cert], stderr=subprocess.DEVNULL)
        os.chmod(f.root_key, 0o600)
        os.chmod(f.cert, 0o644)
        shutil.copy(f.root_key, f.user_key)
        shutil.chown(f.user_key, USER, "mail")
        f.users = os.path.join(d, "users")
        crypt = run(["openssl", "passwd", "-6", "-stdin"], input=self.password.encode(),
                    capture_output=True).stdout.decode().strip()
        mail_gid = grp.getgrnam("mail").gr_gid
        with open(f.users, "w") as out:
            out.write("%s:%s:%d:%d:\n" % (USER, crypt, pwd.getpwnam(USER).pw_uid, mail_gid))
        f.root_users = f.users + "-root"   # the same, for root (privilege separation)
        shutil.copy(f.users, f.root_users)
        os.chmod(f.root_users, 0o600)
        shutil.chown(f.users, USER, "mail")
        os.chmod(f.users, 0o600)
        # The account's group is mail (as for a dotlock in /var/mail), and nothing else.
        f.user_prefix = ["setpriv", "--reuid=" + USER, "--regid=mail", "--clear-groups", "--"]
        return f

    def tls_daemons(self, ours, files, only=None):
        """Ours with implicit TLS as root with the privilege-separated relay (port 1995), and
        run as the account in one process (port 2995)."""
        daemons = {}
        if only in (None, "relay"):
            daemons["relay"] = TlsDaemon(ours, [], 1995, files.cert, files.root_key, ["--chroot", CHROOT])
        if only in (None, "one process"):
            try:
                daemons["one process"] = TlsDaemon(ours, files.user_prefix, 2995, files.cert, files.user_key,
                                                   ["--users-file", files.users])
            except RuntimeError:
                for d in daemons.values():  # or the relay daemon would outlive this run
                    d.stop()
                raise
        return daemons

    def tls_floor(self, files, stream):
        """The floor's session: (the client's Result, the floor server's CPU seconds)."""
        server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--tls-floor-server",
                                   "--port", "3995", "--cert", files.cert, "--key", files.root_key,
                                   "--stream", stream], stdout=subprocess.PIPE)
        try:
            if server.stdout.readline() != b"ready\n":
                raise RuntimeError("the floor server did not start")
            r = tls_stream_session(3995, files.cert)
        finally:
            _, status, usage = os.wait4(server.pid, 0)
        if status != 0:
            self.problems.append("(t1): the floor server failed (status %d)" % status)
        return r, usage.ru_utime + usage.ru_stime

    def tls_retr(self, ours, files, source, messages, variants=()):
        """(t1) RETR of every message over implicit TLS with the privilege-separated relay,
        against the floor; (t2) the same daemon run as the account, TLS in one process;
        (t3) the record sizes the client received. `variants`: (name, path) of other builds,
        each run as a relay daemon in the same rounds (before/after a change)."""
        self.install(source)
        script = self.script(b"".join(b"RETR %d\r\n" % i for i in range(1, messages + 1)) + b"QUIT\r\n")
        size = os.path.getsize(source)
        stream = os.path.join(self.work, "tls-stream.bin")
        names = ("relay", "one process", "floor") + tuple("relay " + n for n, _ in variants)
        rate, cpu, records, digests = ({n: [] for n in names} for _ in range(4))
        daemons = self.tls_daemons(ours, files)
        try:
            for i, (name, path) in enumerate(variants):
                daemons["relay " + name] = TlsDaemon(path, [], 6995 + 10 * i, files.cert, files.root_key,
                                                     ["--chroot", CHROOT])
            for rep in range(self.args.repeat + 1):
                for name in names:
                    if name == "floor":
                        r, used = self.tls_floor(files, stream)
                    else:
                        self.age_mailbox()
                        d = daemons[name]
                        before = d.cpu()
                        r = tls_stream_session(d.port, files.cert, script, want_hash=rep == 0,
                                               keep=stream if rep == 0 and name == "relay" else None)
                        used = d.cpu() - before
                        if not r.tail.endswith(b".\r\n+OK\r\n") or not r.closed:
                            self.problems.append("(t1): %s: session failed or no close_notify (%r)" % (name, r.tail))
                    if rep == 0:
                        digests[name] = r.digest
                        if name == "relay":
                            log("(t1) %s, %s" % (r.version, r.cipher))
                        continue
                    rate[name].append((r.total - 15) / (r.t_last - r.t_login) / 1e6)
                    cpu[name].append(used * 1000)
                    records[name] = r.records
        finally:
            for d in daemons.values():
                d.stop()
        for name in names:
            if name != "floor" and digests[name] != digests["relay"]:
                self.problems.append("(t1): %s and the relay daemon sent different bytes" % name)
        what = "%d msgs %.0f MiB" % (messages, size / 2**20)
        self.tls_record("(t1) RETR all over implicit TLS, %s: -D relay vs floor" % what,
                        "MB/s", "higher", 0.75, rate["relay"], rate["floor"])
        self.tls_record("    server CPU time (user+sys) of the same", "ms", "lower", None, cpu["relay"], cpu["floor"])
        self.tls_record("(t2) the same: -D relay vs -D as the account (TLS in one process)",
                        "MB/s", "higher", 0.8, rate["relay"], rate["one process"])
        self.tls_record("    server CPU time (user+sys) of the same", "ms", "lower", None, cpu["relay"], cpu["one process"])
        for name, _ in variants:
            self.tls_record("(t1) -D relay vs the relay of --variant %s" % name, "MB/s", "higher", None,
                            rate["relay"], rate["relay " + name])
            self.tls_record("    server CPU time (user+sys) of the same", "ms", "lower", None, cpu["relay"],
                            cpu["relay " + name])
            self.tls_record("    --variant %s: its relay vs floor" % name, "MB/s", "higher", 0.75,
                            rate["relay " + name], rate["floor"])
        for name in names:
            sizes = records[name]
            full = sum(n for n in sizes if n > 16384)
            self.tls_notes.append("(t3) TLS records received from %s: %d application-data records, median %d bytes, "
                                  "%.2f%% of their bytes in full 16 KiB records (record length > 16384)"
                                  % (name, len(sizes), statistics.median(sizes) if sizes else 0,
                                     100.0 * full / max(1, sum(sizes))))

    def tls_sessions(self, ours, files):
        """(t4) TLS sessions per second (login, STAT, UIDL, QUIT; empty mailbox), -D with the
        relay, against the handshakes per second of openssl s_server on the same certificate,
        with the same client; and openssl s_time -new against both."""
        self.install("")
        relay = self.tls_daemons(ours, files, only="relay")["relay"]
        # The system accounts' login hashes once per crypt method in use on the system (so that
        # an unknown user costs what a known one does): with a yescrypt account around, that
        # dwarfs the handshake. The same daemon with a users file of one SHA-512 hash shows
        # the TLS session without it.
        one_hash = TlsDaemon(ours, [], 5995, files.cert, files.root_key,
                             ["--chroot", CHROOT, "--users-file", files.root_users])
        s_server = subprocess.Popen(["openssl", "s_server", "-accept", "127.0.0.1:3995", "-cert", files.cert,
                                     "-key", files.root_key, "-quiet"], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        keys = ("ours", "ours plain", "ours users file", "ours users file plain", "s_server", "ours s_time",
                "s_server s_time")
        rate, cpu = ({k: [] for k in keys} for _ in range(2))
        try:
            if not wait_for_listen(3995):
                raise RuntimeError("openssl s_server did not listen")
            for rep in range(self.args.repeat + 1):
                for key, port, flags, daemon in (("ours", 1995, [], relay),
                                                 ("ours plain", 1996, ["--plain"], relay),
                                                 ("ours users file", 5995, [], one_hash),
                                                 ("ours users file plain", 5996, ["--plain"], one_hash),
                                                 ("s_server", 3995, ["--handshake-only"], None)):
                    self.age_mailbox()
                    server_cpu = daemon.cpu if daemon else lambda: tree_cpu(s_server.pid)
                    before = server_cpu()
                    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--tls-sessions-client",
                                          "--port", str(port), "--ca", files.cert, "--user", USER,
                                          "--password", self.password, "--seconds", "3",
                                          "--sessions", str(self.args.tcp_sessions * 10)] + flags,
                                         capture_output=True, text=True, timeout=60).stdout
                    used = server_cpu() - before
                    res = json.loads(out)
                    if res["errors"]:
                        self.problems.append("(t4): %s: %d failed sessions" % (key, res["errors"]))
                    if rep and res["sessions"]:
                        rate[key].append(res["sessions"] / res["seconds"])
                        cpu[key].append(used * 1000 / res["sessions"])
                    if rep and key in ("ours", "s_server"):
                        t = subprocess.run(["openssl", "s_time", "-connect", "127.0.0.1:%d" % port, "-new",
                                            "-time", "3", "-CAfile", files.cert],
                                           capture_output=True, text=True, timeout=60).stdout
                        m = re.search(r"(\d+) connections in \S+ real seconds", t)
                        if m:
                            rate[key + " s_time"].append(int(m.group(1)) / 3.0)
        finally:
            relay.stop()
            one_hash.stop()
            s_server.kill()
            s_server.wait()
        self.tls_record("(t4) TLS sessions/s, login+STAT+UIDL+QUIT, ECDSA P-256: -D relay vs "
                        "s_server handshakes/s", "/s", "higher", 0.6, rate["ours"], rate["s_server"])
        self.tls_record("    server CPU time per session / per handshake", "ms", "lower", None,
                        cpu["ours"], cpu["s_server"])
        self.tls_record("    the same sessions/s: over TLS vs without (plain port, same daemon)", "/s",
                        "higher", None, rate["ours"], rate["ours plain"])
        self.tls_record("    server CPU time per session: over TLS vs without", "ms", "lower", None,
                        cpu["ours"], cpu["ours plain"])
        self.tls_record("(t4) with --users-file (one SHA-512 crypt per login): -D relay vs s_server "
                        "handshakes/s", "/s", "higher", 0.6, rate["ours users file"], rate["s_server"])
        self.tls_record("    server CPU time per session / per handshake", "ms", "lower", None,
                        cpu["ours users file"], cpu["s_server"])
        self.tls_record("    the same sessions/s: over TLS vs without", "/s", "higher", None,
                        rate["ours users file"], rate["ours users file plain"])
        self.tls_record("    server CPU time per session: over TLS vs without", "ms", "lower", None,
                        cpu["ours users file"], cpu["ours users file plain"])
        self.tls_record("    openssl s_time -new, handshakes/s: ours vs s_server", "/s", "higher", None,
                        rate["ours s_time"], rate["s_server s_time"])

    def tls_record(self, label, unit, better, target, ours, baseline):
        self.tls_rows.append((label, unit, better, target, ours, baseline))

    def print_tls_table(self):
        print()
        print("%-76s %11s %11s %8s  %s" % ("TLS workload (median of %d)" % self.args.repeat, "ours",
                                           "baseline", "ratio", "target"))
        print("-" * 125)
        for label, unit, better, target, ours, baseline in self.tls_rows:
            mo = statistics.median(ours) if ours else None
            mb = statistics.median(baseline) if baseline else None
            ratio = mo / mb if mo is not None and mb else None
            verdict = ""
            if ratio is not None and target is not None:
                gain = ratio if better == "higher" else 1 / ratio
                verdict = ">= %.2f: %s" % (target, "met" if gain >= target else "NOT MET")
            fmt = lambda v: "-" if v is None else ("%.1f %s" % (v, unit))
            print("%-76s %11s %11s %8s  %s" % (label, fmt(mo), fmt(mb), "-" if ratio is None else "%.3f" % ratio,
                                               verdict))
        for note in self.tls_notes:
            print(note)

    # the table

    def print_table(self, servers):
        names = {"ours": "ours", "theirs": "popa3d 1.0.3"}
        print()
        print("%-58s %12s %14s %12s  %-40s %s" % ("workload (median of %d)" % self.args.repeat, "ours",
                                               names["theirs"], "ours/theirs", "target",
                                               "server CPU ms: ours / theirs (theirs/ours)"))
        print("-" * 150)
        for key, label, unit, better, target, ours, theirs, cpu in self.rows:
            mo = statistics.median(ours) if ours else None
            mt = statistics.median(theirs) if theirs else None
            ratio = mo / mt if mo is not None and mt else None
            verdict = ""
            if ratio is not None:
                if better == "floor":
                    verdict = "%.2fx the floor; target <= %.1fx: %s" % (ratio, target, "met" if ratio <= target else "NOT MET")
                elif key == "g":
                    verdict = "%.2fx theirs" % ratio
                    if target is not None:
                        verdict += "; target <= %.1fx: %s" % (target, "met" if ratio <= target else "NOT MET")
                else:
                    gain = ratio if better == "higher" else 1 / ratio
                    verdict = "%.2fx %s" % (gain, "as fast" if gain >= 1 else "as fast (slower)")
                    if target is not None:
                        verdict += "; target >= %.1fx: %s" % (target, "met" if gain >= target else "NOT MET")
            fmt = lambda v: "-" if v is None else ("%.1f %s" % (v, unit))
            co = statistics.median(cpu["ours"]) if cpu.get("ours") else None
            ct = statistics.median(cpu["theirs"]) if cpu.get("theirs") else None
            cpu_text = ""
            if co is not None:
                cpu_text = "%.1f / %s" % (co, "-" if ct is None else "%.1f (%.2fx)" % (ct, ct / co if co else 0))
            print("%-58s %12s %14s %12s  %-40s %s" % (label, fmt(mo), fmt(mt),
                                                   "-" if ratio is None else "%.3f" % ratio, verdict, cpu_text))
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
    ap.add_argument("--ours-args", default="", help="more options for ours, e.g. '--durability process'")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="small mailboxes, 3 repetitions")
    ap.add_argument("--only", default="abcdefght", help="workloads to run, e.g. 'ab'")
    ap.add_argument("--workdir", help="where generated mailboxes go (default: a temporary directory)")
    ap.add_argument("--tcp-sessions", type=int, default=40)
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=PATH",
                    help="another build of ours for (a), (c), (g) and (t1), e.g. pread=build-pread/src/popa3d")
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
    ap.add_argument("--tls-floor-server", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tls-sessions-client", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--handshake-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--cert", help=argparse.SUPPRESS)
    ap.add_argument("--key", help=argparse.SUPPRESS)
    ap.add_argument("--ca", help=argparse.SUPPRESS)
    ap.add_argument("--stream", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.wait_port:
        sys.exit(0 if wait_for_port(args.wait_port) else 1)
    if args.tcp_client:
        tcp_client(args)
        return
    if args.tls_floor_server:
        tls_floor_server(args)
        return
    if args.tls_sessions_client:
        tls_sessions_client(args)
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
             "d": 2000 if args.quick else 20000, "f": 100 if args.quick else 1000,
             "h": 10000 if args.quick else 100000}

    extra = shlex.split(args.ours_args)
    servers = [Server("ours", [ours, "--chroot", CHROOT] + extra,
                      [ours, "-D", "--foreground", "--listen", "127.0.0.1", "--port", "1110", "--chroot", CHROOT,
                       "--max-sessions", "65535", "--max-per-source", "65535"] + extra, 1110, True)]
    variants = []
    for spec in args.variant:
        name, _, path = spec.partition("=")
        if not name or not os.access(path, os.X_OK):
            sys.exit("compare: --variant %s: want NAME=PATH of an executable" % spec)
        variants.append(Server("ours-" + name, [os.path.abspath(path), "--chroot", CHROOT], None, None, True))
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
            bench.login_uidl(servers + variants, src, "(a) login+STAT+UIDL+QUIT, %d msgs %.2f GB" % (sizes["a"], gib),
                             "a", 2.5)
        if "b" in args.only:
            log("(b) the same on an empty mailbox")
            bench.login_uidl(servers, "", "(b) the same, empty mailbox", "b", None)
        if "c" in args.only:
            log("(c) RETR of every message")
            bench.retr_all(servers + variants, bench.generate(sizes["c"]), sizes["c"])
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
            bench.peak_rss(servers + variants, bench.generate(sizes["a"]), "(g) peak RSS of (a), GNU time %M")
        if "t" in args.only:
            log("(t) TLS: RETR of every message, record sizes, sessions per second")
            files = bench.tls_setup()
            bench.tls_retr(ours, files, bench.generate(sizes["c"]), sizes["c"],
                           [(v.name[len("ours-"):], v.inetd_cmd[0]) for v in variants])
            bench.tls_sessions(ours, files)
        if "h" in args.only:
            log("(h) login on a Maildir of %d files, against ls -f + stat" % sizes["h"])
            bench.maildir_login(servers, sizes["h"])
    finally:
        bench.teardown()
        if own_workdir:
            shutil.rmtree(args.workdir, ignore_errors=True)
    bench.print_table(servers)
    if bench.tls_rows:
        bench.print_tls_table()
    print("(total %.0f s)" % (time.perf_counter() - started))
    sys.exit(1 if bench.problems else 0)


if __name__ == "__main__":
    main()
