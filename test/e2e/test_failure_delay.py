#!/usr/bin/env python3
"""The failure delay: a refused login's -ERR does not come before the delay
(--failure-delay SECONDS, default 2), in the path without root (the binary
runs as an ordinary user); lower bounds only, since a busy machine may answer
later, never sooner. A good login is not delayed by it in any way a client
sees (same bytes). Values out of range are refused at startup."""

import subprocess
import sys
import time

from e2e_common import FAIL_REPLY, WAIT, Inetd, Sandbox, binary_from_argv, check, fail


def refusal_wait(argv):
    server = Inetd(argv)
    if server.conn.line() != b"+OK\r\n" or server.conn.cmd("USER alice") != b"+OK\r\n":
        fail("greeting or USER")
    start = time.monotonic()
    reply = server.conn.cmd("PASS wrong")
    waited = time.monotonic() - start
    server.finish()
    check(reply == FAIL_REPLY, "refused: %r" % reply)
    return waited


def main():
    binary = binary_from_argv()
    sandbox = Sandbox()
    try:
        waited = refusal_wait(sandbox.command(binary, "--failure-delay", "1"))
        check(waited >= 1.0, "--failure-delay 1: the refusal came after %.2f s, not before 1 s" % waited)
        waited = refusal_wait(sandbox.command(binary))
        check(waited >= 2.0, "default: the refusal came after %.2f s, not before 2 s" % waited)

        server = Inetd(sandbox.command(binary, "--failure-delay", "1"))
        server.conn.send("USER alice\r\nPASS secret\r\nQUIT\r\n")
        out, _ = server.conn.rest()
        server.finish()
        check(out == b"+OK\r\n+OK\r\n+OK\r\n+OK\r\n", "a good login with a delay set: the usual bytes")

        for value in ("61", "-1", "1.5", "x", ""):
            done = subprocess.run([binary, "--failure-delay", value], capture_output=True,
                                  stdin=subprocess.DEVNULL, timeout=WAIT)
            check(done.returncode == 2 and b"--failure-delay" in done.stderr,
                  "--failure-delay %r refused: %s" % (value, done.stderr.decode(errors="replace").strip()))
    finally:
        sandbox.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
