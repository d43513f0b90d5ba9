#!/usr/bin/env python3
"""Accounts the system has closed are refused as pam_unix's account check
refuses them (root only): a temporary account edited with chage(1) and
usermod(1) -- expired (chage -E), a forced password change (chage -d 0), a
password past its maximum age (chage -M) and past the inactivity period after
it (chage -I), a locked hash (usermod -L) -- gets the same -ERR as a wrong
password, after the right one, and the log says why. Then the failure delay
as root: a refusal with the default delay does not come before 2 seconds."""

import sys
import time

from e2e_common import FAIL_REPLY, Inetd, binary_from_argv, check
from temp_account import TempAccount, require_root, run


def session(argv, account, password=None):
    server = Inetd(argv)
    server.conn.send("USER %s\r\nPASS %s\r\nSTAT\r\nQUIT\r\n" % (account.name, password or account.password))
    out, _ = server.conn.rest()
    _, err = server.finish()
    return out, err


def main():
    binary = binary_from_argv()
    require_root("chage(1) on a system account")
    account = TempAccount("p3exp")
    try:
        argv = account.argv(binary, "--failure-delay", "0")
        refused = b"+OK\r\n+OK\r\n" + FAIL_REPLY
        out, err = session(argv, account)
        check(out.startswith(b"+OK\r\n+OK\r\n+OK\r\n+OK 4 "), "open account: served")

        closures = (
            ("expired (chage -E 1)", ["chage", "-E", "1"], "has expired (account expired)"),
            ("forced change (chage -d 0)", ["chage", "-d", "0"], "(root enforced)"),
            ("past max age (chage -d 2000-01-01 -M 30)", ["chage", "-d", "2000-01-01", "-M", "30"],
             "(password aged)"),
            ("inactive (chage -d 2000-01-01 -M 30 -I 10)",
             ["chage", "-d", "2000-01-01", "-M", "30", "-I", "10"], "(failed to change password)"),
        )
        for what, command, reason in closures:
            run(*(command + [account.name]))
            out, err = session(argv, account)
            print("   stderr: " + " | ".join(err.strip().splitlines()))
            check(out == refused, "%s: refused with the wrong-password reply" % what)
            check(reason in err and ("Authentication failed for " + account.name) in err,
                  "%s: the log says why (%r)" % (what, reason))
            out, err = session(argv, account, "wrong")
            check(out == refused and reason not in err,
                  "%s, wrong password: refused, and nothing said about the account" % what)
            run("chage", "-E", "-1", "-d", time.strftime("%Y-%m-%d"), "-M", "-1", "-I", "-1", account.name)
            out, _ = session(argv, account)
            check(out.startswith(b"+OK\r\n+OK\r\n+OK\r\n+OK 4 "), "%s undone: served again" % what)

        run("usermod", "-L", account.name)
        out, err = session(argv, account)
        check(out == refused and ("Authentication failed for " + account.name) in err,
              "locked (usermod -L): refused")
        run("usermod", "-U", account.name)

        # The default failure delay, in the privilege-separated path. A lower bound only.
        server = Inetd(account.argv(binary))
        check(server.conn.line() == b"+OK\r\n", "greeting")
        check(server.conn.cmd("USER " + account.name) == b"+OK\r\n", "USER")
        start = time.monotonic()
        reply = server.conn.cmd("PASS wrong")
        waited = time.monotonic() - start
        server.finish()
        check(reply == FAIL_REPLY and waited >= 2.0,
              "default failure delay: the refusal came after %.2f s, not before 2 s" % waited)
    finally:
        account.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
