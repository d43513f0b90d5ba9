#!/usr/bin/env python3
"""The option table as the binary shows it, and the config file: every option
is in --help and in popa3d(8) and nowhere else; --show-config names every
option of the file and reads back as itself; the command line overrides the
file; bad files and bad lines are startup errors that name FILE:LINE, logged
and never written to standard input's peer in inetd mode; a spool that does
not exist is logged; a bare popa3d without /etc/popa3d.conf is the inetd
drop-in it was. As root, /etc/popa3d.conf itself is tried in a private mount
namespace with an overlay on /etc, so the host's /etc is not touched."""

import os
import re
import shutil
import subprocess
import sys

from e2e_common import WAIT, Inetd, Sandbox, binary_from_argv, check, fail, login

MAN_PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "man", "popa3d.8")
COMMAND_LINE_ONLY = {"config", "show-config", "version", "help", "recover"}


def run(argv, stdin=b"", env=None):
    proc = subprocess.run(argv, input=stdin, capture_output=True, timeout=WAIT, env=env)
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


def help_options(binary):
    status, out, err = run([binary, "--help"])
    check(status == 0 and err == "", "--help exits 0, nothing on stderr")
    # Option lines start with "  -X, --name" or "      --name".
    return set(re.findall(r"^  (?:-[A-Za-z], |    )--([a-z][a-z-]*)", out, re.M))


def man_options():
    with open(MAN_PAGE) as f:
        text = f.read()
    # ".It Fl \-name" or ".It Fl D , Fl \-daemon" in the options list.
    found = set()
    for line in text.splitlines():
        if line.startswith(".It Fl "):
            found.update(re.findall(r"Fl \\-([a-z][a-z\\-]*)", line))
    return {name.replace("\\-", "-") for name in found}


def show_keys(text):
    """Keys of --show-config: "name value" or "# name ..." for one not set or out of scope."""
    keys = []
    for line in text.splitlines():
        m = re.match(r"^(?:# )?([a-z][a-z-]*)( |$)", line)
        if m is None:
            fail("--show-config line is neither a setting nor a named comment: %r" % line)
        keys.append(m.group(1))
    return keys


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def show(binary, *args):
    status, out, err = run([binary, "--show-config"] + list(args))
    if status != 0:
        fail("--show-config %s: exit %d: %s" % (" ".join(args), status, err))
    return out


def setting(text, key):
    return [line.split(" ", 1)[1] for line in text.splitlines() if line.startswith(key + " ")]


def check_table(binary, scratch):
    in_help = help_options(binary)
    in_man = man_options()
    shown = show(binary, "--config", write(os.path.join(scratch, "empty.conf"), ""))
    keys = show_keys(shown)
    check(len(keys) == len(set(keys)), "--show-config names each option once")
    every = set(keys) | COMMAND_LINE_ONLY
    check(in_help == every, "--help lists exactly the options (missing %s, extra %s)"
          % (sorted(every - in_help), sorted(in_help - every)))
    check(in_man == every, "popa3d.8 describes exactly the options (missing %s, extra %s)"
          % (sorted(every - in_man), sorted(in_man - every)))
    check(not (set(keys) & COMMAND_LINE_ONLY), "--show-config leaves out the command-line-only options")


def check_round_trip(binary, scratch, users_file):
    for args in ([],
                 ["-D", "--listen", "127.0.0.1", "--listen", "::1", "--port", "0", "--foreground",
                  "--max-sessions", "9", "--users-file", users_file, "--timeout", "30", "--stderr"],
                 ["--auth", "pam", "--pam-service", "other", "--pam-confdir", scratch,
                  "--failure-delay", "0", "--spool", scratch, "--user", "nobody", "--chroot", scratch],
                 ["--proxy-from", "127.0.0.1,::1/128,10.0.0.0/8"]):
        empty = write(os.path.join(scratch, "empty.conf"), "")
        first = show(binary, "--config", empty, *args)
        path = write(os.path.join(scratch, "shown.conf"), first)
        again = show(binary, "--config", path)
        check(again == first, "--show-config %s read back with --config gives the same output"
              % " ".join(args))


def check_override(binary, scratch):
    path = write(os.path.join(scratch, "override.conf"),
                 "# a comment\n\ndaemon yes\nport 1110\nlisten 192.0.2.1\nlisten 192.0.2.2\n"
                 "timeout 60\n")
    shown = show(binary, "--config", path)
    check(setting(shown, "listen") == ["192.0.2.1", "192.0.2.2"] and setting(shown, "port") == ["1110"]
          and setting(shown, "daemon") == ["yes"], "the file's settings; listen accumulates")
    shown = show(binary, "--config", path, "--port", "2110", "--listen", "127.0.0.1")
    check(setting(shown, "port") == ["2110"] and setting(shown, "listen") == ["127.0.0.1"]
          and setting(shown, "timeout") == ["60"],
          "the command line overrides the file; its --listen replaces the file's list")
    # A command-line option that needs -D is in scope when the file says daemon yes.
    check(run([binary, "--config", path, "--max-per-source", "3", "--show-config"])[0] == 0,
          "--max-per-source with daemon yes in the file is accepted")


