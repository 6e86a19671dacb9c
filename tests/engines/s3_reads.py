"""Time travel and a reader in a loop through Spark, Trino and Hive on a lake on S3, for
test_iceberg_s3.py (its engines: Spark and Trino attached to the catalog the server serves, each
with AS_OF, history(t) and rows(sql); Hive, below, with rows_at(t, cols, snapshot id) instead of
AS_OF). The snapshots are chosen by their summary's idbsync.seq
and checked against the pushed changes (docs/iceberg.md, "Time travel by seq"); the loop's
checks are reader_loop.py's."""
import json
import os
import re
import time

import harness as H
import hive as HV
import hive_iceberg_setup as HI
import reader_loop as L
import test_hive_iceberg as HT
import trino as T

# The current ancestors of a table, oldest first: (snapshot id, idbsync.seq, made_current_at),
# in Spark's and Trino's SQL alike (the history is what both resolve TIMESTAMP AS OF by).
HISTORY = ("SELECT s.snapshot_id, CAST(s.summary['idbsync.seq'] AS BIGINT), h.made_current_at FROM {snapshots} s "
           "JOIN {history} h ON s.snapshot_id = h.snapshot_id WHERE h.is_current_ancestor "
           "ORDER BY h.made_current_at, 2")


def time_travel(eng, m, label, cat, data):
    """The snapshot of the first flush, chosen by its summary's idbsync.seq: the state there by
    VERSION AS OF its id and by TIMESTAMP AS OF its made_current_at (which resolves to the newest
    snapshot made current by then: the expectation is that one's seq) equals the state at that
    seq; the change log there holds exactly the items changes up to its seq."""
    failures = []
    try:
        hist = [h for h in eng.history(f"{cat}.app.items") if h[1] is not None]
        old = [h for h in hist if h[1] <= data.first_flush]
        if not old or old[-1][1] >= hist[-1][1]:
            raise AssertionError(f"no snapshot older than the current one at seq <= {data.first_flush}: {hist}")
        sid, seq, ts, at_ts = old[-1]
        for how, clause, upto in ((eng.AS_OF, f"{eng.AS_OF} {sid}", seq),
                                  ("TIMESTAMP AS OF", at_ts, [h[1] for h in hist if h[2] <= ts][-1])):
            got = {r[0]: r[1] for r in eng.rows(f"SELECT idb_key, idb_seq FROM {cat}.app.items {clause}")}
            failures += H.time_travel(m, label, f"S3: time travel {how}", data, upto, got)
        chist = [h for h in eng.history(f"{cat}.app.items_changes") if h[1] is not None and h[1] <= data.first_flush]
        got = sorted(r[0] for r in eng.rows(f"SELECT idb_seq FROM {cat}.app.items_changes {eng.AS_OF} {chist[-1][0]}"))
        want = sorted(e["seq"] for e in data.log if e["store"] == "items" and e["seq"] <= chist[-1][1])
        res = "ok" if got == want else f"FAIL: at seq {chist[-1][1]}: {got} != {want}"
    except Exception as e:  # noqa: BLE001 - a refused query is a finding
        res = f"FAIL: {H.short_error(e)}"
    m.cell(label, f"S3: change log {eng.AS_OF}", res[:200])
    return failures + ([] if res == "ok" else [f"{label}: time travel: {res}"])



LOOP_ROUNDS = int(os.environ.get("IDBSYNC_S3_LOOP_ROUNDS", "6"))


def loop_server(s3):
    """The loop's server (modern, warehouse s3://lake/loop on test_iceberg_s3.S3 s3), its
    tables made (L.seed)."""
    s = H.Server("modern", ["--lake-format", "iceberg", *s3.args("loop")], env=s3.env)
    try:
        L.seed(s)
    except Exception:
        s.cleanup()
        raise
    return s


