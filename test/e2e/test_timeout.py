#!/usr/bin/env python3
"""--timeout 1: an idle session is closed with no further output, both before
login and after it (then pending deletions are discarded, spec 4 and 7), in
inetd mode and over TCP in -D mode. Waits are bounded at 15 s; no timing is
asserted beyond that bound."""

import sys

from e2e_common import Conn, Daemon, Inetd, Sandbox, binary_from_argv, check, login


def idle_until_eof(conn, what):
    out, eof = conn.rest()
    check(eof and out == b"", "%s: closed with no output (got %r)" % (what, out))


def main():
    binary = binary_from_argv()
    sandbox = Sandbox()
    daemon = None
    try:
        original = sandbox.read_mbox()
        argv = sandbox.command(binary, "--timeout", "1")

        server = Inetd(argv)
        check(server.conn.line() == b"+OK\r\n", "greeting")
        check(server.conn.cmd("USER alice") == b"+OK\r\n", "USER")
        idle_until_eof(server.conn, "inetd, AUTHORIZATION")
        server.finish()

        server = Inetd(argv)
        login(server.conn)
        check(server.conn.cmd("DELE 1") == b"+OK\r\n", "DELE 1")
        idle_until_eof(server.conn, "inetd, TRANSACTION")
        status, err = server.finish()
        print("   stderr: " + " | ".join(err.strip().splitlines()))
        check(sandbox.read_mbox() == original, "timed-out session deleted nothing")

        daemon = Daemon(argv)
        conn = Conn.tcp(daemon.port)
        login(conn)
        idle_until_eof(conn, "-D, TRANSACTION")
        conn.close()
        check(daemon.stop() == 0, "daemon exits 0 on SIGTERM")
    finally:
        if daemon is not None:
            daemon.stop()
        sandbox.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
