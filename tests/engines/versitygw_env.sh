#!/usr/bin/env bash
# Builds (once, with `go install`; offline afterwards through Go's module cache) versitygw, an
# Apache-2.0 S3 server that serves a local directory (each subdirectory a bucket), for the
# tests of the lake's Iceberg warehouse on S3. Prints the binary's path.
set -euo pipefail
V="${VERSITYGW_VERSION:-v1.7.0}"
D="$HOME/.cache/idbsync-engines/versitygw-$V"
if [ ! -x "$D/versitygw" ]; then
  mkdir -p "$D"
  GOBIN="$D" go install "github.com/versity/versitygw/cmd/versitygw@$V" >&2
fi
echo "$D/versitygw"
