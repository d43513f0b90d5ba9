#!/usr/bin/env python3
"""A last line without LF at the end of input is answered (issue 9, item 4).

popa3d 1.0.3 runs an unterminated last line as a command and writes its reply
before the session ends (spec 4): `printf 'STAT' | popa3d` prints "+OK" then
"-ERR". The same in each state and after an unterminated PASS, in inetd mode
over pipes and in -D mode over TCP (the client shuts its sending side), as an
ordinary user in one process and, as root, through privilege separation.
Nothing is deleted by a session that ends this way.
"""

import os
import pwd
import socket
import sys
import tempfile

from e2e_common import (MESSAGES, Conn, Daemon, Inetd, Sandbox, binary_from_argv, check,
                        crlf_size)

LOGIN = b"USER alice\r\nPASS secret\r\n"
OK = b"+OK\r\n"
ERR = b"-ERR\r\n"

# (client bytes, then end of input; the whole output expected)
CASES = [
    (b"STAT", OK + ERR),
    (b"USER alice\r\nQUIT x", OK + OK + ERR),
    (b"USER alice\r\nPASS secret", OK * 3),
    (LOGIN + b"DELE 2\r\nQUI", OK * 4 + ERR),
    (LOGIN + b"DELE 2\r\nNOOP", OK * 5),
    (LOGIN + b"STAT", OK * 3 + b"+OK %d %d\r\n" % (len(MESSAGES),
                                                   sum(crlf_size(m) for m in MESSAGES))),
]


def check_case(what, script, want, out, eof, kept):
    got = "" if out == want else " (got %r)" % out
    check(eof and out == want and kept,
          "%s: %r then EOF -> %r%s, nothing deleted" % (what, script, want, got))


def run(sandbox, argv, mode):
    original = sandbox.read_mbox()
    for script, want in CASES:
        server = Inetd(argv)
        server.conn.send(script)
        server.close_input()
        out, eof = server.conn.rest()
        server.finish()
        check_case(mode + ", inetd", script, want, out, eof, sandbox.read_mbox() == original)

    daemon = Daemon(argv)
    try:
        for script, want in CASES:
            conn = Conn.tcp(daemon.port)
            conn.send(script)
            conn.closer.shutdown(socket.SHUT_WR)
            out, eof = conn.rest()
            conn.close()
            check_case(mode + ", -D", script, want, out, eof, sandbox.read_mbox() == original)
    finally:
        daemon.stop()


def main():
    binary = binary_from_argv()
    sandbox = Sandbox()
    try:
        print("== as an ordinary user (uid %d), one process" % sandbox.account.uid)
        run(sandbox, sandbox.command(binary), "one process")
    finally:
        sandbox.cleanup()

    if os.geteuid() != 0:
        print("note: not root, the privilege-separation path is not exercised")
        return 0
    try:
        pwd.getpwnam("popa3d")
    except KeyError:
        print("note: no user popa3d (scripts/ci-accounts.sh creates it): "
              "the privilege-separation path is not exercised")
        return 0
    sandbox = Sandbox()
    os.chown(sandbox.users_file, 0, 0)   # as root, the users file must be root's
    chroot = tempfile.mkdtemp(prefix="popa3d-e2e-empty-")
    os.chmod(chroot, 0o755)
    try:
        print("== as root with privilege separation (--user popa3d --chroot %s)" % chroot)
        argv = [binary, "--users-file", sandbox.users_file, "--spool", sandbox.spool,
                "--stderr", "--user", "popa3d", "--chroot", chroot]
        run(sandbox, argv, "privsep")
    finally:
        sandbox.cleanup()
        os.rmdir(chroot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
