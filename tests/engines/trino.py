"""A single-node Trino (coordinator and worker in one JVM, Java 25) for the engine tests: the
server-core tarball and the Hive plugin from Maven Central (tests/engines/run unpacks them into
the engines cache), a Hive catalog with a file metastore on the local file system, HTTP bound
to 127.0.0.1 on a free port, state in a temp dir, log in the engines cache. Queries go through
the REST protocol (POST /v1/statement, then nextUri)."""
import json
import os
import subprocess
import time
import urllib.request

import harness as H

VERSION = "476"


def java25():
    for j in (os.environ.get("IDBSYNC_TRINO_JAVA"), "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java"):
        if j and os.path.exists(j):
            return j
    raise RuntimeError("Trino needs Java 24+: set IDBSYNC_TRINO_JAVA (Temurin 25 expected in /usr/lib/jvm)")


class TrinoError(Exception):
    pass


class Trino:
    def __init__(self, tmp, home, dynamic=False):
        """dynamic: catalog.management=dynamic, so CREATE CATALOG / DROP CATALOG run (the
        Iceberg catalog `idbsync ddl --dialect trino --catalog-uri` prints)."""
        self.home = home
        self.tmp = tmp
        logs = os.path.join(H.CACHE, "logs")
        os.makedirs(logs, exist_ok=True)
        self.logfile = os.path.join(logs, "trino.log")
        self.port = H.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        etc = os.path.join(tmp, "etc")
        os.makedirs(os.path.join(etc, "catalog"), exist_ok=True)
        self.metastore = os.path.join(tmp, "metastore")
        os.makedirs(self.metastore, exist_ok=True)
        with open(os.path.join(etc, "config.properties"), "w") as f:
            f.write("coordinator=true\nnode-scheduler.include-coordinator=true\n"
                    f"http-server.http.port={self.port}\ndiscovery.uri={self.url}\n"
                    "query.max-memory=1GB\nquery.max-memory-per-node=512MB\n"
                    f"catalog.management={'dynamic' if dynamic else 'static'}\n")
        with open(os.path.join(etc, "catalog", "hive.properties"), "w") as f:
            f.write("connector.name=hive\nhive.metastore=file\n"
                    f"hive.metastore.catalog.dir=local://{self.metastore}\n"
                    "fs.native-local.enabled=true\nlocal.location=/\n"
                    "hive.non-managed-table-writes-enabled=true\n"
                    "hive.timestamp-precision=MILLISECONDS\n")
        with open(os.path.join(etc, "log.properties"), "w") as f:
            f.write("io.trino=WARN\nio.trino.server.Server=INFO\norg.apache.iceberg=WARN\n")
        argv = [java25(), "-Xmx2G", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError", "-Djdk.attach.allowAttachSelf=true",
                "--enable-native-access=ALL-UNNAMED", "-XX:+UnlockDiagnosticVMOptions",
                "-Dnode.environment=test", f"-Dnode.data-dir={os.path.join(tmp, 'data')}",
                "-Dnode.bind-ip=127.0.0.1", "-Dnode.internal-address=127.0.0.1",
                f"-Dconfig={os.path.join(etc, 'config.properties')}",
                f"-Dlog.levels-file={os.path.join(etc, 'log.properties')}",
                f"-Dcatalog.config-dir={os.path.join(etc, 'catalog')}",
                f"-Dplugin.dir={os.path.join(home, 'plugin')}",
                "-cp", os.path.join(home, "lib", "*"), "io.trino.server.TrinoServer"]
        self.log = open(self.logfile, "wb")
        t0 = time.time()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=tmp)
        # a give-up limit, not a speed check: at a load average of 35-45 on the shared 2-core
        # machines Trino took 318 s to start (measured), so 300 s failed runs that would have passed
        deadline = time.time() + 900
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                code, text = H.http("GET", self.url + "/v1/info", timeout=5)
                if code == 200 and not json.loads(text).get("starting", True):
                    break
            except OSError:
                pass
            time.sleep(1)
        else:
            self.stop()
            raise RuntimeError(f"Trino {VERSION} did not start within 900 s; its log: {self.logfile}")
        if self.proc.poll() is not None:
            raise RuntimeError(f"Trino {VERSION} exited ({self.proc.returncode}) while starting; its log: {self.logfile}")
        # /v1/info says "starting": false before the node is active for scheduling: wait until a
        # query runs (else NO_NODES_AVAILABLE)
        while True:
            try:
                self.query("SELECT 1")
                break
            except TrinoError as e:
                if "NO_NODES_AVAILABLE" not in str(e) or time.time() > deadline:
                    self.stop()
                    raise RuntimeError(f"Trino {VERSION} started but cannot run a query: {e}; its log: {self.logfile}")
                time.sleep(1)
        self.startup_s = time.time() - t0
        H.log(f"Trino {VERSION} started in {self.startup_s:.1f}s on {self.url} (log {self.logfile})")

    def query(self, sql, timeout=300):
        """All rows of sql as (columns, rows); raises TrinoError with Trino's message. A query
        refused with NO_NODES_AVAILABLE never ran (scheduling found no active worker: under load
        the node can drop out of the active set for a moment, and SELECT 1 at start-up proves only
        the coordinator); it is sent again for up to 120 s."""
        deadline = time.time() + 120
        while True:
            try:
                return self._query(sql, timeout)
            except TrinoError as e:
                if "NO_NODES_AVAILABLE" not in str(e) or time.time() > deadline:
                    raise
                time.sleep(1)

    def _query(self, sql, timeout):
        req = urllib.request.Request(self.url + "/v1/statement", data=sql.encode(), method="POST",
                                     headers={"X-Trino-User": "idbsync", "X-Trino-Time-Zone": "UTC"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            j = json.loads(r.read())
        cols, rows = None, []
        deadline = time.time() + timeout
        while True:
            if "error" in j:
                e = j["error"]
                raise TrinoError(f"{e.get('errorName')}: {e.get('message')}"[:2000])
            if j.get("columns") and cols is None:
                cols = j["columns"]
            rows += j.get("data") or []
            nxt = j.get("nextUri")
            if not nxt:
                break
            if time.time() > deadline:
                raise TrinoError(f"timeout: {sql[:100]}")
            with urllib.request.urlopen(urllib.request.Request(nxt, headers={"X-Trino-User": "idbsync"}),
                                        timeout=timeout) as r:
                j = json.loads(r.read())
        return cols or [], rows

    def dicts(self, sql):
        cols, rows = self.query(sql)
        names = [c["name"] for c in cols]
        return [dict(zip(names, r)) for r in rows], {c["name"]: c["type"] for c in cols}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
