#!/usr/bin/env python3
"""The UPDATE journal through the daemon, as root with privilege separation (issue 13).

Root opens the mailbox's journal in --journal-dir before the drop (0600, owned by the
account, named by the mailbox's device and inode); the spool never gets an extra file.
A session killed with SIGKILL at a random moment of its QUIT leaves a mailbox that the
next session (which recovers before its scan) or `popa3d --recover` shows as it was
before UPDATE or after it, with the UIDLs of that file. A journal directory on a full
file system (a 16 KiB tmpfs mounted here) makes UPDATE fall back to the in-place update:
QUIT still gives +OK, the mailbox is right, and the log says so. Once the mailbox is gone,
`popa3d --recover` removes its done journal.
"""

import os
import pwd
import random
import shutil
import signal
import stat
import subprocess
import tempfile
import time

from e2e_common import (FROM_LINE, WAIT, Inetd, Sandbox, binary_from_argv, check, fail, login,
                        unavailable)

MESSAGES = [b"Message-ID: <m%d@example.org>\nSubject: %d\n\n" % (i, i)
            + (b"line %d " % i + b"x" * 64 + b"\n") * (2000 + 500 * (i % 7)) for i in range(60)]
BEFORE = b"".join(FROM_LINE + m + b"\n" for m in MESSAGES)
AFTER = b"".join(FROM_LINE + m + b"\n" for m in MESSAGES[1:])


def argv_for(binary, sandbox, chroot, journal_dir, *extra):
    return [binary, "--users-file", sandbox.users_file, "--spool", sandbox.spool, "--stderr",
            "--user", "popa3d", "--chroot", chroot, "--journal-dir", journal_dir] + list(extra)


def uidl(argv):
    """The UIDL listing of a session that deletes nothing (and so recovers, if it must)."""
    server = Inetd(argv)
    login(server.conn)
    check(server.conn.cmd("UIDL") == b"+OK\r\n", "UIDL +OK")
    listing = server.conn.multiline()
    server.conn.cmd("QUIT")
    status, err = server.finish()
    if status != 0:
        fail("session exited %d: %s" % (status, err))
    return listing, err


