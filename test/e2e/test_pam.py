#!/usr/bin/env python3
"""--auth pam: the option rules, then logins as root in inetd mode against real
PAM stacks read from a directory of the test's own (--pam-confdir), so that
nothing is written into /etc/pam.d: pam_permit lets any password in, pam_deny
lets none in, pam_unix checks the password of a system account made for the
test (useradd, chpasswd; removed afterwards) and refuses it once expired.

The logins need root; without it they are skipped, except under CI=true,
where the test fails.
"""

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile

from e2e_common import (FAIL_REPLY, WAIT, Inetd, binary_from_argv, check, crlf_size, unavailable,
                        make_mbox, MESSAGES)

STACKS = {
    "permit": "auth required pam_permit.so\naccount required pam_permit.so\n",
    "deny": "auth required pam_deny.so\naccount required pam_deny.so\n",
    "unix": "auth required pam_unix.so\naccount required pam_unix.so\n",
    # PAM_RHOST: the client's address as the modules see it.
    "from-localhost": "auth required pam_succeed_if.so quiet rhost = 127.0.0.1\n"
                      "account required pam_permit.so\n",
    "from-elsewhere": "auth required pam_succeed_if.so quiet rhost = 192.0.2.7\n"
                      "account required pam_permit.so\n",
}


def usage_error(binary, args, what):
    proc = subprocess.run([binary] + args, capture_output=True, timeout=WAIT)
    err = proc.stderr.decode(errors="replace")
    check(proc.returncode == 2 and err.count("\n") == 1 and what in err,
          "%s: exit 2 with one line naming %s (%r)" % (" ".join(args), what, err))


def run(argv, stdin=""):
    subprocess.run(argv, input=stdin.encode(), check=True, timeout=WAIT,
                   stdout=subprocess.DEVNULL)


def session(argv, user, password):
    """USER, PASS, STAT, QUIT in one write; the server's bytes and stderr."""
    server = Inetd(argv)
    server.conn.send("USER %s\r\nPASS %s\r\nSTAT\r\nQUIT\r\n" % (user, password))
    out, _ = server.conn.rest()
    # The exit status is not checked: in a sanitizer build LeakSanitizer cannot inspect a
    # process that has dropped to the pre-auth user in its chroot, and exits 1 there.
    _, err = server.finish()
    return out, err


def tcp_session(argv, user, password):
    """As session(), with the server's standard input and output a TCP connection from
    127.0.0.1, as inetd hands it over."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname(), timeout=WAIT)
        accepted, _ = listener.accept()
    with client, accepted:
        proc = subprocess.Popen(argv, stdin=accepted, stdout=accepted, stderr=subprocess.PIPE)
        accepted.close()
        client.sendall(("USER %s\r\nPASS %s\r\nSTAT\r\nQUIT\r\n" % (user, password)).encode())
        out = b""
        while True:
            data = client.recv(65536)
            if not data:
                break
            out += data
        _, err = proc.communicate(timeout=WAIT)
    return out, err.decode(errors="replace")


def main():
    binary = binary_from_argv()
    usage_error(binary, ["--auth", "pam", "--users-file", "/etc/popa3d/users"], "--users-file")
    usage_error(binary, ["--auth", "ldap"], "--auth")
    usage_error(binary, ["--pam-service", "popa3d"], "--auth pam")
    usage_error(binary, ["--pam-confdir", "/tmp"], "--auth pam")

    if os.geteuid() != 0:
        unavailable("the PAM logins need root (privilege separation, pam_unix, useradd)")
    for tool in ("useradd", "userdel", "chpasswd", "chage"):
        if shutil.which(tool) is None:
            unavailable("%s is missing (apt-get install passwd)" % tool)

    top = tempfile.mkdtemp(prefix="popa3d-e2e-pam-")
    name = "pam-e2e-%d" % os.getpid()
    created = False
    try:
        os.chmod(top, 0o755)
        confdir = os.path.join(top, "pam.d")
        os.mkdir(confdir, 0o700)
        for service, text in STACKS.items():
            with open(os.path.join(confdir, service), "w") as f:
                f.write(text)
        empty = os.path.join(top, "empty")
        os.mkdir(empty, 0o755)
        spool = os.path.join(top, "spool")
        os.mkdir(spool, 0o755)

        run(["useradd", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", name])
        created = True
        run(["chpasswd"], "%s:secret\n" % name)
        account = pwd.getpwnam(name)
        mbox = os.path.join(spool, name)
        with open(mbox, "wb") as f:
            f.write(make_mbox())
        os.chown(mbox, account.pw_uid, account.pw_gid)
        os.chmod(mbox, 0o600)
        os.utime(mbox, (1_000_000_000, 1_000_000_000))

        def argv(service):
            return [binary, "--auth", "pam", "--pam-service", service, "--pam-confdir", confdir,
                    "--spool", spool, "--chroot", empty, "--user", "nobody", "--stderr"]

        stat = b"+OK %d %d\r\n" % (len(MESSAGES), sum(crlf_size(m) for m in MESSAGES))
        served = b"+OK\r\n+OK\r\n+OK\r\n" + stat + b"+OK\r\n"
        refused = b"+OK\r\n+OK\r\n" + FAIL_REPLY

        out, err = session(argv("permit"), name, "anything")
        check(out == served, "pam_permit: any password logs in and the mailbox is served (%r)" % out)
        check("Authentication passed for %s" % name in err, "the login is logged")
        out, err = session(argv("permit"), "no-such-user-%d" % os.getpid(), "anything")
        check(out == refused, "pam_permit: a name with no passwd entry is refused (%r)" % out)
        out, _ = session(argv("deny"), name, "secret")
        check(out == refused, "pam_deny: the right password is refused (%r)" % out)

        out, _ = session(argv("unix"), name, "secret")
        check(out == served, "pam_unix: the right password logs in (%r)" % out)
        out, err = session(argv("unix"), name, "wrong")
        check(out == refused, "pam_unix: a wrong password is refused (%r)" % out)
        check("Authentication failed for %s" % name in err, "the refusal is logged with the name")
        out, _ = tcp_session(argv("from-localhost"), name, "anything")
        check(out == served, "PAM_RHOST is the client's address over TCP (%r)" % out)
        out, _ = tcp_session(argv("from-elsewhere"), name, "anything")
        check(out == refused, "a host rule for another address refuses (%r)" % out)
        out, _ = session(argv("from-localhost"), name, "anything")
        check(out == refused, "over pipes there is no client address to match (%r)" % out)

        run(["chage", "-E", "1", name])
        out, err = session(argv("unix"), name, "secret")
        check(out == refused, "pam_unix: an expired account is refused (%r)" % out)
        check("PAM account check refused %s: User account has expired" % name in err,
              "the log says why")
    finally:
        if created:
            subprocess.run(["userdel", name], timeout=WAIT)
        shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
