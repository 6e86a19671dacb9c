#!/usr/bin/env bash
# Runs a Node test with the open-file limit raised to the hard limit: faults/live_many holds
# 2,000 sockets in one test process (and the server as many), past a common soft limit of 1,024.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec "$@"
