"""Shared helpers for the end-to-end tests of the built popa3d binary.

Each test script takes the binary's path as its first argument, makes its own
temporary directory with a users file (`name:crypt-hash:uid:gid:mailbox`) and
an mbox, and runs the binary as an ordinary user: itself when not root, or the
`nobody` UID through setpriv(1) when root (no account is created for that).
Every wait is bounded. A test that cannot run prints why and exits with
SKIP (77), which CMake's SKIP_RETURN_CODE turns into "skipped".

Python 3 standard library only, plus openssl(1) for the password hash.
"""

import contextlib
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77
PASSWORD = "secret"
FAIL_REPLY = b"-ERR Authentication failed (bad password?)\r\n"
WAIT = 15.0          # seconds: the bound on any single wait
FROM_LINE = b"From sender@example.org Mon Jan  1 00:00:00 2024\n"

# Messages (data as popa3d serves it, section 9.2 of the behaviour spec): each
# has a Message-ID so that UIDLs differ, a body whose last line is not blank,
# and lines that exercise dot-stuffing, bare CRs, CR LF, 8-bit bytes, a
# "From " line that does not follow a blank line, and a long line.
MESSAGES = [
    b"Message-ID: <one@example.org>\nSubject: plain\n\nHello, world.\n",
    b"Message-ID: <two@example.org>\nSubject: dots\n\n.\n..\n.leading dot\n"
    b"middle . dot\n...\n",
    b"Message-ID: <three@example.org>\nSubject: bytes\n\nbare\rcr\n"
    b"crlf line\r\n8-bit \xe9\xff\x80 bytes\nline\nFrom inside the body\n"
    b">From quoted\n" + b"x" * 5000 + b"\ntail\n",
    b"Message-ID: <four@example.org>\nSubject: blank lines\n\n\n\nbody after"
    b" blanks\n \n\t\nend\n",
]


def skip(reason):
    print("SKIP: " + reason, flush=True)
    sys.exit(SKIP)


def fail(reason):
    print("FAIL: " + reason, flush=True)
    sys.exit(1)


def unavailable(reason):
    """What the test needs is missing: skipped, except under CI=true, where CI must have it."""
    if os.environ.get("CI", "").lower() == "true":
        fail("(CI=true) " + reason)
    skip(reason)


def check(condition, what):
    if not condition:
        fail(what)
    print("ok: " + what, flush=True)


def binary_from_argv():
    if len(sys.argv) < 2:
        fail("usage: %s PATH-TO-popa3d [args]" % sys.argv[0])
    path = os.path.abspath(sys.argv[1])
    if not os.access(path, os.X_OK):
        skip("binary %s is not built" % path)
    return path


def make_mbox(messages=MESSAGES):
    """An mbox holding `messages`, each followed by the usual blank line."""
    return b"".join(FROM_LINE + m + b"\n" for m in messages)


def crlf_size(data):
    """Size as STAT/LIST report it: bytes plus one per line (spec 9.2)."""
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return len(data) + lines


def decode_retr(raw):
    """A RETR reply body (without "+OK" line, with the final ".") -> data."""
    if not raw.endswith(b"\r\n.\r\n") and raw != b".\r\n":
        fail("multi-line reply does not end with CRLF . CRLF: %r" % raw[-20:])
    body = raw[:-3]
    lines = body.split(b"\r\n")[:-1]
    out = []
    for line in lines:
        out.append(line[1:] if line.startswith(b".") else line)
    return b"".join(l + b"\n" for l in out)


