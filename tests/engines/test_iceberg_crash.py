"""kill -9 of --lake-format iceberg read by Spark, Trino and DuckDB (issue #16): a real server is
killed (SIGKILL at an exact step, IDBSYNC_TEST_ICEBERG_KILL) at every kill point the pyiceberg
crash tests use (tests/lake/iceberg_kills.json: a commit after its manifest list, after its
metadata before the pointer swap, after the swap; each step of a snapshot expiry; a
compaction's link and replace commit; the removal of orphan files at start), and each lake is
read as the kill left it, then restarted (a flush, a stop) and read again, with ONE Spark session
(the hadoop catalog `idbsync ddl --dialect spark` prints, one per lake), ONE Trino server (the
Iceberg connector on a file metastore, `register_table` as `idbsync ddl --dialect trino` prints,
one catalog per lake and phase) and DuckDB (iceberg_scan, which follows version-hint.text).

Every read must succeed and hold each key (state) or seq (change log) at most once; the change
log at the current snapshot holds exactly the changes up to its summary's idbsync.seq and the
state equals the change history at that seq, exactly, as does every state snapshot the
metadata keeps (DuckDB's time travel to each, both phases). After the restart the change log holds every change
once (every acked one among them) and the state equals the pull feed. The history is the
restarted change log as DuckDB reads it, checked against the acked pushes and the pull feed."""
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

os.environ["TZ"] = "UTC"
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
time.tzset()
sys.path.insert(0, os.path.dirname(__file__))
import harness as H  # noqa: E402
import hive_iceberg_setup as HI  # noqa: E402
import reader_loop as L  # noqa: E402
import spark as SP  # noqa: E402
import test_duckdb_iceberg as D  # noqa: E402
import trino as T  # noqa: E402

KILLS = json.load(open(os.path.join(H.SRC, "tests", "lake", "iceberg_kills.json")))
LOG = os.path.join(SP.LOGS, "spark-iceberg-crash.log")


class Lake:
    """One server's dirs (tmp/lake, tmp/data), killed at `step`; acked: {seq: (key json, op)} of
    every push the server answered."""

    def __init__(self, group, step, n, args):
        self.group, self.step, self.args = group, f"{step}:{n}", args
        self.name = re.sub(r"\W", "_", f"{group}_{step}")
        self.tmp = tempfile.mkdtemp(prefix=f"idbsync-crash-{self.name}-")
        self.lake = os.path.join(self.tmp, "lake")
        self.acked = {}

    ddl = H.Server.ddl   # `idbsync ddl --lake <its lake>`
    kill_var = "IDBSYNC_TEST_ICEBERG_KILL"   # the variable that names the kill step
    env = {}                                 # more environment for the server (an S3 lake's keys)

    def statements(self, dialect):
        """The statements `idbsync ddl --dialect X` prints, but those naming a table tables()
        leaves out."""
        root = os.path.join(self.lake, "_iceberg", "app")
        out = set(os.listdir(root)) - set(self.tables()) if os.path.isdir(root) else set()
        return [st for st in H.statements(self.ddl(dialect)) if not any(re.search(rf"\b{t}\b", st) for t in out)]

    def start(self, env):
        return subprocess.Popen([H.BIN, "serve", "--data", os.path.join(self.tmp, "data"), "--lake", self.lake,
                                 "--listen", "127.0.0.1:0", *self.args], stdout=subprocess.PIPE,
                                stderr=open(os.path.join(self.tmp, "server.log"), "ab"), text=True,
                                env={**os.environ, **self.env, self.kill_var: env})

    def ingest_until_killed(self):
        """Pushes batches of 10 (5 keys rewritten each time, for many small change-log files to
        compact; the others random puts and deletes, for state buckets to replace) until the
        server kills itself at the step."""
        p = self.start(self.step)
        url = None
        for line in p.stdout:
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+) ", line)
            if m:
                url = m.group(1)
                break
        assert url, f"{self.name}: the server did not start: {open(os.path.join(self.tmp, 'server.log')).read()[-2000:]}"
        rnd, mid = random.Random(self.name), 1
        for b in range(3000):
            if p.poll() is not None:
                break
            muts = []
            for j in range(10):
                k = j if j < 5 else rnd.randrange(800)
                if j >= 5 and rnd.random() < 0.15:
                    muts.append({"id": mid, "store": "docs", "op": "delete", "key": k})
                else:
                    muts.append({"id": mid, "store": "docs", "op": "put", "key": k, "value": {"v": b, "s": "x" * rnd.randrange(40)}})
                mid += 1
            try:
                r = H.post_json(f"{url}/v1/db/app/push", {"client": "crashy", "mutations": muts}, timeout=30)
            except Exception:  # noqa: BLE001 - cut off by the kill
                continue
            by_id = {x["id"]: x for x in muts}
            for first, seq, count in r["kept"]:
                for i in range(count):
                    x = by_id[first + i]
                    self.acked[seq + i] = (H.canon(x["key"]), x["op"])
            time.sleep(0.01)
        self.wait_killed(p)

    def wait_killed(self, p):
        try:
            p.wait(120)
        except subprocess.TimeoutExpired:
            H.end_process(p)
            raise AssertionError(f"{self.name}: the server did not reach {self.step}")
        p.stdout.close()
        assert p.returncode == -9, f"{self.name}: exit {p.returncode}, not SIGKILL at {self.step}"

    def tables(self):
        """The tables whose pointer (metadata/version-hint.text) was written once: a kill in a
        table's first commit leaves a table no file-system catalog reader can find yet."""
        root = os.path.join(self.lake, "_iceberg", "app")
        return sorted(t for t in (os.listdir(root) if os.path.isdir(root) else [])
                      if os.path.exists(os.path.join(root, t, "metadata", "version-hint.text")))

    def restart(self):
        """Restarts on the same dirs, flushes (a flush in its backoff answers 503: again), pulls
        the feed, stops. Returns (flushed seq, pull feed {key json: entry})."""
        s = H.Server("compat", self.args, tmp=self.tmp)
        try:
            for k in range(61):
                try:
                    flushed = s.flush("app")["flushed"]
                    break
                except AssertionError:
                    if k == 60:
                        raise
                    time.sleep(1)
            return flushed, s.pull("app").get("docs", {})
        finally:
            s.stop()


