#!/usr/bin/env python3
"""Real POP3 clients against the daemon (-D --foreground on 127.0.0.1):
curl (pop3:// LIST, RETR, DELE), Python's poplib, and mpop and fetchmail
fetching with UIDL-based keep (a second run fetches nothing new). Every
fetched message is compared byte for byte with the original. A client that
is not installed is reported and skipped; if none is, the test is skipped."""

import poplib
import shutil
import subprocess
import sys
import tempfile

from e2e_common import (MESSAGES, PASSWORD, WAIT, Daemon, Sandbox, binary_from_argv, check,
                        crlf_size, fail, fetchmail_setup, files_in, make_mbox, mpop_setup, skip)

NEW_MESSAGE = b"Message-ID: <five@example.org>\nSubject: late\n\nArrived later.\n"


def run(argv, **kw):
    print("   $ " + " ".join(argv), flush=True)
    return subprocess.run(argv, capture_output=True, timeout=WAIT * 2, **kw)


def wire(data):
    """Message data as a client that keeps CR LF line ends stores it."""
    return data.replace(b"\n", b"\r\n")


def with_curl(port, sandbox):
    url = "pop3://127.0.0.1:%d/" % port
    auth = ["-u", "alice:" + PASSWORD, "--silent", "--show-error", "--max-time", str(WAIT)]
    r = run(["curl"] + auth + [url])
    listing = b"".join(b"%d %d\r\n" % (i + 1, crlf_size(m)) for i, m in enumerate(MESSAGES))
    check(r.returncode == 0 and r.stdout == listing, "curl LIST: %r" % r.stdout[:200])
    for i, data in enumerate(MESSAGES, 1):
        r = run(["curl"] + auth + [url + str(i)])
        check(r.returncode == 0 and r.stdout == wire(data),
              "curl RETR %d: bytes intact (%d bytes)" % (i, len(r.stdout)))
    r = run(["curl"] + auth + ["--request", "DELE", "--head", url + "2"])
    check(r.returncode == 0, "curl --request DELE --head %s2 (%s)" % (url, r.stderr.strip()))
    check(sandbox.read_mbox() == make_mbox([m for i, m in enumerate(MESSAGES) if i != 1]),
          "curl's DELE removed message 2 at its QUIT")
    sandbox.write_mbox(make_mbox())


def with_poplib(port, sandbox):
    # poplib refuses lines over 2048 bytes (its _MAXLINE); one test message has a 5000-byte line.
    poplib._MAXLINE = 1 << 16
    pop = poplib.POP3("127.0.0.1", port, timeout=WAIT)
    check(pop.getwelcome() == b"+OK", "poplib welcome")
    pop.user("alice")
    pop.pass_(PASSWORD)
    check(pop.stat() == (len(MESSAGES), sum(crlf_size(m) for m in MESSAGES)), "poplib stat")
    _, lines, _ = pop.list()
    check(lines == [b"%d %d" % (i + 1, crlf_size(m)) for i, m in enumerate(MESSAGES)],
          "poplib list")
    _, uidls, _ = pop.uidl()
    check(len({u.split()[1] for u in uidls}) == len(MESSAGES), "poplib uidl: distinct ids")
    for i, data in enumerate(MESSAGES, 1):
        _, lines, octets = pop.retr(i)
        # poplib strips the line ends and the dot-stuffing; put LF back.
        check(b"".join(l + b"\n" for l in lines) == data, "poplib retr %d: bytes intact" % i)
    _, top, _ = pop.top(1, 0)
    check(b"".join(l + b"\n" for l in top) == MESSAGES[0].split(b"\n\n")[0] + b"\n\n",
          "poplib top 1 0: headers and the blank line")
    pop.dele(1)
    check(pop.stat()[0] == len(MESSAGES) - 1, "poplib dele")
    pop.rset()
    check(pop.stat()[0] == len(MESSAGES), "poplib rset")
    pop.quit()
    check(sandbox.read_mbox() == make_mbox(), "poplib left the mailbox alone")


def same_messages(got, expected):
    return sorted(got) == sorted(expected)


def with_mpop(port, sandbox, work):
    argv, maildir = mpop_setup(port, work)
    r = run(argv)
    check(r.returncode == 0, "mpop first run (%s)" % r.stderr.decode(errors="replace").strip())
    check(same_messages(files_in(maildir, ("new", "cur")), MESSAGES),
          "mpop fetched every message byte for byte")
    check(sandbox.read_mbox() == make_mbox(), "keep on: mailbox untouched")
    r = run(argv)
    check(r.returncode == 0 and len(files_in(maildir, ("new", "cur"))) == len(MESSAGES),
          "mpop second run: nothing new fetched (UIDL)")
    sandbox.write_mbox(make_mbox(MESSAGES + [NEW_MESSAGE]))
    r = run(argv)
    check(r.returncode == 0 and same_messages(files_in(maildir, ("new", "cur")),
                                              MESSAGES + [NEW_MESSAGE]),
          "mpop third run: only the new message fetched")
    r = run(argv[:-1] + ["--keep=off", "test"])
    check(r.returncode == 0, "mpop --keep=off run")
    check(sandbox.read_mbox() == b"", "mpop deleted the fetched messages at QUIT")
    sandbox.write_mbox(make_mbox())


def with_fetchmail(port, sandbox, work):
    argv, env, out = fetchmail_setup(port, work)

    def fetched():
        return files_in(out)

    r = run(argv, env=env)
    err = (r.stdout + r.stderr).decode(errors="replace").strip().replace("\n", " | ")
    check(r.returncode == 0, "fetchmail first run (%s)" % err)
    # "no stripcr": fetchmail hands the MDA the lines as received, CR LF included (by default
    # it would remove every CR, even bare ones inside a line).
    got = fetched()
    expected = [wire(m) for m in MESSAGES]
    if not same_messages(got, expected):
        for g in got:
            print("   fetched: %r" % g[:300])
    check(same_messages(got, expected), "fetchmail fetched every message byte for byte")
    r = run(argv, env=env)
    # fetchmail exits 1 when there was no mail to fetch.
    check(r.returncode == 1 and len(fetched()) == len(MESSAGES),
          "fetchmail second run: nothing new (UIDL), exit 1")
    check(sandbox.read_mbox() == make_mbox(), "keep: mailbox untouched")


def main():
    binary = binary_from_argv()
    clients = [c for c in ("curl", "mpop", "fetchmail") if shutil.which(c)]
    missing = sorted({"curl", "mpop", "fetchmail"} - set(clients))
    if missing:
        print("note: not installed, not tested: %s (apt-get install %s)"
              % (", ".join(missing), " ".join(missing)))
    sandbox = Sandbox()
    work = tempfile.mkdtemp(prefix="popa3d-e2e-clients-")
    daemon = None
    try:
        daemon = Daemon(sandbox.command(binary))
        print("== daemon on 127.0.0.1:%d" % daemon.port)
        print("== poplib")
        with_poplib(daemon.port, sandbox)
        if "curl" in clients:
            print("== curl")
            with_curl(daemon.port, sandbox)
        if "mpop" in clients:
            print("== mpop")
            with_mpop(daemon.port, sandbox, work)
        if "fetchmail" in clients:
            print("== fetchmail")
            with_fetchmail(daemon.port, sandbox, work)
        check(daemon.stop() == 0, "daemon exits 0 on SIGTERM")
    except subprocess.TimeoutExpired as e:
        fail("client did not finish: %s" % e)
    finally:
        if daemon is not None:
            daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
        sandbox.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
