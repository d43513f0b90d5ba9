#!/usr/bin/env python3
"""A message the client never received is not deleted (issue 9, item 1).

`USER, PASS, RETR n, DELE n, QUIT` go out in one write; the client reads the first
20 bytes (four "+OK" lines: the greeting, USER, PASS and RETR) and closes its end.
The server cannot have written the message by then, so its write fails and the
session must end without UPDATE: the mailbox stays as it was, byte for byte.
popa3d writes each reply before it reads the next command and keeps the message.

The reply cannot complete before the close because it is larger than the buffers
between the two ends: over pipes (64 KiB) and over a socket pair whose server end
has a small send buffer, a 200 KB message (under the engine's 256 KiB flush block,
so the whole RETR reply is still queued when QUIT is read); over TCP to -D with a
4 KiB client receive buffer, a message of several MiB, more than the server's
largest send buffer. A control session that reads everything shows that the same
script does delete the message. As root, the privilege-separation path runs too.
"""

import os
import select
import socket
import subprocess
import sys
import time

from e2e_common import (WAIT, Daemon, binary_from_argv, check, decode_retr, fail, make_mbox,
                        process_models)

SMALL = b"Message-ID: <small@example.org>\nSubject: small\n\nshort body\n"


def big_message(name, size):
    line = b"%s " % name.encode() + b"x" * 70 + b"\n"
    return (b"Message-ID: <%s@example.org>\nSubject: %s\n\n" % (name.encode(), name.encode())
            + line * (size // len(line)))


def tcp_send_buffer_max():
    try:
        with open("/proc/sys/net/ipv4/tcp_wmem") as f:
            return int(f.read().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 << 20


MEDIUM = big_message("medium", 200_000)
LARGE = big_message("large", max(8 << 20, 2 * tcp_send_buffer_max() + (1 << 20)))
MESSAGES = [MEDIUM, SMALL, LARGE]
FIRST_20 = b"+OK\r\n" * 4


def script(n):
    return b"USER alice\r\nPASS secret\r\nRETR %d\r\nDELE %d\r\nQUIT\r\n" % (n, n)


def read_some(fd, want, deadline):
    """Up to `want` bytes from fd, fewer only at EOF or the deadline."""
    got = b""
    while len(got) < want:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            break
        try:
            data = os.read(fd, want - len(got))
        except ConnectionResetError:
            data = b""
        if not data:
            break
        got += data
    return got


def read_all(fd, deadline):
    chunks = []
    while True:
        data = read_some(fd, 1 << 20, deadline)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def wait_exit(proc, what):
    try:
        _, err = proc.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=WAIT)
        fail("%s: server did not exit" % what)
    return err.decode(errors="replace")


def over_pipes(argv):
    """(server process, client read fd, client write fd, closer) in inetd mode over pipes."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)

    def close():
        proc.stdin.close()
        proc.stdout.close()
        proc.stdin = proc.stdout = None   # communicate() must not touch the closed pipes
    return proc, proc.stdout.fileno(), proc.stdin.fileno(), close


def over_socketpair(argv):
    """The same over one socket pair; the server's end gets a small send buffer."""
    ours, theirs = socket.socketpair()
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    proc = subprocess.Popen(argv, stdin=theirs, stdout=theirs, stderr=subprocess.PIPE,
                            start_new_session=True)
    theirs.close()
    return proc, ours.fileno(), ours.fileno(), ours.close


def send_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def inetd_case(sandbox, argv, connect, what):
    original = sandbox.read_mbox()
    proc, rfd, wfd, close = connect(argv)
    send_all(wfd, script(1))
    first = read_some(rfd, len(FIRST_20), time.monotonic() + WAIT)
    close()
    err = wait_exit(proc, what)
    check(first == FIRST_20, "%s: logged in and RETR 1 began (got %r)" % (what, first))
    check(sandbox.read_mbox() == original,
          "%s: client closed after 20 bytes, message 1 kept (stderr: %s)"
          % (what, " | ".join(err.strip().splitlines())))

    # Control: the same script, every byte read, deletes message 1.
    proc, rfd, wfd, close = connect(argv)
    send_all(wfd, script(1))
    out = read_all(rfd, time.monotonic() + WAIT)
    close()
    wait_exit(proc, what)
    head = FIRST_20
    tail = b"+OK\r\n+OK\r\n"
    check(out.startswith(head) and out.endswith(tail)
          and decode_retr(out[len(head):-len(tail)]) == MEDIUM,
          "%s: read to the end, RETR 1 intact, DELE and QUIT +OK" % what)
    check(sandbox.read_mbox() == make_mbox(MESSAGES[1:]), "%s: control deleted message 1" % what)
    sandbox.write_mbox(original)


def tcp_case(sandbox, argv, what):
    original = sandbox.read_mbox()
    daemon = Daemon(argv)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Before connect, so that the window offered to the server stays small.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(WAIT)
        s.connect(("127.0.0.1", daemon.port))
        s.sendall(script(3))
        first = read_some(s.fileno(), len(FIRST_20), time.monotonic() + WAIT)
        s.close()
        # The session ends when its write fails; the daemon stays up. Its end shows in the
        # log, either line that popa3d writes when a client goes away.
        deadline = time.monotonic() + WAIT
        while ("Premature disconnect" not in daemon.log_text()
               and time.monotonic() < deadline):
            time.sleep(0.05)
        log = daemon.log_text()
    finally:
        daemon.stop()
    check(first == FIRST_20, "%s: logged in and RETR 3 began (got %r)" % (what, first))
    check("Premature disconnect" in log, "%s: the session ended on the failed write" % what)
    check(sandbox.read_mbox() == original, "%s: client closed after 20 bytes, message 3 kept"
          % what)


def run(sandbox, argv, mode):
    inetd_case(sandbox, argv, over_pipes, mode + ", inetd over pipes")
    inetd_case(sandbox, argv, over_socketpair, mode + ", inetd over a socket pair")
    tcp_case(sandbox, argv, mode + ", -D over TCP")


def main():
    binary = binary_from_argv()
    for label, sandbox, argv in process_models(binary, mbox=make_mbox(MESSAGES)):
        run(sandbox, argv, label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
