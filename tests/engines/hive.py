"""Apache Hive 4.1.0 in process for the engine tests: tests/engines/hive/HiveLauncher.java run with
the Maven classpath tests/engines/run resolved (IDBSYNC_ENGINE_CLASSPATH) on Java 17, an embedded
Derby metastore and warehouse in a temp dir, MapReduce jobs in local mode inside the same JVM.
It opens no port: statements go over the launcher's stdin, answers come back on its stdout."""
import base64
import json
import os
import subprocess
import threading
import time

import harness as H

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "4.1.0"

# Hive 4.1's own list for Java 17 (its bin/hive sets these through HADOOP_OPTS); Kryo, Hadoop's
# and DataNucleus's reflection need them.
ADD_OPENS = ["java.base/java.lang", "java.base/java.lang.reflect", "java.base/java.io", "java.base/java.net",
             "java.base/java.nio", "java.base/java.util", "java.base/java.util.concurrent",
             "java.base/java.util.concurrent.atomic", "java.base/java.util.regex", "java.base/java.time",
             "java.base/sun.nio.ch", "java.sql/java.sql"]


def resolved_classpath():
    """The classpath entries tests/engines/run resolved with Maven, in Maven's order (a test that
    runs Hive beside another JVM, iceberg_crash, gets Hive's in IDBSYNC_HIVE_CLASSPATH)."""
    cp_file = os.environ.get("IDBSYNC_HIVE_CLASSPATH") or os.environ.get("IDBSYNC_ENGINE_CLASSPATH")
    if not cp_file:
        raise RuntimeError("IDBSYNC_ENGINE_CLASSPATH is not set: run through tests/engines/run hive")
    return open(cp_file).read().strip().split(":")


class HiveError(Exception):
    pass


class Hive:
    def __init__(self, tmp, settings=None, classpath=None):
        """classpath: the JVM's classpath entries, by default the resolved ones (resolved_classpath())."""
        logs = os.path.join(H.CACHE, "logs")
        os.makedirs(logs, exist_ok=True)
        self.logfile = os.path.join(logs, "hive.log")
        java = os.environ.get("IDBSYNC_HIVE_JAVA", "java")
        argv = [java, "-Xms256m", "-Xmx1500m", "-XX:+UseSerialGC", "-Duser.timezone=UTC",
                "-Djava.net.preferIPv4Stack=true", f"-Dderby.system.home={tmp}",
                f"-Dderby.stream.error.file={os.path.join(tmp, 'derby.log')}"]
        for m in ADD_OPENS:
            argv += ["--add-opens", f"{m}=ALL-UNNAMED"]
        argv += ["-cp", ":".join(classpath or resolved_classpath()), os.path.join(HERE, "hive", "HiveLauncher.java"), tmp,
                 os.path.join(HERE, "hive", "hive-site.xml")]
        argv += [f"{k}={v}" for k, v in (settings or {}).items()]
        self.log = open(self.logfile, "wb")
        t0 = time.time()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, cwd=tmp)
        self.lock = threading.Lock()
        try:
            first = self._answer(timeout=300)
        except HiveError as e:
            self.stop()
            raise RuntimeError(f"Apache Hive {VERSION} did not start ({e}); its log: {self.logfile}") from None
        assert first.get("ready"), first
        self.startup_s = time.time() - t0
        H.log(f"Apache Hive {VERSION} started in {self.startup_s:.1f}s (log {self.logfile})")

    def _answer(self, timeout):
        out = []
        t = threading.Thread(target=lambda: out.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not out or not out[0]:
            rc = self.proc.poll()
            raise HiveError(f"Hive exited with {rc}" if rc is not None else f"no answer within {timeout} s")
        return json.loads(out[0])

    def query(self, sql, timeout=600):
        """Runs one statement; returns (column names, [row dict]) or raises HiveError."""
        with self.lock:
            self.proc.stdin.write(base64.b64encode(sql.encode()) + b"\n")
            self.proc.stdin.flush()
            a = self._answer(timeout)
        if not a["ok"]:
            raise HiveError(f"Hive refused: {sql[:200]}: {a['error']}"[:3000])
        names = [n.split(".")[-1] for n, _ in a["columns"]]
        rows = []
        for text in a["rows"]:
            try:    # JsonSerDe's object: _col0.. in the select list's order
                r = json.loads(text)
            except ValueError:
                r = None
            if isinstance(r, dict):
                rows.append({n: r.get(f"_col{i}") for i, n in enumerate(names)})
            else:   # the plain lines of EXPLAIN, MSCK, SHOW ...
                rows.append({(names or ["result"])[0]: text})
        return names, rows

    def rows(self, sql):
        return self.query(sql)[1]

    def stop(self):
        H.end_process(self.proc, close_stdin=True)
