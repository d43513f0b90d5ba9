#!/usr/bin/env python3
"""Maildirs through the daemon (-D on 127.0.0.1), as an ordinary user and as root with
privilege separation: a users-file entry naming maildir:DIR, and --mailbox with %u; real
clients (poplib, curl, mpop, fetchmail) byte for byte, UIDLs as qmail-pop3d and Dovecot
(%f) give them, and what QUIT does (kept files of new/ moved to cur/ with ":2,", deleted
ones unlinked, maildirsize updated). As root also --mailbox mbox:%h/Mailbox and
maildir:%h/Maildir for a system account with a home."""

import os
import poplib
import shutil
import subprocess
import sys
import tempfile

from e2e_common import (MESSAGES, PASSWORD, WAIT, Conn, Daemon, binary_from_argv, check,
                        decode_retr, fetchmail_setup, files_in, make_mbox, mpop_setup, process_models)
import temp_account


def lf(data):
    """What the daemon sends of a Maildir file, back in LF form: a CR before LF is dropped."""
    return data.replace(b"\r\n", b"\n")


def wire(data):
    return lf(data).replace(b"\n", b"\r\n")


# (subdirectory, name, data): Dovecot's ,S= and ,W=, Courier's ,S= with flags, qmail's plain
# name, and flags on a name in cur/ without a size. Listed in delivery order.
def fixture_files():
    d = MESSAGES
    return [
        ("new", "1700000001.M11P22.dovecot,S=%d,W=%d" % (len(d[0]), len(wire(d[0]))), d[0]),
        ("cur", "1700000002.M33P44V0000000000000803I00000042_0.courier,S=%d:2,S" % len(d[1]), d[1]),
        ("new", "1700000003.4567.qmail", d[2]),
        ("cur", "1700000004.M5P6.host:2,FS", d[3]),
    ]


