#!/usr/bin/env python3
"""The process model with TLS (issue 11), read off /proc while sessions run.

As root with privilege separation, sessions on the implicit-TLS port of -D, after STLS on
its plain port, and in inetd mode with --tls-implicit:
- after the login the pre-auth child stays as the relay: it runs as the pre-auth user
  popa3d, chrooted into the empty directory, and holds the client's TCP socket; the session
  process runs as the account and holds no TCP socket (its descriptors 0 and 1 are one end
  of a Unix socket pair), so no TLS byte and no key reaches it: its memory holds no copy of
  the private key's scalar, in either byte order, while the relay's does (the control);
- QUIT ends with the server's close_notify, after UPDATE;
- a client that vanishes (TCP closed without close_notify), the relay killed, or the
  session process killed: the other process ends too, and no UPDATE happens (a DELE'd
  message stays).
As an ordinary user, TLS runs in the one session process.

The certificate (ECDSA P-256, self-signed) is made at test time with openssl(1). Needs root
and the pre-auth user popa3d (scripts/ci-accounts.sh) for the privsep part; skipped without
them, except under CI=true, where that is a failure.
"""

import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile

from e2e_common import (MESSAGES, PASSWORD, WAIT, Daemon, binary_from_argv, check, children,
                        crlf_size, decode_retr, fail, free_port, process_models, unavailable,
                        wait_for)
from tls_common import read_line_exactly


class TlsConn:
    """A POP3 client over TLS; every read bounded by WAIT."""

    def __init__(self, sock):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        sock.settimeout(WAIT)
        self.sock = context.wrap_socket(sock, suppress_ragged_eofs=False)
        self.buf = b""

    @classmethod
    def stls(cls, sock):
        """A plaintext connection upgraded with STLS. Its plaintext greeting is kept as the
        first line to read, so that the same script serves implicit TLS and STLS."""
        greeting = read_line_exactly(sock)
        check(greeting.endswith(b"\n"), "a greeting before STLS (%r)" % greeting)
        sock.sendall(b"STLS\r\n")
        reply = read_line_exactly(sock)
        check(reply == b"+OK\r\n", "STLS +OK (%r)" % reply)
        conn = cls(sock)
        conn.buf = greeting
        return conn

    def line(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                fail("connection closed, %r left" % self.buf)
            self.buf += data
        i = self.buf.index(b"\n") + 1
        got, self.buf = self.buf[:i], self.buf[i:]
        return got

    def multiline(self):
        while b"\r\n.\r\n" not in self.buf and not self.buf.startswith(b".\r\n"):
            data = self.sock.recv(65536)
            if not data:
                fail("connection closed in a multi-line reply")
            self.buf += data
        end = 3 if self.buf.startswith(b".\r\n") else self.buf.index(b"\r\n.\r\n") + 5
        got, self.buf = self.buf[:end], self.buf[end:]
        return got

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def ends_with_close_notify(self):
        """True when the server's next record is close_notify (a clean TLS end)."""
        try:
            return self.sock.recv(1) == b"" and not self.buf
        except ssl.SSLEOFError:
            return False   # TCP closed without close_notify

    def vanish(self):
        """The client goes away without close_notify."""
        self.sock.shutdown(socket.SHUT_RDWR)   # SSLSocket.shutdown sends no close_notify
        self.sock.close()


def login(conn):
    check(conn.line() == b"+OK\r\n", "greeting over TLS")
    check(conn.cmd("USER alice") == b"+OK\r\n", "USER")
    check(conn.cmd("PASS " + PASSWORD) == b"+OK\r\n", "PASS")


def make_certificate(directory):
    openssl = shutil.which("openssl")
    if openssl is None:
        unavailable("openssl(1) is needed to make a test certificate (apt-get install openssl)")
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
                   capture_output=True, timeout=WAIT, check=True)
    os.chmod(key, 0o600)
    return cert, key


