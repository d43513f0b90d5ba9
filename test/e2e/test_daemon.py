#!/usr/bin/env python3
"""-D mode on 127.0.0.1 (--foreground --stderr): a full session over TCP,
DELE at QUIT, then popa3d's per-source limit: with --max-per-source 50, the
51st concurrent connection from 127.0.0.1 is closed with no bytes while the
50 others keep working (spec 14)."""

import sys

from e2e_common import (MESSAGES, Conn, Daemon, Sandbox, basic_session, binary_from_argv,
                        check, make_mbox)

PER_SOURCE = 50


def main():
    binary = binary_from_argv()
    sandbox = Sandbox()
    daemon = None
    try:
        daemon = Daemon(sandbox.command(binary, "--max-per-source", str(PER_SOURCE)))
        print("== daemon on 127.0.0.1:%d" % daemon.port)

        conn = Conn.tcp(daemon.port)
        basic_session(conn)
        check(conn.cmd("DELE 2") == b"+OK\r\n", "DELE 2")
        check(conn.cmd("QUIT") == b"+OK\r\n", "QUIT")
        _, eof = conn.rest()
        check(eof, "server closes after QUIT")
        conn.close()
        kept = [m for i, m in enumerate(MESSAGES) if i != 1]
        check(sandbox.read_mbox() == make_mbox(kept), "QUIT over TCP removed message 2")

        status = daemon.stop()
        check(status == 0, "SIGTERM: daemon exits 0")

        # A fresh daemon, so that no earlier session counts toward the limit (a session
        # keeps its slot for 10 s after it started, spec 14).
        sandbox.write_mbox(make_mbox())
        daemon = Daemon(sandbox.command(binary, "--max-per-source", str(PER_SOURCE)))
        held = []
        for _ in range(PER_SOURCE):
            c = Conn.tcp(daemon.port)
            held.append(c)
            if c.line() != b"+OK\r\n":
                daemon.stop()
                print(daemon.log_text())
                check(False, "greeting on connection %d" % len(held))
        check(True, "%d concurrent sessions greeted" % len(held))
        refused = Conn.tcp(daemon.port)
        out, eof = refused.rest()
        check(out == b"" and eof, "connection %d is closed with no bytes" % (PER_SOURCE + 1))
        refused.close()
        for i, c in enumerate(held):
            if c.cmd("USER alice") != b"+OK\r\n":
                check(False, "held session %d still answers" % i)
        check(True, "the %d held sessions still answer" % len(held))
        last = held[-1]
        check(last.cmd("PASS secret") == b"+OK\r\n", "a held session logs in")
        check(last.cmd("STAT").startswith(b"+OK 4 "), "and sees the 4 messages")
        for c in held:
            c.close()

        status = daemon.stop()
        log = daemon.log_text()
        print("   daemon log:\n" + "\n".join("   | " + l for l in log.splitlines()[-8:]))
        check("127.0.0.1: per source limit reached" in log, "refusal logged")
        check(status == 0, "SIGTERM: daemon exits 0")
    finally:
        if daemon is not None:
            daemon.stop()
        sandbox.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
