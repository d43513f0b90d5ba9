#!/usr/bin/env python3
"""--timeout bounds each block of output as a whole (issue 9, item 10).

A client that takes in a few KB of a large RETR every 100 ms accepts bytes well
within every idle period, but far slower than the slowest rate the timeout allows
for a block of output; it must be dropped ("Connection timed out"), where a timeout
per system call would let it hold the session for ever. inetd mode over a socket
pair whose server end has a small send buffer, so that each read lets the server
write on; --timeout 1. The client makes at most MAX_READS reads (bounded in count
and so in time) and must see the end of the connection before that.
"""

import select
import socket
import subprocess
import sys
import time

from e2e_common import WAIT, Sandbox, binary_from_argv, check, fail, make_mbox

MAX_READS = 100
LINE = b"y" * 70 + b"\n"
MESSAGE = b"Message-ID: <big@example.org>\nSubject: big\n\n" + LINE * ((4 << 20) // len(LINE))


def main():
    binary = binary_from_argv()
    sandbox = Sandbox(mbox=make_mbox([MESSAGE]))
    try:
        ours, theirs = socket.socketpair()
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        proc = subprocess.Popen(sandbox.command(binary, "--timeout", "1"), stdin=theirs,
                                stdout=theirs, stderr=subprocess.PIPE, start_new_session=True)
        theirs.close()
        ours.sendall(b"USER alice\r\nPASS secret\r\nRETR 1\r\n")
        received = 0
        reads = 0
        ended = False
        while reads < MAX_READS and not ended:
            time.sleep(0.1)
            reads += 1
            if not select.select([ours], [], [], 0)[0]:
                continue
            try:
                data = ours.recv(4096)
            except ConnectionResetError:
                data = b""
            ended = not data
            received += len(data)
        ours.close()
        try:
            _, err = proc.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=WAIT)
            fail("server did not exit")
        err = err.decode(errors="replace")
        check(ended, "connection ended after %d reads of at most %d (%d bytes of %d)"
              % (reads, MAX_READS, received, len(MESSAGE)))
        check("Connection timed out" in err, "logged as a timeout (stderr: %s)"
              % " | ".join(err.strip().splitlines()))
    finally:
        sandbox.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
