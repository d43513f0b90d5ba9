#!/usr/bin/env python3
"""--capa over plain TCP and inetd pipes: CAPA in both states, AUTH alone, AUTH PLAIN
with an initial response and after "+ ", a pipelined AUTH answered in order across the
handoff, response codes; curl with --login-options AUTH=PLAIN (with and without
--sasl-ir) and Python's poplib in -D mode, every message byte for byte. In both process
models (one process; as root, privilege separation). Without --capa, CAPA and AUTH stay
popa3d's -ERR."""

import base64
import poplib
import shutil
import subprocess
import sys

from e2e_common import (MESSAGES, PASSWORD, WAIT, Daemon, Inetd, binary_from_argv, check,
                        crlf_size, decode_retr, process_models, unavailable)


def plain(user="alice", password=PASSWORD, authzid=""):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, user, password)).encode()).decode()


def capa_lists(version):
    authorization = (b"+OK\r\nTOP\r\nUIDL\r\nUSER\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n"
                     b"SASL PLAIN\r\nIMPLEMENTATION popa3d " + version + b"\r\n.\r\n")
    transaction = (b"+OK\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nIMPLEMENTATION popa3d " +
                   version + b"\r\n.\r\n")
    return authorization, transaction


def stat_line():
    return b"+OK %d %d\r\n" % (len(MESSAGES), sum(crlf_size(m) for m in MESSAGES))


def over_inetd(argv, version):
    authorization, transaction = capa_lists(version)
    capa = argv + ["--capa", "--failure-delay", "0"]

    # CAPA in both states, AUTH alone, AUTH PLAIN with an initial response.
    server = Inetd(capa)
    conn = server.conn
    check(conn.line() == b"+OK\r\n", "greeting")
    conn.send(b"CAPA\r\n")
    check(conn.line() + conn.multiline() == authorization, "CAPA in AUTHORIZATION")
    conn.send(b"AUTH\r\n")
    check(conn.line() + conn.multiline() == b"+OK\r\nPLAIN\r\n.\r\n", "AUTH alone lists PLAIN")
    check(conn.cmd("AUTH PLAIN " + plain()) == b"+OK\r\n", "AUTH PLAIN with an initial response")
    conn.send(b"CAPA\r\n")
    check(conn.line() + conn.multiline() == transaction, "CAPA in TRANSACTION")
    check(conn.cmd("STAT") == stat_line(), "STAT")
    check(conn.cmd("RETR 3") == b"+OK\r\n" and decode_retr(conn.multiline()) == MESSAGES[2],
          "RETR 3 bytes intact")
    check(conn.cmd("QUIT") == b"+OK\r\n", "QUIT")
    status, err = server.finish()
    check(status == 0 and "Authentication passed for alice" in err, "logged in (%s)" % err.strip())

    # After the "+ " continuation; "*" cancels first and costs no attempt.
    server = Inetd(capa)
    conn = server.conn
    conn.line()
    check(conn.cmd("AUTH PLAIN") == b"+ \r\n", "AUTH PLAIN: continuation")
    check(conn.cmd("*") == b"-ERR\r\n", "* cancels")
    check(conn.cmd("AUTH PLAIN") == b"+ \r\n", "AUTH PLAIN again")
    check(conn.cmd(plain()) == b"+OK\r\n", "the response after + ")
    check(conn.cmd("QUIT") == b"+OK\r\n", "QUIT")
    server.finish()

    # Pipelined in one write: answered in order across the handoff (root's password check
    # under privilege separation).
    server = Inetd(capa)
    conn = server.conn
    conn.line()
    conn.send(("AUTH PLAIN %s\r\nSTAT\r\nQUIT\r\n" % plain()).encode())
    check(conn.line() == b"+OK\r\n" and conn.line() == stat_line() and conn.line() == b"+OK\r\n",
          "pipelined AUTH PLAIN, STAT, QUIT answered in order")
    server.finish()

    # A refused AUTH: [AUTH], and the one attempt is spent.
    server = Inetd(capa)
    conn = server.conn
    conn.line()
    conn.send(("AUTH PLAIN %s\r\nUSER alice\r\n" % plain(password="wrong")).encode())
    rest, eof = conn.rest()
    check(rest == b"-ERR [AUTH] Authentication failed\r\n" and eof, "refused AUTH: %r" % rest)
    server.finish()

    # Without --capa: popa3d's replies.
    server = Inetd(argv)
    conn = server.conn
    conn.line()
    check(conn.cmd("CAPA") == b"-ERR\r\n", "no --capa: CAPA is -ERR")
    check(conn.cmd("AUTH PLAIN " + plain()) == b"-ERR\r\n", "no --capa: AUTH is -ERR")
    check(conn.cmd("QUIT") == b"+OK\r\n", "QUIT")
    server.finish()


