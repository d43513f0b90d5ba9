"""TLS helpers for the end-to-end tests: a test CA and an ECDSA P-256 server
certificate made at test time with openssl(1) in a temporary directory (no
key is ever committed), and the daemon started with them.

    for label, sandbox, argv, certs in tls_process_models(binary):   # a fresh CA for each
        daemon, ports = start_tls_daemon(label, sandbox, argv, certs)
        conn = TlsConn.wrap(socket.create_connection(("127.0.0.1", ports.tls)), certs)

The server certificate names localhost, 127.0.0.1 and ::1 (subjectAltName), is
signed by the CA, and its file holds the leaf then the CA (leaf then chain, as
--tls-cert expects). The key is mode 0600."""

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

from e2e_common import WAIT, Conn, Daemon, fail, free_port, process_models, unavailable

HOST = "localhost"


def openssl(*args, cwd):
    done = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, timeout=WAIT)
    if done.returncode != 0:
        fail("openssl %s: %s" % (" ".join(args), done.stderr.decode(errors="replace").strip()))


class TestCa:
    """ca.pem (the trust anchor), server.pem (leaf + CA) and server.key in `directory`."""

    def __init__(self, directory):
        if shutil.which("openssl") is None:
            unavailable("openssl(1) is needed to make the test certificates "
                        "(apt-get install openssl)")
        self.dir = directory
        self.ca = os.path.join(directory, "ca.pem")
        self.cert = os.path.join(directory, "server.pem")
        self.key = os.path.join(directory, "server.key")
        p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        openssl("req", "-x509", *p256, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                "-subj", "/CN=popa3d test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
        old = os.umask(0o077)
        try:
            openssl("req", *p256, "-keyout", "server.key", "-out", "server.csr",
                    "-subj", "/CN=" + HOST, cwd=directory)
        finally:
            os.umask(old)
        with open(os.path.join(directory, "server.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=DNS:%s,IP:127.0.0.1,IP:::1\n" % HOST)
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "leaf.pem",
                cwd=directory)
        with open(self.cert, "wb") as out:
            for part in ("leaf.pem", "ca.pem"):
                with open(os.path.join(directory, part), "rb") as f:
                    out.write(f.read())
        for path in (self.ca, self.cert):
            os.chmod(path, 0o644)
        os.chmod(directory, 0o755)
        os.unlink(os.path.join(directory, "ca.key"))
        os.chmod(self.key, 0o600)

    def give_key_for(self, label, sandbox):
        """The key to whoever starts the binary in process_models()' `label`: root for
        privilege separation (it reads the key before any fork), else the sandbox's
        account."""
        if os.geteuid() == 0:
            uid, gid = (0, 0) if label == "privsep" else (sandbox.account.uid,
                                                           sandbox.account.gid)
            os.chown(self.key, uid, gid)

    def client_context(self):
        """A client context that trusts only the test CA and checks the host name."""
        context = ssl.create_default_context(cafile=self.ca)
        context.check_hostname = True
        context.verify_mode = ssl.CERT_REQUIRED
        return context


def tls_process_models(binary, mbox=None):
    """process_models() with a test CA in a temporary directory of its own (mode 0755, so
    that the account can read the certificates), the key given to whoever starts the binary:
    (label, sandbox, argv, certs). The directory goes once the loop body has run."""
    for label, sandbox, argv in process_models(binary, mbox=mbox):
        work = tempfile.mkdtemp(prefix="popa3d-e2e-tls-")
        try:
            certs = TestCa(work)
            certs.give_key_for(label, sandbox)
            yield label, sandbox, argv, certs
        finally:
            shutil.rmtree(work, ignore_errors=True)


class Ports:
    def __init__(self, plain, tls):
        self.plain, self.tls = plain, tls


def listening(port):
    """True once something listens on 127.0.0.1:port (a bind to it fails; no connection)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def start_tls_daemon(argv, certs, extra=()):
    """The daemon of tls_process_models()' `label` with the test certificate: STLS on the
    plain port, implicit TLS on the other."""
    tls_port = free_port()
    daemon = Daemon(argv + ["--tls-cert", certs.cert, "--tls-key", certs.key,
                            "--tls-port", str(tls_port)] + list(extra))
    deadline = time.monotonic() + WAIT
    while not listening(tls_port):
        if time.monotonic() > deadline or daemon.proc.poll() is not None:
            daemon.stop()
            fail("daemon does not listen with TLS on port %d: %s" % (tls_port, daemon.log_text()))
        time.sleep(0.05)
    return daemon, Ports(daemon.port, tls_port)


class TlsConn(Conn):
    """Conn over a client TLS socket (bounded reads). `clean_close` says whether the
    server ended with close_notify (an EOF without it raises, as suppress_ragged_eofs=False
    asks)."""

    def __init__(self, tls_socket):
        super().__init__(None, None, tls_socket)
        self.sock = tls_socket
        self.clean_close = None

    @classmethod
    def wrap(cls, sock, certs, server_hostname=HOST):
        sock.settimeout(WAIT)
        return cls(certs.client_context().wrap_socket(sock, server_hostname=server_hostname,
                                                      suppress_ragged_eofs=False))

    def _read(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return None
        except (OSError, ssl.SSLError):   # a reset, or an EOF with no close_notify
            self.clean_close = False
            return b""
        self.clean_close = not data
        return data

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)


def read_line_exactly(sock, limit=512):
    """One line from a plain socket, read a byte at a time so that no byte after it is
    taken from the socket (the TLS handshake that follows must see them)."""
    sock.settimeout(WAIT)
    got = b""
    while not got.endswith(b"\n") and len(got) < limit:
        byte = sock.recv(1)
        if not byte:
            break
        got += byte
    return got