def private_scalar(key):
    """The 32 bytes of the P-256 private key in `key`, big-endian as the key file's DER has it."""
    text = subprocess.run(["openssl", "ec", "-in", key, "-noout", "-text"], capture_output=True, text=True,
                          timeout=WAIT, check=True).stdout
    found = re.search(r"priv:\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    check(found is not None, "the private key's scalar from openssl ec -text")
    scalar = bytes.fromhex(re.sub(r"[\s:]", "", found.group(1)))
    return scalar[-32:]


def copies_in_memory(pid, secret):
    """How often `secret` occurs in the memory of `pid`, in either byte order (OpenSSL keeps a
    BIGNUM's bytes little-endian, a DER encoding big-endian)."""
    # Read in 1 MiB pieces that overlap by less than the secret, so that none is missed at a
    # seam or counted twice; mappings of 1 GiB and more are a sanitizer's shadow memory, not heap.
    piece, overlap = 1 << 20, len(secret) - 1
    count = 0
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or (len(fields) > 5 and fields[5] in ("[vvar]", "[vsyscall]")):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if end - start >= 1 << 30:
                continue
            offset = start
            while offset < end:
                try:
                    mem.seek(offset)
                    data = mem.read(min(piece + overlap, end - offset))
                except (OSError, ValueError):
                    break
                count += data.count(secret) + data.count(secret[::-1])
                offset += piece
    return count


def tcp_inodes():
    """Socket inodes of every TCP socket on the system."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                for line in f.readlines()[1:]:
                    inodes.add(line.split()[9])
        except OSError:
            pass
    return inodes


def sockets_of(pid):
    found = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            found.append(target[8:-1])
    return found


def ids_of(pid):
    with open("/proc/%d/status" % pid) as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return [int(x) for x in fields["Uid"].split()], [int(x) for x in fields["Gid"].split()]


def daemon_session(daemon_pid):
    """(session process, relay) of -D once the login has made them: the session is the
    listener's child, the relay the session's child."""
    def probe():
        for session in children(daemon_pid):
            relays = children(session)
            if len(relays) == 1:
                return session, relays[0]
        return None
    return wait_for("the session process and its relay", probe)


def inetd_session(session):
    """(session process, relay) in inetd mode: the process inetd started, and its child."""
    return wait_for("the relay", lambda: len(children(session)) == 1 and (session, children(session)[0]))


def check_process_picture(session, relay, account_uid, chroot, label, secret):
    popa3d = pwd.getpwnam("popa3d")
    uids, gids = ids_of(relay)
    check(uids == [popa3d.pw_uid] * 4 and gids == [popa3d.pw_gid] * 4,
          "%s: the relay runs as popa3d (Uid %s, Gid %s)" % (label, uids, gids))
    check(os.readlink("/proc/%d/root" % relay) == chroot,
          "%s: the relay is chrooted into %s" % (label, chroot))
    uids, _ = ids_of(session)
    check(uids == [account_uid] * 4, "%s: the session process runs as the account (%s)" % (label, uids))
    tcp = tcp_inodes()
    session_sockets = sockets_of(session)
    check(session_sockets and not any(s in tcp for s in session_sockets),
          "%s: the session process holds no TCP socket (%s)" % (label, session_sockets))
    check(any(s in tcp for s in sockets_of(relay)), "%s: the relay holds the client's TCP socket" % label)
    for fd in (0, 1):
        target = os.readlink("/proc/%d/fd/%d" % (session, fd))
        check(target.startswith("socket:[") and target[8:-1] not in tcp,
              "%s: the session's descriptor %d is the socket pair (%s)" % (label, fd, target))
    # The relay holds the live key (the scan finds it); the session process, forked from the
    # process that loaded it, must not even hold a freed copy (transport/tls_memory.hpp).
    check(copies_in_memory(relay, secret) > 0, "%s: the key scan finds the relay's live key" % label)
    check(copies_in_memory(session, secret) == 0, "%s: no copy of the private key in the session process" % label)
    print("%s: relay %d (popa3d, chroot %s) holds %s; session %d (uid %d) holds %s"
          % (label, relay, chroot, sockets_of(relay), session, account_uid, session_sockets), flush=True)


def gone(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # reaped before or while it was read
        return True


def scenarios(connect, find, sandbox, chroot, label, log, secret):
    """Runs every ending against sessions that `connect()` opens and `find()` finds."""
    account_uid = sandbox.account.uid
    original = sandbox.read_mbox()
    size = sum(crlf_size(m) for m in MESSAGES)

    # A whole session, then QUIT: UPDATE ran (DELE 1 applied), then close_notify.
    conn = connect()
    login(conn)
    session, relay = find()
    check_process_picture(session, relay, account_uid, chroot, label, secret)
    check(conn.cmd("STAT") == b"+OK %d %d\r\n" % (len(MESSAGES), size), "%s: STAT" % label)
    check(conn.cmd("RETR 3") == b"+OK\r\n" and decode_retr(conn.multiline()) == MESSAGES[2],
          "%s: RETR 3 byte for byte through the relay" % label)
    # Pipelined: 300 RETRs in one write while the replies (1.5 MB) stream back through the
    # relay in both directions at once.
    conn.sock.sendall(b"RETR 3\r\n" * 300)
    check(all(conn.line() == b"+OK\r\n" and decode_retr(conn.multiline()) == MESSAGES[2] for _ in range(300)),
          "%s: 300 pipelined RETRs through the relay" % label)
    check(conn.cmd("DELE 1") == b"+OK\r\n", "%s: DELE 1" % label)
    check(conn.cmd("QUIT") == b"+OK\r\n", "%s: QUIT" % label)
    check(conn.ends_with_close_notify(), "%s: close_notify after QUIT" % label)
    wait_for("%s: both processes to end" % label, lambda: gone(session) and gone(relay))
    check(sandbox.read_mbox() != original and MESSAGES[0] not in sandbox.read_mbox(),
          "%s: UPDATE deleted message 1" % label)
    sandbox.write_mbox(original)

    # Sessions that end in AUTHORIZATION: QUIT, and a refused login (through the relay,
    # from root's half dropped to the pre-auth user). Both end with close_notify.
    conn = connect()
    check(conn.line() == b"+OK\r\n" and conn.cmd("QUIT") == b"+OK\r\n", "%s: QUIT before login" % label)
    check(conn.ends_with_close_notify(), "%s: close_notify after QUIT in AUTHORIZATION" % label)
    conn = connect()
    check(conn.line() == b"+OK\r\n" and conn.cmd("USER alice") == b"+OK\r\n", "%s: USER" % label)
    check(conn.cmd("PASS wrong").startswith(b"-ERR"), "%s: a wrong password is refused" % label)
    check(conn.ends_with_close_notify(), "%s: close_notify after the refusal" % label)

    # The client vanishes, the relay is killed, the session process is killed: no UPDATE.
    for ending in ("vanish", "kill relay", "kill session"):
        before = log()
        conn = connect()
        login(conn)
        session, relay = find()
        check(conn.cmd("DELE 1") == b"+OK\r\n", "%s, %s: DELE 1" % (label, ending))
        if ending == "vanish":
            conn.vanish()
        elif ending == "kill relay":
            os.kill(relay, signal.SIGKILL)
        else:
            os.kill(session, signal.SIGKILL)
        wait_for("%s, %s: both processes to end" % (label, ending), lambda: gone(session) and gone(relay))
        if ending == "kill session":
            check(conn.ends_with_close_notify(), "%s, kill session: the relay sent close_notify" % label)
        else:
            text = wait_for("the session's log line", lambda: "Premature disconnect" in log()[len(before):]
                            and log()[len(before):])
            check("Premature disconnect" in text, "%s, %s: Premature disconnect logged" % (label, ending))
        check(sandbox.read_mbox() == original, "%s, %s: no UPDATE, the mailbox is unchanged" % (label, ending))
        print("%s, %s: both processes ended, mailbox unchanged" % (label, ending), flush=True)


def daemon_run(sandbox, argv, chroot, cert, key):
    tls_port = free_port()
    daemon = Daemon(argv + ["--tls-cert", cert, "--tls-key", key, "--tls-port", str(tls_port)])
    try:
        def connect():
            return TlsConn(socket.create_connection(("127.0.0.1", tls_port), timeout=WAIT))
        scenarios(connect, lambda: daemon_session(daemon.proc.pid), sandbox, chroot, "-D", daemon.log_text,
                  private_scalar(key))

        def connect_stls():
            return TlsConn.stls(socket.create_connection(("127.0.0.1", daemon.port), timeout=WAIT))
        scenarios(connect_stls, lambda: daemon_session(daemon.proc.pid), sandbox, chroot, "-D STLS",
                  daemon.log_text, private_scalar(key))
    finally:
        daemon.stop()


def inetd_run(sandbox, argv, chroot, cert, key):
    """inetd mode on an accepted TCP socket, as inetd gives it: one process tree per
    connection."""
    logs = []
    procs = []

    def log():
        text = ""
        for f in logs:
            f.seek(0)
            text += f.read().decode(errors="replace")
        return text

    listener = socket.create_server(("127.0.0.1", 0))

    def connect():
        client_side = socket.create_connection(listener.getsockname(), timeout=WAIT)
        server_side, _ = listener.accept()
        err = tempfile.TemporaryFile()
        logs.append(err)
        procs.append(subprocess.Popen(argv + ["--tls-cert", cert, "--tls-key", key, "--tls-implicit"],
                                      stdin=server_side, stdout=server_side, stderr=err,
                                      start_new_session=True))
        server_side.close()
        return TlsConn(client_side)

    try:
        scenarios(connect, lambda: inetd_session(procs[-1].pid), sandbox, chroot, "inetd", log,
                  private_scalar(key))
    finally:
        listener.close()
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=WAIT)


def one_process_run(sandbox, argv, cert, key):
    """Without root: TLS in the session's one process."""
    port = free_port()
    sandbox.account.own(key, 0o600)
    daemon = Daemon(argv + ["--tls-cert", cert, "--tls-key", key, "--tls-port", str(port)])
    try:
        conn = TlsConn(socket.create_connection(("127.0.0.1", port), timeout=WAIT))
        login(conn)
        check(conn.cmd("RETR 1") == b"+OK\r\n" and decode_retr(conn.multiline()) == MESSAGES[0],
              "one process: RETR 1 over TLS")
        sessions = wait_for("the session process", lambda: children(daemon.proc.pid))
        check(children(sessions[0]) == [], "one process: no relay process")
        check(conn.cmd("QUIT") == b"+OK\r\n", "one process: QUIT")
        check(conn.ends_with_close_notify(), "one process: close_notify after QUIT")
        check("TLS TLSv1.3 " in wait_for("the TLS log line", lambda: "TLS TLSv1.3" in daemon.log_text()
                                        and daemon.log_text()), "one process: TLS version logged")
        print("one process: TLS in the session process, no relay", flush=True)
    finally:
        daemon.stop()


def main():
    binary = binary_from_argv()
    privsep_seen = False
    for label, sandbox, argv in process_models(binary):
        directory = tempfile.mkdtemp(prefix="popa3d-e2e-tls-")
        try:
            cert, key = make_certificate(directory)
            if label == "one process":
                os.chmod(directory, 0o755)
                sandbox.account.own(cert, 0o644)
                one_process_run(sandbox, argv, cert, key)
                continue
            privsep_seen = True
            chroot = argv[argv.index("--chroot") + 1]
            daemon_run(sandbox, argv, chroot, cert, key)
            inetd_run(sandbox, argv, chroot, cert, key)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
    if not privsep_seen:
        unavailable("the relay needs root and the pre-auth user popa3d (scripts/ci-accounts.sh)")


if __name__ == "__main__":
    main()