def with_poplib(port, version):
    poplib._MAXLINE = 1 << 16   # one test message has a 5000-byte line
    pop = poplib.POP3("127.0.0.1", port, timeout=WAIT)
    caps = pop.capa()
    check(caps == {"TOP": [], "UIDL": [], "USER": [], "RESP-CODES": [], "AUTH-RESP-CODE": [],
                   "PIPELINING": [], "SASL": ["PLAIN"], "IMPLEMENTATION": ["popa3d", version.decode()]},
          "poplib capa(): %r" % caps)
    # poplib has no AUTH of its own: the command through its line layer.
    check(pop._shortcmd("AUTH PLAIN " + plain()) == b"+OK", "poplib AUTH PLAIN")
    check(pop.stat() == (len(MESSAGES), sum(crlf_size(m) for m in MESSAGES)), "poplib stat")
    for i, data in enumerate(MESSAGES, 1):
        _, lines, _ = pop.retr(i)
        check(b"".join(l + b"\n" for l in lines) == data, "poplib retr %d: bytes intact" % i)
    pop.quit()


def with_curl(port, daemon):
    url = "pop3://127.0.0.1:%d/" % port
    listing = b"".join(b"%d %d\r\n" % (i + 1, crlf_size(m)) for i, m in enumerate(MESSAGES))
    for extra in ([], ["--sasl-ir"]):
        argv = ["curl", "--verbose", "--silent", "--show-error", "--max-time", str(WAIT),
                "-u", "alice:" + PASSWORD, "--login-options", "AUTH=PLAIN"] + extra
        print("   $ " + " ".join(argv + [url]), flush=True)
        r = subprocess.run(argv + [url], capture_output=True, timeout=WAIT * 2)
        said = r.stderr.decode(errors="replace")
        if r.returncode != 0 or r.stdout != listing:
            print(said[-2000:])
        check(r.returncode == 0 and r.stdout == listing, "curl %s LIST" % extra)
        expected = "> AUTH PLAIN " if extra else "> AUTH PLAIN\r\n"
        check(expected in said, "curl %s used AUTH PLAIN %s" %
              (extra, "with an initial response" if extra else "after + "))
        r = subprocess.run(argv + [url + "4"], capture_output=True, timeout=WAIT * 2)
        check(r.returncode == 0 and r.stdout == MESSAGES[3].replace(b"\n", b"\r\n"),
              "curl %s RETR 4: bytes intact" % extra)
    check(daemon.log_text().count("Authentication passed for alice") >= 4, "every curl login passed")


def main():
    binary = binary_from_argv()
    version = subprocess.run([binary, "-V"], capture_output=True, timeout=WAIT).stdout.split()[-1]
    have_curl = shutil.which("curl") is not None
    if not have_curl:
        unavailable("curl is not installed")
        print("note: no curl: its AUTH=PLAIN logins are not tested")
    for label, sandbox, argv in process_models(binary):
        over_inetd(argv, version)
        daemon = Daemon(argv + ["--capa"])
        try:
            with_poplib(daemon.port, version)
            if have_curl:
                with_curl(daemon.port, daemon)
        finally:
            daemon.stop()
        print("== %s: done" % label, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
