#!/usr/bin/env python3
"""Runs the recorded popa3d 1.0.3 conversations (shared/conformance) against the
built binary in inetd mode, as root, with the system account alice.

Needs root, the account alice (password "secret", group mail) and the
pre-auth user popa3d: scripts/ci-accounts.sh creates them. Without them the
test is skipped, except under CI=true, where it fails. The privilege-separated
child is chrooted into a temporary empty directory, so /var/empty need not
exist. run.py replaces /var/mail/alice for each case and restores it.

Usage: test_conformance.py PATH-TO-popa3d PATH-TO-shared/conformance
"""

import grp
import os
import pwd
import shlex
import shutil
import subprocess
import sys
import tempfile

from e2e_common import unavailable


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    binary, conformance = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    run_py = os.path.join(conformance, "run.py")
    if not os.path.isfile(run_py):
        unavailable("no conformance harness at %s" % run_py)
    if not os.access(binary, os.X_OK):
        unavailable("binary %s is not built" % binary)
    if os.geteuid() != 0:
        unavailable("needs root (run.py installs /var/mail/alice; the server starts as root)")
    for user in ("alice", "popa3d"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            unavailable("no system account %s: run scripts/ci-accounts.sh as root" % user)
    try:
        grp.getgrnam("mail")
    except KeyError:
        unavailable("no group mail: run scripts/ci-accounts.sh as root")
    if not os.path.isdir("/var/mail"):
        unavailable("no /var/mail spool directory")

    chroot = tempfile.mkdtemp(prefix="popa3d-conformance-empty-")
    os.chmod(chroot, 0o755)
    try:
        server = " ".join(shlex.quote(a) for a in
                          [binary, "--user", "popa3d", "--chroot", chroot,
                           "--failure-delay", "0"])
        argv = [sys.executable, run_py, "--server", server, os.path.join(conformance, "cases")]
        print("$ " + " ".join(shlex.quote(a) for a in argv), flush=True)
        # run.py bounds every case itself (60 s by default, less for most).
        return subprocess.run(argv).returncode
    finally:
        shutil.rmtree(chroot, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
