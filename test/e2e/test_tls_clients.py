#!/usr/bin/env python3
"""Real clients over TLS against the daemon (-D --foreground on 127.0.0.1 with
--tls-cert, --tls-key and --tls-port: STLS on the plain port, implicit TLS on
the other), in each process model (one process; as root, privilege separation
with the TLS relay): curl (pop3s://, and pop3:// with --ssl-reqd, which
needs STLS; AUTH PLAIN with and without --sasl-ir), Python's poplib
(POP3_SSL and stls()), mpop (TLS and STARTTLS, auth plain), fetchmail (ssl,
and STLS through sslproto) and getmail6 (SimplePOP3SSLRetriever), each
verifying the server against a test CA made at test time. Every fetched
message is compared byte for byte with the mailbox, which holds dot-stuffing
cases and a message of over a megabyte. A client that is not installed is
reported and skipped (under CI=true it fails)."""

import base64
import os
import poplib
import shutil
import subprocess
import sys

from e2e_common import (MESSAGES, PASSWORD, WAIT, binary_from_argv, check, crlf_size,
                        fail, maildir_messages, make_maildir, make_mbox, unavailable)
from tls_common import HOST, start_tls_daemon, tls_process_models

# Over a megabyte in lines of every length up to 1000 bytes, a tenth of them starting with a
# dot, so that the dot-stuffing crosses every TLS record boundary.
LARGE = b"Message-ID: <large@example.org>\nSubject: large\n\n" + b"".join(
    (b"." if i % 10 == 0 else b"") + bytes([97 + i % 26]) * (i * 37 % 1000) + b"\n"
    for i in range(2200))
TLS_MESSAGES = MESSAGES + [LARGE]
CLIENTS = ("curl", "mpop", "fetchmail", "getmail")


def run(argv, **kw):
    print("   $ " + " ".join(argv), flush=True)
    return subprocess.run(argv, capture_output=True, timeout=WAIT * 2, **kw)


def text(r):
    return (r.stdout + r.stderr).decode(errors="replace").strip().replace("\n", " | ")[-600:]


def wire(data):
    """Message data as a client that keeps CR LF line ends stores it."""
    return data.replace(b"\n", b"\r\n")


def check_messages(got, expected, what):
    """`got` holds the messages of `expected` in any order, byte for byte."""
    if sorted(got) != sorted(expected):
        for g in sorted(got):
            if g not in expected:
                print("   not in the mailbox: %r" % g[:300])
    check(sorted(got) == sorted(expected), what)


def unchanged(sandbox):
    return sandbox.read_mbox() == make_mbox(TLS_MESSAGES)


# --- curl ---------------------------------------------------------------------------------


def with_curl(ports, certs, sandbox):
    auth = ["-u", "alice:" + PASSWORD, "--silent", "--show-error", "--max-time", str(WAIT),
            "--cacert", certs.ca]
    listing = b"".join(b"%d %d\r\n" % (i + 1, crlf_size(m)) for i, m in enumerate(TLS_MESSAGES))
    for what, url, extra in (("pop3s:// (implicit TLS)", "pop3s://%s:%d/" % (HOST, ports.tls), []),
                             ("pop3:// --ssl-reqd (STLS)", "pop3://%s:%d/" % (HOST, ports.plain),
                              ["--ssl-reqd"])):
        r = run(["curl"] + auth + extra + [url])
        check(r.returncode == 0 and r.stdout == listing, "curl %s LIST (%s)" % (what, text(r)))
        for i, data in enumerate(TLS_MESSAGES, 1):
            r = run(["curl"] + auth + extra + [url + str(i)])
            check(r.returncode == 0 and r.stdout == wire(data),
                  "curl %s RETR %d: bytes intact (%d bytes)" % (what, i, len(r.stdout)))
    # curl logs in with SASL PLAIN when CAPA offers it: with --sasl-ir the credentials ride
    # on the AUTH line, without it they follow the server's "+ " continuation.
    token = base64.b64encode(b"\0alice\0" + PASSWORD.encode())
    for sasl_ir in (False, True):
        url = "pop3s://%s:%d/1" % (HOST, ports.tls)
        r = run(["curl", "-v", "--login-options", "AUTH=PLAIN"] + auth
                + (["--sasl-ir"] if sasl_ir else []) + [url])
        sent = b"> AUTH PLAIN %s\r\n" % token if sasl_ir else b"> AUTH PLAIN\r\n"
        check(r.returncode == 0 and r.stdout == wire(TLS_MESSAGES[0]) and sent in r.stderr
              and (sasl_ir or b"> %s\r\n" % token in r.stderr) and b"> USER" not in r.stderr,
              "curl --login-options AUTH=PLAIN%s: AUTH PLAIN%s, RETR 1 intact (%s)"
              % (" --sasl-ir" if sasl_ir else "",
                 " with the initial response" if sasl_ir else ", then the response after '+ '",
                 text(r) if r.returncode else "ok"))
    r = run(["curl"] + auth + ["--request", "DELE", "--head",
                               "pop3s://%s:%d/2" % (HOST, ports.tls)])
    check(r.returncode == 0, "curl DELE 2 over pop3s:// (%s)" % text(r))
    check(sandbox.read_mbox() == make_mbox([m for i, m in enumerate(TLS_MESSAGES) if i != 1]),
          "curl's DELE over TLS removed message 2 at its QUIT (through the relay, as root)")
    sandbox.write_mbox(make_mbox(TLS_MESSAGES))