def password_hash(password=PASSWORD):
    """A SHA-512 crypt(3) hash, made by openssl(1) (Python's crypt is deprecated)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        skip("openssl(1) is needed to make a crypt hash (apt-get install openssl)")
    out = subprocess.run([openssl, "passwd", "-6", "-stdin"], input=password.encode(),
                         capture_output=True, timeout=WAIT, check=True).stdout
    return out.decode().strip()


class Account:
    """Who the binary runs as, and the prefix that makes it so."""

    def __init__(self):
        if os.geteuid() == 0:
            if shutil.which("setpriv") is None:
                skip("running as root needs setpriv(1) (util-linux) to drop to nobody")
            try:
                self.uid = pwd.getpwnam("nobody").pw_uid
                self.gid = pwd.getpwnam("nobody").pw_gid
            except KeyError:
                self.uid = self.gid = 65534
            self.prefix = ["setpriv", "--reuid=%d" % self.uid, "--regid=%d" % self.gid,
                           "--clear-groups", "--"]
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            self.prefix = []

    def own(self, path, mode):
        if os.geteuid() == 0:
            os.chown(path, self.uid, self.gid)
        os.chmod(path, mode)


class Sandbox:
    """A temp dir with a users file, a spool dir and alice's mbox."""

    def __init__(self, mbox=None, extra_users=()):
        self.account = Account()
        self.dir = tempfile.mkdtemp(prefix="popa3d-e2e-")
        self.account.own(self.dir, 0o700)
        self.spool = os.path.join(self.dir, "spool")
        os.mkdir(self.spool)
        self.account.own(self.spool, 0o700)
        self.mbox_path = os.path.join(self.spool, "alice")
        self.hash = password_hash()
        lines = ["alice:%s:%d:%d:" % (self.hash, self.account.uid, self.account.gid)]
        lines += [u % {"hash": self.hash, "uid": self.account.uid, "gid": self.account.gid}
                  for u in extra_users]
        self.users_file = os.path.join(self.dir, "users")
        with open(self.users_file, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.account.own(self.users_file, 0o600)
        self.write_mbox(make_mbox() if mbox is None else mbox)

    def write_mbox(self, data):
        with open(self.mbox_path, "wb") as f:
            f.write(data)
        self.account.own(self.mbox_path, 0o600)
        # An old mtime avoids popa3d's one-second wait for a mailbox changed this second.
        os.utime(self.mbox_path, (1_000_000_000, 1_000_000_000))

    def read_mbox(self):
        with open(self.mbox_path, "rb") as f:
            return f.read()

    def command(self, binary, *args):
        if self.account.prefix and not getattr(self, "_runnable", False):
            probe = subprocess.run(self.account.prefix + ["test", "-x", binary], timeout=WAIT)
            if probe.returncode != 0:
                skip("uid %d cannot execute %s (every directory above it must be searchable "
                     "by others): build elsewhere or run the tests as an ordinary user"
                     % (self.account.uid, binary))
            self._runnable = True
        return self.account.prefix + [binary, "--users-file", self.users_file,
                                      "--spool", self.spool, "--stderr"] + list(args)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Conn:
    """A POP3 client over a pair of descriptors (pipes) or a socket; bounded reads."""

    def __init__(self, rfd, wfd, closer=None):
        self.rfd, self.wfd, self.closer = rfd, wfd, closer
        self.buf = b""
        self.eof = False

    @classmethod
    def tcp(cls, port, host="127.0.0.1"):
        s = socket.create_connection((host, port), timeout=WAIT)
        return cls(s.fileno(), s.fileno(), s)

    def _fill(self, deadline):
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        data = self._read(left)
        if data is None:
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _read(self, timeout):
        """Bytes read within `timeout` seconds, b"" at EOF, None if none came."""
        r, _, _ = select.select([self.rfd], [], [], timeout)
        if not r:
            return None
        try:
            return os.read(self.rfd, 65536)
        except ConnectionResetError:
            return b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self.wfd, view):]

    def line(self, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if not self._fill(deadline):
                got, self.buf = self.buf, b""
                return got
        i = self.buf.index(b"\n") + 1
        got, self.buf = self.buf[:i], self.buf[i:]
        return got

    def multiline(self, timeout=WAIT):
        """The rest of a multi-line reply after its "+OK" line, up to CRLF . CRLF."""
        deadline = time.monotonic() + timeout
        while True:
            if self.buf.startswith(b".\r\n"):
                end = 3
                break
            i = self.buf.find(b"\r\n.\r\n")
            if i >= 0:
                end = i + 5
                break
            if not self._fill(deadline):
                fail("incomplete multi-line reply (%d bytes)" % len(self.buf))
        got, self.buf = self.buf[:end], self.buf[end:]
        return got

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    def rest(self, timeout=WAIT):
        """Everything until EOF (bounded). Returns (bytes, saw_eof)."""
        deadline = time.monotonic() + timeout
        while self._fill(deadline):
            pass
        got, self.buf = self.buf, b""
        return got, self.eof

    def close(self):
        if self.closer is not None:
            self.closer.close()
            self.closer = None


class Inetd:
    """The binary in inetd mode, POP3 on its stdin/stdout pipes."""

    def __init__(self, argv, pass_fds=()):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, pass_fds=pass_fds,
                                     start_new_session=True)
        self.conn = Conn(self.proc.stdout.fileno(), self.proc.stdin.fileno())

    def close_input(self):
        self.proc.stdin.close()
        self.proc.stdin = None

    def finish(self):
        """Waits (bounded) for exit; returns (exit status, stderr text)."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
            self.proc.stdin = None   # communicate() must not flush the closed pipe
        try:
            _, err = self.proc.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            _, err = self.proc.communicate(timeout=WAIT)
            fail("server did not exit; stderr: %s" % err.decode(errors="replace"))
        return self.proc.returncode, err.decode(errors="replace")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """The binary in -D mode on 127.0.0.1 and a free port, in the foreground."""

    def __init__(self, argv_without_port, port=None, pass_fds=()):
        self.port = port or free_port()
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            argv_without_port + ["-D", "--foreground", "--listen", "127.0.0.1",
                                 "--port", str(self.port)],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, pass_fds=pass_fds,
            start_new_session=True)
        # Ready once the port is in LISTEN state: a bind to it then fails. The probe never
        # connects, so it takes none of the daemon's per-source slots; SO_REUSEADDR keeps the
        # probe from blocking the daemon's own bind.
        deadline = time.monotonic() + WAIT
        while not self._listening():
            if self.proc.poll() is not None:
                fail("daemon exited with %s: %s" % (self.proc.returncode, self.log_text()))
            if time.monotonic() > deadline:
                self.stop()
                fail("daemon does not listen on port %d: %s" % (self.port, self.log_text()))
            time.sleep(0.05)

    def _listening(self):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", self.port))
            except OSError:
                return True
            return False

    def log_text(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=WAIT)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)   # any session child left behind
        except ProcessLookupError:
            pass
        return self.proc.returncode


def login(conn, user="alice", password=PASSWORD):
    greeting = conn.line()
    if greeting != b"+OK\r\n":
        fail("greeting %r" % greeting)
    r1 = conn.cmd("USER " + user)
    r2 = conn.cmd("PASS " + password)
    if r1 != b"+OK\r\n" or r2 != b"+OK\r\n":
        fail("login as %s: %r %r" % (user, r1, r2))


def basic_session(conn, messages=MESSAGES):
    """Login, STAT, LIST, UIDL, RETR of every message with the bytes compared."""
    login(conn)
    sizes = [crlf_size(m) for m in messages]
    check(conn.cmd("STAT") == b"+OK %d %d\r\n" % (len(messages), sum(sizes)), "STAT")
    check(conn.cmd("LIST") == b"+OK\r\n", "LIST +OK")
    listing = b"".join(b"%d %d\r\n" % (i + 1, s) for i, s in enumerate(sizes)) + b".\r\n"
    check(conn.multiline() == listing, "LIST lines")
    check(conn.cmd("UIDL") == b"+OK\r\n", "UIDL +OK")
    uidls = conn.multiline().split(b"\r\n")[:-2]
    ids = [u.split(b" ")[1] for u in uidls]
    check([u.split(b" ")[0] for u in uidls] == [b"%d" % (i + 1) for i in range(len(messages))]
          and all(len(i) == 16 and all(c in b"0123456789abcdef" for c in i) for i in ids)
          and len(set(ids)) == len(ids), "UIDL: one 16-hex-digit id per message, all distinct")
    for i, data in enumerate(messages, 1):
        check(conn.cmd("RETR %d" % i) == b"+OK\r\n", "RETR %d +OK" % i)
        check(decode_retr(conn.multiline()) == data, "RETR %d bytes intact" % i)
    return ids


def process_models(binary, mbox=None):
    """(label, sandbox, argv) for each process model the binary can run in here: as an
    ordinary user in one process ("one process"), then, as root with the pre-auth user
    popa3d, with privilege separation ("privsep"), saying so when that one cannot run.
    Each sandbox is removed once the caller's loop body for it has run."""
    with contextlib.ExitStack() as stack:
        sandbox = Sandbox(mbox=mbox)
        stack.callback(sandbox.cleanup)
        print("== as an ordinary user (uid %d), one process" % sandbox.account.uid, flush=True)
        yield "one process", sandbox, sandbox.command(binary)
    if os.geteuid() != 0:
        print("note: not root, the privilege-separation path is not exercised")
        return
    try:
        pwd.getpwnam("popa3d")
    except KeyError:
        print("note: no user popa3d (scripts/ci-accounts.sh creates it): "
              "the privilege-separation path is not exercised")
        return
    with contextlib.ExitStack() as stack:
        sandbox = Sandbox(mbox=mbox)
        stack.callback(sandbox.cleanup)
        os.chown(sandbox.users_file, 0, 0)   # as root, the users file must be root's
        chroot = tempfile.mkdtemp(prefix="popa3d-e2e-empty-")
        stack.callback(os.rmdir, chroot)
        os.chmod(chroot, 0o755)
        print("== as root with privilege separation (--user popa3d --chroot %s)" % chroot,
              flush=True)
        yield "privsep", sandbox, [binary, "--users-file", sandbox.users_file, "--spool",
                                   sandbox.spool, "--stderr", "--user", "popa3d",
                                   "--chroot", chroot]


