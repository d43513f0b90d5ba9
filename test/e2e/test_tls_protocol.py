#!/usr/bin/env python3
"""STLS, implicit TLS and --require-tls on the wire, in each process model (one
process; as root, privilege separation with the TLS relay), with a test CA
made at test time:
- with no TLS option, CAPA, STLS and AUTH still answer popa3d's "-ERR";
- inetd mode over a socketpair: STLS when --tls-cert/--tls-key are given, the
  handshake first with --tls-implicit; CAPA says STLS only before TLS; a
  session with AUTH PLAIN and every message byte for byte; close_notify
  after QUIT;
- --require-tls: USER, PASS and AUTH refused with "-ERR [AUTH]" before TLS,
  and CAPA before TLS lists neither USER nor SASL; after STLS, login works;
- -D over TCP: "STLS\\r\\nCAPA\\r\\n" in one write (the STARTTLS command
  injection, CVE-2011-0411) gets no answer to the CAPA, neither before the
  handshake nor after it; garbage instead of a ClientHello (on the TLS port,
  and after STLS) gets no plaintext reply and is logged with the peer
  address; --timeout applies while the server waits for the ClientHello
  (inetd mode, and -D: nothing on the TLS port, half a ClientHello, nothing
  after STLS)."""

import base64
import os
import signal
import socket
import subprocess
import sys
import time

from e2e_common import (MESSAGES, PASSWORD, WAIT, Conn, Inetd, binary_from_argv, check,
                        crlf_size, decode_retr, fail, make_mbox)
from tls_common import TlsConn, read_line_exactly, start_tls_daemon, tls_process_models

PLAIN_TOKEN = base64.b64encode(b"\0alice\0" + PASSWORD.encode()).decode()


class SocketpairSession:
    """The binary in inetd mode on one end of a socketpair; the test holds the other."""

    def __init__(self, argv):
        self.sock, theirs = socket.socketpair()
        self.proc = subprocess.Popen(argv, stdin=theirs, stdout=theirs, stderr=subprocess.PIPE,
                                     start_new_session=True)
        theirs.close()
        self.plain = Conn(self.sock.fileno(), self.sock.fileno())

    def finish(self):
        """Closes the test's end; waits (bounded) for exit: (exit status, stderr text)."""
        self.sock.close()
        try:
            _, err = self.proc.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate(timeout=WAIT)
            fail("server did not exit")
        return self.proc.returncode, err.decode(errors="replace")


def capabilities(conn):
    """CAPA's capability names (the first word of each line), or None after -ERR."""
    first = conn.cmd("CAPA")
    if not first.startswith(b"+OK"):
        return None
    return [l.split(b" ")[0].decode() for l in conn.multiline().split(b"\r\n")[:-2]]


def capa_lines(conn):
    check(conn.cmd("CAPA").startswith(b"+OK"), "CAPA +OK")
    return conn.multiline().split(b"\r\n")[:-2]


def transaction(conn, what):
    sizes = [crlf_size(m) for m in MESSAGES]
    check(conn.cmd("STAT") == b"+OK %d %d\r\n" % (len(MESSAGES), sum(sizes)), what + ": STAT")
    for i, data in enumerate(MESSAGES, 1):
        check(conn.cmd("RETR %d" % i) == b"+OK\r\n"
              and decode_retr(conn.multiline()) == data, "%s: RETR %d bytes intact" % (what, i))
    check(conn.cmd("QUIT").startswith(b"+OK"), what + ": QUIT")
    out, eof = conn.rest()
    check(out == b"" and eof and conn.clean_close,
          what + ": after QUIT, close_notify and the end of the connection")


def default_mode(argv):
    server = Inetd(argv)
    conn = server.conn
    check(conn.line() == b"+OK\r\n", "no TLS option: greeting")
    replies = [conn.cmd(c) for c in ("CAPA", "STLS", "AUTH", "AUTH PLAIN " + PLAIN_TOKEN)]
    check(replies == [b"-ERR\r\n"] * 4,
          "no TLS option: CAPA, STLS, AUTH, AUTH PLAIN answer popa3d's -ERR (%r)" % replies)
    check(conn.cmd("QUIT") == b"+OK\r\n", "no TLS option: QUIT")
    server.finish()