def check_bad_files(binary, scratch):
    cases = [
        ("port 1110\nprot 1\n", ":2: unknown keyword prot"),
        ("\n# x\nport\n", ":3: port needs a value"),
        ("spool /var/my mail\n", ":1: spool takes one value"),
        ("port 70000\n", ":1: port: not a port number: 70000"),
        ("daemon on\n", ":1: daemon: not yes or no: on"),
        ("config /etc/other.conf\n", ":1: config is an option of the command line only"),
        ("show-config yes\n", ":1: show-config is an option of the command line only"),
        ("timeout 5\ntimeout 6\n", ":2: timeout given again (first on line 1)"),
        ("port 1110\n", ":1: port needs daemon yes (or -D)"),
        ("auth pam\nusers-file /etc/users\n", ":2: users-file needs auth crypt (or --auth crypt)"),
    ]
    for text, why in cases:
        path = write(os.path.join(scratch, "bad.conf"), text)
        expected = path + why
        # inetd mode: standard error may be the client's socket, so only the log hears of it.
        status, out, err = run([binary, "--config", path], stdin=b"QUIT\r\n")
        check(status == 1 and out == "" and err == "",
              "inetd mode, %r: exit 1, nothing to the client or on stderr (%r %r)" % (text, out, err))
        status, out, err = run([binary, "--config", path, "--stderr"])
        check(status == 1 and err.count("\n") == 1 and expected in err and err.startswith("popa3d["),
              "--stderr, %r: the log line names %s (%r)" % (text, expected, err))
        status, out, err = run([binary, "--config", path, "--show-config"])
        check(status == 1 and out == "" and err.startswith("popa3d: " + expected) and err.count("\n") == 1,
              "--show-config, %r: one line on stderr (%r)" % (text, err))
    path = write(os.path.join(scratch, "bad.conf"), "port x\n")
    status, _, err = run([binary, "-D", "--config", path])
    check(status == 1 and err == "popa3d: %s:1: port: not a port number: x\n" % path,
          "-D without --stderr: the error on stderr as well (%r)" % err)

    missing = os.path.join(scratch, "missing.conf")
    status, _, err = run([binary, "--config", missing, "--stderr"])
    check(status == 1 and missing + ": No such file or directory" in err, "--config FILE must exist (%r)" % err)
    status, _, err = run([binary, "--config", scratch, "--stderr"])
    check(status == 1 and scratch + ": not a regular file" in err, "a directory is refused (%r)" % err)
    for mode in (0o666, 0o664):
        path = write(os.path.join(scratch, "writable.conf"), "timeout 5\n", mode)
        status, _, err = run([binary, "--config", path, "--stderr"])
        check(status == 1 and "not writable by group or others" in err,
              "a file mode %o is refused (%r)" % (mode, err))
    # A command-line refusal keeps its old form: one line, exit 2, whatever the file holds.
    status, _, err = run([binary, "--config", write(os.path.join(scratch, "ok.conf"), "timeout 5\n"),
                          "--port", "1"])
    check(status == 2 and err == "popa3d: --listen, --port, --max-sessions, --max-per-source, "
          "--foreground and --tls-port need -D (try popa3d --help)\n", "command-line scope refusal as before (%r)" % err)


def check_sessions(binary, sandbox):
    """The file's settings reach a session; the command line's win over them."""
    conf = os.path.join(sandbox.dir, "session.conf")
    # Sandbox.command gives --users-file, --spool and --stderr on the command line; here the
    # file gives them, with a spool the command line then corrects.
    write(conf, "users-file %s\nspool /nonexistent-spool\nstderr yes\nfailure-delay 0\n" % sandbox.users_file)
    argv = sandbox.account.prefix + [binary, "--config", conf, "--spool", sandbox.spool]
    server = Inetd(argv)
    login(server.conn)
    check(server.conn.cmd("STAT").startswith(b"+OK 4 "), "a session with the file's users file and the "
          "command line's spool sees alice's 4 messages")
    server.conn.cmd("QUIT")
    status, err = server.finish()
    check(status == 0 and "Mail spool" not in err, "exit 0, no spool warning (%r)" % err)

    # A spool that does not exist: every mailbox in it is empty, and the log says why.
    server = Inetd(sandbox.account.prefix + [binary, "--config", conf])
    login(server.conn)
    check(server.conn.cmd("STAT") == b"+OK 0 0\r\n", "a missing spool serves an empty mailbox")
    server.conn.cmd("QUIT")
    status, err = server.finish()
    check(status == 0 and "Mail spool /nonexistent-spool: No such file or directory" in err,
          "a missing spool is logged (%r)" % err)
    status, _, err = run(sandbox.command(binary, "--spool", sandbox.users_file), stdin=b"QUIT\r\n")
    check("Mail spool %s is not a directory" % sandbox.users_file in err,
          "a spool that is a file is logged (%r)" % err)


