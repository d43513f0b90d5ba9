#!/usr/bin/env python3
"""--proxy-from: the PROXY protocol (HAProxy's doc/proxy-protocol.txt) from a listed
source, with headers built here by hand, in each process model (one process; as root,
privilege separation), in both modes:
- -D with --proxy-from 127.0.0.1/32: a v1 line, a v2 TCP4 and a v2 TCP6 header, each
  in ONE send with the client's first command after it (read-ahead): the session is
  served and "Session from" (and an authentication line that names an address) names
  the header's client, not 127.0.0.1; implicit TLS after a v2 header with the
  ClientHello in the same send; v2 LOCAL (a health check) is served as the proxy
  itself, LOCAL followed by a reset (HAProxy's check) logs no failure, and a bare TCP connect-and-close is not logged; the per-source limit
  counts the header's client (a second session of one client is refused, another
  client through the same proxy is served); a listed source that sends no header is
  closed after 5 seconds with no reply bytes and one log line, while other connections
  are served meanwhile (the accept loop does not wait on it); an invalid header gets no
  reply bytes and one log line;
- -D with --proxy-from 10.0.0.0/8: 127.0.0.1 is not listed, so a header from it is just
  a bad command (popa3d's -ERR) and the session goes on as ever;
- inetd mode on an accepted TCP socket: a v2 header with USER in one send, a v1 header
  with the ClientHello of --tls-implicit in one send (the TLS line names the client), v1
  UNKNOWN, no header within 5 seconds, an invalid header."""

import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

from e2e_common import (PASSWORD, WAIT, Conn, Daemon, binary_from_argv, check, fail)
from tls_common import HOST, start_tls_daemon, tls_process_models

PROXIED = ["--proxy-from", "127.0.0.1/32", "--max-per-source", "1", "--failure-delay", "0"]
SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(source, dport=110, sport=40000, family="TCP4", dest="127.0.0.1"):
    return ("PROXY %s %s %s %d %d\r\n" % (family, source, dest, sport, dport)).encode()


def v2(command=0x21, family=0x11, block=b""):
    return SIGNATURE + bytes([command, family]) + struct.pack("!H", len(block)) + block


def v2_tcp4(source, sport=40000, dport=110):
    return v2(0x21, 0x11, socket.inet_pton(socket.AF_INET, source) +
              socket.inet_pton(socket.AF_INET, "127.0.0.1") + struct.pack("!HH", sport, dport))


def v2_tcp6(source, sport=40000, dport=110):
    return v2(0x21, 0x21, socket.inet_pton(socket.AF_INET6, source) +
              socket.inet_pton(socket.AF_INET6, "::1") + struct.pack("!HH", sport, dport))


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    return s, Conn(s.fileno(), s.fileno(), s)


def session_after(conn, what, wrong_password=False):
    """The rest of a session whose header and "USER alice" went in one send."""
    check(conn.line() == b"+OK\r\n", what + ": greeting")
    check(conn.line() == b"+OK\r\n", what + ": the USER sent with the header is answered")
    if wrong_password:
        check(conn.cmd("PASS wrong").startswith(b"-ERR"), what + ": a wrong password is refused")
        conn.close()
        return
    check(conn.cmd("PASS " + PASSWORD) == b"+OK\r\n", what + ": PASS")
    check(conn.cmd("STAT").startswith(b"+OK 4 "), what + ": STAT")
    check(conn.cmd("QUIT") == b"+OK\r\n", what + ": QUIT")
    conn.close()


def wait_log(daemon, text):
    deadline = time.monotonic() + WAIT
    while text not in daemon.log_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def auth_lines_name(log, client):
    """Every authentication line that names an address names `client` (the lines gain
    " from ADDR" for fail2ban; before that there is nothing to check but the others)."""
    lines = [l for l in log.splitlines() if "Authentication failed" in l and " from " in l]
    return all(l.endswith(" from " + client) for l in lines), len(lines)