def inetd_stls(argv, certs):
    session = SocketpairSession(argv)
    conn = session.plain
    check(conn.line().startswith(b"+OK"), "inetd STLS: plaintext greeting")
    caps = capabilities(conn)
    check(caps is not None and {"STLS", "USER", "SASL", "UIDL", "TOP", "RESP-CODES",
                                "PIPELINING"} <= set(caps),
          "inetd STLS: CAPA before TLS lists STLS, USER, SASL, ... (%s)" % caps)
    check(conn.cmd("STLS").startswith(b"+OK"), "inetd STLS: STLS +OK")
    conn = TlsConn.wrap(session.sock, certs)
    check(True, "inetd STLS: handshake, certificate verified (%s, %s)"
          % (conn.sock.version(), conn.sock.cipher()[0]))
    lines = capa_lines(conn)
    check(b"STLS" not in lines and b"SASL PLAIN" in lines and b"USER" in lines,
          "inetd STLS: CAPA under TLS: no STLS, SASL PLAIN and USER (%s)" % lines)
    check(conn.cmd("STLS").startswith(b"-ERR"), "inetd STLS: a second STLS is refused")
    check(conn.cmd("AUTH PLAIN " + PLAIN_TOKEN).startswith(b"+OK"),
          "inetd STLS: AUTH PLAIN with an initial response")
    transaction(conn, "inetd STLS")
    status, err = session.finish()
    check(status == 0, "inetd STLS: exit status 0 (%s)" % err.strip().replace("\n", " | "))


def inetd_implicit(argv, certs):
    session = SocketpairSession(argv + ["--tls-implicit"])
    conn = TlsConn.wrap(session.sock, certs)
    check(conn.line().startswith(b"+OK"), "--tls-implicit: greeting after the handshake (%s)"
          % conn.sock.version())
    caps = capabilities(conn)
    check(caps is not None and "STLS" not in caps and "USER" in caps,
          "--tls-implicit: CAPA lists USER and no STLS (%s)" % caps)
    check(conn.cmd("AUTH PLAIN").startswith(b"+ ") and conn.cmd(PLAIN_TOKEN).startswith(b"+OK"),
          "--tls-implicit: AUTH PLAIN, the response after '+ '")
    transaction(conn, "--tls-implicit")
    status, err = session.finish()
    check(status == 0, "--tls-implicit: exit status 0")
    print("   stderr: " + " | ".join(err.strip().splitlines()))
    check(any(v in err for v in ("TLSv1.3", "TLSv1.2")),
          "--tls-implicit: the session log names the TLS version")

    session = SocketpairSession(argv + ["--tls-implicit", "--timeout", "1"])
    out, eof = session.plain.rest()
    check(out == b"" and eof, "--tls-implicit --timeout 1: no ClientHello, closed with no bytes")
    session.finish()


def require_tls(argv, certs):
    session = SocketpairSession(argv + ["--require-tls"])
    conn = session.plain
    check(conn.line().startswith(b"+OK"), "--require-tls: greeting")
    caps = capabilities(conn)
    check(caps is not None and "STLS" in caps and "USER" not in caps and "SASL" not in caps,
          "--require-tls: CAPA before TLS lists STLS, neither USER nor SASL (%s)" % caps)
    for command in ("USER alice", "PASS " + PASSWORD, "AUTH PLAIN " + PLAIN_TOKEN):
        reply = conn.cmd(command)
        check(reply.startswith(b"-ERR [AUTH]"),
              "--require-tls: %s before TLS: %r" % (command.split(" ")[0], reply))
    check(conn.cmd("STLS").startswith(b"+OK"), "--require-tls: STLS +OK")
    conn = TlsConn.wrap(session.sock, certs)
    caps = capabilities(conn)
    check(caps is not None and "USER" in caps and "SASL" in caps and "STLS" not in caps,
          "--require-tls: CAPA under TLS lists USER and SASL (%s)" % caps)
    check(conn.cmd("USER alice") == b"+OK\r\n" and conn.cmd("PASS " + PASSWORD) == b"+OK\r\n",
          "--require-tls: USER and PASS under TLS")
    transaction(conn, "--require-tls")
    session.finish()