def check_bare(binary):
    """No option, no /etc/popa3d.conf: the inetd drop-in, which existing tests cover on the wire."""
    if os.path.exists("/etc/popa3d.conf"):
        print("note: /etc/popa3d.conf exists here, the bare run is left out", flush=True)
        return
    # In a sanitizer build LeakSanitizer cannot inspect a root session that has dropped to the
    # pre-auth user in its chroot, and would exit 1 with its own message.
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    status, out, err = run([binary], stdin=b"QUIT\r\n", env=env)
    check(status == 0 and out == "+OK\r\n+OK\r\n" and err == "",
          "bare popa3d: greeting, QUIT, exit 0, nothing on stderr (%d %r %r)" % (status, out, err))


def in_namespace_with_etc_file(text, argv, stdin=b""):
    """Runs argv with /etc/popa3d.conf holding `text`, in a mount namespace of its own."""
    work = os.path.join(os.environ.get("TMPDIR", "/tmp"), "popa3d-e2e-etc-%d" % os.getpid())
    for d in ("upper", "work"):
        os.makedirs(os.path.join(work, d))
    try:
        write(os.path.join(work, "conf"), text)
        write(os.path.join(work, "stdin"), stdin.decode())
        script = ('w="$1"; shift; '
                  'mount -t overlay overlay -o lowerdir=/etc,upperdir="$w/upper",workdir="$w/work" /etc && '
                  'cp "$w/conf" /etc/popa3d.conf && exec "$@" < "$w/stdin"')
        proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
                               "sh", work] + argv, capture_output=True, timeout=WAIT)
        return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_etc_file(binary):
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        reason = "/etc/popa3d.conf is tried only as root with unshare(1)"
        if os.environ.get("CI", "").lower() == "true" and os.geteuid() == 0:
            fail(reason)
        print("note: " + reason, flush=True)
        return
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "true"],
                           capture_output=True, timeout=WAIT)
    if probe.returncode != 0:
        print("note: no mount namespace here (%s): /etc/popa3d.conf not tried"
              % probe.stderr.decode(errors="replace").strip(), flush=True)
        return
    status, out, err = in_namespace_with_etc_file("daemon yes\nport 1110\n", [binary, "--show-config"])
    if status != 0 and "overlay" in err:
        print("note: no overlay file system here: /etc/popa3d.conf not tried (%s)" % err.strip(), flush=True)
        return
    check(status == 0 and setting(out, "port") == ["1110"] and setting(out, "daemon") == ["yes"],
          "/etc/popa3d.conf is read when it exists (%d %r)" % (status, err))
    status, out, err = in_namespace_with_etc_file("daemon yes\nport 1110\n",
                                                  [binary, "--config", "/dev/null", "--show-config"])
    check(status == 1 and "/dev/null: not a regular file" in err, "--config replaces it (%r)" % err)
    status, out, err = in_namespace_with_etc_file("prot 1\n", [binary, "--help"])
    check(status == 0 and out.startswith("Usage: popa3d"), "--help does not read a broken /etc/popa3d.conf")
    status, out, err = in_namespace_with_etc_file("prot 1\n", [binary], stdin=b"QUIT\r\n")
    check(status == 1 and out == "" and err == "",
          "a broken /etc/popa3d.conf in inetd mode: exit 1, nothing to the client (%r %r)" % (out, err))
    status, out, err = in_namespace_with_etc_file("prot 1\n", [binary, "--stderr"])
    check(status == 1 and "/etc/popa3d.conf:1: unknown keyword prot" in err,
          "... and the log names /etc/popa3d.conf:1 (%r)" % err)


def main():
    binary = binary_from_argv()
    sandbox = Sandbox()
    try:
        scratch = os.path.join(sandbox.dir, "conf")
        os.mkdir(scratch)
        os.chmod(scratch, 0o755)
        check_table(binary, scratch)
        check_round_trip(binary, scratch, sandbox.users_file)
        check_override(binary, scratch)
        check_bad_files(binary, scratch)
        check_sessions(binary, sandbox)
        check_bare(binary)
        check_etc_file(binary)
    finally:
        sandbox.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
