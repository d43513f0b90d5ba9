#!/usr/bin/env python3
"""Scale-out behind a real HAProxy (mode tcp, send-proxy-v2) in front of two -D daemons that
share one spool, both started with --proxy-from 127.0.0.1/32, in both process models:

- HAProxy's health checks (a PROXY v2 LOCAL header, "+OK", QUIT, "+OK") keep both up;
- a client bound to 127.0.0.2 is logged as 127.0.0.2 by whichever backend serves it, over
  POP3 and over POP3S (implicit TLS terminated by the daemon, HAProxy passing TCP through);
- a PROXY header sent straight to a backend from 127.0.0.2 (not a listed proxy), or through
  HAProxy after its own, is bad input: "-ERR", and its address is never logged;
- once one backend is stopped HAProxy marks it down and new sessions go to the other;
- the per-source limit counts the real clients: 127.0.0.4 is refused at the limit while
  127.0.0.5, through the same HAProxy, is served.
The backends' and HAProxy's log lines are printed. Addresses: 127.0.0.0/8 only."""

import os
import shutil
import socket
import subprocess
import tempfile
import time

from e2e_common import PASSWORD, WAIT, Conn, binary_from_argv, check, fail, free_port, unavailable
from tls_common import TlsConn, listening, start_tls_daemon, tls_process_models

PER_SOURCE = 10   # --max-per-source of each backend
CHECK_INTERVAL = "2s"   # 5 checks per 10 s from HAProxy: under PER_SOURCE (they count as 127.0.0.1)

# The README's "More than one machine" configuration, with this test's ports.
HAPROXY_CONFIG = """\
global
    log stderr format raw daemon info
    stats socket {dir}/haproxy.sock mode 600 level admin

defaults
    mode tcp
    log global
    option tcplog
    timeout connect 5s
    timeout client 10m
    timeout server 10m
    timeout check 5s
    retries 2
    option redispatch 1

frontend pop3
    bind 127.0.0.1:{pop3}
    default_backend pop3

frontend pop3s
    bind 127.0.0.1:{pop3s}
    default_backend pop3s

backend pop3
    balance roundrobin
    option tcp-check
    tcp-check expect string +OK
    tcp-check send QUIT\\r\\n
    tcp-check expect string +OK
    default-server send-proxy-v2 check inter {inter} fall 1 rise 1
    server a 127.0.0.1:{a}
    server b 127.0.0.1:{b}

backend pop3s
    balance roundrobin
    default-server send-proxy-v2
    server a 127.0.0.1:{a_tls} track pop3/a
    server b 127.0.0.1:{b_tls} track pop3/b
"""


