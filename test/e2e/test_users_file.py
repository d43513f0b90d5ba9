#!/usr/bin/env python3
"""The users file in -D mode: the listener indexes it at startup and again,
once, before the next session when it changed, so edits apply without a
restart; a broken edit is logged once and refuses logins (a backend failure,
same -ERR) until it is fixed."""

import os
import sys

from e2e_common import FAIL_REPLY, Conn, Daemon, Sandbox, binary_from_argv, check, password_hash


def attempt(port, password):
    conn = Conn.tcp(port)
    conn.line()
    conn.cmd("USER alice")
    reply = conn.cmd("PASS " + password)
    conn.cmd("QUIT")
    conn.close()
    return reply


def rewrite(sandbox, text):
    # A new file renamed over the old one, as editors and vipw do.
    new = sandbox.users_file + ".new"
    with open(new, "w") as f:
        f.write(text)
    sandbox.account.own(new, 0o600)
    os.rename(new, sandbox.users_file)


def main():
    binary = binary_from_argv()
    sandbox = Sandbox()
    daemon = None
    try:
        daemon = Daemon(sandbox.command(binary, "--failure-delay", "0"))
        uid, gid = sandbox.account.uid, sandbox.account.gid
        check(attempt(daemon.port, "secret") == b"+OK\r\n", "the file's password logs in")

        rewrite(sandbox, "# edited\nalice:%s:%d:%d:\n" % (password_hash("changed"), uid, gid))
        check(attempt(daemon.port, "changed") == b"+OK\r\n", "after an edit: the new password logs in")
        check(attempt(daemon.port, "secret") == FAIL_REPLY, "after an edit: the old one is refused")

        rewrite(sandbox, "alice\n")
        check(attempt(daemon.port, "changed") == FAIL_REPLY, "a broken file: refused")
        check(attempt(daemon.port, "changed") == FAIL_REPLY, "a broken file: refused again")
        rewrite(sandbox, "alice:%s:%d:%d:\n" % (sandbox.hash, uid, gid))
        check(attempt(daemon.port, "secret") == b"+OK\r\n", "fixed: logs in again")
        daemon.stop()
        log = daemon.log_text()
        daemon = None
        print("   log: " + " | ".join(log.strip().splitlines()))
        broken = "%s: line 1: expected 5 fields name:hash:uid:gid:mailbox" % sandbox.users_file
        check(log.count(broken) == 1, "the broken file was reported once, by the listener")
    finally:
        if daemon is not None:
            daemon.stop()
        sandbox.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
