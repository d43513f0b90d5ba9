#!/bin/sh
# bench/compare.sh: whole-session workloads, our popa3d against Debian's popa3d 1.0.3.
#
#   cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOP3_BUILD_BENCH=ON
#   cmake --build build-rel
#   sudo bench/compare.sh build-rel/src/popa3d [--quick] [--repeat N] [--only abcdefg]
#
# Needs root: it creates a temporary system account "pop3bench" (removed at the end), its
# mailbox /var/mail/pop3bench, and a network namespace for the TCP workload. Mailboxes come
# from gen_mbox (bench/gen_mbox in the same build tree: hence POP3_BUILD_BENCH). The full run
# uses a 100,000-message (1.1 GB) mailbox and takes a few minutes; --quick uses small ones.
# See compare.py for the workloads; the exit status is 1 if a session failed or the servers'
# outputs differed.
exec python3 "$(dirname "$0")/compare.py" "$@"