# --- Python's poplib ----------------------------------------------------------------------


def poplib_session(pop, what):
    pop.user("alice")
    pop.pass_(PASSWORD)
    check(pop.stat() == (len(TLS_MESSAGES), sum(crlf_size(m) for m in TLS_MESSAGES)),
          "poplib %s stat" % what)
    for i, data in enumerate(TLS_MESSAGES, 1):
        _, lines, _ = pop.retr(i)
        # poplib strips the line ends and the dot-stuffing; put LF back.
        check(b"".join(l + b"\n" for l in lines) == data,
              "poplib %s retr %d: bytes intact" % (what, i))
    pop.quit()


def with_poplib(ports, certs, sandbox):
    # poplib refuses lines over 2048 bytes (its _MAXLINE); one test message has a 5000-byte line.
    poplib._MAXLINE = 1 << 16
    pop = poplib.POP3_SSL(HOST, ports.tls, timeout=WAIT, context=certs.client_context())
    check(pop.getwelcome() == b"+OK", "poplib POP3_SSL: welcome, certificate verified")
    capa = pop.capa()
    check("STLS" not in capa and "USER" in capa and capa.get("SASL") == ["PLAIN"],
          "poplib POP3_SSL capa under TLS: USER and SASL PLAIN, no STLS (%s)" % capa)
    poplib_session(pop, "POP3_SSL")
    pop = poplib.POP3(HOST, ports.plain, timeout=WAIT)
    check("STLS" in pop.capa(), "poplib capa before TLS lists STLS")
    check(pop.stls(context=certs.client_context()).startswith(b"+OK"),
          "poplib stls(): +OK, certificate verified")
    check("STLS" not in pop.capa(), "poplib capa after STLS: no STLS")
    poplib_session(pop, "stls()")
    check(unchanged(sandbox), "poplib left the mailbox alone")


# --- mpop ---------------------------------------------------------------------------------


def with_mpop(ports, certs, sandbox, work):
    for name, port, starttls in (("TLS", ports.tls, "off"), ("STARTTLS", ports.plain, "on")):
        maildir = os.path.join(work, "mpop-" + name)
        make_maildir(maildir)
        config = os.path.join(work, "mpoprc-" + name)
        with open(config, "w") as f:
            f.write("account test\nhost %s\nport %d\nuser alice\npassword %s\nauth plain\n"
                    "tls on\ntls_starttls %s\ntls_trust_file %s\n"
                    "delivery maildir %s\nkeep on\nreceived_header off\n"
                    "uidls_file %s\ntimeout %d\n"
                    % (HOST, port, PASSWORD, starttls, certs.ca, maildir,
                       os.path.join(work, "mpop-uidls-" + name), int(WAIT)))
        os.chmod(config, 0o600)
        r = run(["mpop", "--file=" + config, "--quiet", "test"])
        check(r.returncode == 0, "mpop over %s, auth plain (%s)" % (name, text(r) or "ok"))
        check_messages(maildir_messages(maildir), TLS_MESSAGES,
                       "mpop over %s fetched every message byte for byte" % name)
    check(unchanged(sandbox), "mpop (keep on) left the mailbox alone")


# --- fetchmail ----------------------------------------------------------------------------