def loop(engines, m, s, ddl):
    """Rounds in which each engine reads, through the served catalog (each query loads the
    newest commit): the change log at its current snapshot (VERSION AS OF its id: exactly the
    changes up to its idbsync.seq), the state at the state table's current snapshot (exactly the
    state at its seq) and the state as queried (no older than the state flushed before the
    query, reader_loop.check_state), while a writer pushes and the server flushes every 200 ms.
    Any error, duplicate, missing or wrong row fails; so does a loop that saw fewer than two
    flushes. ddl(dialect): what `idbsync ddl --dialect D --catalog-uri .. --db loop` prints for s."""
    cats = {name: eng.attach_ddl(f"loop_{name}".lower(), ddl(name.lower()), ns="loop") if name == "Hive" else
            eng.attach_ddl(f"loop_{name}".lower(), ddl(name.lower())) for name, eng in engines}

    def pinned(eng, t, cols, kind):
        sid, seq = [h[:2] for h in eng.history(t) if h[1] is not None][-1]
        rows = eng.rows_at(t, cols, sid) if hasattr(eng, "rows_at") else eng.rows(f"SELECT {cols} FROM {t} {eng.AS_OF} {sid}")
        return rows, ((seq, 0) if kind == "changes" else seq)

    def latest(eng, t):
        floor = L.progress(s)[1]
        return eng.rows(f"SELECT idb_key, idb_seq, n FROM {t}"), floor

    def table(name, t):   # Spark's and Trino's catalog.namespace.table; Hive's database.table
        return f"{cats[name]}.{t}" if name == "Hive" else f"{cats[name]}.loop.{t}"

    name0, eng0 = engines[0]
    before = len(eng0.history(table(name0, "live_changes")))
    [w] = L.start_writers(s)
    tallies = {name: L.Tally(w, (T.TrinoError,) if name == "Trino" else (Exception,)) for name, _ in engines}
    t0 = time.time()
    try:
        for _ in range(LOOP_ROUNDS):
            for name, eng in engines:
                tl, live, changes = tallies[name], table(name, "live"), table(name, "live_changes")
                tl.read("changes", lambda: pinned(eng, changes, "idb_seq, idb_key, idb_op, n", "changes"))
                tl.read("state_at", lambda: pinned(eng, live, "idb_key, idb_seq, n", "state"))
                tl.read("state", lambda: latest(eng, live))
    finally:
        failures = L.stop_writers([w])
    flushes = len(eng0.history(table(name0, "live_changes"))) - before
    for name, tl in tallies.items():
        m.cell("modern", f"S3 lake: {name} reader in a loop during ingest", tl.cell())
        H.log(f"S3 loop ({name}): {tl.cell()}; samples {tl.samples}")
        if tl.failed or tl.queries == tl.errors or len(tl.bounds) < 2:
            failures.append(f"S3 loop {name}: {tl.cell()}; {tl.samples}")
    H.log(f"S3 loop: {LOOP_ROUNDS} rounds in {time.time() - t0:.0f}s, {len(w.log)} changes pushed, {flushes} change-log "
          f"snapshots committed, "
          f"load {os.getloadavg()[0]:.1f}")
    return failures



# ---------------------------------------------------------------------------------------------
# Hive 4.1.0 on the S3 lake.