def kill_points():
    """(group, step, n, server args, restart step or None) of every kill point of KILLS."""
    return [(group, step, g["n"], g["args"], g.get("restart")) for group, g in KILLS.items() if not group.startswith("_")
            for step in g["steps"]]


def produce(points=None, make=Lake):
    """Every kill point's lake (points: kill_points() by default; make(group, step, n, args):
    the Lake), killed (not restarted yet)."""
    lakes = []
    for group, step, n, args, restart in points or kill_points():
        lk = make(group, step, n, args)
        t0 = time.time()
        lk.ingest_until_killed()
        if restart:   # killed again, while the restart removes what the first kill left
            time.sleep(2.5)    # older than --iceberg-keep 1s (whole seconds)
            lk.step = restart
            p = lk.start(lk.step)
            lk.wait_killed(p)
        H.log(f"{lk.name}: killed at {lk.step} after {len(lk.acked)} acked changes ({time.time() - t0:.1f}s)")
        lakes.append(lk)
    return lakes


# ---------------------------------------------------------------------------------------------
# The three engines. Each read returns (idbsync.seq of the snapshot read, [(idb_seq, idb_key,
# idb_op)] for a change log or [(idb_key, idb_seq)] for a state table).

COLS = {"changes": "idb_seq, idb_key, idb_op", "state": "idb_key, idb_seq"}


# The idbsync.seq of the table's current snapshot (the newest of its current ancestors), in
# Spark's and Trino's SQL alike.
CURRENT_SEQ = ("SELECT CAST(s.summary['idbsync.seq'] AS BIGINT) FROM {snapshots} s JOIN {history} h "
               "ON s.snapshot_id = h.snapshot_id WHERE h.is_current_ancestor ORDER BY h.made_current_at DESC LIMIT 1")


def kind(table):
    return "changes" if table.endswith("_changes") else "conflicts" if table.endswith("_conflicts") else "state"


def cols(table):
    return COLS.get(kind(table), "*")


