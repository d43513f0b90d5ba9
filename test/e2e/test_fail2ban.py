#!/usr/bin/env python3
"""The shipped fail2ban filter (dist/fail2ban/filter.d/popa3d.conf) against the daemon's own
log: refused logins over USER/PASS and AUTH PLAIN from 127.0.0.1 and ::1, in -D mode and in
inetd mode on a socket (the address from getpeername), in both process models. The log lines,
as rsyslog writes them to a file and as the journal shows --stderr's, go through
fail2ban-regex: it must find exactly the refusals, each with its client's address, and no
address that a user name carries ("x\\tfrom\\t10.9.8.7"). A successful login ends in its
address too, and is not counted. The example jail is off as shipped and, once enabled, is
what fail2ban-client -d expects: the journal, the filter's match, ports pop3 and pop3s."""

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import time

from e2e_common import (PASSWORD, WAIT, Daemon, Conn, binary_from_argv, check,
                        fail, process_models, unavailable)

FILTER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dist", "fail2ban",
                      "filter.d", "popa3d.conf")
JAIL = os.path.join(os.path.dirname(FILTER), "..", "jail.d", "popa3d.conf")
COMMON = "/etc/fail2ban/filter.d/common.conf"   # the filter's "before = common.conf"
CRAFTED = "x\tfrom\t10.9.8.7"                  # a user name that names another address
REFUSED = b"-ERR [AUTH] Authentication failed\r\n"   # with --capa (for AUTH PLAIN)


def plain(user, password):
    return base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()


# (what, commands, the last reply, counted by fail2ban)
TRIES = [
    ("wrong password", ["USER alice", "PASS wrong"], REFUSED, True),
    ("unknown user", ["USER bob", "PASS " + PASSWORD], REFUSED, True),
    ("crafted user name", ["USER " + CRAFTED, "PASS wrong"], REFUSED, True),
    ("AUTH PLAIN, wrong password", ["AUTH PLAIN " + plain("alice", "wrong")], REFUSED, True),
    ("AUTH PLAIN naming another address", ["AUTH PLAIN " + plain("x from 10.9.8.7", "x")],
     b"-ERR\r\n", False),   # a user name with a space is no login attempt
    ("login", ["USER alice", "PASS " + PASSWORD], b"+OK\r\n", False),
]


def converse(conn, commands, last_reply):
    check(conn.line() == b"+OK\r\n", "greeting")
    reply = None
    for c in commands:
        reply = conn.cmd(c)
    if reply != last_reply:
        fail("%r: %r, expected %r" % (commands, reply, last_reply))
    conn.cmd("QUIT")
    conn.rest(timeout=WAIT)
    conn.close()


def address_of(family):
    return "127.0.0.1" if family == socket.AF_INET else "::1"


def over_daemon(argv):
    """Every try from 127.0.0.1 and then from ::1. Returns (log text, expected addresses)."""
    daemon = Daemon(argv + ["--listen", "::1"])
    expected = []
    try:
        for family in (socket.AF_INET, socket.AF_INET6):
            for what, commands, reply, counted in TRIES:
                conn = Conn.tcp(daemon.port, address_of(family))
                converse(conn, commands, reply)
                if counted:
                    expected.append(address_of(family))
        # Each session logs its login line before it exits: wait for all of them.
        logins = 2 * sum(reply != b"-ERR\r\n" for _, _, reply, _ in TRIES)
        deadline = time.monotonic() + WAIT
        while daemon.log_text().count("Authentication ") < logins:
            if time.monotonic() > deadline:
                fail("the daemon did not log every login: %s" % daemon.log_text())
            time.sleep(0.02)
    finally:
        daemon.stop()
    return daemon.log_text(), expected


def over_inetd_socket(argv):
    """Each try as one inetd session with a TCP socket on descriptors 0 and 1, as inetd
    starts it. Returns (log text, expected addresses)."""
    log, expected = [], []
    for family in (socket.AF_INET, socket.AF_INET6):
        for what, commands, reply, counted in TRIES:
            with socket.socket(family) as listener:
                listener.bind((address_of(family), 0))
                listener.listen(1)
                client = socket.create_connection(listener.getsockname()[:2], timeout=WAIT)
                accepted, _ = listener.accept()
            with accepted:
                server = subprocess.Popen(argv, stdin=accepted, stdout=accepted,
                                          stderr=subprocess.PIPE, start_new_session=True)
            try:
                converse(Conn(client.fileno(), client.fileno(), client), commands, reply)
                _, err = server.communicate(timeout=WAIT)
            except subprocess.TimeoutExpired:
                server.kill()
                fail("inetd session did not exit: %s" % server.communicate()[1])
            log.append(err.decode(errors="replace"))
            if counted:
                expected.append(address_of(family))
    return "".join(log), expected


