#!/usr/bin/env python3
"""Builds examples/ against the package installed from the build tree, as a user would,
runs memory_server on a free port of 127.0.0.1 and fetches its mail with poplib: the
messages as sent (CR LF, dot-stuffing undone by the client), UIDL, a wrong password, and a
DELE that the next session no longer sees. Every wait is bounded.

Usage: example_test.py CMAKE BUILD_DIR WORK_DIR EXAMPLES_DIR CXX [CXX_FLAGS]
"""

import os
import poplib
import select
import shutil
import subprocess
import sys

WELCOME = [b"From: server@example.org", b"Subject: Welcome", b"", b"Served from memory."]
DOTS = [b"Subject: Dots", b"", b".a line that starts with a dot is stuffed on the wire"]


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print("ok: " + what, flush=True)


def run(argv):
    result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    if result.returncode != 0:
        sys.stdout.write(result.stdout.decode(errors="replace"))
        raise AssertionError("failed: " + " ".join(argv))


def first_line(server, seconds):
    ready, _, _ = select.select([server.stdout], [], [], seconds)
    return server.stdout.readline().decode() if ready else ""


def session(port):
    client = poplib.POP3("127.0.0.1", port, timeout=10)
    client.user("demo")
    client.pass_("secret")
    return client


def main():
    if len(sys.argv) not in (6, 7):
        print(__doc__)
        return 2
    cmake, build_dir, work, examples, cxx = sys.argv[1:6]
    flags = sys.argv[6] if len(sys.argv) == 7 else ""
    shutil.rmtree(work, ignore_errors=True)
    prefix, build = os.path.join(work, "prefix"), os.path.join(work, "build")
    run([cmake, "--install", build_dir, "--prefix", prefix])
    run([cmake, "-S", examples, "-B", build, "-DCMAKE_PREFIX_PATH=" + prefix,
         "-DCMAKE_CXX_COMPILER=" + cxx, "-DCMAKE_CXX_FLAGS=" + flags])
    run([cmake, "--build", build])

    server = subprocess.Popen([os.path.join(build, "memory_server"), "0"], stdout=subprocess.PIPE)
    try:
        line = first_line(server, 10)
        check(line.startswith("listening on 127.0.0.1:"), "the example says where it listens (%r)" % line)
        port = int(line.rsplit(":", 1)[1])

        client = session(port)
        sizes = [len(b"\r\n".join(m)) + 2 for m in (WELCOME, DOTS)]
        check(client.stat() == (2, sum(sizes)), "STAT counts both messages with CR LF line ends")
        check(client.uidl()[1] == [b"1 welcome-1", b"2 dots-2"], "UIDL gives the Mailbox's ids")
        check(client.retr(1)[1] == WELCOME, "RETR 1 is the first message")
        check(client.retr(2)[1] == DOTS, "RETR 2 comes back with its leading dot")
        client.dele(1)
        check(client.quit().startswith(b"+OK"), "QUIT after DELE 1")

        client = session(port)
        check(client.uidl()[1] == [b"1 dots-2"], "the next session no longer has the deleted message")
        client.quit()

        client = poplib.POP3("127.0.0.1", port, timeout=10)
        client.user("demo")
        try:
            client.pass_("wrong")
            check(False, "a wrong password is refused")
        except poplib.error_proto:
            check(True, "a wrong password is refused")
        client.close()
    finally:
        server.kill()
        server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