def current_seq(lk, table, follow):
    """The idbsync.seq of the table's current snapshot in the metadata reader_loop.metadata finds
    (follow: past version-hint.text to any newer vN.metadata.json, as HadoopTables does)."""
    m = L.metadata(lk.lake, "app", table, follow=follow)
    s = [x for x in m.get("snapshots", []) if x["snapshot-id"] == m.get("current-snapshot-id")]
    return int(s[0]["summary"]["idbsync.seq"]) if s and "idbsync.seq" in s[0]["summary"] else None


class Spark:
    def __init__(self, tmp):
        with open(os.environ["IDBSYNC_ENGINE_CLASSPATH"]) as f:
            jars = f.read().strip().replace(":", ",")
        t0 = time.time()
        self.spark = (SP.builder("idbsync-engines-iceberg-crash", LOG).config("spark.jars", jars)
                      .config("spark.sql.warehouse.dir", os.path.join(tmp, "warehouse")).getOrCreate())
        self.startup_s = time.time() - t0

    def attach(self, lk, phase):
        """The hadoop catalog of `idbsync ddl --dialect spark` as catalog c_<lake>_<phase>."""
        cat = f"c_{lk.name}_{phase}"
        ddl = lk.ddl("spark")
        wh = re.search(r"spark\.sql\.catalog\.idbsync\.warehouse=(\S+)", ddl).group(1)
        for k, v in (("", "org.apache.iceberg.spark.SparkCatalog"), (".type", "hadoop"), (".warehouse", wh),
                     (".cache-enabled", "false")):
            self.spark.conf.set(f"spark.sql.catalog.{cat}{k}", v)
        for st in lk.statements("spark"):
            self.spark.sql(st.replace("idbsync.`", f"{cat}.`")).collect()
        return cat

    def read(self, cat, table):
        t = f"{cat}.app.{table}"
        cur = self.spark.sql(CURRENT_SEQ.format(snapshots=f"{t}.snapshots", history=f"{t}.history")).collect()
        seq = int(cur[0][0]) if cur and cur[0][0] is not None else None
        return seq, [tuple(r) for r in self.spark.sql(f"SELECT {cols(table)} FROM {t}").collect()]

    def stop(self):
        self.spark.stop()


class Trino:
    def __init__(self, tmp):
        home = os.environ.get("IDBSYNC_TRINO_HOME") or os.path.join(H.CACHE, f"trino-{T.VERSION}")
        self.t = T.Trino(os.path.join(tmp, "trino"), home, dynamic=True)
        self.metastore = os.path.join(tmp, "trino-metastore")
        self.startup_s = self.t.startup_s

    def attach(self, lk, phase):
        """A catalog per lake and phase (register_table pins the metadata file it finds), the
        statements of `idbsync ddl --dialect trino` run as printed in it."""
        cat = f"c_{lk.name}_{phase}".lower()
        d = os.path.join(self.metastore, cat)
        os.makedirs(d)
        self.t.query(f"CREATE CATALOG {cat} USING iceberg WITH (\"iceberg.catalog.type\" = 'testing_file_metastore', "
                     f"\"hive.metastore.catalog.dir\" = 'local://{d}', "
                     "\"iceberg.register-table-procedure.enabled\" = 'true', \"fs.native-local.enabled\" = 'true', "
                     "\"local.location\" = '/')")
        for st in lk.statements("trino"):
            self.t.query(re.sub(r"\biceberg\.", f"{cat}.", st, count=1))
        return cat

    def read(self, cat, table):
        t = f'{cat}.app."{table}'
        cur = self.t.query(CURRENT_SEQ.format(snapshots=f'{t}$snapshots"', history=f'{t}$history"'))[1]
        seq = int(cur[0][0]) if cur and cur[0][0] is not None else None
        return seq, [tuple(r) for r in self.t.query(f'SELECT {cols(table)} FROM {t}"')[1]]

    def stop(self):
        self.t.stop()