def fail2ban_regex(work, lines):
    """The addresses fail2ban-regex finds in `lines` with the shipped filter, in order."""
    log = os.path.join(work, "log")
    with open(log, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    out = subprocess.run(["fail2ban-regex", "-o", "ip", log, os.path.join(work, "filter.d", "popa3d.conf")],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        fail("fail2ban-regex: %s %s" % (out.stdout, out.stderr))
    return out.stdout.split()


def check_filter(work, label, text, expected):
    lines = [l for l in text.splitlines() if l.startswith("popa3d[")]
    print("%s: the daemon's log lines:" % label)
    for l in lines:
        print("  " + l)
    stamp = time.strftime("%b %e %H:%M:%S")
    host = socket.gethostname()
    # rsyslog's file format (/var/log/syslog), then journalctl's for --stderr under systemd,
    # where the journal adds its own "popa3d[PID]: " before the line.
    as_file = ["%s %s %s" % (stamp, host, l) for l in lines]
    as_journal = ["%s %s %s %s" % (stamp, host, l.split(" ", 1)[0], l) for l in lines]
    for form, formatted in (("syslog file", as_file), ("journal of --stderr", as_journal)):
        found = fail2ban_regex(work, formatted)
        check(found == expected, "%s, %s: fail2ban-regex found %s" % (label, form, found))
    check(not any(l.endswith("10.9.8.7") for l in lines),
          "%s: no line ends in the address a user name carries" % label)


def check_synthetic(work):
    """Lines the daemon cannot write (an existing account named with the text of another
    address), to show that the filter reads the address at the end."""
    stamp = time.strftime("%b %e %H:%M:%S")
    lines = ["%s host popa3d[1]: Authentication failed for a from 10.9.8.7 from 192.0.2.1" % stamp,
             "%s host popa3d[2]: Authentication failed for from 10.9.8.7 from 2001:db8::1" % stamp,
             "%s host popa3d[3]: Authentication passed for alice from 192.0.2.2" % stamp,
             "%s host popa3d[4]: Authentication failed for alice" % stamp,
             "%s host popa3d[5]: Account database not readable while authenticating x from 10.9.8.7" % stamp]
    found = fail2ban_regex(work, lines)
    check(found == ["192.0.2.1", "2001:db8::1"], "filter: only the trailing address counts (%s)" % found)


def check_jail(work):
    """The example jail in a copy of /etc/fail2ban: off as shipped; once enabled, fail2ban's
    own parser (fail2ban-client -d) starts it on the journal with the filter's match."""
    conf = os.path.join(work, "etc-fail2ban")
    shutil.copytree(os.path.dirname(os.path.dirname(COMMON)), conf)
    shutil.copy(FILTER, os.path.join(conf, "filter.d", "popa3d.conf"))
    with open(JAIL) as f:
        jail = f.read()
    for enabled in (False, True):
        with open(os.path.join(conf, "jail.d", "popa3d.conf"), "w") as f:
            f.write(jail.replace("enabled  = false", "enabled  = true") if enabled else jail)
        out = subprocess.run(["fail2ban-client", "-c", conf, "-d"], capture_output=True, text=True,
                             timeout=60)
        if out.returncode != 0:
            fail("fail2ban-client -d: %s %s" % (out.stdout, out.stderr))
        started = "['start', 'popa3d']" in out.stdout
        if not enabled:
            check(not started, "jail: off as shipped")
            continue
        check(started and "['add', 'popa3d', 'systemd']" in out.stdout
              and "'addjournalmatch', 'SYSLOG_IDENTIFIER=popa3d'" in out.stdout
              and "--dports pop3,pop3s" in out.stdout,
              "jail: enabled, it reads the journal for popa3d and bans on pop3 and pop3s")


def main():
    binary = binary_from_argv()
    if not (shutil.which("fail2ban-regex") and shutil.which("fail2ban-client") and os.path.exists(COMMON)):
        unavailable("fail2ban-regex, fail2ban-client and %s are needed (apt-get install fail2ban)"
                    % COMMON)
    work = tempfile.mkdtemp(prefix="popa3d-fail2ban-")
    try:
        # The filter as installed: beside fail2ban's common.conf.
        os.mkdir(os.path.join(work, "filter.d"))
        shutil.copy(FILTER, os.path.join(work, "filter.d", "popa3d.conf"))
        shutil.copy(COMMON, os.path.join(work, "filter.d", "common.conf"))
        check_synthetic(work)
        check_jail(work)
        for label, sandbox, argv in process_models(binary):
            argv = argv + ["--capa", "--failure-delay", "0"]
            text, expected = over_daemon(argv)
            check_filter(work, label + ", -D", text, expected)
            text, expected = over_inetd_socket(argv)
            check_filter(work, label + ", inetd", text, expected)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()
