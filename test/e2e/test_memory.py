#!/usr/bin/env python3
"""No password hash and no password in the memory of the daemon's processes
(root only). With system accounts, in -D mode, a session is held open at the
AUTHORIZATION stage and then after login; each time the memory of every
process of it (the listener, the session process, the pre-auth child) is read
through /proc/PID/maps and /proc/PID/mem and searched for the hash part of
every usable /etc/shadow entry and for the password. The same for the
listener of a users-file daemon and its file's hash."""

import re
import sys

from e2e_common import Conn, Daemon, Sandbox, binary_from_argv, check, children, wait_for
from temp_account import TempAccount, require_root, shadow_hashes

MAPS_LINE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+)")


# AddressSanitizer's shadow is a readable reservation of terabytes that holds only shadow
# bytes; no mapping that holds program data comes near this size.
MAX_REGION = 1 << 40
CHUNK = 1 << 20


def regions(pid):
    """(start, end) of each readable mapping of `pid` with resident or swapped pages."""
    found = []
    current = None
    with open("/proc/%d/smaps" % pid) as smaps:
        for line in smaps:
            m = MAPS_LINE.match(line)
            if m:
                start, end = int(m.group(1), 16), int(m.group(2), 16)
                readable = (m.group(3).startswith("r") and "[vvar" not in line
                            and "[vsyscall]" not in line and end - start <= MAX_REGION)
                current = [start, end, 0] if readable else None
                if current is not None:
                    found.append(current)
            elif current is not None and (line.startswith("Rss:") or line.startswith("Swap:")):
                current[2] += int(line.split()[1])
    return [(start, end) for start, end, kib in found if kib > 0]


def search(pid, needles):
    """Which of `needles` occur in the memory of `pid`, and how many bytes were read."""
    found = set()
    total = 0
    overlap = max(len(n) for n in needles) - 1
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for start, end in regions(pid):
            tail = b""
            for at in range(start, end, CHUNK):
                try:
                    mem.seek(at)
                    chunk = mem.read(min(CHUNK, end - at))
                except OSError:
                    break   # a mapping that cannot be read (device memory)
                total += len(chunk)
                window = tail + chunk
                found.update(n for n in needles if n in window)
                tail = window[-overlap:] if overlap > 0 else b""
    return found, total


def scan(stage, pids, secrets, present):
    """No secret in any of `pids`; `present` (bytes known to be there) proves the reading works."""
    for role, pid in pids:
        found, total = search(pid, [present[role]] + [secret for _, secret in secrets])
        check(total > 0 and present[role] in found,
              "%s: %s (pid %d): %d bytes read, including %r" % (stage, role, pid, total, present[role]))
        for name, secret in secrets:
            check(secret not in found, "%s: no %s in the %s's memory" % (stage, name, role))


def main():
    binary = binary_from_argv()
    require_root("reading the daemon's memory")
    account = TempAccount("p3mem")
    daemon = None
    try:
        secrets = [("password", account.password.encode())]
        for user, hash_ in shadow_hashes():
            # The part after the salt: crypt(3)'s output, which no dummy setting holds.
            secrets.append(("hash of " + user, hash_.rsplit("$", 1)[-1].encode()))
        check(any(user == account.name for user, _ in shadow_hashes()), "the test account has a hash")

        daemon = Daemon(account.argv(binary, "--failure-delay", "0"))
        listener = daemon.proc.pid
        conn = Conn.tcp(daemon.port)
        check(conn.line() == b"+OK\r\n", "greeting")
        check(conn.cmd("USER " + account.name) == b"+OK\r\n", "USER")
        session = wait_for("the session process", lambda: children(listener))[0]
        preauth = wait_for("the pre-auth child", lambda: children(session))[0]
        name = account.name.encode()
        scan("before PASS", [("listener", listener), ("session process", session),
                             ("pre-auth child", preauth)], secrets,
             {"listener": b"popa3d", "session process": b"popa3d", "pre-auth child": name})

        check(conn.cmd("PASS " + account.password) == b"+OK\r\n", "PASS: logged in")
        check(conn.cmd("STAT").startswith(b"+OK 4 "), "STAT")
        check(children(session) == [], "the pre-auth child and the check's child are gone")
        scan("after login", [("listener", listener), ("session process", session)], secrets,
             {"listener": b"popa3d", "session process": name})
        check(conn.cmd("QUIT") == b"+OK\r\n", "QUIT")
        conn.close()
        daemon.stop()
        daemon = None

        # A users file: its hash is read into the listener at startup and wiped there.
        sandbox = Sandbox()
        try:
            daemon = Daemon(sandbox.command(binary, "--failure-delay", "0"))
            conn = Conn.tcp(daemon.port)
            check(conn.line() == b"+OK\r\n", "users file: greeting")
            scan("users file", [("listener", daemon.proc.pid)],
                 [("users-file hash", sandbox.hash.rsplit("$", 1)[-1].encode())],
                 {"listener": sandbox.users_file.encode()})
            conn.close()
        finally:
            if daemon is not None:
                daemon.stop()
                daemon = None
            sandbox.cleanup()
    finally:
        if daemon is not None:
            daemon.stop()
        account.remove()
    return 0


if __name__ == "__main__":
    sys.exit(main())