class Hive:
    """Apache Hive 4.1 with Iceberg's handler (hive_iceberg_setup.py, as test_hive_iceberg.py runs
    it): the statements of `idbsync ddl --dialect hive` (location_based_table) in a database per
    lake and phase."""

    def __init__(self, tmp):
        d = os.path.join(tmp, "hive")
        os.makedirs(d)
        self.hive = HI.start(d)
        self.startup_s = self.hive.startup_s

    def attach(self, lk, phase):
        db = f"c_{lk.name}_{phase}".lower()
        for st in lk.statements("hive"):
            self.hive.query(HI.as_run(re.sub(r"(?<![/\w])app(?=[.;`\s]|$)", db, st)))
        return lk, db

    def read(self, handle, table):
        """Hive's handler loads the table as HadoopTables does: version-hint.text, then any newer
        vN.metadata.json (reader_loop.metadata follows the same way): its current snapshot's
        idbsync.seq is the one read."""
        lk, db = handle
        seq = current_seq(lk, table, follow=True)
        c = cols(table)
        sql = f"SELECT {c} FROM {db}.{table}" if c != "*" else HI.select(lk.lake, "app", table, db)
        names, rows = self.hive.query(sql)
        return seq, [tuple(r[n] for n in names) for r in rows]

    def stop(self):
        self.hive.stop()


class DuckDB:
    def __init__(self):
        self.r = None

    def attach(self, lk, phase):
        if self.r is None:   # INSTALL/LOAD as `idbsync ddl --dialect duckdb` prints them
            self.r = D.Reader([st for st in lk.statements("duckdb") if "VIEW" not in st])
        return lk

    def read(self, lk, table):
        """iceberg_scan(dir) reads the metadata version-hint.text names: its current snapshot's
        idbsync.seq is the one read (the lake no longer changes)."""
        d = os.path.join(os.path.realpath(lk.lake), "_iceberg", "app", table)
        seq = current_seq(lk, table, follow=False)
        c = cols(table)
        names = [x.strip() for x in c.split(",")] if c != "*" else None
        rows = self.r.query(f"SELECT {c} FROM iceberg_scan('{d}')", names or []) if names else \
            self.r.query(f"SELECT count(*) AS n FROM iceberg_scan('{d}')", ["n"])
        return seq, rows

    def travel(self, lk, table):
        """Time travel to every snapshot the metadata version-hint.text names keeps
        (iceberg_scan(dir, snapshot_from_id =>)): [(snapshot id, its idbsync.seq, rows)]."""
        d = os.path.join(os.path.realpath(lk.lake), "_iceberg", "app", table)
        names = [x.strip() for x in cols(table).split(",")]
        out = []
        for s in L.metadata(lk.lake, "app", table, follow=False).get("snapshots", []):
            seq = s["summary"].get("idbsync.seq")
            rows = self.r.query(f"SELECT {cols(table)} FROM iceberg_scan('{d}', snapshot_from_id => {s['snapshot-id']})", names)
            out.append((s["snapshot-id"], int(seq) if seq is not None else None, rows))
        return out

    def stop(self):
        if self.r:
            self.r.close()


# ---------------------------------------------------------------------------------------------
# The checks.

def state_at(history, seq):
    out = {}
    for s in sorted(history):
        if s > seq:
            break
        key, op = history[s]
        if op == "delete":
            out.pop(key, None)
        else:
            out[key] = s
    return out


def check_read(table, seq, rows, history):
    """Problems of one read of a table at the snapshot whose idbsync.seq is seq."""
    k = kind(table)
    if k == "conflicts":
        return []
    if seq is None:
        return [f"{table}: its current snapshot has no idbsync.seq"] if rows else []
    if k == "changes":
        seqs = [int(r[0]) for r in rows]
        probs = [f"{table}: seq {s} twice" for s in sorted({s for s in seqs if seqs.count(s) > 1})][:3]
        got = set(seqs)
        if got != set(range(1, seq + 1)):
            probs.append(f"{table} at idbsync.seq {seq}: missing {sorted(set(range(1, seq + 1)) - got)[:5]}, "
                         f"beyond {sorted(got - set(range(1, seq + 1)))[:5]}")
        probs += [f"{table}: seq {int(r[0])} is {r[1]} {r[2]}, the history {history.get(int(r[0]))}"
                  for r in rows if history.get(int(r[0])) != (r[1], r[2])][:3]
        return probs
    keys = [r[0] for r in rows]
    probs = [f"{table}: key {x} twice" for x in sorted({x for x in keys if keys.count(x) > 1})][:3]
    # exactly the state at N (docs/iceberg.md, "Time travel by seq"): each key's newest change
    # <= N, and nothing changed later
    want = state_at(history, seq)
    got = {r[0]: int(r[1]) for r in rows}
    for key, s in got.items():
        if history.get(s) != (key, "put"):
            probs.append(f"{table} at idbsync.seq {seq}: key {key} at seq {s}, which put {history.get(s)}")
        elif want.get(key) != s:
            probs.append(f"{table} at idbsync.seq {seq}: key {key} at seq {s}, at {seq} it is {want.get(key)}")
    probs += [f"{table} at idbsync.seq {seq}: key {k} (seq {w}) missing" for k, w in want.items() if k not in got][:3]
    return probs


