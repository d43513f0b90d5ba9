#!/usr/bin/env python3
"""The README's quick start, scripts/demo.sh --once, with the binary just built.

- It serves the sample mailbox on 127.0.0.1 and fetches it with curl over plain POP3, STLS
  and implicit TLS; curl's output comes first, then popa3d's log under a heading of its
  own, and no log line is mixed into curl's part.
- With its plain port, and then its TLS port, already taken by a listening socket, it says
  so, serves on the next free port instead and fetches the mail all the same.
"""

import os
import re
import socket
import subprocess

from e2e_common import binary_from_argv, check, fail, free_port

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WAIT = 120   # seconds: the whole demo, certificate included
LOG_HEADING = "== popa3d's log\n"


def demo(binary, port, tls_port):
    env = dict(os.environ, DEMO_PORT=str(port), DEMO_TLS_PORT=str(tls_port))
    r = subprocess.run([os.path.join(SOURCE, "scripts", "demo.sh"), "--once", "--binary", binary],
                       capture_output=True, text=True, timeout=WAIT, env=env)
    if r.returncode != 0:
        fail("demo.sh exited %d:\n%s%s" % (r.returncode, r.stdout, r.stderr))
    if r.stdout.count(LOG_HEADING) != 1:
        fail("demo.sh printed no log heading:\n" + r.stdout)
    client, log = r.stdout.split(LOG_HEADING)
    return client, log, r.stderr


def check_run(client, log, what):
    """Checks one run's output; returns the ports curl used (plain, TLS)."""
    plain = re.search(r"pop3://127\.0\.0\.1:(\d+)/", client)
    tls = re.search(r"pop3s://localhost:(\d+)/1", client)
    if not plain or not tls:
        fail("%s: no curl command in demo.sh's output:\n%s" % (what, client))
    check(client.count("Subject: Welcome to popa3d") == 3, "%s: curl fetched message 1 three "
          "times (plain, implicit TLS, STLS)" % what)
    check("popa3d[" not in client, "%s: no log line among curl's output" % what)
    lines = log.splitlines()
    check(len(lines) >= 5 and all(line.startswith("popa3d[") for line in lines)
          and sum("Authentication passed for demo" in line for line in lines) == 5,
          "%s: popa3d's log follows, five logins in it" % what)
    return int(plain.group(1)), int(tls.group(1))


def listening_socket(port):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen(1)
    return s


def main():
    binary = binary_from_argv()
    port, tls_port = free_port(), free_port()
    client, log, _ = demo(binary, port, tls_port)
    check(check_run(client, log, "free ports") == (port, tls_port),
          "free ports: served on %d and %d as asked" % (port, tls_port))

    for which in (0, 1):   # the plain port taken, then the TLS port
        ports = [free_port(), free_port()]
        with listening_socket(ports[which]):
            client, log, err = demo(binary, *ports)
        name = ("plain", "TLS")[which]
        check("demo: port %d is in use, using " % ports[which] in err,
              "%s port %d taken: demo.sh said so (%s)" % (name, ports[which], err.strip()))
        used = check_run(client, log, "%s port taken" % name)
        check(used[which] != ports[which], "%s port taken: served on %d instead" % (name, used[which]))


if __name__ == "__main__":
    main()