class BioTls(Conn):
    """A TLS client over memory BIOs, so that the PROXY header and the ClientHello go out
    in one send; bounded reads as Conn's."""

    def __init__(self, sock, certs, header):
        super().__init__(None, None, sock)
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = certs.client_context().wrap_bio(self.inc, self.out, server_hostname=HOST)
        try:
            self.obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        sock.sendall(header + self.out.read())
        deadline = time.monotonic() + WAIT
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                if self.out.pending:
                    sock.sendall(self.out.read())
                if time.monotonic() > deadline:
                    fail("TLS handshake after the PROXY header: timed out")
                sock.settimeout(WAIT)
                chunk = sock.recv(65536)
                if not chunk:
                    fail("TLS handshake after the PROXY header: the server closed")
                self.inc.write(chunk)
        if self.out.pending:
            sock.sendall(self.out.read())

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.obj.read(65536)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLError:
                return b""
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except OSError:
                return b""
            if not chunk:
                return b""
            self.inc.write(chunk)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.obj.write(data)
        self.sock.sendall(self.out.read())


def proxied_daemon(label, sandbox, argv, certs):
    daemon, ports = start_tls_daemon(argv, certs, PROXIED)
    try:
        # Opened first and left silent: the header's deadline runs while the rest is served.
        silent, silent_conn = connect(ports.plain)
        started = time.monotonic()

        s, conn = connect(ports.plain)
        s.sendall(v1("192.0.2.1") + b"USER alice\r\n")
        session_after(conn, label + ": v1 TCP4")
        check(wait_log(daemon, "Session from 192.0.2.1"), label + ": v1: \"Session from 192.0.2.1\"")

        s, conn = connect(ports.plain)
        s.sendall(v2_tcp4("192.0.2.2") + b"USER alice\r\n")
        session_after(conn, label + ": v2 TCP4", wrong_password=True)
        check(wait_log(daemon, "Session from 192.0.2.2"), label + ": v2: \"Session from 192.0.2.2\"")

        s, conn = connect(ports.plain)
        s.sendall(v2_tcp6("2001:db8::5") + b"USER alice\r\n")
        session_after(conn, label + ": v2 TCP6")
        check(wait_log(daemon, "Session from 2001:db8::5"), label + ": v2 TCP6: \"Session from 2001:db8::5\"")

        s = socket.create_connection(("127.0.0.1", ports.tls), timeout=WAIT)
        conn = BioTls(s, certs, v2_tcp4("192.0.2.3", dport=995))
        check(conn.line() == b"+OK\r\n", label + ": implicit TLS after a v2 header in one send: greeting (%s)"
              % conn.obj.version())
        check(conn.cmd("USER alice") == b"+OK\r\n" and conn.cmd("PASS " + PASSWORD) == b"+OK\r\n",
              label + ": implicit TLS: login")
        check(conn.cmd("QUIT") == b"+OK\r\n", label + ": implicit TLS: QUIT")
        conn.close()
        check(wait_log(daemon, "Session from 192.0.2.3") and wait_log(daemon, "from 192.0.2.3"),
              label + ": implicit TLS: \"Session from\" and the TLS line name 192.0.2.3")

        # A health check: LOCAL is the proxy's own connection (and takes the proxy's one
        # slot for 10 s: UNKNOWN is tried in inetd mode); a bare connect is no news.
        s, conn = connect(ports.plain)
        s.sendall(v2(0x20, 0x00))
        check(conn.line() == b"+OK\r\n", label + ": v2 LOCAL: greeting")
        check(conn.cmd("QUIT") == b"+OK\r\n", label + ": v2 LOCAL: QUIT")
        conn.close()
        check(wait_log(daemon, "Session from 127.0.0.1"), label + ": LOCAL: \"Session from 127.0.0.1\"")
        # HAProxy's check with send-proxy-v2: LOCAL, then a reset at once. No line says it
        # failed (checked at the end); most often no session is started for it at all.
        s = socket.create_connection(("127.0.0.1", ports.plain), timeout=WAIT)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(v2(0x20, 0x00))
        s.close()
        before = daemon.log_text()
        s = socket.create_connection(("127.0.0.1", ports.plain), timeout=WAIT)
        s.close()

        # The per-source limit (1) counts the client in the header.
        first, first_conn = connect(ports.plain)
        first.sendall(v1("192.0.2.9"))
        check(first_conn.line() == b"+OK\r\n", label + ": limit: the first session of 192.0.2.9")
        s, conn = connect(ports.plain)
        s.sendall(v1("192.0.2.9"))
        out, eof = conn.rest()
        check(out == b"" and eof, label + ": limit: a second session of 192.0.2.9 through the proxy is refused")
        check(wait_log(daemon, "192.0.2.9: per source limit reached"),
              label + ": limit: \"192.0.2.9: per source limit reached\"")
        s, conn = connect(ports.plain)
        s.sendall(v1("192.0.2.10"))
        check(conn.line() == b"+OK\r\n", label + ": limit: another client through the same proxy is served")
        conn.close()
        first_conn.close()

        s, conn = connect(ports.plain)
        s.sendall(b"USER alice\r\n")
        out, eof = conn.rest()
        check(out == b"" and eof, label + ": no header from a listed source: closed, no reply bytes")
        check(wait_log(daemon, "127.0.0.1: invalid PROXY header"), label + ": \"127.0.0.1: invalid PROXY header\"")

        out, eof = silent_conn.rest(timeout=WAIT)
        waited = time.monotonic() - started
        check(out == b"" and eof and waited >= 4.5,
              label + ": silence from a listed source: closed after %.1f s, no reply bytes" % waited)
        check(wait_log(daemon, "127.0.0.1: no PROXY header within 5 seconds"),
              label + ": \"127.0.0.1: no PROXY header within 5 seconds\"")
        log = daemon.log_text()
        # Lines about 127.0.0.1 since the bare connect. The LOCAL-then-reset check just before
        # it may still end in a session served as the proxy itself, or, while the health
        # check's session still runs, in the per-source limit (both seen under load, ASan):
        # those are about LOCAL connections. A connection without a header never becomes a
        # session or takes a slot, so every other line must be one of the two bad ones'.
        local = ("Session from 127.0.0.1", "127.0.0.1: per source limit reached")
        after = [l for l in log[len(before):].splitlines() if "127.0.0.1" in l and not any(t in l for t in local)]
        check(log.count("PROXY header") == 2 and len(after) == 2,
              label + ": the bare TCP connect was not logged; one line per bad connection (%r)" % after)
        ok, n = auth_lines_name(log, "192.0.2.2")
        check(ok, label + ": the %d authentication line(s) with an address name 192.0.2.2" % n)
        check(" 127.0.0.1" not in "".join(l for l in log.splitlines() if "Authentication" in l),
              label + ": no authentication line names the proxy")
        print("   log:\n     " + "\n     ".join(log.strip().splitlines()))
    finally:
        daemon.stop()