class Hive:
    """Hive 4.1.0 with Iceberg's iceberg-hive-runtime 1.4.3 as hive_iceberg_setup.py sets it up,
    plus Iceberg's AWS bundle (the jar on Spark's classpath: the AWS SDK that the runtime's
    S3FileIO calls); the statements of `idbsync ddl --dialect hive --catalog-uri URL
    --s3-endpoint URL` run as printed (the adapter SerDe added), the catalog and the database
    renamed per server (the session's settings name the catalog's URI)."""

    def __init__(self, tmp):
        d = os.path.join(tmp, "hive")
        os.makedirs(d)
        with open(os.environ["IDBSYNC_ENGINE_CLASSPATH"]) as f:
            bundle = [e for e in f.read().strip().split(":") if "/iceberg-aws-bundle-" in e]
        assert bundle, "iceberg-aws-bundle is not on Spark's resolved classpath"
        with open(os.environ["IDBSYNC_HIVE_S3A_CLASSPATH"]) as f:   # hive_s3/pom.xml: hadoop-aws's S3A
            s3a = f.read().strip().split(":")
        # versitygw's posix backend with --nometa (test_iceberg_s3.S3) answers without an ETag,
        # which S3A's change detection requires ("Change detection policy requires ETag"); set
        # at the start: S3A reads its settings once, when its first instance is made
        self.hive = HV.Hive(d, {**HI.SETTINGS, "fs.s3a.change.detection.mode": "none",
                                "fs.s3a.change.detection.version.required": "false"},
                            classpath=HI.classpath(d) + bundle + s3a)
        self.startup_s = self.hive.startup_s
        self.catalogs = {}   # Hive database: (the catalog's URI, its token, its namespace)

    def attach_ddl(self, db, ddl, ns="app", sts=None):
        """The DDL's statements (sts: those of them to run), its catalog named db and its
        database ns made Hive's database db."""
        uri = re.search(r"^SET iceberg\.catalog\.idbsync\.uri=(\S+);", ddl, re.M).group(1)
        tok = re.search(r"^SET iceberg\.catalog\.idbsync\.token=(\S+);", ddl, re.M)
        self.catalogs[db] = (uri, tok and tok.group(1), ns)
        for st in H.statements(ddl) if sts is None else sts:
            st = st.replace("iceberg.catalog.idbsync.", f"iceberg.catalog.{db}.").replace(
                "'iceberg.catalog'='idbsync'", f"'iceberg.catalog'='{db}'")
            self.hive.query(HI.as_run(re.sub(rf"(?<![/\w']){ns}(?=[.;\s]|$)", db, st)))
        return db

    def metadata(self, t):
        """The metadata the catalog serves for Hive table t (database.table), as the handler
        loads it."""
        db, table = t.split(".")
        uri, tok, ns = self.catalogs[db]
        code, text = H.http("GET", f"{uri}/v1/namespaces/{ns}/tables/{table}",
                            headers={"authorization": f"Bearer {tok}"} if tok else None)
        assert code == 200, f"{t}: {code} {text[:300]}"
        return json.loads(text)["metadata"]

    def history(self, t):
        """The current snapshot's ancestors, oldest first: [(snapshot id, idbsync.seq)] (Iceberg
        1.4.3's handler has no metadata tables: the catalog's metadata)."""
        m = self.metadata(t)
        by_id, out, sid = {x["snapshot-id"]: x for x in m.get("snapshots", [])}, [], m.get("current-snapshot-id")
        while sid in by_id:
            seq = by_id[sid].get("summary", {}).get("idbsync.seq")
            out.append((sid, int(seq) if seq is not None else None))
            sid = by_id[sid].get("parent-snapshot-id")
        return out[::-1]

    def rows(self, sql):
        names, rows = self.hive.query(sql)
        return [tuple(r[n] for n in names) for r in rows]

    def rows_at(self, t, cols, sid):
        """SELECT cols FROM t at snapshot sid (SET iceberg.mr.snapshot.id)."""
        rows = HT.at_snapshot(self.hive, sid, f"SELECT {cols} FROM {t}")
        return [tuple(r[c.strip()] for c in cols.split(",")) for r in rows]

    def stop(self):
        self.hive.stop()


def loaded(s, table):
    """The served catalog's LoadTableResult metadata of app.<table>."""
    code, text = H.http("GET", f"{s.url}/iceberg/v1/namespaces/app/tables/{table}", headers=s.headers)
    assert code == 200, f"{table}: {code} {text[:300]}"
    return json.loads(text)["metadata"]