def history_of(lk, rows, flushed, feed):
    """The change history {seq: (key, op)} from the restarted change log (rows), checked: every
    seq 1..flushed once, every acked change in it as acked, each key's newest change the pull
    feed's entry."""
    probs = check_read("docs_changes", flushed, rows, {int(r[0]): (r[1], r[2]) for r in rows})
    history = {int(r[0]): (r[1], r[2]) for r in rows}
    lost = [s for s, c in lk.acked.items() if history.get(s) != c]
    if lost:
        probs.append(f"acked changes missing after the restart: {lost[:5]} ({len(lost)})")
    newest = {}
    for s in sorted(history):
        newest[history[s][0]] = (s, history[s][1])
    live = {k: s for k, (s, op) in newest.items() if op != "delete"}
    if live != {k: e["seq"] for k, e in feed.items()}:
        probs.append(f"the change log's newest changes are not the pull feed: {sorted(set(live.items()) ^ {(k, e['seq']) for k, e in feed.items()})[:4]}")
    return history, probs


def reads_problems(lk, killed, after, history, flushed, feed):
    """Problems of every read of lake lk, killed and restarted (check_read against the history;
    after the restart the change log at the flushed seq and the state equal to the pull feed)."""
    probs = []
    for phase, res in (("killed", killed), ("restarted", after)):
        for (lake, eng, table), (seq, rows) in res.items():
            if lake == lk.name:
                probs += [f"{phase} {eng}: {p}" for p in check_read(table, seq, rows, history)]
                if phase == "restarted" and kind(table) == "changes" and seq != flushed:
                    probs.append(f"restarted {eng} {table}: idbsync.seq {seq}, flushed {flushed}")
                if phase == "restarted" and kind(table) == "state" and \
                        {r[0]: int(r[1]) for r in rows} != {k: e["seq"] for k, e in feed.items()}:
                    probs.append(f"restarted {eng} {table}: not the pull feed")
    return probs


def read_all(engines, lakes, phase, results, spent):
    """Every table of every lake through every engine: results[(lake, engine, table)] =
    (seq, rows) or the error; the failed reads' lines. spent[engine] += its seconds (a figure)."""
    failures = []
    for lk in lakes:
        for name, eng in engines:
            t0 = time.time()
            try:
                handle = eng.attach(lk, phase)
            except Exception as e:  # noqa: BLE001 - a refusal is a finding
                failures.append(f"{lk.name} {phase} {name}: attach: {H.short_error(e)}")
                continue
            for table in lk.tables():
                try:
                    results[(lk.name, name, table)] = eng.read(handle, table)
                except Exception as e:  # noqa: BLE001
                    failures.append(f"{lk.name} {phase} {name} {table}: read failed: {H.short_error(e)}")
            spent[name] = spent.get(name, 0) + time.time() - t0
    return failures


def travel_all(duck, lakes, phase, results):
    """DuckDB's time travel to every snapshot of every state table: results[(lake, table)] =
    [(snapshot id, seq, rows)]; the failed reads' lines."""
    failures = []
    for lk in lakes:
        for table in lk.tables():
            if kind(table) == "state":
                try:
                    results[(lk.name, table)] = duck.travel(lk, table)
                except Exception as e:  # noqa: BLE001
                    failures.append(f"{lk.name} {phase} DuckDB {table}: time travel failed: {H.short_error(e)}")
    return failures


JVMS = ("Spark", "Trino", "Hive")


