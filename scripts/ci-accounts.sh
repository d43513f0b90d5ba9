#!/bin/sh
# ci-accounts.sh: creates the system accounts the conformance test needs (run as root).
#
# - alice: an ordinary account, password "secret", primary group mail, no login shell;
#   shared/conformance/run.py installs /var/mail/alice for it.
# - popa3d: the unprivileged pre-auth user popa3d drops to before reading any client byte.
# - /var/empty: the default chroot directory of the privilege-separated child (upstream's
#   POP_CHROOT; Debian's popa3d package uses /var/lib/popa3d instead).
#
# Idempotent: existing accounts are left as they are, except that alice's password is
# (re)set, so a rerun repairs it.
#
#   sudo scripts/ci-accounts.sh && sudo CI=true ctest --test-dir build -R conformance
set -eu

if [ "$(id -u)" -ne 0 ]; then
  echo "ci-accounts.sh: must run as root" >&2
  exit 1
fi

getent group mail >/dev/null || groupadd --system mail

if ! getent passwd popa3d >/dev/null; then
  useradd --system --user-group --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin popa3d
fi

if ! getent passwd alice >/dev/null; then
  useradd --gid mail --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin alice
fi
echo 'alice:secret' | chpasswd

[ -d /var/empty ] || install -d -o root -g root -m 0755 /var/empty
[ -d /var/mail ] || install -d -o root -g mail -m 2775 /var/mail

echo "ci-accounts.sh: alice ($(id alice)), popa3d ($(id popa3d)), /var/empty ready"
