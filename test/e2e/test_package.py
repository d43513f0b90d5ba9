#!/usr/bin/env python3
"""The Debian package (issue 15, item 5): scripts/build-deb.sh and what it makes.

- dist/popa3d.conf, the example /etc/popa3d.conf, names every keyword --show-config prints
  (so a new option gets its line) and is a valid configuration.
- scripts/build-deb.sh prints one line, the path of the .deb; lintian reports no error
  (its full output is printed); the package holds the daemon, popa3d(8), the PAM service,
  /etc/popa3d.conf (a conffile), /var/lib/popa3d, every unit of dist/systemd and every file
  of dist/fail2ban, and no header; it provides pop3-server and conflicts with and replaces
  Debian's popa3d.
- Unpacked into a throw-away directory (dpkg-deb -x), its popa3d prints the version of the
  tree's, has the tree's options (so it was built from this tree, not left from a build
  before) and serves a session in inetd mode.

With --install (e2e_package_install, run alone: it puts /etc/popa3d.conf on the machine
for a moment), under CI=true as root on a machine without Debian's popa3d: apt-get installs
the .deb, the installed popa3d runs and, with the package's /etc/popa3d.conf (PAM, the
chroot /var/lib/popa3d), logs alice in (scripts/ci-accounts.sh), and purge removes what
the package made. Anywhere else that part is skipped: installing here would remove
Debian's popa3d, which the comparisons use.

Needs dpkg-dev, debhelper, fakeroot and lintian (scripts/install-deps.sh); skipped without
them, except under CI=true, where that is a failure.
"""

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

from e2e_common import (PASSWORD, Inetd, Sandbox, basic_session, binary_from_argv, check, fail,
                        login, skip, unavailable)

SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_WAIT = 840    # seconds: a first build of popa3d on a loaded 2-core machine
WAIT = 120          # seconds: lintian, apt-get, dpkg


def run(argv, wait=WAIT, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, timeout=wait, **kwargs)


def check_example_config(binary, work):
    shown = run([binary, "--config", os.path.join(work, "empty.conf"), "--show-config"])
    check(shown.returncode == 0, "--show-config with an empty file")
    keywords = [re.match(r"#? ?([a-z-]+)", line).group(1) for line in shown.stdout.splitlines()]
    with open(os.path.join(SOURCE, "dist", "popa3d.conf")) as f:
        example = f.read()
    missing = [k for k in keywords if not re.search(r"^#?%s( |$)" % re.escape(k), example, re.M)]
    check(not missing, "dist/popa3d.conf has a line for each of the %d keywords (missing: %s)"
          % (len(keywords), " ".join(missing) or "none"))
    copy = os.path.join(work, "popa3d.conf")
    shutil.copyfile(os.path.join(SOURCE, "dist", "popa3d.conf"), copy)
    shown = run([binary, "--config", copy, "--show-config"])
    check(shown.returncode == 0 and "\nauth pam\n" in shown.stdout
          and "\nchroot /var/lib/popa3d\n" in shown.stdout,
          "dist/popa3d.conf is valid and sets auth pam and chroot /var/lib/popa3d (%s)"
          % shown.stderr.strip())


def build_deb():
    for tool in ("dpkg-buildpackage", "dh", "fakeroot", "lintian", "dpkg-deb"):
        if shutil.which(tool) is None:
            unavailable("%s is needed to build and check the package "
                        "(scripts/install-deps.sh installs it)" % tool)
    built = run([os.path.join(SOURCE, "scripts", "build-deb.sh")], wait=BUILD_WAIT)
    if built.returncode != 0:
        fail("scripts/build-deb.sh failed:\n%s" % built.stderr[-4000:])
    lines = built.stdout.splitlines()
    check(len(lines) == 1 and lines[0].endswith(".deb") and os.path.isfile(lines[0]),
          "build-deb.sh printed one line, the .deb's path: %s" % built.stdout.strip())
    return lines[0]


def dist_files(subdirectory, pattern):
    """The files of dist/SUBDIRECTORY whose names match, relative to it."""
    top = os.path.join(SOURCE, "dist", subdirectory)
    found = []
    for directory, _, names in os.walk(top):
        found += [os.path.relpath(os.path.join(directory, n), top) for n in names
                  if re.fullmatch(pattern, n)]
    return sorted(found)


def check_package(deb):
    lint = run(["lintian", "--fail-on", "error", deb])
    print("lintian %s:\n%s" % (os.path.basename(deb), lint.stdout or "(no tags)\n"), flush=True)
    check(lint.returncode == 0, "lintian reports no error")

    listing = run(["dpkg-deb", "-c", deb], check=True).stdout
    paths = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
    wanted = ["/usr/sbin/popa3d", "/usr/share/man/man8/popa3d.8.gz", "/etc/pam.d/popa3d",
              "/etc/popa3d.conf", "/var/lib/popa3d/", "/usr/share/doc/popa3d-cpp/copyright"]
    wanted += ["/lib/systemd/system/" + n for n in dist_files("systemd", r".+\.(socket|service)")]
    wanted += ["/etc/fail2ban/" + n for n in dist_files("fail2ban", r".+")]
    missing = [p for p in wanted if p not in paths]
    check(not missing, "the package holds %s (missing: %s)" % (" ".join(wanted),
                                                               " ".join(missing) or "none"))
    check(not any(p.startswith("/usr/include") or "/cmake/" in p for p in paths),
          "the package holds no header or CMake package")

    def field(name):
        return run(["dpkg-deb", "-f", deb, name], check=True).stdout.strip()

    check(field("Section") == "mail", "Section: mail")
    check("pop3-server" in field("Provides").split(", "), "Provides: pop3-server")
    check("popa3d" in field("Conflicts").split(", "), "Conflicts: popa3d")
    check("popa3d" in field("Replaces").split(", "), "Replaces: popa3d")
    depends = field("Depends")
    check(all(re.search(r"\b%s\b" % lib, depends) for lib in ("libc6", "libpam0g", "libssl3")),
          "Depends from shlibs: %s" % depends)
    control = tempfile.mkdtemp(prefix="popa3d-deb-control-")
    try:
        run(["dpkg-deb", "-e", deb, control], check=True)
        with open(os.path.join(control, "conffiles")) as f:
            conffiles = f.read().split()
    finally:
        shutil.rmtree(control)
    check("/etc/popa3d.conf" in conffiles and "/etc/pam.d/popa3d" in conffiles,
          "conffiles: %s" % " ".join(conffiles))