class Starts:
    """Engines started on threads (a JVM takes tens of seconds) while the lakes are produced."""

    def __init__(self, makers):
        self.started = {}
        self.threads = [threading.Thread(target=self._start, args=(n, f)) for n, f in makers.items()]
        for t in self.threads:
            t.start()

    def _start(self, name, fn):
        try:
            self.started[name] = fn()
        except Exception as e:  # noqa: BLE001 - raised by ready()
            self.started[name] = e

    def ready(self):
        """Waits for every start; raises the first failure; returns {name: engine}."""
        for t in self.threads:
            t.join()
        for v in self.started.values():
            if isinstance(v, Exception):
                raise v
        return dict(self.started)

    def stop(self):
        """Stops every engine that started (after the starts ended)."""
        for t in self.threads:
            t.join()
        for v in self.started.values():
            if not isinstance(v, Exception):
                v.stop()


def run():
    tmp = tempfile.mkdtemp(prefix="idbsync-iceberg-crash-")
    t0 = time.time()
    jvms = Starts({"Trino": lambda: Trino(tmp), "Spark": lambda: Spark(tmp), "Hive": lambda: Hive(tmp)})
    lakes = []
    engines = []
    m = H.Matrix("Spark, Trino, DuckDB, Hive after kill -9")
    failures = []
    try:
        lakes = produce()
        t_produce = time.time() - t0
        started = jvms.ready()
        engines = [("DuckDB", DuckDB())] + [(name, started[name]) for name in JVMS]
        m.cell("-", "startup seconds", ", ".join(f"{name} {started[name].startup_s:.0f}" for name in JVMS))
        t1 = time.time()
        killed, after, spent = {}, {}, {}
        failures += read_all(engines, lakes, "killed", killed, spent)
        travels = {"killed": {}, "restarted": {}}
        failures += travel_all(engines[0][1], lakes, "killed", travels["killed"])
        t_killed = time.time() - t1
        restarted = {lk.name: lk.restart() for lk in lakes}
        t2 = time.time()
        failures += read_all(engines, lakes, "restarted", after, spent)
        failures += travel_all(engines[0][1], lakes, "restarted", travels["restarted"])
        t_after = time.time() - t2
        for lk in lakes:
            flushed, feed = restarted[lk.name]
            probs = []
            log = after.get((lk.name, "DuckDB", "docs_changes"))
            if log is None:
                failures.append(f"{lk.name}: no history (DuckDB did not read the restarted change log)")
                continue
            history, hp = history_of(lk, log[1], flushed, feed)
            probs += [f"restarted: {p}" for p in hp] + reads_problems(lk, killed, after, history, flushed, feed)
            # every state snapshot, by DuckDB's time travel: exactly the state at its idbsync.seq
            n_travel = 0
            for phase, res in travels.items():
                for (lake, table), snaps in res.items():
                    if lake == lk.name:
                        n_travel += len(snaps)
                        for sid, seq, rows in snaps:
                            probs += [f"{phase} DuckDB snapshot {sid}: {p}" for p in check_read(table, seq, rows, history)]
            m.cell("-", f"kill at {lk.step}: read by all, consistent", "ok" if not probs else "FAIL: " + probs[0][:200])
            H.log(f"{lk.name}: idbsync.seq read killed {sorted({(t, r[0]) for (x, e, t), r in killed.items() if x == lk.name})}, "
                  f"restarted {flushed}; {n_travel} state snapshots read by time travel")
            failures += [f"{lk.name} ({lk.step}): {p}" for p in probs]
        H.log(f"time: lakes produced {t_produce:.0f}s (JVMs starting meanwhile), killed lakes read {t_killed:.0f}s, "
              f"restarted lakes read {t_after:.0f}s (both phases: {', '.join(f'{e} {t:.0f}s' for e, t in spent.items())}), "
              f"load {os.getloadavg()[0]:.1f}")
    finally:
        jvms.stop()
        for name, eng in engines:
            if name not in JVMS:
                eng.stop()
        if not H.KEEP and not failures:
            shutil.rmtree(tmp, ignore_errors=True)
            for lk in lakes:
                shutil.rmtree(lk.tmp, ignore_errors=True)
    assert not failures, "\n".join(failures[:40])


if __name__ == "__main__":
    H.main_guard(run)
