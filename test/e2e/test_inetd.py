#!/usr/bin/env python3
"""inetd mode over pipes: a full session with every message's bytes checked,
DELE applied only at QUIT, and a dropped connection deleting nothing.

When run as root and the pre-auth user `popa3d` exists, the same session also
runs through the root privilege-separation path (--user popa3d, a temp chroot).
"""

import os
import sys

from e2e_common import (MESSAGES, Inetd, basic_session, binary_from_argv, check, crlf_size,
                        login, make_mbox, process_models)


def session(argv):
    server = Inetd(argv)
    return server, server.conn


def run(binary, sandbox, argv):
    original = sandbox.read_mbox()

    # 1. Read everything; QUIT without deletions leaves the file alone.
    server, conn = session(argv)
    basic_session(conn)
    check(conn.cmd("QUIT") == b"+OK\r\n", "QUIT")
    status, err = server.finish()
    check(status == 0, "exit status 0 (stderr: %s)" % err.strip())
    check(sandbox.read_mbox() == original, "mailbox untouched without DELE")

    # 2. DELE, then drop the connection: nothing is deleted.
    server, conn = session(argv)
    login(conn)
    check(conn.cmd("DELE 1") == b"+OK\r\n", "DELE 1")
    check(conn.cmd("DELE 3") == b"+OK\r\n", "DELE 3")
    check(conn.cmd("LIST 1") == b"-ERR\r\n", "LIST of a deleted message is -ERR")
    server.close_input()
    rest, eof = conn.rest()
    check(rest == b"" and eof, "dropped connection: no more output")
    server.finish()
    check(sandbox.read_mbox() == original, "dropped connection deletes nothing")

    # 3. DELE takes effect at QUIT only.
    server, conn = session(argv)
    login(conn)
    check(conn.cmd("DELE 1") == b"+OK\r\n", "DELE 1")
    check(conn.cmd("DELE 3") == b"+OK\r\n", "DELE 3")
    kept = [MESSAGES[1], MESSAGES[3]]
    check(conn.cmd("STAT") == b"+OK 2 %d\r\n" % sum(crlf_size(m) for m in kept),
          "STAT after DELE counts the kept messages")
    check(sandbox.read_mbox() == original, "mailbox unchanged before QUIT")
    check(conn.cmd("QUIT") == b"+OK\r\n", "QUIT")
    server.finish()
    check(sandbox.read_mbox() == make_mbox(kept), "QUIT removed exactly messages 1 and 3")

    # 4. What is left reads back intact.
    server, conn = session(argv)
    basic_session(conn, kept)
    check(conn.cmd("QUIT") == b"+OK\r\n", "QUIT")
    server.finish()
    sandbox.write_mbox(original)


def main():
    binary = binary_from_argv()
    for label, sandbox, argv in process_models(binary):
        run(binary, sandbox, argv)
        if label == "privsep":
            st = os.stat(sandbox.mbox_path)
            check(st.st_uid == sandbox.account.uid, "mailbox still owned by the account")
    return 0


if __name__ == "__main__":
    sys.exit(main())
