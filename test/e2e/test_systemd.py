#!/usr/bin/env python3
"""systemd: socket activation, readiness notification and the shipped units.

- -D under systemd-socket-activate(1) with two sockets named pop3 and pop3s (FileDescriptorName):
  plain POP3 on the one, implicit TLS on the other, READY=1 to $NOTIFY_SOCKET before the first
  session is served and from the process systemd started (no detaching), STOPPING=1 on SIGTERM,
  then exit 0. As root, under the units' CapabilityBoundingSet, with a journal for UPDATE; and
  a pam_unix login of a temporary system account under that set.
- inetd mode under systemd-socket-activate --inetd -a (Accept=yes, popa3d@.service), with the
  connection also on descriptor 3 and LISTEN_FDS=1, as systemd passes it.
- Passed descriptors that are not a listening TCP socket named pop3 or pop3s, malformed
  variables, and --port beside passed sockets: a one-line startup error, exit 1. LISTEN_PID of
  another process: ignored. $NOTIFY_SOCKET without passed sockets: READY=1, in the foreground.
- systemd-analyze verify on dist/systemd (ExecStart pointed at the built binary, since a fresh
  machine has no /usr/sbin/popa3d), with a misspelt copy as the control."""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

from e2e_common import (MESSAGES, WAIT, Conn, basic_session, binary_from_argv, check, fail,
                        free_port, login, make_mbox, unavailable)
from temp_account import TempAccount
from tls_common import TlsConn, listening, tls_process_models

UNITS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dist", "systemd")


def tool(name):
    path = shutil.which(name)
    if path is None:
        unavailable("%s is needed (apt-get install systemd)" % name)
    return path


def unit_lines(name):
    with open(os.path.join(UNITS, name)) as f:
        return [line.rstrip("\n") for line in f]


def bounding_set():
    """The services' CapabilityBoundingSet as a setpriv(1) option; the three must agree."""
    sets = set()
    for service in ("popa3d-daemon.service", "popa3d@.service", "popa3ds@.service"):
        found = [l.split("=", 1)[1] for l in unit_lines(service) if l.startswith("CapabilityBoundingSet=")]
        check(len(found) == 1, "%s has one CapabilityBoundingSet" % service)
        sets.add(found[0])
    check(len(sets) == 1, "the three services have the same CapabilityBoundingSet")
    caps = sets.pop().split()
    return "--bounding-set=-all," + ",".join("+" + c[len("CAP_"):].lower() for c in caps)


