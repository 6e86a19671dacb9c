"""An embedded Apache Drill 1.22 Drillbit for the engine tests: started with the Maven classpath
tests/engines/run resolved (IDBSYNC_ENGINE_CLASSPATH), REST API and RPC bound to 127.0.0.1 on
free ports, its state (sys store, tmp, views) in a temp dir, log in the engines cache."""
import http.cookiejar
import json
import os
import subprocess
import time
import urllib.request

import harness as H

HERE = os.path.dirname(os.path.abspath(__file__))

# From Drill's distribution/src/main/resources/drill-config.sh (Java 9+ module access).
ADD_OPENS = ["java.base/java.lang", "java.base/java.util", "java.base/sun.nio.ch", "java.base/java.net",
             "java.base/java.nio", "java.security.jgss/sun.security.krb5"]


# Calcite (Drill's SQL parser) encodes string literals in ISO-8859-1 unless told otherwise: a
# literal outside Latin-1 (an emoji in a --drill-url query parameter) fails with "Failed to
# encode ... in character set 'ISO-8859-1'". docs/engines.md recommends these for any Drill
# behind idbsync serve --drill-url (DRILL_JAVA_OPTS in drill-env.sh); the test runs with them.
UNICODE_SQL = ["-Dsaffron.default.charset=UTF-16LE", "-Dsaffron.default.nationalcharset=UTF-16LE",
               "-Dsaffron.default.collation.name=UTF-16LE$en_US"]


class DrillError(Exception):
    pass


class Drill:
    def __init__(self, tmp):
        cp_file = os.environ.get("IDBSYNC_ENGINE_CLASSPATH")
        if not cp_file:
            raise RuntimeError("IDBSYNC_ENGINE_CLASSPATH is not set: run through tests/engines/run drill")
        self.cp = open(cp_file).read().strip()
        self.tmp = tmp
        os.makedirs(os.path.join(tmp, "views"), exist_ok=True)
        logs = os.path.join(H.CACHE, "logs")
        os.makedirs(logs, exist_ok=True)
        self.logfile = os.path.join(logs, "drill.log")
        self.port = H.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        props = {
            "drill.exec.http.port": self.port,
            "drill.exec.http.bind_addr": "127.0.0.1",
            "drill.exec.rpc.bind_addr": "127.0.0.1",
            "drill.exec.rpc.user.server.port": H.free_port(),
            "drill.exec.rpc.bit.server.port": H.free_port(),
            "drill.exec.port_hunt": "true",
            "drill.exec.allow_loopback_address_binding": "true",
            "drill.exec.sys.store.provider.local.path": os.path.join(tmp, "sys"),
            "drill.tmp-dir": os.path.join(tmp, "tmp"),
        }
        java = os.environ.get("IDBSYNC_DRILL_JAVA", "java")
        argv = [java, "-Xms256m", "-Xmx2g", "-XX:MaxDirectMemorySize=1g", "-XX:+UseSerialGC",
                "-Djava.net.preferIPv4Stack=true", f"-Dlogback.configurationFile={os.path.join(HERE, 'drill', 'logback.xml')}"]
        argv += UNICODE_SQL + os.environ.get("IDBSYNC_DRILL_JVM_OPTS", "").split()
        for m in ADD_OPENS:
            argv += ["--add-opens", f"{m}=ALL-UNNAMED"]
        argv += ["-cp", self.cp, os.path.join(HERE, "drill", "DrillLauncher.java")]
        argv += [f"{k}={v}" for k, v in props.items()]
        env = dict(os.environ, DRILL_TMP_DIR=os.path.join(tmp, "tmp"))
        self.log = open(self.logfile, "wb")
        t0 = time.time()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, cwd=tmp)
        ready = False
        deadline = time.time() + 240
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.log.write(line)
            self.log.flush()
            if b"DRILL READY" in line:
                ready = True
                break
        if not ready:
            self.stop()
            rc = self.proc.poll()
            why = f"exited with {rc}" if rc is not None else "no DRILL READY within 240 s"
            raise RuntimeError(f"Apache Drill did not start ({why}); its log: {self.logfile}")
        # keep draining its output into the log
        import threading
        threading.Thread(target=self._drain, daemon=True).start()
        self.startup_s = time.time() - t0
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        H.log(f"Apache Drill started in {self.startup_s:.1f}s on {self.url} (log {self.logfile})")

    def _drain(self):
        for line in self.proc.stdout:
            self.log.write(line)
            self.log.flush()

    def rest(self, method, path, body=None, timeout=300):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        try:
            with self.opener.open(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def query(self, sql, options=None):
        body = {"queryType": "SQL", "query": sql}
        if options:
            body["options"] = options
        code, text = self.rest("POST", "/query.json", body)
        try:
            j = json.loads(text)
        except ValueError:
            raise DrillError(f"{code}: {text[:500]!r}")
        if code != 200 or j.get("queryState") not in (None, "COMPLETED") or "errorMessage" in j:
            msg = j.get("errorMessage") or self.profile_error(j.get("queryId")) or \
                f"query {j.get('queryState')} without a message (see {self.logfile})"
            raise DrillError(f"Drill refused: {sql[:200]}...: {msg}"[:3000])
        return j

    def profile_error(self, query_id):
        """The error of a failed query from its profile (REST answers some failures without one)."""
        if not query_id:
            return None
        try:
            code, text = self.rest("GET", f"/profiles/{query_id}.json", timeout=30)
            return json.loads(text).get("error", "").strip().splitlines()[0][:1000] if code == 200 else None
        except (OSError, ValueError, IndexError):
            return None

    def rows(self, sql, options=None):
        j = self.query(sql, options)
        return j.get("rows", []), j.get("columns", []), j.get("metadata", [])

    def add_workspaces(self, workspaces):
        code, text = self.rest("GET", "/storage/dfs.json")
        assert code == 200, text
        plugin = json.loads(text)
        cfg = plugin["config"]
        cfg.setdefault("workspaces", {}).update(workspaces)
        code, text = self.rest("POST", "/storage/dfs.json", {"name": "dfs", "config": cfg})
        assert code == 200 and b"success" in text.lower(), text

    def stop(self):
        H.end_process(self.proc, close_stdin=True)


def workspace_from_ddl(ddl):
    """The dfs workspace JSON the Drill DDL prints in its comment."""
    for line in ddl.splitlines():
        if line.startswith('-- "workspaces":'):
            return json.loads("{" + line[3:] + "}")["workspaces"]
    raise AssertionError("no workspace line in the Drill DDL")
