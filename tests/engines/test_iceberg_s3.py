"""Spark, Trino and Hive read the lake's Iceberg tables on S3 (issue #16): a real S3 server (versitygw on
127.0.0.1, a free port, tests/engines/versitygw_env.sh), idbsync with --iceberg-warehouse
s3://lake/<prefix> and no external catalog (the state is the catalog, docs/iceberg.md "S3 without
an external catalog"), and ONE Spark session (Iceberg's runtime and its S3FileIO from
iceberg-aws-bundle) and ONE Trino 476 (its Iceberg connector, native S3) attached to the catalog
the server serves at /iceberg with the settings `idbsync ddl --dialect spark|trino --catalog-uri
URL --s3-endpoint URL` prints, run as printed; and ONE Hive 4.1.0 (Iceberg's iceberg-hive-runtime
with S3FileIO, s3_reads.Hive) with the SETs and tables `idbsync ddl --dialect hive --catalog-uri
URL --s3-endpoint URL` prints: both profiles' tables equal to the pull feed, the conflicts table,
time travel by SET iceberg.mr.snapshot.id, a count(*) and a GROUP BY per table by MapReduce jobs
(Hadoop's S3A for the tables' s3:// LOCATION, hive_s3/pom.xml) (part `hive`; with it Hive is
also the third reader of the loop and of every killed and restarted lake).

1. Both profiles (store events partitioned by region): compat with --auth tokens and
   --iceberg-vend-credentials, Spark given only the catalog URI, the admin token and the endpoint
   (the keys are vended: header.X-Iceberg-Access-Delegation; neither JVM has AWS keys in its
   environment; Trino 476 takes vended keys only with an STS session token, so it gets static
   keys); modern without auth, the static keys in both engines' settings. Every row of state and change
   log equals the pull feed and the pushed mutations, the conflicts table holds the one conflict
   pushed, every data file planned is an s3:// object. Time travel on S3, each engine: the
   snapshot of the first flush chosen by its summary's idbsync.seq, read VERSION AS OF its id
   and TIMESTAMP AS OF its made_current_at, holds the state at that seq; the change log there
   exactly the changes up to it.
2. A reader in a loop through Spark, Trino and Hive (taking turns, IDBSYNC_S3_LOOP_ROUNDS
   rounds) on an S3 lake while a writer pushes and the server flushes every 200 ms: the change
   log and the state at their current snapshots exactly the changes / the state up to its
   idbsync.seq, the state as queried no older than the state flushed before the query; zero
   errors, duplicates, missing or wrong rows, and more than one flush seen.
3. kill -9 on S3: a server killed at every kill point of tests/lake/iceberg_kills.json (its
   file-system catalog's `hint` replaced by the S3 catalog's `cat-put`: metadata uploaded, the
   state not moved to it), between two PUTs of a commit (`put`) and with the body of a PUT of more
   than 1 MiB half sent (IDBSYNC_TEST_S3_KILL=put-body:1). Each lake is read as the kill left it
   (a server started on its dirs with its S3 endpoint a closed port, so nothing can commit,
   serves the catalog rows the kill left: each table's metadata-location is the row, checked) and after a restart (a flush): every read
   succeeds, holds each key or seq at most once, the change log holds exactly the changes up to
   its snapshot's idbsync.seq, every data file the snapshot names is an object of the size its
   manifest records; after the restart every acked change is in the change log once and the
   state equals the pull feed (test_iceberg_crash.py's checks).
4. The S3 server killed mid-upload and restarted (IDBSYNC_TEST_S3_STALL): versitygw gets SIGKILL
   with a large PUT's body half sent, pushes are acked while it is down, it restarts on the same
   directory and port, the retried flush commits, and both engines read every acked change once
   and the state equal to the pull feed.

IDBSYNC_S3_PARTS=profiles,hive,loop,kills,restart (the default) runs a subset while working on one."""
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

os.environ["TZ"] = "UTC"
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
time.tzset()
sys.path.insert(0, os.path.dirname(__file__))
import harness as H  # noqa: E402
import hive_iceberg_setup as HI  # noqa: E402
import s3_reads as R  # noqa: E402
import test_iceberg_crash as C  # noqa: E402
import test_trino_iceberg as TI  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ACCESS, SECRET = "idbsynctest", "idbsynctestsecret"