def unlisted_daemon(label, argv):
    daemon = Daemon(argv + ["--proxy-from", "10.0.0.0/8", "--failure-delay", "0"])
    try:
        s, conn = connect(daemon.port)
        s.sendall(v1("192.0.2.1") + b"USER alice\r\n")
        check(conn.line() == b"+OK\r\n", label + ": unlisted source: greeting")
        check(conn.line() == b"-ERR\r\n", label + ": unlisted source: the header is a bad command (-ERR)")
        check(conn.line() == b"+OK\r\n", label + ": unlisted source: USER after it as ever")
        check(conn.cmd("PASS " + PASSWORD) == b"+OK\r\n" and conn.cmd("QUIT") == b"+OK\r\n",
              label + ": unlisted source: login and QUIT")
        conn.close()
        check(wait_log(daemon, "Session from 127.0.0.1") and "192.0.2.1" not in daemon.log_text(),
              label + ": unlisted source: \"Session from 127.0.0.1\", the header's address nowhere")
    finally:
        daemon.stop()


class TcpInetd:
    """The binary in inetd mode on an accepted TCP socket of 127.0.0.1 (so that getpeername
    names the proxy); the test holds the client's end."""

    def __init__(self, argv):
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            self.sock = socket.create_connection(listener.getsockname(), timeout=WAIT)
            server, _ = listener.accept()
        # The exit status is checked: in a sanitizer build, LeakSanitizer cannot read /proc
        # from the chroot a refused login ends in, and would make it 1.
        env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
        self.proc = subprocess.Popen(argv, stdin=server, stdout=server, stderr=subprocess.PIPE,
                                     start_new_session=True, env=env)
        server.close()
        self.conn = Conn(self.sock.fileno(), self.sock.fileno(), self.sock)
        self.started = time.monotonic()

    def finish(self):
        self.conn.close()
        try:
            _, err = self.proc.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate(timeout=WAIT)
            fail("server did not exit")
        return self.proc.returncode, err.decode(errors="replace")


