#!/usr/bin/env bash
# Quick start: builds popa3d, serves examples/demo.mbox to the user "demo" (password "demo")
# on 127.0.0.1:1110 (STLS offered) and with implicit TLS on 127.0.0.1:1995 in standalone mode,
# with a self-signed certificate made here, and fetches the mail with curl over both; then
# prints popa3d's log, kept apart from curl's output. A port already taken (DEMO_PORT,
# DEMO_TLS_PORT override the defaults) is replaced by the next free one, and said so.
#
#   scripts/demo.sh                 build, serve, fetch, then keep serving until Ctrl-C
#   scripts/demo.sh --once          build, serve, fetch, stop (used by the test suite)
#   scripts/demo.sh --binary PATH   use an already built popa3d
#
# As root it runs as popa3d is meant to run: the login phase as the pre-auth user "popa3d"
# (created here if missing) in an empty chroot, the mailbox as the user "nobody". As an
# ordinary user it serves in one process as that user.
set -euo pipefail
cd "$(dirname "$0")/.."

once=0
binary=""
port=${DEMO_PORT:-1110}
tls_port=${DEMO_TLS_PORT:-1995}
while (($#)); do
  case $1 in
    --once) once=1 ;;
    --binary) binary=$2; shift ;;
    *) echo "usage: scripts/demo.sh [--once] [--binary PATH]" >&2; exit 2 ;;
  esac
  shift
done

if [[ -z $binary ]]; then
  scripts/install-deps.sh
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build --target popa3d
  binary=build/src/popa3d
fi

work=$(mktemp -d /tmp/popa3d-demo.XXXXXX)
chmod 755 "$work"
server_pid=""
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/mail"
cp examples/demo.mbox "$work/mail/demo"
extra=()
if [[ $(id -u) -eq 0 ]]; then
  getent passwd popa3d >/dev/null ||
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin popa3d
  uid=$(id -u nobody) gid=$(id -g nobody)
  chown -R "$uid:$gid" "$work/mail"
  mkdir -m 755 "$work/empty"
  extra=(--user popa3d --chroot "$work/empty")
else
  uid=$(id -u) gid=$(id -g)
fi
chmod 600 "$work/mail/demo"
# An old mtime: popa3d holds its lock for a second on a mailbox changed in this second.
touch -d '2001-09-09 01:46:40' "$work/mail/demo"
(umask 077 && echo "demo:$(openssl passwd -6 demo):$uid:$gid:$work/mail/demo" > "$work/users")
# A self-signed ECDSA P-256 certificate for localhost, for this demo only (a real server uses
# one from an ACME client such as certbot: --tls-cert fullchain.pem --tls-key privkey.pem).
(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null)
chmod 644 "$work/cert.pem"

# A port is free when it can be bound on 127.0.0.1; the first free one from $1 up, not $2.
free() { python3 -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null; }
pick_port() {
  local p=$1
  for _ in $(seq 100); do
    if ((p != $2)) && free "$p"; then
      ((p == $1)) || echo "demo: port $1 is in use, using $p instead" >&2
      echo "$p"
      return
    fi
    p=$((p + 1))
  done
  echo "demo: no free port from $1 to $p" >&2
  exit 1
}
port=$(pick_port "$port" 0)
tls_port=$(pick_port "$tls_port" "$port")

# popa3d logs to a file of its own, printed after curl's output.
"$binary" -D --foreground --stderr --listen 127.0.0.1 --port "$port" --tls-port "$tls_port" \
  --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" --users-file "$work/users" "${extra[@]}" \
  2>"$work/popa3d.log" &
server_pid=$!
# Up to 5 s for both listening sockets, read off /proc/net/tcp (local 127.0.0.1:PORT in state
# 0A, LISTEN) rather than probed: a probe would be a client gone before its TLS handshake.
listening() { grep -q "^ *[0-9]*: 0100007F:$(printf %04X "$1") 00000000:0000 0A " /proc/net/tcp; }
for _ in $(seq 50); do
  if listening "$port" && listening "$tls_port"; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { echo "demo: popa3d exited:" >&2; cat "$work/popa3d.log" >&2; exit 1; }
  sleep 0.1
done

show() {
  echo "\$ $*"
  "$@"
  echo
}
echo "== curl"
show curl -sS --max-time 10 -u demo:demo "pop3://127.0.0.1:$port/"
show curl -sS --max-time 10 -u demo:demo "pop3://127.0.0.1:$port/1"
show curl -sS --max-time 10 -u demo:demo --request UIDL "pop3://127.0.0.1:$port/"
show curl -sS --max-time 10 -u demo:demo --cacert "$work/cert.pem" "pop3s://localhost:$tls_port/1"
show curl -sS --max-time 10 -u demo:demo --cacert "$work/cert.pem" --ssl-reqd "pop3://localhost:$port/1"

echo "== popa3d's log"
if ((once)); then
  # Stopped first: the listener exits once every session has ended, its log lines written.
  kill "$server_pid"
  wait "$server_pid" || true
  server_pid=""
  cat "$work/popa3d.log"
  exit 0
fi
echo "(popa3d is serving $work/mail/demo on 127.0.0.1:$port and, over TLS, on 127.0.0.1:$tls_port;"
echo "user demo, password demo; certificate $work/cert.pem. Ctrl-C stops it.)"
# In the background, so that the wait below, unlike a foreground tail, ends at a signal.
tail -n +1 -f --pid="$server_pid" "$work/popa3d.log" &
wait "$server_pid"