def dele1_quit(argv, kill_after=None):
    """DELE 1 and QUIT; with kill_after, SIGKILL that many seconds after QUIT was sent.
    Returns QUIT's reply (b"" if killed first) and the log."""
    server = Inetd(argv)
    login(server.conn)
    check(server.conn.cmd("DELE 1") == b"+OK\r\n", "DELE 1")
    server.conn.send(b"QUIT\r\n")
    if kill_after is not None:
        time.sleep(kill_after)
        try:
            os.killpg(server.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        reply = server.conn.line()
    except Exception:  # the connection ended without a reply
        reply = b""
    _, err = server.finish()
    return reply, err


def journal_idle(path):
    """Nothing to recover: empty, or the done mark (a zero record header) at its start; a
    finished UPDATE keeps the journal's blocks for the next one."""
    with open(path, "rb") as f:
        head = f.read(12)
    return len(head) < 12 or head == bytes(12)


def main():
    binary = binary_from_argv()
    if os.geteuid() != 0:
        unavailable("the journal is made by root: run as root")
    try:
        pwd.getpwnam("popa3d")
    except KeyError:
        unavailable("no user popa3d (scripts/ci-accounts.sh creates it)")
    sandbox = Sandbox(mbox=BEFORE)
    os.chown(sandbox.users_file, 0, 0)
    chroot = tempfile.mkdtemp(prefix="popa3d-e2e-empty-")
    os.chmod(chroot, 0o755)
    journal_dir = tempfile.mkdtemp(prefix="popa3d-e2e-journal-")
    full_dir = tempfile.mkdtemp(prefix="popa3d-e2e-full-")
    mounted = False
    try:
        argv = argv_for(binary, sandbox, chroot, journal_dir)
        before_uidl, _ = uidl(argv)
        st = os.lstat(sandbox.mbox_path)
        name = "mbox-%x-%x" % (st.st_dev, st.st_ino)
        journal = os.path.join(journal_dir, name)
        js = os.lstat(journal)
        check(stat.S_ISREG(js.st_mode) and stat.S_IMODE(js.st_mode) == 0o600
              and js.st_uid == sandbox.account.uid and js.st_size == 0,
              "root made the journal %s: 0600, the account's, empty" % name)
        check(os.listdir(sandbox.spool) == ["alice"], "the spool holds the mailbox alone")

        reply, _ = dele1_quit(argv)
        check(reply == b"+OK\r\n" and sandbox.read_mbox() == AFTER, "DELE 1, QUIT: +OK, compacted")
        after_uidl, _ = uidl(argv)
        check(journal_idle(journal), "the journal holds nothing to recover again")

        # Kills at random moments of QUIT; each next session recovers before its scan.
        rng = random.Random(13)
        kills = 0
        window = 0.15
        for attempt in range(15):
            sandbox.write_mbox(BEFORE)
            reply, _ = dele1_quit(argv, kill_after=rng.uniform(0, window))
            if reply == b"":
                kills += 1
            else:  # QUIT finished first: aim sooner (a fast disk, or an idle machine)
                window *= 0.75
            listing, _ = uidl(argv)
            now = sandbox.read_mbox()
            if now not in (BEFORE, AFTER):
                fail("attempt %d: damaged mailbox (%d bytes) after a kill during QUIT" % (attempt, len(now)))
            if listing != (before_uidl if now == BEFORE else after_uidl):
                fail("attempt %d: the UIDLs after recovery are not those of the file" % attempt)
            if not journal_idle(journal) or os.listdir(sandbox.spool) != ["alice"]:
                fail("attempt %d: journal left to recover, or an extra file in the spool" % attempt)
        check(kills > 0, "%d of 15 sessions killed during QUIT; every mailbox before or after, UIDLs right"
              % kills)

        # --recover finishes a journal that a killed session left, as the mailbox's owner.
        left = False
        for attempt in range(40):
            sandbox.write_mbox(BEFORE)
            dele1_quit(argv, kill_after=rng.uniform(0.005, 0.06))
            if not journal_idle(journal):
                left = True
                break
        if left:
            r = subprocess.run(argv + ["--recover"], capture_output=True, timeout=WAIT)
            check(r.returncode == 0, "--recover exits 0 (%s)" % r.stderr.decode(errors="replace").strip())
            check(journal_idle(journal) and sandbox.read_mbox() in (BEFORE, AFTER)
                  and os.lstat(sandbox.mbox_path).st_uid == sandbox.account.uid,
                  "--recover finished the interrupted UPDATE; the mailbox is still the account's")
        else:
            print("note: no kill left a journal for --recover in 40 tries", flush=True)

        # --recover removes the done journal of a mailbox that is gone (an account deleted),
        # and says so; the mailbox made again later gets a journal of its own.
        sandbox.write_mbox(BEFORE)
        reply, _ = dele1_quit(argv)
        check(reply == b"+OK\r\n" and journal_idle(journal) and os.path.getsize(journal) > 0,
              "DELE 1, QUIT: the journal is done and keeps its blocks (full durability)")
        os.unlink(sandbox.mbox_path)
        r = subprocess.run(argv + ["--recover"], capture_output=True, timeout=WAIT)
        err = r.stderr.decode(errors="replace")
        check(r.returncode == 0 and not os.path.exists(journal) and "Removed the journal " + name in err,
              "--recover removed the done journal of the deleted mailbox and logged it (%s)" % err.strip())

        # A full file system under the journal: the update in place, +OK, logged.
        if shutil.which("mount") is None:
            unavailable("mount(8) is needed for the disk-full case")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k,mode=0700", "tmpfs", full_dir],
                           capture_output=True, timeout=WAIT)
        if r.returncode != 0:
            unavailable("cannot mount a tmpfs: %s" % r.stderr.decode(errors="replace").strip())
        mounted = True
        full_argv = argv_for(binary, sandbox, chroot, full_dir)
        sandbox.write_mbox(BEFORE)
        reply, err = dele1_quit(full_argv)
        check(reply == b"+OK\r\n", "disk full under the journal: QUIT still gives +OK")
        check(sandbox.read_mbox() == AFTER, "disk full: the mailbox compacted in place, intact")
        check("in place" in err, "disk full: the fallback is logged")
    finally:
        if mounted:
            subprocess.run(["umount", full_dir], timeout=WAIT)
        os.rmdir(full_dir)
        shutil.rmtree(journal_dir, ignore_errors=True)
        os.rmdir(chroot)
        sandbox.cleanup()


if __name__ == "__main__":
    main()
