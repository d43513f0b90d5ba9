#!/usr/bin/env python3
"""Hardening of the built binary and of every process of a session (issue 9, items 11, 12).

- The executable: position-independent, full RELRO (BIND_NOW), no executable stack, stack
  canaries and stack-clash probes, and (in an optimised build) _FORTIFY_SOURCE's checked
  libc calls: read off the ELF file and its debug information with readelf(1).
- Every process, in inetd mode and in -D mode, as root with privilege separation: the
  pre-auth child, the root half before the login, the session after it, the -D listener.
  None holds a descriptor the caller passed in (a file opened by this test and inherited
  by the binary); each has RLIMIT_CORE 0; the ones that run as another user than root are
  not dumpable (their /proc files stay root's, so that user can neither ptrace them nor
  read their memory). A detached -D listener has /dev/null on descriptors 0, 1 and 2.

Needs root and the pre-auth user popa3d (scripts/ci-accounts.sh); skipped without them,
except under CI=true, where that is a failure.
"""

import os
import pwd
import shutil
import signal
import subprocess
import tempfile

from e2e_common import (PASSWORD, WAIT, Conn, Daemon, Inetd, binary_from_argv, check, children,
                        free_port, make_mbox, password_hash, unavailable, wait_for)


def check_executable(binary):
    readelf = shutil.which("readelf")
    if readelf is None:
        unavailable("readelf(1) is needed (apt-get install binutils)")

    def run(*args):
        return subprocess.run([readelf, "-W"] + list(args) + [binary], capture_output=True,
                              text=True, timeout=WAIT, check=True).stdout

    check("DYN (Position-Independent Executable file)" in run("-h"), "executable is PIE")
    dynamic = run("-d")
    check("BIND_NOW" in dynamic and "PIE" in dynamic, "BIND_NOW and FLAGS_1 PIE (full RELRO)")
    segments = run("-l")
    check("GNU_RELRO" in segments, "GNU_RELRO segment")
    stack = [l for l in segments.splitlines() if "GNU_STACK" in l]
    check(len(stack) == 1 and "RWE" not in stack[0], "stack not executable")
    symbols = run("--dyn-syms")
    # The statically linked libstdc++ brings __stack_chk_fail and a few _chk calls of its
    # own, so the compiler flags of our code are read from the DWARF producer string of its
    # translation unit, and _FORTIFY_SOURCE (a macro, not in that string) from calls that
    # only our code makes.
    check("__stack_chk_fail" in symbols, "stack protector (__stack_chk_fail)")
    if os.environ.get("POP3_BUILD_TYPE", "") not in ("", "Debug"):
        check(any(f in symbols for f in ("__printf_chk", "__fprintf_chk", "__syslog_chk")),
              "_FORTIFY_SOURCE (checked libc calls such as __syslog_chk)")
    info = subprocess.run([readelf, "--debug-dump=info", binary], capture_output=True,
                          text=True, timeout=60).stdout
    producers = [l for l in info.splitlines() if "DW_AT_producer" in l and "C++20" in l]
    if not producers:
        print("note: no debug information, compiler flags not checked", flush=True)
    for flag in ("-fstack-protector-strong", "-fstack-clash-protection", "-fPIE"):
        if producers:
            check(all(flag in p for p in producers), "compiled with " + flag)

def status_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[2])  # effective
    return None


def check_process(pid, role, marker):
    fds = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            fds[int(fd)] = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except FileNotFoundError:
            pass
    check(marker not in fds.values(), "%s (pid %d): no inherited descriptor (has %s)"
          % (role, pid, sorted(fds)))
    with open("/proc/%d/limits" % pid) as f:
        core = [l.split()[4:6] for l in f if l.startswith("Max core file size")]
    check(core == [["0", "0"]], "%s: RLIMIT_CORE is 0 (%s)" % (role, core))
    uid = status_uid(pid)
    if uid != 0:
        check(os.stat("/proc/%d/mem" % pid).st_uid == 0,
              "%s runs as uid %d and is not dumpable" % (role, uid))
    return fds