def check_unpacked(deb, binary):
    sandbox = Sandbox()
    try:
        root = os.path.join(sandbox.dir, "root")
        run(["dpkg-deb", "-x", deb, root], check=True)
        os.chmod(sandbox.dir, 0o755)   # the unpacked binary is run as the sandbox's user
        packaged = os.path.join(root, "usr", "sbin", "popa3d")
        version = run([packaged, "-V"])
        check(version.returncode == 0 and version.stdout == run([binary, "-V"]).stdout,
              "the packaged popa3d -V prints the tree's version: %s" % version.stdout.strip())
        # Its own configuration (PAM) does not serve a users file: an empty one instead.
        empty = os.path.join(sandbox.dir, "empty.conf")
        open(empty, "w").close()
        sandbox.account.own(empty, 0o644)
        # The same options as the tree's binary: the package was built from this tree.
        shown = [run(sandbox.account.prefix + [b, "--config", empty, "--show-config"]).stdout
                 for b in (packaged, binary)]
        check(shown[0] == shown[1] and shown[0], "the packaged popa3d has the tree's options")
        inetd = Inetd(sandbox.command(packaged, "--config", empty))
        basic_session(inetd.conn)
        inetd.conn.cmd("QUIT")
        status, err = inetd.finish()
        check(status == 0, "the packaged popa3d served a session in inetd mode (%s)" % err.strip())
    finally:
        sandbox.cleanup()


def installed(package):
    query = run(["dpkg-query", "-W", "-f", "${Status}", package])
    return "install ok installed" in query.stdout


def check_installable():
    if os.environ.get("CI", "").lower() != "true" or os.geteuid() != 0:
        skip("the .deb is installed only under CI=true, as root")
    if installed("popa3d") or installed("popa3d-cpp"):
        skip("Debian's popa3d or popa3d-cpp is installed here: the package is not installed "
             "over it")


def install_and_purge(deb):
    user_before = run(["getent", "passwd", "popa3d"]).stdout
    # --no-remove: apt-get stops rather than remove another pop3-server it conflicts with.
    install = run(["apt-get", "install", "-y", "--no-install-recommends", "--no-remove", deb],
                  env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if install.returncode != 0:
        fail("apt-get install %s failed:\n%s%s" % (deb, install.stdout[-2000:], install.stderr))
    try:
        check(installed("popa3d-cpp"), "apt-get installed popa3d-cpp")
        version = run(["/usr/sbin/popa3d", "-V"])
        check(version.returncode == 0 and version.stdout.startswith("popa3d version "),
              "/usr/sbin/popa3d -V: %s" % version.stdout.strip())
        shown = run(["/usr/sbin/popa3d", "--show-config"])
        check(shown.returncode == 0 and "\nchroot /var/lib/popa3d\n" in shown.stdout,
              "the installed popa3d reads /etc/popa3d.conf")
        check(pwd.getpwnam("popa3d").pw_shell == "/usr/sbin/nologin",
              "the pre-auth user popa3d exists")
        chroot = os.stat("/var/lib/popa3d")
        check(chroot.st_uid == 0 and chroot.st_mode & 0o777 == 0o755,
              "/var/lib/popa3d is root's, mode 0755")
        # The package's configuration as it stands: PAM, privilege separation into
        # /var/lib/popa3d as popa3d. alice's mailbox may be missing: then it is empty.
        try:
            pwd.getpwnam("alice")
        except KeyError:
            unavailable("the account alice, password %s (scripts/ci-accounts.sh)" % PASSWORD)
        inetd = Inetd(["/usr/sbin/popa3d", "--stderr"])
        login(inetd.conn)
        check(inetd.conn.cmd("STAT").startswith(b"+OK "), "STAT")
        inetd.conn.cmd("QUIT")
        status, err = inetd.finish()
        check(status == 0 and "Authentication passed for alice" in err,
              "the installed popa3d logged alice in through PAM (%s)" % err.strip())
    finally:
        purge = run(["dpkg", "--purge", "popa3d-cpp"])
    check(purge.returncode == 0, "dpkg --purge popa3d-cpp (%s)" % purge.stderr.strip())
    check(not os.path.exists("/etc/popa3d.conf") and not os.path.exists("/var/lib/popa3d")
          and not os.path.exists("/usr/sbin/popa3d"), "purge removed the files")
    # A user made before the package (scripts/ci-accounts.sh) is not the package's to remove.
    check(run(["getent", "passwd", "popa3d"]).stdout == user_before,
          "purge left the user popa3d as it was before the install")


def main():
    binary = binary_from_argv()
    if "--install" in sys.argv[2:]:
        check_installable()
        install_and_purge(build_deb())
        return
    work = tempfile.mkdtemp(prefix="popa3d-package-")
    try:
        open(os.path.join(work, "empty.conf"), "w").close()
        check_example_config(binary, work)
    finally:
        shutil.rmtree(work)
    deb = build_deb()
    check_package(deb)
    check_unpacked(deb, binary)


if __name__ == "__main__":
    main()