def children(pid):
    """PIDs whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: the fields follow the last ")".
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found.append(int(entry))
    return found


def wait_for(what, probe):
    """probe()'s first true result, polled for at most WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.02)
    fail("timed out waiting for " + what)


def make_maildir(path):
    for sub in ("", "new", "cur", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)


def maildir_messages(maildir):
    """The contents of every message in a maildir's new/ and cur/."""
    got = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                got.append(f.read())
    return got


def files_in(directory, subdirectories=("",)):
    """The contents of the regular files in `directory`'s `subdirectories`, sorted."""
    got = []
    for sub in subdirectories:
        d = os.path.join(directory, sub)
        for name in sorted(os.listdir(d)):
            if os.path.isfile(os.path.join(d, name)):
                with open(os.path.join(d, name), "rb") as f:
                    got.append(f.read())
    return sorted(got)


def mpop_setup(port, work):
    """mpop fetching alice's mail into the maildir WORK/mpop-maildir, keeping it on the server
    and fetching only what its UIDLs say is new. Returns (argv, the target maildir)."""
    maildir = os.path.join(work, "mpop-maildir")
    for sub in ("", "new", "cur", "tmp"):
        os.makedirs(os.path.join(maildir, sub), exist_ok=True)
    config = os.path.join(work, "mpoprc")
    with open(config, "w") as f:
        f.write("account test\nhost 127.0.0.1\nport %d\nuser alice\npassword %s\nauth user\n"
                "tls off\ndelivery maildir %s\nkeep on\nonly_new on\nreceived_header off\n"
                "uidls_file %s\ntimeout %d\n"
                % (port, PASSWORD, maildir, os.path.join(work, "mpop-uidls"), int(WAIT)))
    os.chmod(config, 0o600)
    return ["mpop", "--file=" + config, "--quiet", "test"], maildir


def fetchmail_setup(port, work):
    """fetchmail fetching alice's mail with UIDLs, keeping it on the server, each message
    handed as received (CR LF kept: "no stripcr") to an MDA that writes it to a file of its
    own in WORK/fetchmail-out; --invisible: no Received header. Returns (argv, env, out)."""
    out = os.path.join(work, "fetchmail-out")
    os.mkdir(out)
    mda = "/bin/sh -c 'cat > $(mktemp %s/msg.XXXXXXXX)'" % out
    rc = os.path.join(work, "fetchmailrc")
    with open(rc, "w") as f:
        f.write("set no syslog\npoll 127.0.0.1 protocol pop3 port %d uidl\n"
                "  user alice password %s keep no stripcr sslproto '' no sslcertck\n" % (port, PASSWORD))
    os.chmod(rc, 0o600)
    env = dict(os.environ, FETCHMAILHOME=work, HOME=work)
    argv = ["fetchmail", "-f", rc, "--invisible", "--norewrite", "--nosoftbounce",
            "--mda", mda, "--pidfile", os.path.join(work, "fetchmail.pid")]
    return argv, env, out