class S3:
    """versitygw serving tmp/s3 (bucket `lake`) on 127.0.0.1:<free port>; kill() is SIGKILL (a
    crash), start() starts it again on the same port and directory."""

    def __init__(self, tmp):
        self.bin = subprocess.run([os.path.join(HERE, "versitygw_env.sh")], capture_output=True, text=True,
                                  check=True).stdout.strip()
        self.dir = os.path.join(tmp, "s3")
        os.makedirs(os.path.join(self.dir, "lake"))
        self.log = os.path.join(tmp, "versitygw.log")
        self.port = H.free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.env = {"AWS_ACCESS_KEY_ID": ACCESS, "AWS_SECRET_ACCESS_KEY": SECRET}
        self.start()

    def start(self):
        self.proc = subprocess.Popen([self.bin, "--access", ACCESS, "--secret", SECRET, "--port", f"127.0.0.1:{self.port}",
                                      "posix", "--nometa", self.dir], stdout=subprocess.DEVNULL,
                                     stderr=open(self.log, "ab"))
        deadline = time.time() + 60
        while True:   # serving once an unsigned request gets an S3 answer (403)
            try:
                urllib.request.urlopen(f"{self.endpoint}/lake", timeout=5)
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                if self.proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"versitygw did not start: {open(self.log).read()[-2000:]}")
                time.sleep(0.1)

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def args(self, prefix):
        return ["--iceberg-warehouse", f"s3://lake/{prefix}", "--s3-endpoint", self.endpoint]