class Setup:
    """A users file, a chroot and a spool for a privilege-separated run as root."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="popa3d-hardening-")
        os.chmod(self.dir, 0o755)
        self.chroot = os.path.join(self.dir, "empty")
        os.mkdir(self.chroot, 0o755)
        nobody = pwd.getpwnam("nobody")
        spool = os.path.join(self.dir, "spool")
        os.mkdir(spool, 0o700)
        os.chown(spool, nobody.pw_uid, nobody.pw_gid)
        mbox = os.path.join(spool, "alice")
        with open(mbox, "wb") as f:
            f.write(make_mbox())
        os.chown(mbox, nobody.pw_uid, nobody.pw_gid)
        os.utime(mbox, (1_000_000_000, 1_000_000_000))
        users = os.path.join(self.dir, "users")
        with open(users, "w") as f:
            f.write("alice:%s:%d:%d:\n" % (password_hash(), nobody.pw_uid, nobody.pw_gid))
        os.chmod(users, 0o600)
        # The descriptor the binary inherits, and must close at once.
        self.marker = os.path.join(self.dir, "inherited-marker")
        self.marker_fd = os.open(self.marker, os.O_WRONLY | os.O_CREAT, 0o600)
        self.args = ["--users-file", users, "--spool", spool, "--chroot", self.chroot,
                     "--stderr"]

    def cleanup(self):
        os.close(self.marker_fd)
        shutil.rmtree(self.dir, ignore_errors=True)


def inetd_mode(binary, setup):
    print("== inetd mode")
    server = Inetd([binary] + setup.args, pass_fds=(setup.marker_fd,))
    proc, conn = server.proc, server.conn
    check(conn.line() == b"+OK\r\n", "greeting")
    child = wait_for("the pre-auth child", lambda: children(proc.pid))[0]
    check_process(child, "pre-auth child", setup.marker)
    check_process(proc.pid, "root half before login", setup.marker)
    check(conn.cmd("USER alice") == b"+OK\r\n", "USER")
    check(conn.cmd("PASS " + PASSWORD) == b"+OK\r\n", "PASS")
    check(conn.cmd("STAT").startswith(b"+OK 4 "), "STAT")
    check_process(proc.pid, "session after login", setup.marker)
    check(conn.cmd("QUIT") == b"+OK\r\n", "QUIT")
    status, err = server.finish()
    check(status == 0, "exit 0 (%s)" % err.strip())


def daemon_mode(binary, setup):
    print("== -D --foreground")
    daemon = Daemon([binary] + setup.args, pass_fds=(setup.marker_fd,))
    try:
        check_process(daemon.proc.pid, "listener", setup.marker)
        conn = Conn.tcp(daemon.port)
        check(conn.line() == b"+OK\r\n", "greeting")
        session = wait_for("the session process", lambda: children(daemon.proc.pid))[0]
        child = wait_for("its pre-auth child", lambda: children(session))[0]
        check_process(session, "session before login", setup.marker)
        check_process(child, "pre-auth child", setup.marker)
        check(conn.cmd("USER alice") == b"+OK\r\n", "USER")
        check(conn.cmd("PASS " + PASSWORD) == b"+OK\r\n", "PASS")
        check_process(session, "session after login", setup.marker)
        check(conn.cmd("QUIT") == b"+OK\r\n", "QUIT")
        conn.close()
    finally:
        daemon.stop()

    print("== -D, detached")
    port = free_port()
    subprocess.run([binary] + setup.args + ["-D", "--listen", "127.0.0.1", "--port", str(port)],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   pass_fds=(setup.marker_fd,), timeout=WAIT, check=True)

    def detached():
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv[:1] == [binary.encode()] and str(port).encode() in argv:
                return int(entry)
        return None

    pid = wait_for("the detached listener", detached)
    try:
        fds = check_process(pid, "detached listener", setup.marker)
        check(all(fds.get(fd) == "/dev/null" for fd in (0, 1, 2)),
              "detached listener: 0, 1 and 2 are /dev/null (%s)" % {k: fds.get(k) for k in (0, 1, 2)})
    finally:
        os.kill(pid, signal.SIGTERM)
        wait_for("the listener to stop", lambda: not os.path.exists("/proc/%d" % pid) or
                 open("/proc/%d/stat" % pid).read().split()[2] == "Z")


def main():
    binary = binary_from_argv()
    check_executable(binary)
    if os.geteuid() != 0:
        unavailable("the process checks need root (privilege separation)")
    try:
        pwd.getpwnam("popa3d")
        pwd.getpwnam("nobody")
    except KeyError:
        unavailable("no pre-auth user popa3d or no nobody: run scripts/ci-accounts.sh as root")
    if not os.access(binary, os.X_OK):
        unavailable("binary %s is not executable" % binary)
    setup = Setup()
    try:
        inetd_mode(binary, setup)
        daemon_mode(binary, setup)
    finally:
        setup.cleanup()
    print("PASS")


if __name__ == "__main__":
    main()