def hive_profile(hive, m, label, s, data, live, ddl, conflict_key):
    """Hive through the served catalog, by fetch tasks: every table equal to the pull feed and the
    pushed mutations; the conflicts table the one conflict; the first flush's state and change
    log by SET iceberg.mr.snapshot.id (the snapshot chosen by its idbsync.seq in the catalog's
    metadata) the state and the changes at its seq. Returns the failures."""
    db = re.sub(r"\W", "_", label).lower()
    try:
        hive.attach_ddl(db, ddl)
        m.cell(label, "DDL as printed (static keys), with the adapter SerDe", "ok")
    except Exception as e:  # noqa: BLE001 - a refusal is a finding
        m.cell(label, "DDL as printed (static keys), with the adapter SerDe", "FAIL: " + H.short_error(e)[:200])
        return [f"{label}: DDL refused: {H.short_error(e)}\n{ddl}"]
    q = hive.hive

    def read(meta, kind):
        t = meta["table"] + ("_changes" if kind == "changes" else "")
        return H.iceberg_rows(q.rows(HI.select(None, "app", t, db, meta=loaded(s, t))), s.user)
    failures = [f"{label}: {p}" for _, p in m.record(label, H.compare_tables(s, data, live, read, (HV.HiveError,)))]
    probs = []
    try:
        conf = q.rows(f"SELECT idb_key FROM {db}.items_conflicts")
        if [c["idb_key"] for c in conf] != [H.canon(conflict_key)]:
            probs.append(f"items_conflicts: {conf} != the one conflict on key {H.canon(conflict_key)}")
        for t, cols, want in (("items", "idb_key, idb_seq", None), ("items_changes", "idb_seq", None)):
            snaps = [(x["snapshot-id"], int(x["summary"]["idbsync.seq"])) for x in loaded(s, t)["snapshots"]
                     if "idbsync.seq" in x.get("summary", {}) and int(x["summary"]["idbsync.seq"]) <= data.first_flush]
            sid, seq = snaps[-1]
            rows = HT.at_snapshot(q, sid, f"SELECT {cols} FROM {db}.{t}")
            if t == "items":
                got, want = {r["idb_key"]: int(r["idb_seq"]) for r in rows}, H.state_at(data.log, "items", seq)
            else:
                got = sorted(r["idb_seq"] for r in rows)
                want = sorted(e["seq"] for e in data.log if e["store"] == "items" and e["seq"] <= seq)
            if got != want:
                probs.append(f"{t} at snapshot {sid} (idbsync.seq {seq}): {got} != {want}")
    except Exception as e:  # noqa: BLE001
        probs.append(f"conflicts / time travel: {H.short_error(e)}")
    m.cell(label, "conflicts; time travel SET iceberg.mr.snapshot.id", "ok" if not probs else "FAIL: " + probs[0][:200])
    agg = aggregates(q, db, data, live)
    m.cell(label, "aggregates (MapReduce jobs): count(*), GROUP BY", "ok" if not agg else "FAIL: " + agg[0][:200])
    return failures + [f"{label}: {p}" for p in probs + agg]


def aggregates(q, db, data, live):
    """count(*) and a GROUP BY of each table, each a MapReduce job (the split found by the
    table's LOCATION through S3A, docs/iceberg.md "Hive aggregates on S3"), against the pull feed
    (state: per `ok` / per region, its rows and newest seq) and the pushed changes (change log:
    per op). In row mode: Iceberg 1.4.3's vectorized reader fails a job over a partitioned table
    in Hive 4.1.0 (ArrayIndexOutOfBoundsException in VectorizedRowBatchIterator.advance). Returns
    the problems."""
    def tally(pairs):
        out = {}
        for g, seq in pairs:
            n, top = out.get(g, (0, 0))
            out[g] = (n + 1, max(top, seq))
        return out

    probs = []
    q.query("SET hive.vectorized.execution.enabled=false")
    try:
        for store, col in (("items", "ok"), ("events", "region")):
            feed = live.get(store, {})
            log = [e for e in data.log if e["store"] == store]
            for t, g, want in ((store, f"`{col}`", tally(((e["value"] or {}).get(col), e["seq"]) for e in feed.values())),
                               (f"{store}_changes", "idb_op", tally((e["op"], e["seq"]) for e in log))):
                [n] = q.rows(f"SELECT count(*) AS n FROM {db}.{t}")
                if n["n"] != sum(c for c, _ in want.values()):
                    probs.append(f"{t}: count(*) {n['n']} != {sum(c for c, _ in want.values())}")
                got = {r["g"]: (r["n"], r["m"]) for r in
                       q.rows(f"SELECT {g} AS g, count(*) AS n, max(idb_seq) AS m FROM {db}.{t} GROUP BY {g}")}
                if got != want:
                    probs.append(f"{t}: GROUP BY {g}: {sorted(got.items(), key=str)} != {sorted(want.items(), key=str)}")
    except HV.HiveError as e:
        probs.append(f"aggregate refused: {H.short_error(e)}")
    finally:
        q.query("SET hive.vectorized.execution.enabled=true")
    return probs