def injection(port, certs):
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    check(read_line_exactly(sock).startswith(b"+OK"), "injection: greeting")
    sock.sendall(b"STLS\r\nCAPA\r\n")
    check(read_line_exactly(sock).startswith(b"+OK"), "injection: STLS +OK")
    # Any plaintext byte sent after "+OK" (a CAPA answer) would break the handshake.
    conn = TlsConn.wrap(sock, certs)
    check(True, "injection: handshake right after STLS's +OK (no plaintext CAPA answer)")
    conn.send("QUIT\r\n")
    out, eof = conn.rest()
    check(eof and out.count(b"\r\n") == 1 and out.startswith(b"+OK"),
          "injection: under TLS only QUIT's reply, no CAPA answer (%r)" % out[:200])
    conn.close()


def garbage(daemon, ports):
    for what, port, stls in (("on the TLS port", ports.tls, False), ("after STLS", ports.plain, True)):
        before = daemon.log_text()
        conn = Conn.tcp(port)
        if stls:
            check(conn.line().startswith(b"+OK") and conn.cmd("STLS").startswith(b"+OK"),
                  "garbage %s: greeting, STLS +OK" % what)
        conn.send(b"USER alice\r\nPASS " + PASSWORD.encode() + b"\r\n" + b"\x16\x03" * 200)
        out, eof = conn.rest()
        check(eof and out == b"", "garbage %s: closed with no plaintext reply (%r)" % (what, out[:80]))
        conn.close()
        daemon_log = daemon.log_text()[len(before):]
        print("   log: " + " | ".join(daemon_log.strip().splitlines()))
        check(any("127.0.0.1" in l and ("tls" in l.lower() or "handshake" in l.lower())
                  for l in daemon_log.splitlines()),
              "garbage %s: the failed handshake is logged with the peer address" % what)


def silent_clients(argv, certs):
    """-D with --timeout 1: a client that connects to the TLS port and sends nothing, one that
    stops in the middle of its ClientHello, and one that says STLS and then nothing are each
    dropped (the idle timeout bounds the handshake), with no plaintext byte and a log line.
    All three wait at once; each wait is bounded."""
    daemon, ports = start_tls_daemon(argv, certs, ["--timeout", "1"])
    try:
        silent = Conn.tcp(ports.tls)
        partial = Conn.tcp(ports.tls)
        partial.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's first bytes
        after_stls = Conn.tcp(ports.plain)
        check(after_stls.line().startswith(b"+OK") and after_stls.cmd("STLS").startswith(b"+OK"),
              "silent after STLS: greeting, STLS +OK")
        for what, conn in (("no ClientHello on the TLS port", silent),
                           ("half a ClientHello on the TLS port", partial),
                           ("nothing after STLS", after_stls)):
            out, eof = conn.rest()
            check(eof and out == b"", "--timeout 1, %s: closed with no bytes (%r)" % (what, out[:80]))
            conn.close()
        deadline = time.monotonic() + WAIT
        timeouts = []
        while len(timeouts) < 3 and time.monotonic() < deadline:
            timeouts = [l for l in daemon.log_text().splitlines()
                        if "handshake" in l.lower() and "timeout" in l.lower() and "127.0.0.1" in l]
            time.sleep(0.05)
        print("   log: " + " | ".join(timeouts))
        check(len(timeouts) == 3, "--timeout 1: each of the three logged as a handshake timeout with the address")
        check(daemon.stop() == 0, "daemon exits 0 on SIGTERM")
    finally:
        daemon.stop()


def main():
    binary = binary_from_argv()
    for label, sandbox, argv, certs in tls_process_models(binary):
        daemon = None
        try:
            default_mode(argv)
            tls_argv = argv + ["--tls-cert", certs.cert, "--tls-key", certs.key]
            inetd_stls(tls_argv, certs)
            inetd_implicit(tls_argv, certs)
            require_tls(tls_argv, certs)
            check(sandbox.read_mbox() == make_mbox(), "the mailbox is unchanged")
            daemon, ports = start_tls_daemon(argv, certs)
            injection(ports.plain, certs)
            garbage(daemon, ports)
            check(daemon.stop() == 0, "daemon exits 0 on SIGTERM")
            silent_clients(argv, certs)
        finally:
            if daemon is not None:
                daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
