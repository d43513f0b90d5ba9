"""A temporary system account for the root-only end-to-end tests: made with
useradd and chpasswd (so its hash is what this system's passwd writes), a
spool directory with its mailbox, and removed with userdel afterwards.

Without root the test cannot run: it fails under CI=true (CI runs as root)
and is skipped otherwise."""

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile

from e2e_common import WAIT, fail, make_mbox, unavailable


def require_root(what):
    """Root and the pre-auth user popa3d (scripts/ci-accounts.sh), or no test."""
    problem = None
    if os.geteuid() != 0:
        problem = "not root: %s needs root" % what
    else:
        try:
            pwd.getpwnam("popa3d")
        except KeyError:
            problem = "no pre-auth user popa3d: run scripts/ci-accounts.sh as root"
    if problem is not None:
        unavailable(problem)


def run(*argv):
    done = subprocess.run(list(argv), capture_output=True, timeout=WAIT)
    if done.returncode != 0:
        fail("%s: %s" % (" ".join(argv), done.stderr.decode(errors="replace").strip()))


class TempAccount:
    """User `name` with password `password`, mailbox `spool`/`name`, and an empty
    root-owned chroot directory for the pre-auth child."""

    def __init__(self, prefix):
        for tool in ("useradd", "userdel", "chpasswd", "chage", "usermod"):
            if shutil.which(tool) is None:
                unavailable("%s(8) is needed (apt-get install passwd)" % tool)
        self.name = "%s%d" % (prefix, os.getpid() % 100000)
        self.password = "pw-" + secrets.token_hex(12)
        self.dir = tempfile.mkdtemp(prefix="popa3d-e2e-account-")
        os.chmod(self.dir, 0o755)
        self.spool = os.path.join(self.dir, "spool")
        os.mkdir(self.spool, 0o755)
        self.chroot = os.path.join(self.dir, "empty")
        os.mkdir(self.chroot, 0o755)
        run("useradd", "--no-create-home", "--home-dir", "/nonexistent",
            "--shell", "/usr/sbin/nologin", self.name)
        self.created = True
        subprocess.run(["chpasswd"], input=("%s:%s\n" % (self.name, self.password)).encode(),
                       timeout=WAIT, check=True)
        entry = pwd.getpwnam(self.name)
        self.uid, self.gid = entry.pw_uid, entry.pw_gid
        self.mbox = os.path.join(self.spool, self.name)
        with open(self.mbox, "wb") as f:
            f.write(make_mbox())
        os.chown(self.mbox, self.uid, self.gid)
        os.chmod(self.mbox, 0o600)
        os.utime(self.mbox, (1_000_000_000, 1_000_000_000))

    def argv(self, binary, *args):
        """The daemon as root with system accounts, this spool and chroot."""
        return [binary, "--spool", self.spool, "--user", "popa3d", "--chroot", self.chroot,
                "--stderr"] + list(args)

    def remove(self):
        if getattr(self, "created", False):
            subprocess.run(["userdel", self.name], capture_output=True, timeout=WAIT)
            self.created = False
        shutil.rmtree(self.dir, ignore_errors=True)


def shadow_hashes():
    """Every usable hash in /etc/shadow, as (account, hash)."""
    found = []
    with open("/etc/shadow") as f:
        for line in f:
            fields = line.rstrip("\n").split(":")
            if len(fields) > 1 and fields[1] and fields[1][0] not in "!*":
                found.append((fields[0], fields[1]))
    return found
