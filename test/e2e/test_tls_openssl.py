#!/usr/bin/env python3
"""What the daemon's TLS accepts, probed with openssl s_client on the
implicit-TLS port, in each process model, with a test CA made at test time:
TLS 1.3, and TLS 1.2 with ECDHE and an AEAD cipher, are accepted; TLS 1.1 and a
CBC-only cipher list are refused, as is a client's renegotiation under TLS 1.2
(also with s_client -legacy_renegotiation).
Each refusal has a control: the same s_client command against `openssl
s_server` configured to allow it succeeds, so that a refusal is the daemon's,
not the client's (OpenSSL 3 clients refuse TLS 1.1 at security level 1)."""

import os
import select
import shutil
import signal
import subprocess
import sys
import time

from e2e_common import WAIT, binary_from_argv, check, fail, free_port, unavailable
from tls_common import HOST, listening, start_tls_daemon, tls_process_models

OLD_PROTOCOL = ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]
CBC_ONLY = ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
            "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"]


def s_client(certs, port, *args):
    """One handshake with no input: (succeeded, output)."""
    argv = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile", certs.ca,
            "-servername", HOST, "-verify_return_error", "-brief"] + list(args)
    print("   $ " + " ".join(argv), flush=True)
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=WAIT)
    out = (done.stdout + done.stderr).decode(errors="replace")
    return done.returncode == 0 and "Protocol version" in out, out


class Interactive:
    """A process with its stdin a pipe and stdout+stderr read with bounded waits."""

    def __init__(self, argv):
        print("   $ " + " ".join(argv), flush=True)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.out = b""

    def wait_for(self, text, timeout=WAIT):
        """True once `text` was printed; False at EOF or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.out:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                return False
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                return False
            self.out += chunk
        return True

    def send(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass

    def finish(self, close_input=True):
        """Closes stdin (or leaves that to the end of the process) and waits (bounded) for
        the exit, reading the rest: the exit status."""
        if close_input:
            self.proc.stdin.close()
        self.wait_for("\0will not be printed\0")
        try:
            return self.proc.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=WAIT)
            return None

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=WAIT)


class Control:
    """openssl s_server on a free port with `args`: what s_client can do when allowed."""

    def __init__(self, certs, *args):
        self.port = free_port()
        self.server = Interactive(["openssl", "s_server", "-accept", "127.0.0.1:%d" % self.port,
                                   "-cert", certs.cert, "-key", certs.key] + list(args))
        deadline = time.monotonic() + WAIT
        while not listening(self.port):
            if time.monotonic() > deadline or self.server.proc.poll() is not None:
                self.server.stop()
                fail("openssl s_server does not listen: %s" % self.server.out)
            time.sleep(0.02)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.stop()


def renegotiate(certs, port, greeting, after, *extra):
    """s_client under TLS 1.2 waits for `greeting`, asks to renegotiate ("R"), then sends
    `after`: whether it asked, whether the renegotiation was refused, its exit status and
    its output from the renegotiation on. With a greeting (a POP3 server, which closes after
    QUIT) the client's input stays open until it exits; else it is closed after `after`.
    (Not -ign_eof, under which s_client sends "R" as data.)"""
    client = Interactive(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-CAfile",
                          certs.ca, "-servername", HOST, "-verify_return_error", "-tls1_2"]
                         + list(extra))
    if not client.wait_for("Verify return code: 0"):
        client.stop()
        fail("s_client: no handshake: %s" % client.out.decode(errors="replace"))
    if greeting is not None and not client.wait_for(greeting):
        client.stop()
        fail("s_client: no greeting: %s" % client.out.decode(errors="replace"))
    client.send(b"R\n")
    asked = client.wait_for("RENEGOTIATING")
    client.send(after.encode())
    status = client.finish(close_input=greeting is None)
    out = client.out.decode(errors="replace")
    out = out[out.find("RENEGOTIATING"):]
    return asked, "no renegotiation" in out or "alert" in out, status, out


def main():
    binary = binary_from_argv()
    if shutil.which("openssl") is None:
        unavailable("openssl(1) is not installed (apt-get install openssl)")
    for label, sandbox, argv, certs in tls_process_models(binary):
        daemon = None
        try:
            daemon, ports = start_tls_daemon(argv, certs)
            for args, what in (([], "TLS 1.3"),
                               (["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
                                "TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256"),
                               (["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"],
                                "TLS 1.2 ECDHE-ECDSA-CHACHA20-POLY1305")):
                ok, out = s_client(certs, ports.tls, *args)
                check(ok, "%s accepted (%s)" % (what, " ".join(out.split("\n")[:3])))
            for args, what, control in ((OLD_PROTOCOL, "TLS 1.1", OLD_PROTOCOL),
                                        (CBC_ONLY, "a CBC-only cipher list under TLS 1.2",
                                         ["-cipher", "ALL"])):
                with Control(certs, *control) as c:
                    ok, out = s_client(certs, c.port, *args)
                    check(ok, "control: s_client with %s against openssl s_server: accepted"
                          % what)
                ok, out = s_client(certs, ports.tls, *args)
                check(not ok, "%s refused (%s)" % (what, out.strip().split("\n")[-1]))

            with Control(certs, "-client_renegotiation") as c:
                asked, refused, status, out = renegotiate(certs, c.port, None, "hello\n")
                c.server.wait_for("hello")
                check(asked and not refused and status == 0 and b"hello" in c.server.out,
                      "control: s_client renegotiates under TLS 1.2 with openssl s_server "
                      "-client_renegotiation")
            for extra, what in (([], "renegotiation"),
                                (["-legacy_renegotiation"], "renegotiation by a client allowing the legacy kind")):
                asked, refused, status, out = renegotiate(certs, ports.tls, "+OK", "QUIT\n", *extra)
                print("   " + out.strip().replace("\n", "\n   "))
                check(asked and refused and status != 0 and "+OK" not in out,
                      "%s under TLS 1.2 refused, the session ends (QUIT unanswered)" % what)

            ok, out = s_client(certs, ports.tls)
            check(ok, "the daemon still accepts a good handshake afterwards")
            check(daemon.stop() == 0, "daemon exits 0 on SIGTERM")
        finally:
            if daemon is not None:
                daemon.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