class Notify:
    """A $NOTIFY_SOCKET (datagram, sender credentials on): an abstract name or a path."""

    def __init__(self, directory, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if abstract:
            name = "popa3d-test-%d-%d" % (os.getpid(), time.monotonic_ns())
            self.sock.bind("\0" + name)
            self.address = "@" + name
        else:
            self.address = os.path.join(directory, "notify")
            self.sock.bind(self.address)
            os.chmod(self.address, 0o777)

    def receive(self, timeout=WAIT):
        """(sender pid, message) or None when nothing came within `timeout`."""
        self.sock.settimeout(timeout)
        try:
            data, ancillary, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except (socket.timeout, BlockingIOError):
            return None
        pid = None
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", value[:12])[0]
        return pid, data.decode(errors="replace")

    def close(self):
        self.sock.close()


def stop(proc, log):
    """SIGTERM, bounded wait; (exit status, log text)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=WAIT)
    try:
        os.killpg(proc.pid, signal.SIGKILL)   # any session child left behind
    except ProcessLookupError:
        pass
    log.seek(0)
    return proc.returncode, log.read().decode(errors="replace")


def wait_listening(port, proc, log):
    deadline = time.monotonic() + WAIT
    while not listening(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            fail("nothing listens on port %d: %s" % (port, stop(proc, log)[1]))
        time.sleep(0.02)


def daemon_mode(activate, label, sandbox, argv, certs, work):
    plain, tls = free_port(), free_port()
    notify = Notify(work, abstract=(label != "privsep"))
    log = tempfile.TemporaryFile()
    command = [activate, "-l", "127.0.0.1:%d" % plain, "--fdname=pop3",
               "-l", "127.0.0.1:%d" % tls, "--fdname=pop3s", "-E", "NOTIFY_SOCKET=" + notify.address]
    if label == "privsep":
        command += ["setpriv", bounding_set(), "--"]
    command += argv + ["-D", "--tls-cert", certs.cert, "--tls-key", certs.key]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    try:
        wait_listening(plain, proc, log)
        wait_listening(tls, proc, log)
        # systemd-socket-activate starts popa3d at the first connection, as systemd would.
        first = Conn.tcp(plain)
        greeting = first.line()
        check(greeting == b"+OK\r\n", "%s: the first connection is greeted (%r)" % (label, greeting))
        # READY=1 is sent before the first accept(), so it is queued by now.
        ready = notify.receive(timeout=0)
        check(ready is not None and "READY=1" in ready[1].split("\n"),
              "%s: READY=1 came before the first greeting (%r)" % (label, ready))
        check(ready[0] == proc.pid, "%s: from the process systemd started (pid %s, not detached)"
              % (label, ready[0]))
        check("STATUS=Accepting connections" in ready[1].split("\n"), "%s: with a STATUS line" % label)
        check(first.cmd("USER alice") == b"+OK\r\n" and first.cmd("PASS secret") == b"+OK\r\n",
              "%s: login on the pop3 socket" % label)
        check(first.cmd("STAT").startswith(b"+OK %d " % len(MESSAGES)), "%s: STAT" % label)
        check(first.cmd("DELE 1") == b"+OK\r\n", "%s: DELE 1" % label)
        check(first.cmd("QUIT") == b"+OK\r\n", "%s: QUIT" % label)
        first.close()
        check(sandbox.read_mbox() == make_mbox(MESSAGES[1:]), "%s: UPDATE removed message 1" % label)

        secure = TlsConn.wrap(socket.create_connection(("127.0.0.1", tls), timeout=WAIT), certs)
        login(secure)
        check(secure.cmd("STAT").startswith(b"+OK %d " % (len(MESSAGES) - 1)),
              "%s: the pop3s socket speaks TLS from the first byte" % label)
        check(secure.cmd("QUIT") == b"+OK\r\n", "%s: QUIT over TLS" % label)
        secure.close()
        check(notify.receive(timeout=0) is None, "%s: nothing else was notified while serving" % label)

        status, text = stop(proc, log)
        stopping = notify.receive()
        check(stopping is not None and "STOPPING=1" in stopping[1].split("\n") and stopping[0] == proc.pid,
              "%s: STOPPING=1 on SIGTERM (%r)" % (label, stopping))
        if status != 0 or "No journal" in text or "in place" in text or "crit" in text.lower():
            fail("%s: exit status %s, log: %s" % (label, status, text))
        check(True, "%s: exit 0 after SIGTERM, a journal for each UPDATE, nothing critical logged" % label)
    finally:
        stop(proc, log)
        notify.close()


# What systemd does for Accept=yes: the connection on 0 and 1 (StandardInput=socket) and on 3,
# with LISTEN_FDS=1 for it. systemd-socket-activate --inetd sets only standard input.
AS_SYSTEMD_ACCEPT = ('exec 3<&0 >&0; LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=connection '
                     'exec "$0" "$@"')


def inetd_mode(activate, label, sandbox, argv):
    port = free_port()
    log = tempfile.TemporaryFile()
    command = [activate, "--inetd", "-a", "-l", "127.0.0.1:%d" % port, "sh", "-c", AS_SYSTEMD_ACCEPT]
    if label == "privsep":
        command += ["setpriv", bounding_set(), "--"]
    proc = subprocess.Popen(command + argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    try:
        wait_listening(port, proc, log)
        sandbox.write_mbox(make_mbox())
        held = Conn.tcp(port)   # two at once: one process each
        check(held.line() == b"+OK\r\n", "%s inetd: a first connection is greeted" % label)
        conn = Conn.tcp(port)
        basic_session(conn)
        check(conn.cmd("DELE 2") == b"+OK\r\n" and conn.cmd("QUIT") == b"+OK\r\n", "%s inetd: DELE 2, QUIT" % label)
        _, eof = conn.rest()
        check(eof, "%s inetd: the session process ends after QUIT" % label)
        conn.close()
        check(sandbox.read_mbox() == make_mbox(MESSAGES[:1] + MESSAGES[2:]), "%s inetd: UPDATE removed message 2" % label)
        check(held.cmd("USER alice") == b"+OK\r\n", "%s inetd: the other session still answers" % label)
        held.close()
    finally:
        status, text = stop(proc, log)
    if "crit" in text.lower() or "No journal" in text:
        fail("%s inetd: log: %s" % (label, text))
    check(True, "%s inetd: a journal for each UPDATE, nothing critical logged" % label)


def run_with_sockets(argv, sockets, variables, extra=()):
    """argv with `sockets` as descriptors 3... and `variables` set (LISTEN_PID=$$ unless given);
    (exit status, stderr)."""
    moves = "".join("exec %d<&%d; " % (3 + i, s.fileno()) for i, s in enumerate(sockets))
    settings = " ".join("%s='%s'" % item for item in variables.items())
    if "LISTEN_PID" not in variables:
        settings = "LISTEN_PID=$$ " + settings
    script = moves + settings + ' exec "$0" "$@"'
    done = subprocess.run(["sh", "-c", script] + argv + ["-D"] + list(extra), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=WAIT, pass_fds=[s.fileno() for s in sockets])
    return done.returncode, done.stderr.decode(errors="replace")


def tcp_listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(5)
    return s


def bad_sockets(label, argv, certs):
    unbound = socket.socket()
    unbound.bind(("127.0.0.1", 0))   # bound, never listening
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    work = tempfile.mkdtemp(prefix="popa3d-e2e-unix-")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(os.path.join(work, "s"))
    unix.listen(1)
    good = tcp_listener()
    tls_args = ["--tls-cert", certs.cert, "--tls-key", certs.key]
    cases = [
        ("a socket that does not listen", [unbound], {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "pop3"}, [],
         "systemd socket 3 (pop3) is not listening: a daemon's socket unit needs Accept=no"),
        ("a datagram socket", [udp], {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "pop3"}, [],
         "systemd socket 3 (pop3) is not a stream socket: use ListenStream="),
        ("an AF_UNIX socket", [good, unix], {"LISTEN_FDS": "2", "LISTEN_FDNAMES": "pop3:pop3"}, [],
         "systemd socket 4 (pop3) is not a TCP socket (IPv4 or IPv6)"),
        ("another name", [good], {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "www"}, [],
         "systemd socket 3 (www): name it pop3 (plain) or pop3s (implicit TLS) with FileDescriptorName="),
        ("no LISTEN_FDNAMES", [good], {"LISTEN_FDS": "1"}, [],
         "systemd socket 3 (unknown): name it pop3 (plain)"),
        ("pop3s without a certificate", [good], {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "pop3s"}, [],
         "systemd socket 3 (pop3s) needs --tls-cert and --tls-key"),
        ("--port beside passed sockets", [good], {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "pop3"}, ["--port", "1110"],
         "--port does not apply to the sockets systemd passed: set ListenStream= in the socket unit"),
        ("--tls-port beside passed sockets", [good], {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "pop3s"},
         tls_args + ["--tls-port", "1995"], "--tls-port does not apply to the sockets systemd passed"),
        ("fewer names than sockets", [good], {"LISTEN_FDS": "2", "LISTEN_FDNAMES": "pop3"}, [],
         "systemd's LISTEN_FDNAMES names 1 sockets, LISTEN_FDS=2"),
        ("LISTEN_FDS not a number", [good], {"LISTEN_FDS": "1x", "LISTEN_FDNAMES": "pop3"}, [],
         "systemd's LISTEN_FDS=1x is not a number from 0 to 32"),
        ("LISTEN_FDS beyond 32", [good], {"LISTEN_FDS": "33"}, [],
         "systemd's LISTEN_FDS=33 is not a number from 0 to 32"),
    ]
    try:
        for what, sockets, variables, extra, expected in cases:
            status, err = run_with_sockets(argv, sockets, variables, extra)
            lines = [l for l in err.splitlines() if "Not started as root" not in l]
            if status != 1 or len(lines) != 1 or expected not in lines[0]:
                fail("%s: %s: exit %s, stderr %r, expected one line with %r" % (label, what, status, err, expected))
            check(True, "%s: %s: %s" % (label, what, lines[0].split(": ", 1)[1]))
    finally:
        for s in (unbound, udp, unix, good):
            s.close()
        shutil.rmtree(work, ignore_errors=True)


def not_for_us(label, argv):
    """LISTEN_PID of another process: the variables are ignored and -D binds its own port;
    $NOTIFY_SOCKET alone keeps -D in the foreground and gets READY=1."""
    port = free_port()
    work = tempfile.mkdtemp(prefix="popa3d-e2e-notify-")
    notify = Notify(work, abstract=True)
    stray = tcp_listener()
    moves = "exec 3<&%d; " % stray.fileno()
    script = moves + ("LISTEN_PID=1 LISTEN_FDS=1 LISTEN_FDNAMES=pop3 NOTIFY_SOCKET='%s' exec \"$0\" \"$@\""
                      % notify.address)
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(["sh", "-c", script] + argv + ["-D", "--listen", "127.0.0.1", "--port", str(port)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=[stray.fileno()],
                            start_new_session=True)
    try:
        ready = notify.receive()
        check(ready is not None and "READY=1" in ready[1].split("\n") and ready[0] == proc.pid,
              "%s: without --foreground, $NOTIFY_SOCKET gets READY=1 from the started process (%r)"
              % (label, ready))
        check(listening(port), "%s: LISTEN_PID=1 is not ours: -D listens on --port %d" % (label, port))
        conn = Conn.tcp(port)
        login(conn)
        check(conn.cmd("QUIT") == b"+OK\r\n", "%s: a session on the bound port" % label)
        conn.close()
    finally:
        status, text = stop(proc, log)
        notify.close()
        stray.close()
        shutil.rmtree(work, ignore_errors=True)
    if status != 0:
        fail("%s: exit status %s after SIGTERM: %s" % (label, status, text))
    check(True, "%s: exit 0 after SIGTERM" % label)


def pam_login_in_bounds(binary):
    """As root: a system account's pam_unix login, then STAT and QUIT with a journal, in
    inetd mode under the units' bounding set (PAM reads /etc/shadow as root)."""
    account = TempAccount("sdpam")
    try:
        confdir = os.path.join(account.dir, "pam.d")
        os.mkdir(confdir, 0o700)
        with open(os.path.join(confdir, "unix"), "w") as f:
            f.write("auth required pam_unix.so\naccount required pam_unix.so\n")
        journal = os.path.join(account.dir, "journal")
        os.mkdir(journal, 0o700)
        argv = ["setpriv", bounding_set(), "--"] + account.argv(
            binary, "--auth", "pam", "--pam-service", "unix", "--pam-confdir", confdir, "--journal-dir", journal)
        script = "USER %s\r\nPASS %s\r\nSTAT\r\nDELE 1\r\nQUIT\r\n" % (account.name, account.password)
        done = subprocess.run(argv, input=script.encode(), capture_output=True, timeout=WAIT)
        out, err = done.stdout, done.stderr.decode(errors="replace")
        expected = b"+OK\r\n+OK\r\n+OK\r\n+OK %d " % len(MESSAGES)
        if not out.startswith(expected) or not out.endswith(b"+OK\r\n+OK\r\n") or "No journal" in err:
            fail("PAM login under the bounding set: %r, log: %s" % (out, err))
        check(True, "privsep: a pam_unix login, DELE and QUIT with a journal under the units' bounding set")
    finally:
        account.remove()


def verify_units(analyze, binary):
    names = sorted(os.listdir(UNITS))
    check(names == ["popa3d-daemon-tls.socket", "popa3d-daemon.service", "popa3d-daemon.socket",
                    "popa3d.socket", "popa3d@.service", "popa3ds.socket", "popa3ds@.service"],
          "dist/systemd holds the seven units (%s)" % " ".join(names))
    # The services' sandboxing is one block: everything from the capability comment on.
    blocks = set()
    for service in ("popa3d-daemon.service", "popa3d@.service", "popa3ds@.service"):
        lines = unit_lines(service)
        start = next(i for i, l in enumerate(lines) if l.startswith("# Root checks passwords"))
        end = next((i for i, l in enumerate(lines) if i > start and l.startswith("[")), len(lines))
        blocks.add("\n".join(lines[start:end]).strip())
    check(len(blocks) == 1, "the three services have the same sandboxing")
    work = tempfile.mkdtemp(prefix="popa3d-e2e-units-")
    try:
        for name in names:
            with open(os.path.join(UNITS, name)) as f:
                text = f.read()
            with open(os.path.join(work, name), "w") as f:
                f.write(text.replace("ExecStart=/usr/sbin/popa3d", "ExecStart=" + binary))
        paths = [os.path.join(work, n) for n in names]
        done = subprocess.run([analyze, "verify"] + paths, capture_output=True, timeout=60, cwd=work)
        out = (done.stdout + done.stderr).decode(errors="replace")
        check(done.returncode == 0 and out.strip() == "", "systemd-analyze verify: clean (%s: %s)"
              % (done.returncode, out.strip()))
        # The control: verify here does see a unit's mistakes.
        with open(paths[0], "a") as f:
            f.write("FileDescriptorNmae=pop3s\n")
        done = subprocess.run([analyze, "verify"] + paths, capture_output=True, timeout=60, cwd=work)
        out = (done.stdout + done.stderr).decode(errors="replace")
        check("FileDescriptorNmae" in out, "systemd-analyze verify reports a misspelt key")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    binary = binary_from_argv()
    activate = tool("systemd-socket-activate")
    analyze = tool("systemd-analyze")
    verify_units(analyze, binary)
    labels = []
    for label, sandbox, argv, certs in tls_process_models(binary):
        labels.append(label)
        work = tempfile.mkdtemp(prefix="popa3d-e2e-systemd-")
        os.chmod(work, 0o755)
        try:
            if label == "privsep":   # a journal for UPDATE: root opens it, chowns it to alice
                journal = os.path.join(work, "journal")
                os.mkdir(journal, 0o700)
                argv = argv + ["--journal-dir", journal]
            else:
                bad_sockets(label, argv, certs)
                not_for_us(label, argv)
            daemon_mode(activate, label, sandbox, argv, certs, work)
            inetd_mode(activate, label, sandbox, argv)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if os.geteuid() != 0:
        print("note: not root: the units' capability bounding set is not exercised")
    elif any(label == "privsep" for label in labels):   # the pre-auth user popa3d exists
        pam_login_in_bounds(binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
