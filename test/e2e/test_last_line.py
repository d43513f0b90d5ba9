#!/usr/bin/env python3
"""A last line without LF at the end of input is answered (issue 9, item 4).

popa3d 1.0.3 runs an unterminated last line as a command and writes its reply
before the session ends (spec 4): `printf 'STAT' | popa3d` prints "+OK" then
"-ERR". The same in each state and after an unterminated PASS, in inetd mode
over pipes and in -D mode over TCP (the client shuts its sending side), as an
ordinary user in one process and, as root, through privilege separation.
Nothing is deleted by a session that ends this way.
"""

import socket
import sys

from e2e_common import (MESSAGES, Conn, Daemon, Inetd, binary_from_argv, check, crlf_size,
                        process_models)

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
    for label, sandbox, argv in process_models(binary):
        run(sandbox, argv, label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
