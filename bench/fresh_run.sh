#!/usr/bin/env bash
# `make run` on a fresh Debian machine, timed: a minimal Debian 12 root (mmdebstrap --variant=minbase,
# plus git and make, which a fresh machine also needs to clone and type `make`), a clone of this
# checkout inside it, then `make run` until the server says "listening" and serves the demo.
# The apt downloads, the package installs and the build are all inside the figure.
# Needs root (chroot, mounts) and mmdebstrap (installed here if missing). Usage: bench/fresh_run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/fresh_run.sh: needs root (chroot)" >&2; exit 2; }
command -v mmdebstrap >/dev/null || apt-get install -y -qq mmdebstrap >/dev/null

root=$(mktemp -d /tmp/idbsync-fresh.XXXXXX)
# Never remove the root while anything is mounted under it: a bind-mounted /dev there would take
# the host's device nodes with it. mmdebstrap makes the root's own /dev nodes; only proc is mounted.
cleanup() {
  pkill -f "idbsync serve --data ./data --lake ./lake --listen 127.0.0.1:$port" 2>/dev/null || true
  umount "$root/proc" 2>/dev/null || umount -l "$root/proc" 2>/dev/null || true
  if grep -q " $root/" /proc/mounts; then
    echo "bench/fresh_run.sh: still mounted under $root; left in place" >&2
  else
    rm -rf --one-file-system "$root"
  fi
}
port=0
trap cleanup EXIT

mmdebstrap --quiet --variant=minbase --include=ca-certificates,git,make bookworm "$root" \
  http://deb.debian.org/debian
mount -t proc proc "$root/proc"
cp /etc/resolv.conf "$root/etc/"
git clone -q "$PWD" "$root/root/idbsync"

# A free port on the host's loopback (the chroot shares the network).
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})' 2>/dev/null || echo 18123)
cat > "$root/root/go.sh" <<EOF
#!/bin/bash
cd /root/idbsync
touch /root/run.log
start=\$(date +%s%N)
make run PORT=$port > /root/run.log 2>&1 &
built=0
while ! grep -q 'listening' /root/run.log; do
  kill -0 \$! 2>/dev/null || { echo "make run failed:"; tail -20 /root/run.log; exit 1; }
  [ \$built = 0 ] && grep -q '^cmake -S' /root/run.log && built=\$(date +%s%N)
  sleep 0.2
done
end=\$(date +%s%N)
code=\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/)
echo "fresh clone to listening: \$(( (end - start) / 1000000 )) ms (packages \$(( (built - start) / 1000000 )) ms, build and start \$(( (end - built) / 1000000 )) ms); GET / -> \$code"
grep '^setup: installing' /root/run.log | cut -c1-200
EOF
chmod +x "$root/root/go.sh"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
chroot "$root" /root/go.sh
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); cores: $(nproc)"
