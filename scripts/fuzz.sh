#!/usr/bin/env bash
# Builds the libFuzzer targets of test/fuzz with clang (ASan + UBSan) and runs each one for
# SECONDS (default 30), seeded from the recorded conformance cases in ../shared/conformance.
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 3600 session_fuzz
# The corpus each target grows stays in build-fuzz/corpus/TARGET, so a longer run picks up
# where the last one stopped. A crash leaves its input in build-fuzz/artifacts/ and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
seconds=${1:-30}
shift || true
build=build-fuzz
cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-Wall -Wextra -Wpedantic -Werror" -DPOP3_BUILD_FUZZERS=ON \
  -DPOP3_BUILD_TESTS=OFF -DPOP3_BUILD_BENCH=OFF -DPOP3_BUILD_DAEMON=OFF >/dev/null
cmake --build "$build" -j "$(nproc)"

cases=../shared/conformance/cases
if [[ ! -d $cases ]]; then
  if [[ ${CI:-} == true ]]; then
    echo "fuzz: no seed cases at $cases" >&2
    exit 1
  fi
  echo "fuzz: no seed cases at $cases; starting from empty corpora" >&2
fi

# The bytes a case's client sent, or its mailbox, become seeds; each target's own leading
# parameter bytes (fuzz_input.hpp) are a zero byte or two in front.
seed() {  # seed TARGET KIND PREFIX_BYTES
  local dir=$build/corpus/$1 file
  mkdir -p "$dir"
  [[ -d $cases ]] || return 0
  for file in "$cases"/*/"$2"; do
    [[ -f $file && $(stat -c %s "$file") -le 65536 ]] || continue
    { printf "$3"; cat "$file"; } >"$dir/seed-$(basename "$(dirname "$file")")"
  done
}
seed line_fuzz commands '\x3f\x00'
seed session_fuzz commands '\x07\x05\x00\x00\n\n\n\n'
seed mbox_scan_fuzz mailbox '\x40\x07\x2b\x3f\xff'
seed reply_fuzz mailbox '\x3f\x00'
mkdir -p "$build/corpus/users_file_fuzz" "$build/corpus/handoff_fuzz" "$build/corpus/sasl_fuzz" "$build/corpus/journal_fuzz"
printf '# accounts\nalice:$6$salt$hash:1000:8:\n\nbob:$y$j9T$salt$hash:1001:8:/var/mail/bob\nalice:*:0:0:\n' \
  >"$build/corpus/users_file_fuzz/seed-two-accounts"
printf '\x05\0\0\0\x06\0\0\0\x06\0\0\0alicesecretSTAT\r\n' >"$build/corpus/handoff_fuzz/seed-handoff"
printf '\0\0\0\0\xe8\x03\0\0\x08\0\0\0\x05\0\0\0\x0f\0\0\0\x0b\0\0\0alice/var/mail/alice/home/alice' \
  >"$build/corpus/handoff_fuzz/seed-account"
printf '\xff\x09AGFsaWNlAHNlY3JldA==' >"$build/corpus/sasl_fuzz/seed-plain"
printf '\x07\x05\x00\x1b\n\n\n\nCAPA\r\nSTLS\r\nUSER x\r\n\x02CAPA\r\nAUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nSTAT\r\nQUIT\r\n' \
  >"$build/corpus/session_fuzz/seed-stls-auth"
# An assembled journal (journal_fuzz.cpp): a PLAN for a 4000-byte file whose kept mail ends
# at 900, one run (no kept byte journaled), the seal, END.
printf '\x01\x01\x01\x01\x00\x00\x4c\x70\x6f\x70\x61\x33\x64\x4a\x31\x07\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\xa0\x0f\x00\x00\x00\x00\x00\x00\x64\x00\x00\x00\x00\x00\x00\x00\x84\x03\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x0c\x00\x00\x00\x2f\x76\x61\x72\x2f\x6d\x61\x69\x6c\x2f\x61\x6c\x01\x00\x18\xe8\x03\x00\x00\x00\x00\x00\x00\x20\x03\x00\x00\x00\x00\x00\x00\x64\x00\x00\x00\x00\x00\x00\x00\x03\x00\x10\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x05\x00\x18\x84\x03\x00\x00\x00\x00\x00\x00\xa0\x0f\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' \
  >"$build/corpus/journal_fuzz/seed-plan"
mkdir -p "$build/corpus/maildir_fuzz"
printf '\x30maildir:%%h/Maildir/%%u1700000001.M1P2.host,S=28,W=31:2,FSalice/home/alice\r\nline\r' \
  >"$build/corpus/maildir_fuzz/seed-dovecot"

mkdir -p "$build/corpus/proxy_header_fuzz"
printf '\x30PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nUSER x\r\n' >"$build/corpus/proxy_header_fuzz/seed-v1"
printf '\x30\r\n\r\n\0\r\nQUIT\n\x21\x11\0\x13\xc0\xa8\0\x01\xc0\xa8\0\x0b\xdc\x04\x01\xbb\x01\0\x04pop3USER x\r\n' \
  >"$build/corpus/proxy_header_fuzz/seed-v2"

targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=()
  for f in test/fuzz/*_fuzz.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi
mkdir -p "$build/artifacts"
for t in "${targets[@]}"; do
  # Session and line input longer than a few lines' worth explores nothing new, only slower.
  case $t in
    line_fuzz | session_fuzz | handoff_fuzz | sasl_fuzz | journal_fuzz | maildir_fuzz | proxy_header_fuzz) max_len=4096 ;;
    users_file_fuzz) max_len=16384 ;;  # its reference is quadratic
    mbox_scan_fuzz) max_len=8192 ;;   # windows of up to 300 bytes: larger files only repeat them
    *) max_len=65536 ;;
  esac
  mkdir -p "$build/corpus/$t"
  echo "== $t: $seconds s"
  log=$build/$t.log
  status=0
  "$build/test/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" \
    "$build/corpus/$t" >"$log" 2>&1 || status=$?
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$log" || true
  if ((status != 0)); then
    grep -E '==ERROR|SUMMARY|deadly signal' "$log" >&2 || tail -20 "$log" >&2
    echo "fuzz: $t failed (exit $status); the input is in $build/artifacts/, the log in $log" >&2
    exit 1
  fi
done
