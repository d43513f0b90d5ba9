#!/usr/bin/env python3
"""--dotlock through the daemon: QUIT's update of an mbox waits while dotlockfile(1) holds
MAILBOX.lock and goes on once it is released; a stale lock (older than 5 minutes) is
removed; no lock is left behind. As an ordinary user the spool is writable and the lock is
made with link(2); as root with privilege separation the spool is Debian's 2775 root:mail,
which the user cannot write to, so the setgid dotlockfile takes the lock."""

import grp
import os
import select
import subprocess
import sys

from e2e_common import (MESSAGES, Conn, Daemon, WAIT, binary_from_argv, check, login, make_mbox,
                        process_models, unavailable)

DOTLOCKFILE = "/usr/bin/dotlockfile"


def quit_after_dele(daemon, hold=None):
    """DELE 1 and QUIT; with `hold` (the lock's path) QUIT must wait until it is released."""
    conn = Conn.tcp(daemon.port)
    login(conn)
    check(conn.cmd("DELE 1") == b"+OK\r\n", "DELE 1")
    conn.send("QUIT\r\n")
    if hold is not None:
        r, _, _ = select.select([conn.rfd], [], [], 1.0)
        check(not r, "no reply to QUIT while dotlockfile holds %s" % os.path.basename(hold))
        subprocess.run([DOTLOCKFILE, "-u", hold], check=True, timeout=WAIT)
    reply = conn.line()
    conn.close()
    return reply


def main():
    binary = binary_from_argv()
    if not os.access(DOTLOCKFILE, os.X_OK):
        unavailable("dotlockfile is needed (apt-get install liblockfile-bin)")
    for label, sandbox, argv in process_models(binary):
        lock = sandbox.mbox_path + ".lock"
        if label == "privsep":
            # Debian's /var/mail: the user may not create the lock; dotlockfile (setgid mail) may.
            os.chown(sandbox.dir, 0, 0)
            os.chmod(sandbox.dir, 0o755)
            os.chown(sandbox.spool, 0, grp.getgrnam("mail").gr_gid)
            os.chmod(sandbox.spool, 0o2775)
        daemon = Daemon(argv + ["--dotlock"])
        try:
            subprocess.run([DOTLOCKFILE, "-l", "-r", "0", lock], check=True, timeout=WAIT)
            check(quit_after_dele(daemon, hold=lock) == b"+OK\r\n", "%s: QUIT +OK once the lock is free" % label)
            check(sandbox.read_mbox() == make_mbox(MESSAGES[1:]), "%s: message 1 deleted" % label)
            check(not os.path.exists(lock), "%s: no lock left behind" % label)

            with open(lock, "w") as f:
                f.write("0\n")
            os.utime(lock, (1_000_000_000, 1_000_000_000))
            check(quit_after_dele(daemon) == b"+OK\r\n", "%s: a stale lock is removed" % label)
            check(sandbox.read_mbox() == make_mbox(MESSAGES[2:]), "%s: message 2 deleted" % label)
            check(not os.path.exists(lock), "%s: no lock left behind after a stale one" % label)
            check(daemon.stop() == 0, "%s: daemon exits 0" % label)
        finally:
            daemon.stop()
            if os.path.exists(lock):
                os.unlink(lock)
    return 0


if __name__ == "__main__":
    sys.exit(main())
