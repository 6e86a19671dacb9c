#!/usr/bin/env bash
# Fetches (once, through Maven into ~/.m2; offline afterwards) Apache Iceberg's REST catalog
# server jar, the one the apache/iceberg-rest-fixture image runs, and prints its path. The tests
# start it with tests/engines/IcebergRestCatalog.java (bound to 127.0.0.1, a free port).
set -euo pipefail
V="${ICEBERG_REST_VERSION:-1.10.0}"
# Maven's own default repository follows Java's user.home (the passwd entry), not $HOME: name it,
# so that the jar lands where this script looks for it.
REPO="$HOME/.m2/repository"
JAR="$REPO/org/apache/iceberg/iceberg-open-api/$V/iceberg-open-api-$V.jar"
if [ ! -s "$JAR" ]; then
  mvn -q -Dmaven.repo.local="$REPO" dependency:get -Dartifact="org.apache.iceberg:iceberg-open-api:$V" \
    -Dtransitive=false >&2
fi
echo "$JAR"
