#!/usr/bin/env python3
"""Login refusals: a wrong password and an unknown user get the same bytes,
and so do a UID-0 account with the right password, a locked account and the
empty user name (spec 6.4); the session ends after the failure reply."""

import sys

from e2e_common import FAIL_REPLY, Inetd, Sandbox, binary_from_argv, check

EXTRA_USERS = (
    "toor:%(hash)s:0:0:",             # UID 0 with a valid hash: must be refused
    "locked:!%(hash)s:%(uid)d:%(gid)d:",  # a locked hash
)


def transcript(argv, user, password):
    server = Inetd(argv)
    server.conn.send("USER %s\r\nPASS %s\r\nSTAT\r\nQUIT\r\n" % (user, password))
    out, eof = server.conn.rest()
    status, err = server.finish()
    return out, eof, err


def main():
    binary = binary_from_argv()
    sandbox = Sandbox(extra_users=EXTRA_USERS)
    try:
        argv = sandbox.command(binary, "--failure-delay", "0")   # test_failure_delay.py checks the delay
        expected = b"+OK\r\n+OK\r\n" + FAIL_REPLY   # greeting, USER, then the refusal
        good, _, _ = transcript(argv, "alice", "secret")
        check(good.startswith(b"+OK\r\n+OK\r\n+OK\r\n+OK "), "the right password logs in")
        results = {}
        for name, user, password in (("wrong password", "alice", "wrong"),
                                     ("unknown user", "nosuchuser", "secret"),
                                     ("UID 0 account", "toor", "secret"),
                                     ("locked account", "locked", "secret"),
                                     ("upper-case user name", "ALICE", "secret")):
            out, eof, err = transcript(argv, user, password)
            results[name] = out
            check(out == expected and eof,
                  "%s: %r, then the session ends" % (name, out))
            print("   stderr: " + " | ".join(err.strip().splitlines()))
        check(len(set(results.values())) == 1, "every refusal has the same reply bytes")
        check(sandbox.read_mbox() is not None, "mailbox still there")
    finally:
        sandbox.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