def make_maildir(path, account, files):
    for sub in ("", "new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
        account.own(os.path.join(path, sub), 0o700)
    for sub, name, data in files:
        p = os.path.join(path, sub, name)
        with open(p, "wb") as f:
            f.write(data)
        account.own(p, 0o600)
    # Not messages: a dot file and a subdirectory.
    with open(os.path.join(path, "cur", ".keep"), "wb") as f:
        f.write(b"x\n")
    os.mkdir(os.path.join(path, "new", "1700000000.dir"))
    quota = os.path.join(path, "maildirsize")
    with open(quota, "w") as f:
        f.write("10000000S\n%d %d\n" % (sum(len(x[2]) for x in files), len(files)))
    account.own(quota, 0o600)


def names(path):
    return {sub: sorted(n for n in os.listdir(os.path.join(path, sub)) if not n.startswith("."))
            for sub in ("new", "cur")}


def with_raw_session(port, files):
    conn = Conn.tcp(port)
    greeting = conn.line()
    check(greeting == b"+OK\r\n", "greeting")
    check(conn.cmd("USER alice") == b"+OK\r\n" and conn.cmd("PASS " + PASSWORD) == b"+OK\r\n", "login")
    sizes = [len(wire(data)) for _, _, data in files]
    check(conn.cmd("STAT") == b"+OK %d %d\r\n" % (len(files), sum(sizes)), "STAT: CRLF octets")
    check(conn.cmd("LIST") == b"+OK\r\n", "LIST")
    check(conn.multiline() == b"".join(b"%d %d\r\n" % (i + 1, s) for i, s in enumerate(sizes)) + b".\r\n",
          "LIST sizes: ,W= where given, else counted; never ,S=")
    check(conn.cmd("UIDL") == b"+OK\r\n", "UIDL")
    expected = b"".join(b"%d %s\r\n" % (i + 1, n.split(":")[0].encode()) for i, (_, n, _) in enumerate(files))
    check(conn.multiline() == expected + b".\r\n", "UIDL = the name up to ':' (qmail-pop3d, Dovecot %f)")
    for i, (_, _, data) in enumerate(files, 1):
        check(conn.cmd("RETR %d" % i) == b"+OK\r\n", "RETR %d" % i)
        check(decode_retr(conn.multiline()) == lf(data), "RETR %d: the bytes, CRLF-normalised" % i)
    check(conn.cmd("QUIT") == b"+OK\r\n", "QUIT")
    conn.close()


def with_poplib(port, files):
    poplib._MAXLINE = 1 << 16
    pop = poplib.POP3("127.0.0.1", port, timeout=WAIT)
    pop.user("alice")
    pop.pass_(PASSWORD)
    _, lines, _ = pop.top(3, 0)
    check(b"".join(l + b"\n" for l in lines) == files[2][2].split(b"\n\n")[0] + b"\n\n", "poplib top 3 0")
    for i, (_, _, data) in enumerate(files, 1):
        _, lines, _ = pop.retr(i)
        check(b"".join(l + b"\n" for l in lines) == lf(data), "poplib retr %d" % i)
    pop.quit()


def with_curl(port, files):
    url = "pop3://127.0.0.1:%d/" % port
    auth = ["curl", "-u", "alice:" + PASSWORD, "--silent", "--show-error", "--max-time", str(WAIT)]
    for i, (_, _, data) in enumerate(files, 1):
        r = subprocess.run(auth + [url + str(i)], capture_output=True, timeout=WAIT * 2)
        check(r.returncode == 0 and r.stdout == wire(data), "curl RETR %d byte for byte" % i)


def with_fetchmail(port, files, work):
    argv, env, out = fetchmail_setup(port, work)
    r = subprocess.run(argv, capture_output=True, timeout=WAIT * 2, env=env)
    check(r.returncode == 0, "fetchmail first run (%s)" % (r.stdout + r.stderr).decode(errors="replace").strip())
    check(files_in(out) == sorted(wire(d) for _, _, d in files), "fetchmail fetched every message byte for byte")
    r = subprocess.run(argv, capture_output=True, timeout=WAIT * 2, env=env)
    check(r.returncode == 1 and len(files_in(out)) == len(files), "fetchmail second run: nothing new (UIDL)")


def with_mpop(port, files, work, maildir):
    argv, target = mpop_setup(port, work)
    r = subprocess.run(argv, capture_output=True, timeout=WAIT * 2)
    check(r.returncode == 0, "mpop first run (%s)" % r.stderr.decode(errors="replace").strip())
    fetched = files_in(target, ("new", "cur"))
    check(fetched == sorted(lf(d) for _, _, d in files), "mpop fetched every message byte for byte")
    r = subprocess.run(argv, capture_output=True, timeout=WAIT * 2)
    check(r.returncode == 0 and files_in(target, ("new", "cur")) == fetched, "mpop second run: nothing new (UIDL)")
    r = subprocess.run(argv[:-1] + ["--keep=off", "test"], capture_output=True, timeout=WAIT * 2)
    check(r.returncode == 0, "mpop --keep=off")
    check(names(maildir) == {"new": ["1700000000.dir"], "cur": []}, "QUIT unlinked every deleted file")
    with open(os.path.join(maildir, "maildirsize")) as f:
        quota = f.read().splitlines()
    check(quota[-1] == "-%d -%d" % (sum(len(d) for _, _, d in files), len(files)),
          "maildirsize: one line for the deleted files (%s)" % quota[-1])


def serve_maildir(binary, label, sandbox, argv, use_template):
    files = fixture_files()
    if use_template:
        maildir = os.path.join(sandbox.dir, "maildirs", "alice")
        os.makedirs(os.path.dirname(maildir))
        sandbox.account.own(os.path.dirname(maildir), 0o755)
        argv = argv + ["--mailbox", "maildir:%s/maildirs/%%u" % sandbox.dir]
    else:
        maildir = os.path.join(sandbox.dir, "Maildir")
        with open(sandbox.users_file) as f:
            users = f.read()
        with open(sandbox.users_file, "w") as f:
            f.write(users.replace(":\n", ":maildir:%s\n" % maildir, 1))
    make_maildir(maildir, sandbox.account, files)
    work = tempfile.mkdtemp(prefix="popa3d-e2e-maildir-")
    daemon = Daemon(argv)
    try:
        print("== %s, %s" % (label, "--mailbox maildir:.../%u" if use_template else "users-file maildir:"))
        with_raw_session(daemon.port, files)
        moved = names(maildir)
        check(moved["new"] == ["1700000000.dir"] and
              moved["cur"] == sorted([n if s == "cur" else n + ":2," for s, n, _ in files]),
              "QUIT moved the kept files of new/ to cur/ with :2, (%s)" % moved)
        with_poplib(daemon.port, files)
        if shutil.which("curl"):
            with_curl(daemon.port, files)
        if shutil.which("fetchmail"):
            with_fetchmail(daemon.port, files, work)
        if shutil.which("mpop"):
            with_mpop(daemon.port, files, work, maildir)
        check(daemon.stop() == 0, "daemon exits 0")
    finally:
        daemon.stop()
        shutil.rmtree(work, ignore_errors=True)


def home_templates(binary):
    """--mailbox mbox:%h/Mailbox and maildir:%h/Maildir for a system account (root only)."""
    if os.geteuid() != 0:
        print("note: not root: the %h templates of system accounts are not exercised")
        return
    temp_account.require_root("the %h templates")
    account = temp_account.TempAccount("pmd")
    try:
        home = os.path.join(account.dir, "home")
        os.mkdir(home)
        os.chown(home, account.uid, account.gid)
        temp_account.run("usermod", "--home", home, account.name)
        mbox = os.path.join(home, "Mailbox")
        with open(mbox, "wb") as f:
            f.write(make_mbox(MESSAGES[:2]))
        os.chown(mbox, account.uid, account.gid)
        os.chmod(mbox, 0o600)
        os.utime(mbox, (1_000_000_000, 1_000_000_000))
        maildir = os.path.join(home, "Maildir")
        for sub in ("", "new", "cur", "tmp"):
            os.mkdir(os.path.join(maildir, sub))
            os.chown(os.path.join(maildir, sub), account.uid, account.gid)
        with open(os.path.join(maildir, "new", "1700000001.x"), "wb") as f:
            f.write(MESSAGES[3])
        os.chown(os.path.join(maildir, "new", "1700000001.x"), account.uid, account.gid)
        for template, count in (("mbox:%h/Mailbox", 2), ("maildir:%h/Maildir", 1), ("maildir:%h/absent", 0)):
            daemon = Daemon(account.argv(binary, "--mailbox", template))
            try:
                conn = Conn.tcp(daemon.port)
                conn.line()
                conn.cmd("USER " + account.name)
                check(conn.cmd("PASS " + account.password) == b"+OK\r\n", "%s: login" % template)
                check(conn.cmd("STAT").startswith(b"+OK %d " % count), "%s: %d messages" % (template, count))
                if count:
                    check(conn.cmd("RETR 1") == b"+OK\r\n", "%s: RETR 1" % template)
                    expected = MESSAGES[0] if template.startswith("mbox") else MESSAGES[3]
                    check(decode_retr(conn.multiline()) == expected, "%s: RETR 1 bytes" % template)
                check(conn.cmd("QUIT") == b"+OK\r\n", "%s: QUIT" % template)
                conn.close()
            finally:
                daemon.stop()
        check(os.listdir(os.path.join(maildir, "cur")) == ["1700000001.x:2,"], "maildir:%h: QUIT moved new to cur")
    finally:
        account.remove()


def main():
    binary = binary_from_argv()
    for use_template in (False, True):
        for label, sandbox, argv in process_models(binary):
            serve_maildir(binary, label, sandbox, argv, use_template)
    home_templates(binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