def inetd(label, argv, certs):
    argv = argv + PROXIED[:2] + ["--failure-delay", "0"]
    # The silent one first, in a thread of its own: its 5 seconds pass while the rest runs.
    silent = TcpInetd(argv)
    result = {}
    waiter = threading.Thread(target=lambda: result.update(rest=silent.conn.rest(timeout=WAIT),
                                                           waited=time.monotonic() - silent.started))
    waiter.start()

    server = TcpInetd(argv)
    server.sock.sendall(v2_tcp4("198.51.100.7") + b"USER alice\r\n")
    session_after(server.conn, label + ": inetd, v2", wrong_password=True)
    status, err = server.finish()
    ok, n = auth_lines_name(err, "198.51.100.7")
    check(status == 0 and ok, label + ": inetd, v2: exit 0; the %d authentication line(s) with an address"
          " name 198.51.100.7" % n)

    server = TcpInetd(argv + ["--tls-cert", certs.cert, "--tls-key", certs.key, "--tls-implicit"])
    conn = BioTls(server.sock, certs, v1("198.51.100.8", dport=995))
    check(conn.line() == b"+OK\r\n", label + ": inetd --tls-implicit after a v1 header in one send: greeting")
    check(conn.cmd("QUIT") == b"+OK\r\n", label + ": inetd --tls-implicit: QUIT")
    server.conn = conn
    status, err = server.finish()
    check(status == 0 and "from 198.51.100.8" in err and "127.0.0.1" not in err,
          label + ": inetd --tls-implicit: the TLS line names 198.51.100.8, nothing names the proxy")

    server = TcpInetd(argv)
    server.sock.sendall(b"PROXY UNKNOWN\r\nUSER alice\r\n")
    session_after(server.conn, label + ": inetd, v1 UNKNOWN")
    status, err = server.finish()
    check(status == 0, label + ": inetd, v1 UNKNOWN: served as the proxy's own connection")

    server = TcpInetd(argv)
    server.sock.sendall(b"PROXY TCP4 198.51.100.9 127.0.0.1 040000 110\r\nUSER alice\r\n")
    out, eof = server.conn.rest()
    status, err = server.finish()
    check(out == b"" and eof and status == 0 and "127.0.0.1: invalid PROXY header" in err,
          label + ": inetd, an invalid header: no reply bytes, exit 0, \"127.0.0.1: invalid PROXY header\"")

    waiter.join(WAIT)
    out, eof = result["rest"]
    status, err = silent.finish()
    check(out == b"" and eof and result["waited"] >= 4.5 and status == 0 and
          "127.0.0.1: no PROXY header within 5 seconds" in err,
          label + ": inetd, no header: closed after %.1f s with no reply bytes, one log line" % result["waited"])


def main():
    binary = binary_from_argv()
    for label, sandbox, argv, certs in tls_process_models(binary):
        proxied_daemon(label, sandbox, argv, certs)
        unlisted_daemon(label, argv)
        inetd(label, argv, certs)


if __name__ == "__main__":
    main()