def with_fetchmail(ports, certs, sandbox, work):
    # "no stripcr": fetchmail hands the MDA the lines as received, CR LF included.
    # sslproto without "ssl": STLS on the plain port, refusing to go on without it.
    # sslcommonname: fetchmail checks the certificate against the name polled, which here is
    # the address.
    for name, port, tls in (("ssl", ports.tls, "ssl sslproto tls1.2+"),
                            ("STLS", ports.plain, "sslproto tls1.2+")):
        out = os.path.join(work, "fetchmail-" + name)
        os.mkdir(out)
        mda = "/bin/sh -c 'cat > $(mktemp %s/msg.XXXXXXXX)'" % out
        rc = os.path.join(work, "fetchmailrc-" + name)
        with open(rc, "w") as f:
            f.write("set no syslog\npoll %s protocol pop3 port %d\n"
                    "  user alice password %s keep no stripcr %s sslcertck sslcertfile %s\n"
                    % (HOST, port, PASSWORD, tls, certs.ca))
        os.chmod(rc, 0o600)
        env = dict(os.environ, FETCHMAILHOME=work, HOME=work)
        argv = ["fetchmail", "-f", rc, "--invisible", "--norewrite", "--nosoftbounce", "-v",
                "--mda", mda, "--pidfile", os.path.join(work, "fetchmail-%s.pid" % name)]
        r = run(argv, env=env)
        check(r.returncode == 0, "fetchmail %s (%s)" % (name, text(r) if r.returncode else "ok"))
        got = []
        for entry in sorted(os.listdir(out)):
            with open(os.path.join(out, entry), "rb") as f:
                got.append(f.read())
        check_messages(got, [wire(m) for m in TLS_MESSAGES],
                       "fetchmail %s fetched every message byte for byte" % name)
        if name == "STLS":
            check(b"POP3> STLS" in r.stdout + r.stderr and b"upgrade to TLS succeeded" in
                  r.stdout + r.stderr, "fetchmail sent STLS and upgraded (its -v log)")
    check(unchanged(sandbox), "fetchmail (keep) left the mailbox alone")


# --- getmail6 -----------------------------------------------------------------------------


def with_getmail(ports, certs, sandbox, work):
    # getmail refuses to deliver as root: as root it runs as the sandbox's account.
    home = os.path.join(work, "getmail")
    maildir = os.path.join(home, "maildir")
    make_maildir(maildir)
    rc = os.path.join(home, "getmailrc")
    with open(rc, "w") as f:
        f.write("[retriever]\ntype = SimplePOP3SSLRetriever\nserver = %s\nport = %d\n"
                "username = alice\npassword = %s\nca_certs = %s\n\n"
                "[destination]\ntype = Maildir\npath = %s/\n\n"
                "[options]\nread_all = true\ndelete = false\ndelivered_to = false\n"
                "received = false\nmessage_log_syslog = false\n"
                % (HOST, ports.tls, PASSWORD, certs.ca, maildir))
    for d, _, files in os.walk(home):
        sandbox.account.own(d, 0o700)
        for name in files:
            sandbox.account.own(os.path.join(d, name), 0o600)
    r = run(sandbox.account.prefix + ["getmail", "--getmaildir=" + home, "--rcfile=" + rc,
                                      "--quiet"])
    check(r.returncode == 0, "getmail SimplePOP3SSLRetriever (%s)" % (text(r) or "ok"))
    check_messages(maildir_messages(maildir), [getmail_stored(m) for m in TLS_MESSAGES],
                   "getmail fetched every message byte for byte")
    check(unchanged(sandbox), "getmail (delete = false) left the mailbox alone")


def getmail_stored(data):
    """What getmail6 6.18 writes for a message: a Return-Path line first (it has no envelope
    sender from POP3), and LF line ends, where it also counts a CR of the message's own
    (Python's email parser ends a line at a bare CR, and a CR before LF is dropped)."""
    return b"Return-Path: <unknown>\n" + data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


# --- the run ------------------------------------------------------------------------------


def main():
    binary = binary_from_argv()
    clients = [c for c in CLIENTS if shutil.which(c)]
    missing = [c for c in CLIENTS if c not in clients]
    if missing:
        unavailable("not installed: %s (scripts/install-deps.sh installs them)"
                    % ", ".join(missing))
    for label, sandbox, argv, certs in tls_process_models(binary, mbox=make_mbox(TLS_MESSAGES)):
        work = certs.dir   # searchable by the account, for getmail
        daemon = None
        try:
            daemon, ports = start_tls_daemon(argv, certs)
            print("== %s: STLS on %d, implicit TLS on %d" % (label, ports.plain, ports.tls))
            with_poplib(ports, certs, sandbox)
            with_curl(ports, certs, sandbox)
            with_mpop(ports, certs, sandbox, work)
            with_fetchmail(ports, certs, sandbox, work)
            with_getmail(ports, certs, sandbox, work)
            check(daemon.stop() == 0, "daemon exits 0 on SIGTERM")
        except subprocess.TimeoutExpired as e:
            fail("client did not finish: %s" % e)
        finally:
            if daemon is not None:
                daemon.stop()
                print("   daemon log:\n" + "\n".join(
                    "   | " + l for l in daemon.log_text().splitlines()[-6:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