class HaProxy:
    def __init__(self, work, backends):
        if shutil.which("haproxy") is None:
            unavailable("haproxy is needed (apt-get install haproxy)")
        self.dir = work
        self.pop3, self.pop3s = free_port(), free_port()
        config = os.path.join(work, "haproxy.cfg")
        with open(config, "w") as f:
            f.write(HAPROXY_CONFIG.format(dir=work, pop3=self.pop3, pop3s=self.pop3s,
                                          inter=CHECK_INTERVAL, a=backends[0].port,
                                          b=backends[1].port, a_tls=backends[0].tls_port,
                                          b_tls=backends[1].tls_port))
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(["haproxy", "-db", "-f", config], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.monotonic() + WAIT
        while not (listening(self.pop3) and listening(self.pop3s)
                   and os.path.exists(os.path.join(work, "haproxy.sock"))):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                fail("haproxy did not start: %s" % self.log_text())
            time.sleep(0.05)

    def stats(self):
        """`show stat` as {(proxy, server): {field: value}}."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(WAIT)
            s.connect(os.path.join(self.dir, "haproxy.sock"))
            s.sendall(b"show stat\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        lines = data.decode().splitlines()
        fields = lines[0].lstrip("# ").split(",")
        table = {}
        for line in lines[1:]:
            if line:
                row = dict(zip(fields, line.split(",")))
                table[(row["pxname"], row["svname"])] = row
        return table

    def wait_for(self, what, condition):
        """Polls `show stat` until condition(stats) holds; bounded."""
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            stats = self.stats()
            if condition(stats):
                return stats
            time.sleep(0.1)
        fail("HAProxy: timed out waiting for %s: %s" % (what, self.stats()))

    def log_text(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=WAIT)


def start_backend(argv, certs):
    daemon, ports = start_tls_daemon(argv, certs, ["--proxy-from", "127.0.0.1/32", "--max-per-source",
                                                   str(PER_SOURCE), "--failure-delay", "0"])
    daemon.tls_port = ports.tls
    return daemon


def connect_from(source, port):
    """A TCP connection from `source` (a loopback address) to 127.0.0.1:port."""
    s = socket.socket()
    s.settimeout(WAIT)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def plain_conn(source, port):
    s = connect_from(source, port)
    return Conn(s.fileno(), s.fileno(), s)


def fetch(conn, what):
    """Login as alice, STAT, QUIT on `conn` (the greeting not yet read)."""
    check(conn.line() == b"+OK\r\n", "%s: greeting" % what)
    check(conn.cmd("USER alice") == b"+OK\r\n" and conn.cmd("PASS " + PASSWORD) == b"+OK\r\n",
          "%s: logged in" % what)
    check(conn.cmd("STAT").startswith(b"+OK "), "%s: STAT" % what)
    check(conn.cmd("QUIT") == b"+OK\r\n", "%s: QUIT" % what)
    conn.rest()
    conn.close()


def logins(daemon):
    return [l for l in daemon.log_text().splitlines() if "Authentication " in l]


def wait_logins(daemons, count):
    """Each session logs its login line before it exits: wait (bounded) for `count` in all."""
    deadline = time.monotonic() + WAIT
    while sum(len(logins(d)) for d in daemons) < count:
        if time.monotonic() > deadline:
            fail("expected %d login lines: %s" % (count, [d.log_text() for d in daemons]))
        time.sleep(0.02)


def up(stats, server):
    row = stats[("pop3", server)]
    return row["status"] == "UP" and row["check_status"] == "L7OK"


def print_log(name, text, keep=lambda line: True):
    print("%s log:" % name)
    for line in text.splitlines():
        if keep(line):
            print("  " + line)


def run(label, argv, certs):
    work = tempfile.mkdtemp(prefix="popa3d-haproxy-")
    os.chmod(work, 0o700)
    a = start_backend(argv, certs)
    b = start_backend(argv, certs)
    haproxy = None
    try:
        haproxy = HaProxy(work, (a, b))
        stats = haproxy.wait_for("both backends checked UP", lambda s: up(s, "a") and up(s, "b"))
        check(up(stats, "a") and up(stats, "b"), "%s: HAProxy's checks find both backends UP (%s, %s)"
              % (label, stats[("pop3", "a")]["check_status"], stats[("pop3", "b")]["check_status"]))

        # 127.0.0.2 through HAProxy, round robin: both backends serve it and log it as itself.
        for i in range(4):
            fetch(plain_conn("127.0.0.2", haproxy.pop3), "POP3 via HAProxy #%d" % (i + 1))
        for i in range(2):
            tls = TlsConn.wrap(connect_from("127.0.0.2", haproxy.pop3s), certs)
            fetch(tls, "POP3S via HAProxy #%d" % (i + 1))
        wait_logins((a, b), 6)
        for name, d in (("a", a), ("b", b)):
            lines = logins(d)
            check(len(lines) == 3 and all(l.endswith("Authentication passed for alice from 127.0.0.2")
                                          for l in lines),
                  "%s: backend %s logged its three logins as from 127.0.0.2: %s" % (label, name, lines))
            check("Session from 127.0.0.2" in d.log_text(), "%s: backend %s: Session from 127.0.0.2"
                  % (label, name))

        # A PROXY header from 127.0.0.2, straight to a backend, and through HAProxy.
        forged_v1 = b"PROXY TCP4 10.1.2.3 127.0.0.1 5555 110\r\n"
        conn = plain_conn("127.0.0.2", a.port)
        check(conn.line() == b"+OK\r\n", "%s: direct from 127.0.0.2: greeting, no header wanted"
              % label)
        conn.send(forged_v1)
        check(conn.line().startswith(b"-ERR"), "%s: a v1 header from 127.0.0.2 is a bad command"
              % label)
        fetch_after_greeting(conn, "direct from 127.0.0.2")
        # The v2 signature reads as two empty lines, a NUL line and QUIT: the session ends.
        forged_v2 = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes([10, 9, 8, 7, 127, 0, 0, 1])
                     + (4444).to_bytes(2, "big") + (110).to_bytes(2, "big"))
        conn = plain_conn("127.0.0.2", b.port)
        conn.send(forged_v2)
        rest, eof = conn.rest()
        check(rest.startswith(b"+OK\r\n-ERR") and rest.endswith(b"+OK\r\n") and eof,
              "%s: a v2 header from 127.0.0.2 is bad input, its QUIT ends the session: %r"
              % (label, rest))
        conn.close()
        conn = plain_conn("127.0.0.2", haproxy.pop3)
        check(conn.line() == b"+OK\r\n", "%s: via HAProxy, then a header of the client's own" % label)
        conn.send(forged_v1)
        check(conn.line().startswith(b"-ERR"), "%s: a header after HAProxy's is a bad command"
              % label)
        fetch_after_greeting(conn, "via HAProxy after a forged header")
        wait_logins((a, b), 8)
        for name, d in (("a", a), ("b", b)):
            text = d.log_text()
            check("10.1.2.3" not in text and "10.9.8.7" not in text,
                  "%s: backend %s never logs a forged address" % (label, name))
            check(all(l.endswith(" from 127.0.0.2") for l in logins(d)),
                  "%s: backend %s logs every login as from 127.0.0.2" % (label, name))

        stats = haproxy.stats()
        check(all(stats[("pop3", s)]["status"] == "UP" and stats[("pop3", s)]["chkfail"] == "0"
                  for s in ("a", "b")),
              "%s: after the sessions both backends are still UP, no failed check" % label)

        # Backend b stops: HAProxy marks it DOWN, new sessions go to a.
        b.stop()
        down = lambda s: s[("pop3", "b")]["status"] == "DOWN" and s[("pop3s", "b")]["status"] == "DOWN"
        check(down(haproxy.wait_for("backend b DOWN", down)),
              "%s: HAProxy marks the stopped backend b DOWN (pop3 and pop3s)" % label)
        before = len(logins(a))
        for i in range(3):
            fetch(plain_conn("127.0.0.3", haproxy.pop3), "POP3 via HAProxy, b stopped, #%d" % (i + 1))
        fetch(TlsConn.wrap(connect_from("127.0.0.3", haproxy.pop3s), certs),
              "POP3S via HAProxy, b stopped")
        wait_logins((a,), before + 4)
        check(len(logins(a)) == before + 4
              and all(l.endswith("Authentication passed for alice from 127.0.0.3")
                      for l in logins(a)[before:]),
              "%s: backend a served all four new sessions, logged as from 127.0.0.3" % label)

        # The per-source limit counts real clients: PER_SOURCE sessions from 127.0.0.4 held
        # open through HAProxy, the next one from 127.0.0.4 refused, 127.0.0.5 served.
        held = []
        for i in range(PER_SOURCE):
            conn = plain_conn("127.0.0.4", haproxy.pop3)
            if conn.line() != b"+OK\r\n":
                fail("%s: session %d from 127.0.0.4 not served: %s" % (label, i + 1, a.log_text()))
            held.append(conn)
        check(len(held) == PER_SOURCE, "%s: %d sessions from 127.0.0.4 through HAProxy"
              % (label, PER_SOURCE))
        over = plain_conn("127.0.0.4", haproxy.pop3)
        rest, eof = over.rest()
        check(rest == b"" and eof, "%s: the next from 127.0.0.4 gets no bytes (%r)" % (label, rest))
        over.close()
        fetch(plain_conn("127.0.0.5", haproxy.pop3), "127.0.0.5 through the same HAProxy")
        for conn in held:
            conn.close()
        check("127.0.0.4: per source limit reached" in a.log_text(),
              "%s: backend a logs 127.0.0.4: per source limit reached" % label)

        print_log("%s: backend a" % label, a.log_text(),
                  lambda l: "127.0.0.1" not in l and "Didn't attempt" not in l)
        print_log("%s: backend b" % label, b.log_text(),
                  lambda l: "127.0.0.1" not in l and "Didn't attempt" not in l)
        checks = [l for l in a.log_text().splitlines() if "Session from 127.0.0.1" in l]
        print("%s: backend a also logged %d health checks (PROXY v2 LOCAL: the proxy's address),"
              " the first: %s" % (label, len(checks), checks[:1]))
        print_log("%s: HAProxy" % label, haproxy.log_text())
    finally:
        if haproxy is not None:
            haproxy.stop()
        a.stop()
        b.stop()
        shutil.rmtree(work, ignore_errors=True)


def fetch_after_greeting(conn, what):
    check(conn.cmd("USER alice") == b"+OK\r\n" and conn.cmd("PASS " + PASSWORD) == b"+OK\r\n",
          "%s: then logged in" % what)
    check(conn.cmd("QUIT") == b"+OK\r\n", "%s: QUIT" % what)
    conn.rest()
    conn.close()


def main():
    binary = binary_from_argv()
    if shutil.which("haproxy") is None:
        unavailable("haproxy is needed (apt-get install haproxy)")
    for label, sandbox, argv, certs in tls_process_models(binary):
        run(label, argv, certs)
    print("PASS")


if __name__ == "__main__":
    main()