def s3_ddl(server, dialect, s3, *more, token=None, keys=False):
    """`idbsync ddl --dialect D --catalog-uri <server>/iceberg --s3-endpoint E [more]` as an
    operator runs it: the admin token in $IDBSYNC_ICEBERG_TOKEN, the keys (keys) in $AWS_*."""
    env = {"IDBSYNC_ICEBERG_TOKEN": token or "", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
    if keys:
        env.update(s3.env)
    return H.Server.ddl(server, dialect, "--catalog-uri", f"{server.url}/iceberg", "--s3-endpoint", s3.endpoint,
                        *more, env=env)


# ---------------------------------------------------------------------------------------------
# The two engines, one JVM each; a catalog per server (Spark keeps a catalog it loaded).

def statements(ddl, lk=None):
    """The DDL's statements; with lk, those naming a table the lake's catalog rows do not (a kill
    in a table's first commit: the mirror has its directory, the catalog no table)."""
    sts = H.statements(ddl)
    if lk is None:
        return sts
    root = os.path.join(lk.lake, "_iceberg", "app")
    out = set(os.listdir(root)) - set(lk.tables()) if os.path.isdir(root) else set()
    return [st for st in sts if not any(re.search(rf'\b{t}\b(?!_)', st) for t in out)]


class Spark(C.Spark):
    def __init__(self, tmp, s3dir):
        super().__init__(tmp)
        self.s3dir = s3dir   # versitygw's directory: an object is a file under <bucket>/<key>

    def attach_ddl(self, cat, ddl, lk=None):
        """The `--conf spark.sql.catalog.idbsync...` settings the DDL prints, as catalog cat;
        then its statements (a count of each table)."""
        confs = re.findall(r"--conf spark\.sql\.catalog\.idbsync(\S*)=(\S+)", ddl)
        for k, v in confs:
            self.spark.conf.set(f"spark.sql.catalog.{cat}{k}", v)
        for st in statements(ddl, lk):
            self.spark.sql(st.replace("idbsync.`", f"{cat}.`")).collect()
        return cat

    def attach(self, lk, phase):
        return self.attach_ddl(f"c_{lk.name}_{phase}", s3_ddl(lk.served, "spark", lk.s3, keys=True), lk)

    def files(self, t):
        return [r[0] for r in self.spark.sql(f"SELECT file_path FROM {t}.files").collect()]

    AS_OF = "VERSION AS OF"   # SELECT ... FROM t VERSION AS OF <snapshot id>

    def history(self, t):
        """HISTORY of t: [(snapshot id, seq, made_current_at, its TIMESTAMP AS OF clause)]."""
        rows = self.spark.sql(R.HISTORY.format(snapshots=f"{t}.snapshots", history=f"{t}.history")).collect()
        return [(r[0], r[1], r[2], f"TIMESTAMP AS OF '{r[2]:%Y-%m-%d %H:%M:%S.%f}'") for r in rows]

    def rows(self, sql):
        return [tuple(r) for r in self.spark.sql(sql).collect()]

    def dicts(self, sql):
        return [r.asDict(recursive=True) for r in self.spark.sql(sql).collect()]

    def read(self, cat, table):
        """C.Spark.read, and every data file of the snapshot read whole on the S3 server: the
        object versitygw keeps (a file under its bucket directory) has the size the manifest
        records (a half-uploaded object is never what a snapshot names)."""
        out = super().read(cat, table)
        for path, size in self.spark.sql(f"SELECT file_path, file_size_in_bytes FROM {cat}.app.{table}.files").collect():
            f = os.path.join(self.s3dir, path[len("s3://"):])
            got = os.path.getsize(f) if os.path.exists(f) else None
            if got != size:
                raise AssertionError(f"{path}: {got} bytes on the S3 server, the manifest says {size}")
        return out


class Trino(C.Trino):
    def attach_ddl(self, cat, ddl, lk=None):
        for st in statements(ddl, lk):
            if st.startswith("CREATE CATALOG"):
                self.t.query(f"DROP CATALOG IF EXISTS {cat}")
            self.t.query(re.sub(r"\bidbsync\.", f"{cat}.", st.replace("CREATE CATALOG idbsync ", f"CREATE CATALOG {cat} ")))
        return cat

    def attach(self, lk, phase):
        return self.attach_ddl(f"c_{lk.name}_{phase}".lower(), s3_ddl(lk.served, "trino", lk.s3, keys=True), lk)

    def files(self, t):
        cat, db, table = t.split(".")
        return [r[0] for r in self.t.query(f'SELECT file_path FROM {cat}.{db}."{table}$files"')[1]]

    AS_OF = "FOR VERSION AS OF"

    def history(self, t):
        """HISTORY of t: [(snapshot id, seq, made_current_at, its FOR TIMESTAMP AS OF clause)]
        (made_current_at as Trino writes it, `2026-12-06 07:00:00.123 UTC`: it sorts as text)."""
        cat, db, table = t.split(".")
        rows = self.t.query(R.HISTORY.format(snapshots=f'{cat}.{db}."{table}$snapshots"',
                                           history=f'{cat}.{db}."{table}$history"'))[1]
        return [(sid, seq, ts, f"FOR TIMESTAMP AS OF TIMESTAMP '{ts}'") for sid, seq, ts in rows]

    def rows(self, sql):
        return self.t.query(sql)[1]

    def dicts(self, sql):
        return TI.plain(*self.t.dicts(sql))


class Hive(R.Hive):
    """Hive reading the killed and restarted lakes (C.read_all): the statements of `idbsync ddl
    --dialect hive --catalog-uri` for the lake's server in a database per lake and phase; a read
    is the catalog's current snapshot's idbsync.seq and the table by a fetch task (no snapshot
    can commit between the two: the killed lake's server cannot, the restarted one has flushed)."""

    def attach(self, lk, phase):
        ddl = s3_ddl(lk.served, "hive", lk.s3, keys=True)
        return self.attach_ddl(f"c_{lk.name}_{phase}".lower(), ddl, sts=statements(ddl, lk))

    def read(self, db, table):
        t = f"{db}.{table}"
        seq = ([h[1] for h in self.history(t)] or [None])[-1]
        c = C.cols(table)
        return seq, self.rows(f"SELECT {c} FROM {t}" if c != "*" else HI.select(None, "app", table, db, meta=self.metadata(t)))


# ---------------------------------------------------------------------------------------------
# 1. Both profiles through the served catalog.

CONFLICT_HLC = "1000000000000-0000-c1"   # older than every write: the put loses


def check_profile(engines, m, profile, s3, hive=None):
    """compat: --auth tokens + --iceberg-vend-credentials, the engines without keys; modern:
    no auth, static keys in the engines' settings. hive: also read by Hive (s3_reads.Hive,
    static keys)."""
    vend = profile == "compat"
    args = ["--lake-format", "iceberg", *H.PARTITIONED, *s3.args(f"p_{profile}")]
    if vend:
        s = H.admin_server(profile, [*args, "--iceberg-vend-credentials"], env=s3.env)
    else:
        s = H.Server(profile, args, env=s3.env)
    failures = []
    try:
        data = H.Dataset(s).run()
        # a put with an older clock than the item's: a conflict, appended to items_conflicts
        key = next(e["key"] for e in data.log if e["store"] == "items" and e["op"] == "put")
        r = s.push("app", "engines-2", [{"id": 1, "store": "items", "op": "put", "key": key, "value": {"name": "loser"},
                                        "hlc": CONFLICT_HLC}])
        assert not r["kept"] and r["conflicts"], f"the old put is a conflict: {r}"
        s.flush("app")
        live = s.pull("app")
        for name, eng in engines:
            cat, label = f"p_{profile}_{name}".lower(), f"{profile} {name}"
            # Trino 476 takes vended S3 keys only with an s3.session-token (STS), which idbsync's
            # vending has not (docs/iceberg.md): it gets static keys in both profiles
            keyed = not vend or name == "Trino"
            how = "static keys" if keyed else "vended credentials"
            ddl = s3_ddl(s, name.lower(), s3, token=s.token, keys=keyed)
            if not keyed and ACCESS in ddl:
                failures.append(f"{profile} {name}: the DDL for vended credentials prints the keys")
            try:
                eng.attach_ddl(cat, ddl)
                m.cell(label, f"DDL as printed ({how})", "ok")
            except Exception as e:  # noqa: BLE001 - a refusal is a finding
                failures.append(f"{profile} {name}: DDL refused: {H.short_error(e)}\n{ddl}")
                m.cell(label, f"DDL as printed ({how})", "FAIL: " + H.short_error(e)[:200])
                continue
            suffix = {"state": "", "changes": "_changes"}
            results = H.compare_tables(s, data, live, lambda meta, kind: H.iceberg_rows(eng.dicts(
                f"SELECT * FROM {cat}.app.{meta['table']}{suffix[kind]}"), s.user))
            failures += [f"{label}: {p}" for _, p in m.record(label, results)]
            probs = []
            try:
                conf = eng.dicts(f"SELECT idb_key FROM {cat}.app.items_conflicts")
                if [c["idb_key"] for c in conf] != [H.canon(key)]:
                    probs.append(f"items_conflicts: {conf} != the one conflict on key {H.canon(key)}")
                for t in ("items", "items_changes", "events"):
                    paths = eng.files(f"{cat}.app.{t}")
                    if not paths or not all(p.startswith(f"s3://lake/p_{profile}/app/{t}/") for p in paths):
                        probs.append(f"{t}: data files not all s3:// objects of the warehouse: {paths[:3]}")
            except Exception as e:  # noqa: BLE001
                probs.append(f"conflicts/files: {H.short_error(e)}")
            m.cell(label, "conflicts, s3:// data files", "ok" if not probs else "FAIL: " + probs[0][:200])
            failures += [f"{label}: {p}" for p in probs]
            failures += R.time_travel(eng, m, label, cat, data)
        if hive:
            failures += R.hive_profile(hive, m, f"{profile} Hive", s, data, live,
                                       s3_ddl(s, "hive", s3, token=s.token, keys=True), key)
        if vend and "S3 credentials vended" not in open(s.errlog).read():
            failures.append(f"{profile}: the server logged no vend: the engines did not ask for credentials")
    finally:
        s.cleanup()
    return failures


# ---------------------------------------------------------------------------------------------
# 3. kill -9 on S3.

def s3_kills():
    """(group, step, n, args, restart) of every kill: iceberg_kills.json's points (its `hint`,
    which the S3 catalog has not, as the S3 catalog's `cat-put`), and the S3 ones."""
    out = [(group, "cat-put" if step == "hint" else step, n, args, restart)
           for group, step, n, args, restart in C.kill_points()]
    args = C.KILLS["commit"]["args"]
    return out + [("s3", "put", 30, args, None), ("s3", "put-body", 1, args, None)]


class Lake(C.Lake):
    """A lake on S3 (warehouse s3://lake/<name>) killed at step; served: the server whose catalog
    the engines read."""

    def __init__(self, group, step, n, args, s3):
        super().__init__(group, step, n, [*args, *s3.args(re.sub(r"\W", "_", f"{group}_{step}"))])
        self.s3, self.served, self.served_tables, self.env = s3, None, {}, s3.env
        if step == "put-body":
            self.kill_var = "IDBSYNC_TEST_S3_KILL"

    def ingest_until_killed(self):
        if self.kill_var == "IDBSYNC_TEST_ICEBERG_KILL":
            return super().ingest_until_killed()
        # put-body: pushes of 40 values of 40 kB of random text (a state file of more than
        # 1 MiB), each acked push recorded, until the server kills itself mid-PUT
        p = self.start(self.step)
        url = next(m.group(1) for line in p.stdout for m in [re.search(r"listening on (http://\S+) ", line)] if m)
        rnd, mid = random.Random(self.name), 1
        small = [{"id": k + 1, "store": "docs", "op": "put", "key": k, "value": {"v": k, "s": "x"}} for k in range(20)]
        r = H.post_json(f"{url}/v1/db/app/push", {"client": "crashy", "mutations": small})
        for first, seq, count in r["kept"]:
            for i in range(count):
                self.acked[seq + i] = (H.canon(small[first + i - 1]["key"]), "put")
        H.post_json(f"{url}/v1/db/app/flush")   # the tables exist before the kill
        mid = 21
        while p.poll() is None and mid < 4000:
            muts = [{"id": mid + k, "store": "docs", "op": "put", "key": (mid + k) % 60,
                     "value": {"v": mid + k, "s": "".join(chr(33 + rnd.randrange(90)) for _ in range(40000))}}
                    for k in range(40)]
            mid += 40
            try:
                r = H.post_json(f"{url}/v1/db/app/push", {"client": "crashy", "mutations": muts}, timeout=30)
            except Exception:  # noqa: BLE001 - cut off by the kill
                continue
            by_id = {x["id"]: x for x in muts}
            for first, seq, count in r["kept"]:
                for i in range(count):
                    self.acked[seq + i] = (H.canon(by_id[first + i]["key"]), "put")
            time.sleep(0.2)
        self.wait_killed(p)

    def rows(self):
        """{table: metadata location} of the catalog rows in the state (the commit point)."""
        db = sqlite3.connect(f"file:{os.path.join(self.tmp, 'data', 'idbsync.sqlite')}?mode=ro", uri=True)
        try:
            return {n: loc for n, loc in db.execute("SELECT name, location FROM iceberg_tables WHERE ns = 'app'")}
        finally:
            db.close()

    def tables(self):
        return sorted(self.rows())

    def serve(self, phase):
        """killed: a server on the lake's dirs whose --s3-endpoint is a closed port, so no flush
        can commit: its catalog serves the rows the kill left (each load's metadata-location
        checked against them; the engines read S3 at the real endpoint); restarted: a
        restart that flushes (a flush in its backoff answers 503: again). Returns (flushed seq
        or None, problems)."""
        rows = self.rows() if phase == "killed" else None
        args = self.args
        if phase == "killed":   # its S3 endpoint a closed port: it can serve the rows, never move them
            args = [*args, "--s3-endpoint", f"http://127.0.0.1:{H.free_port()}"]
        self.served = H.Server("compat", args, tmp=self.tmp, env=self.s3.env)
        self.served_tables[phase] = self.tables()
        probs, flushed = [], None
        if rows is not None:
            for t, loc in rows.items():
                code, text = H.http("GET", f"{self.served.url}/iceberg/v1/namespaces/app/tables/{t}")
                got = json.loads(text).get("metadata-location") if code == 200 else f"{code} {text[:200]}"
                if got != loc:
                    probs.append(f"killed: the catalog serves {t} at {got}, the kill left the row at {loc}")
        else:
            for k in range(61):
                try:
                    flushed = self.served.flush("app")["flushed"]
                    break
                except AssertionError:
                    if k == 60:
                        raise
                    time.sleep(1)
        return flushed, probs

    def stop(self):
        if self.served:
            self.served.stop()
            self.served = None


def read_phase(engines, lakes, phase, results, spent):
    """Every lake served (phase), read by every engine (C.read_all), stopped. Returns
    (failures, {lake: flushed})."""
    failures, flushed = [], {}
    for lk in lakes:
        try:
            flushed[lk.name], probs = lk.serve(phase)
        except Exception as e:  # noqa: BLE001
            failures.append(f"{lk.name} {phase}: the server did not serve: {H.short_error(e)}")
            continue
        try:
            failures += [f"{lk.name}: {p}" for p in probs]
            failures += C.read_all(engines, [lk], phase, results, spent)
            if phase == "restarted":
                lk.feed = lk.served.pull("app").get("docs", {})
        finally:
            lk.stop()
    return failures, flushed


def check_lakes(m, lakes, engines, killed, after, flushed):
    """test_iceberg_crash.py's checks over both phases' reads; the history is Spark's read of the
    restarted change log (checked against the acked pushes and the pull feed)."""
    failures = []
    for lk in lakes:
        log = after.get((lk.name, "Spark", "docs_changes"))
        if log is None or lk.name not in flushed:
            failures.append(f"{lk.name}: no history (Spark did not read the restarted change log)")
            continue
        history, hp = C.history_of(lk, log[1], flushed[lk.name], lk.feed)
        probs = [f"restarted: {p}" for p in hp] + C.reads_problems(lk, killed, after, history, flushed[lk.name], lk.feed)
        for phase, res in (("killed", killed), ("restarted", after)):
            for name, _ in engines:
                if lk.served_tables.get(phase) and not any(k[0] == lk.name and k[1] == name for k in res):
                    probs.append(f"{phase} {name}: no table read")
        m.cell("-", f"kill at {lk.step}: read by {', '.join(n for n, _ in engines)}, consistent", "ok" if not probs else "FAIL: " + probs[0][:200])
        failures += [f"{lk.name} ({lk.step}): {p}" for p in probs]
    return failures


# ---------------------------------------------------------------------------------------------
# 4. The S3 server killed mid-upload and restarted.

def s3_restart_lake(s3, started):
    """A server whose flush's PUT of more than 1 MiB is held half sent; versitygw killed there,
    pushes acked while it is down, versitygw restarted, the flush retried. Returns the lake
    (served: its running server) once the flush reached every acked change; the lake goes into
    started at once (the caller stops its server whatever happens)."""
    lk = Lake("s3 server", "restart", 1, ["--lake-format", "iceberg", "--flush-interval", "100ms"], s3)
    started.append(lk)
    stall = os.path.join(lk.tmp, "stall")
    open(stall, "w").close()
    lk.served = H.Server("compat", lk.args, tmp=lk.tmp, env={**s3.env, "IDBSYNC_TEST_S3_STALL": f"put-body:1:{stall}"})
    s = lk.served
    rnd, mid = random.Random(7), 1

    def push(n, size):
        nonlocal mid
        muts = [{"id": mid + k, "store": "docs", "op": "put", "key": (mid + k) % 50,
                 "value": {"v": mid + k, "s": "".join(chr(33 + rnd.randrange(90)) for _ in range(size))}} for k in range(n)]
        mid += n
        r = s.push("app", "c1", muts)
        by_id = {x["id"]: x for x in muts}
        for first, seq, count in r["kept"]:
            for i in range(count):
                lk.acked[seq + i] = (H.canon(by_id[first + i]["key"]), "put")
    push(40, 40000)
    deadline = time.time() + 300
    while "s3_test_stall" not in open(s.errlog).read():
        assert time.time() < deadline, "the flush's PUT was never held"
        time.sleep(0.1)
    s3.kill()            # SIGKILL with the body half sent
    os.remove(stall)     # the PUT goes on against a dead server and fails
    while True:
        code, text = H.http("GET", f"{s.url}/metrics")
        errs = re.search(rb"^idbsync_lake_flush_errors_total (\d+)", text, re.M)
        if errs and int(errs.group(1)) >= 2:
            break
        assert time.time() < deadline, "the flush did not fail while S3 was down"
        time.sleep(0.2)
    for _ in range(5):   # S3 down: every push acked
        push(10, 20)
    s3.start()           # same directory and port
    newest = max(lk.acked)
    while True:
        try:
            if s.flush("app")["flushed"] >= newest:
                break
        except AssertionError:   # the flush's backoff: 503
            pass
        assert time.time() < deadline, "the flush did not commit after S3 came back"
        time.sleep(1)
    H.log(f"S3 server killed mid-PUT and restarted: {len(lk.acked)} acked changes, flushed after the restart")
    return lk


def read_s3_restart(engines, lk, results, spent):
    lk.served_tables["restarted"] = lk.tables()
    failures = C.read_all(engines, [lk], "restarted", results, spent)
    lk.feed = lk.served.pull("app").get("docs", {})
    return failures


# ---------------------------------------------------------------------------------------------

def run():
    tmp = tempfile.mkdtemp(prefix="idbsync-iceberg-s3-")
    s3 = S3(tmp)
    t0 = time.time()   # the JVMs start while the lakes are produced; no AWS keys in their env
    only = os.environ.get("IDBSYNC_S3_PARTS", "profiles,hive,loop,kills,restart")
    jvms = C.Starts({"Trino": lambda: Trino(tmp), "Spark": lambda: Spark(tmp, s3.dir),
                     **({"Hive": lambda: Hive(tmp)} if "hive" in only else {})})
    m = H.Matrix("Spark + Iceberg 1.10.0 (S3FileIO), Trino 476 Iceberg (native S3): lake on S3, served catalog")
    engines, lakes, others, failures, looped = [], [], [], [], None
    try:
        looped = R.loop_server(s3) if "loop" in only else None
        lakes = C.produce(s3_kills(), lambda *a: Lake(*a, s3)) if "kills" in only else []
        restart_lake = s3_restart_lake(s3, others) if "restart" in only else None
        t_produce = time.time() - t0
        started = jvms.ready()
        engines = [("Spark", started["Spark"]), ("Trino", started["Trino"])]
        readers = engines + ([("Hive", started["Hive"])] if "Hive" in started else [])   # the loop's and kills' readers
        m.cell("-", "startup seconds", ", ".join(f"{n} {e.startup_s:.0f}" for n, e in started.items()))
        t1 = time.time()
        if "profiles" in only:
            for profile in ("compat", "modern"):
                failures += check_profile(engines, m, profile, s3, started.get("Hive"))
        t_profiles = time.time() - t1
        if looped:
            failures += R.loop(readers, m, looped, lambda d: s3_ddl(looped, d, s3, "--db", "loop", keys=True))
            looped.cleanup()
            looped = None
        t_loop = time.time() - t1 - t_profiles
        t2 = time.time()
        killed, after, spent = {}, {}, {}
        f, _ = read_phase(readers, lakes, "killed", killed, spent)
        failures += f
        f, flushed = read_phase(readers, lakes, "restarted", after, spent)
        failures += f
        if restart_lake:
            failures += read_s3_restart(readers, restart_lake, after, spent)
            flushed[restart_lake.name] = max(restart_lake.acked)
            lakes.append(restart_lake)
        failures += check_lakes(m, lakes, readers, killed, after, flushed)
        H.log(f"time: lakes produced {t_produce:.0f}s (JVMs starting meanwhile), profiles {t_profiles:.0f}s, loop {t_loop:.0f}s, "
              f"killed and restarted lakes read {time.time() - t2:.0f}s ({', '.join(f'{e} {t:.0f}s' for e, t in spent.items())}), "
              f"load {os.getloadavg()[0]:.1f}")
    finally:
        jvms.stop()
        if looped:
            looped.stop()
        for lk in lakes + others:
            lk.stop()
        s3.kill()
        if not H.KEEP and not failures:
            shutil.rmtree(tmp, ignore_errors=True)
            for lk in lakes + others:
                shutil.rmtree(lk.tmp, ignore_errors=True)
    assert not failures, "\n".join(failures[:40])


if __name__ == "__main__":
    H.main_guard(run)
