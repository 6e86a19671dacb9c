#!/usr/bin/env bash
# Creates (once) the Python venv with pyiceberg + pyarrow that the Iceberg tests read the lake
# with, under ~/.cache/idbsync-engines/pyiceberg (pip only; offline after the first run).
# Prints the venv's python path on stdout.
set -euo pipefail
V="${IDBSYNC_PYICEBERG_VENV:-$HOME/.cache/idbsync-engines/pyiceberg}"
PYICEBERG_VERSION="${PYICEBERG_VERSION:-0.10.0}"
stamp="$V/.idbsync-pyiceberg-$PYICEBERG_VERSION"
if [ ! -f "$stamp" ]; then
  mkdir -p "$(dirname "$V")"
  python3 -m venv "$V" >&2
  "$V/bin/pip" install --disable-pip-version-check -q "pyiceberg[pyarrow]==$PYICEBERG_VERSION" >&2
  touch "$stamp"
fi
echo "$V/bin/python"
