"""Apache Hive 4.1.0 (in process, as test_hive.py runs it) reads the Iceberg tables of a real server
(--lake-format iceberg, the file-system catalog) through Iceberg's own Hive storage handler,
org.apache.iceberg:iceberg-hive-runtime 1.4.3 (Hive's own handler, hive-iceberg-handler, is not on
Maven Central: docs/engines.md, "Hive 4 and the Iceberg tables"), both profiles:

- the statements of `idbsync ddl --dialect hive` run as printed but for one clause the test adds
  to each CREATE TABLE, `ROW FORMAT SERDE 'dev.idbsync.hive.Hive4IcebergSerDe'` before `STORED BY
  ICEBERG`: Iceberg's Hive 3 SerDe sets itself up in an entry point Hive 4 never calls, and the
  adapter (hive_iceberg/Hive4IcebergSerDe.java, compiled here) calls it; the rest is Iceberg's code;
- every row and column of both stores' state and change log equals the pull feed and the pushed
  mutations, read by a fetch task and by a MapReduce job (Iceberg's input format in both); the
  vectorized reader (a job's scan of columns Hive vectorizes) returns the pull feed's keys;
- time travel: with `SET iceberg.mr.snapshot.id=<id>` (what this handler honours; Hive 4's `FOR
  SYSTEM_VERSION AS OF` is refused for it, recorded) the state snapshot of the first flush returns
  the state at its seq and the change log's snapshot exactly the changes up to it;
- a put that loses by its hlc, flushed, is the one row of the conflicts table;
- kill -9 between a flush's Iceberg commits and progress.json: the committed snapshot reads
  consistent, and after the restart every acked change is there once (crash());
- a reader in a loop (reader_loop.py) while two servers ingest and flush, one Iceberg and one with
  the plain layout (its tables as `idbsync ddl --dialect hive` prints them, in a database
  loop_plain), taking turns: the Iceberg reads must
  show zero errors, duplicates, missing or wrong rows; the plain layout's rate is a figure.
One Hive JVM for the whole file."""
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import harness as H  # noqa: E402
import hive as HV  # noqa: E402
import hive_iceberg_setup as HI  # noqa: E402
import reader_loop as L  # noqa: E402

ENGINE, as_run, select = HI.ENGINE, HI.as_run, HI.select
ROUNDS = int(os.environ.get("IDBSYNC_HIVE_LOOP_ROUNDS", "15"))


def snapshots(lake, db, table):
    """[(snapshot id, idbsync.seq)] of the table's newest metadata, oldest first."""
    return [(s["snapshot-id"], int(s["summary"]["idbsync.seq"])) for s in L.metadata(lake, db, table)["snapshots"]
            if "idbsync.seq" in s.get("summary", {})]


def at_snapshot(hive, sid, sql):
    """sql's rows read at snapshot sid: Iceberg's input format takes iceberg.mr.snapshot.id from
    the job's settings (the session's), -1 (its default) again after."""
    hive.query(f"SET iceberg.mr.snapshot.id={sid}")
    try:
        return hive.rows(sql)
    finally:
        hive.query("SET iceberg.mr.snapshot.id=-1")


def time_travel(hive, m, profile, s, data):
    old = [sid for sid, seq in snapshots(s.lake, "app", "items") if seq <= data.first_flush]
    got = {r["idb_key"]: r["idb_seq"] for r in at_snapshot(hive, old[-1], "SELECT idb_key, idb_seq FROM app.items")} if old else None
    failures = H.time_travel(m, profile, "time travel: SET iceberg.mr.snapshot.id", data, data.first_flush, got)
    old = [sid for sid, seq in snapshots(s.lake, "app", "items_changes") if seq <= data.first_flush]
    seqs = sorted(r["idb_seq"] for r in at_snapshot(hive, old[-1], "SELECT idb_seq FROM app.items_changes")) if old else None
    want = sorted(e["seq"] for e in data.log if e["store"] == "items" and e["seq"] <= data.first_flush)
    res = "ok" if seqs == want else f"FAIL: {seqs} != {want}"
    m.cell(profile, "change log at the first flush's snapshot", res[:200])
    failures += [] if res == "ok" else [f"{profile}: change log time travel: {res}"]
    # the session reads the newest snapshot again
    n = len(hive.rows("SELECT idb_key FROM app.items"))
    if n != len(data.s.pull("app")["items"]):
        failures.append(f"{profile}: after time travel the table shows {n} rows, not the newest snapshot's")
    # Hive 4's own syntax needs Hive's handler (HiveStorageHandler.isTimeTravelAllowed); recorded
    try:
        hive.query(f"SELECT idb_key FROM app.items FOR SYSTEM_VERSION AS OF {old[-1]}")
        m.cell(profile, "FOR SYSTEM_VERSION AS OF", "ok")
    except HV.HiveError as e:
        m.cell(profile, "FOR SYSTEM_VERSION AS OF", "refused: " + H.short_error(e)[:160])
    return failures


def vectorized(hive, m, profile, s, live):
    """Hive's vectorized reader (Iceberg's input format in its vectorized mode) in a MapReduce job:
    a scan of columns it vectorizes must be planned vectorized and return the pull feed's keys and
    seqs. A timestamptz column (Hive's `timestamp with local time zone`) keeps a scan in row mode
    ("Vectorizing data type timestamp with local time zone not supported"): recorded."""
    hive.query("SET hive.fetch.task.conversion=none")
    failures = []
    for store in ("items", "events"):
        sql = f"SELECT idb_key, idb_seq FROM app.{store}"
        plan = "\n".join(r["Explain"] for r in hive.rows("EXPLAIN VECTORIZATION " + sql))
        got = {r["idb_key"]: r["idb_seq"] for r in hive.rows(sql)}
        want = {k: e["seq"] for k, e in live.get(store, {}).items()}
        res = ("ok" if got == want else f"FAIL: {sorted(got.items())} != {sorted(want.items())}") \
            if "Execution mode: vectorized" in plan else "FAIL: not vectorized: " + plan[-300:]
        m.cell(profile, f"vectorized reader: {store} keys and seqs", res[:200])
        failures += [] if res == "ok" else [f"{profile}: vectorized reader: {store}: {res}"]
    plan = "\n".join(r["Explain"] for r in hive.rows("EXPLAIN VECTORIZATION " + select(s.lake, "app", "items_changes")))
    why = [ln.strip() for ln in plan.splitlines() if "notVectorizedReason" in ln]
    m.cell(profile, "vectorized reader: every column of items_changes", why[0][:160] if why else "vectorized")
    return failures


def conflicts(hive, m, profile, s):
    """A put older (by its hlc) than the key's live version loses: after a flush the conflicts
    table, attached by the DDL printed then, holds that put once with the winner's seq."""
    winner = s.pull("app")["items"]["1"]
    s.push("app", "c1", [{"id": 1, "store": "items", "op": "put", "key": 1, "value": {"name": "loser ✗", "n": 7},
                          "hlc": "1000000000000-0000-c1"}])
    s.flush("app")
    for st in H.statements(s.ddl("hive", "--store", "items")):
        hive.query(as_run(st))
    rows = hive.rows(select(s.lake, "app", "items_conflicts"))
    got = [(r["idb_key"], r["name"], r["n"], r["idb_winner_seq"], r["idb_winner_hlc"]) for r in rows]
    want = [("1", "loser ✗", 7, winner["seq"], winner["hlc"])]
    res = "ok" if got == want else f"FAIL: {got} != {want}"
    m.cell(profile, "conflicts table", res[:200])
    return [] if res == "ok" else [f"{profile}: conflicts: {res}"]


def check_profile(hive, m, profile):
    s = H.Server(profile, ["--lake-format", "iceberg"])
    try:
        data = H.Dataset(s).run()
        live = s.pull("app")
        failures = H.run_ddl(m, profile, s.ddl("hive"), lambda st: hive.query(as_run(st)), (HV.HiveError,),
                             label="DDL as printed, with the adapter SerDe")

        def read(meta, kind):
            t = meta["table"] + ("_changes" if kind == "changes" else "")
            return H.iceberg_rows(hive.rows(select(s.lake, "app", t)))
        for label, conversion in (("fetch task", "more"), ("MapReduce job", "none")):
            hive.query(f"SET hive.fetch.task.conversion={conversion}")
            results = H.compare_tables(s, data, live, read, (HV.HiveError,))
            failures += [f"{profile}: {label}: {p}" for _, p in H.Matrix(f"{ENGINE} {label}").record(profile, results)]
        failures += vectorized(hive, m, profile, s, live)
        hive.query("SET hive.fetch.task.conversion=more")
        failures += time_travel(hive, m, profile, s, data)
        failures += conflicts(hive, m, profile, s)
        hive.query("DROP DATABASE IF EXISTS app CASCADE")   # external tables: the files stay
    finally:
        s.cleanup()
    return failures


def loop(hive, m):
    """The looping reader over an Iceberg lake and a plain one, measured in the same run."""
    with L.servers() as (ice, plain):
        hive.query("SET hive.fetch.task.conversion=more")
        for st in H.statements(ice.ddl("hive", "--db", "loop")):
            hive.query(as_run(st))
        # the plain tables in a database of their own (both servers' database is `loop`)
        for st in H.statements(plain.ddl("hive", "--db", "loop")):
            hive.query(re.sub(r"(?<![/\w])loop(?=[.;\s]|$)", "loop_plain", st))

        def ice_changes():   # the change log at its newest snapshot: exactly the changes <= its seq
            sid, upto = L.newest_snapshot(ice.lake, "loop", "live_changes")
            rows = at_snapshot(hive, sid, "SELECT idb_seq, idb_key, idb_op, n FROM loop.live_changes")
            return [(r["idb_seq"], r["idb_key"], r["idb_op"], r["n"]) for r in rows], (upto, 0)

        def read_state(table, s):   # as queried, no older than the state flushed before the query
            floor = L.progress(s)[1]
            return [(r["idb_key"], r["idb_seq"], r["n"]) for r in hive.rows(f"SELECT idb_key, idb_seq, n FROM {table}")], floor

        def plain_changes():   # new days need MSCK; every change up to the flushed one
            hive.query("MSCK REPAIR TABLE loop_plain.live_changes")
            floor = L.progress(plain)[0]
            rows = hive.rows("SELECT idb_seq, idb_key, idb_op, n FROM loop_plain.live_changes")
            return [(r["idb_seq"], r["idb_key"], r["idb_op"], r["n"]) for r in rows], (None, floor)

        try:
            return L.run(m, "Hive", "iceberg-hive-runtime, location_based_table", ice, plain, ROUNDS,
                         [("changes", ice_changes), ("state", lambda: read_state("loop.live", ice))],
                         [("changes", plain_changes), ("state", lambda: read_state("loop_plain.live", plain))],
                         (HV.HiveError,))
        finally:
            hive.query("DROP DATABASE IF EXISTS loop CASCADE")
            hive.query("DROP DATABASE IF EXISTS loop_plain CASCADE")


def crash(hive, m):
    """kill -9 after a flush's Iceberg commits, before progress.json records them
    (IDBSYNC_TEST_ICEBERG_KILL=commit:8): Hive reads the committed snapshot, whose change log holds
    exactly the changes up to its idbsync.seq and whose state has every key once; after a restart
    on the same dirs (the recovery takes that flush back out, the next flush adds it again) and a
    flush, the change log holds every acked change exactly once and each state key its newest put.
    Pushes and flushes take turns (no timed flush), so every change a snapshot holds was acked."""
    tmp = tempfile.mkdtemp(prefix="idbsync-eng-crash-")
    args = ["--lake-format", "iceberg", "--flush-interval", "3600s"]
    os.environ["IDBSYNC_TEST_ICEBERG_KILL"] = "commit:8"
    try:
        s = H.Server("modern", args, tmp=tmp)
    finally:
        del os.environ["IDBSYNC_TEST_ICEBERG_KILL"]
    log, mid, failures = {}, 1, []
    try:
        for _ in range(20):
            muts = [{"id": mid + i, "store": "live", "op": "put", "key": (mid + i) % 37, "value": {"n": mid + i}}
                    for i in range(25)]
            r = s.push("crash", "crash-writer", muts)
            for first, seq, count in r["kept"]:
                for i in range(count):
                    log[seq + i] = (H.canon((first + i) % 37), "put", first + i)
            mid += 25
            try:
                s.flush("crash")
            except (AssertionError, OSError):
                break
        assert s.proc.wait(30) == -9, "the server did not kill itself at the commit step"

        def scans(label):
            sid, upto = L.newest_snapshot(s.lake, "crash", "live_changes")
            rows = [(r["idb_seq"], r["idb_key"], r["idb_op"], r["n"]) for r in
                    hive.rows("SELECT idb_seq, idb_key, idb_op, n FROM crash.live_changes")]
            p = L.check_changes(rows, log, upto)
            floor = L.newest_snapshot(s.lake, "crash", "live")[1]
            state = [(r["idb_key"], r["idb_seq"], r["n"]) for r in hive.rows("SELECT idb_key, idb_seq, n FROM crash.live")]
            q = L.check_state(state, log, floor)
            res = "ok" if not any(p.values()) and not any(q.values()) and rows else \
                f"FAIL: change log {p} ({len(rows)} rows, upto {upto}), state {q}"
            m.cell("modern", label, res if res != "ok" else f"ok ({len(rows)} changes up to seq {upto})")
            return upto, [] if res == "ok" else [f"kill -9: {label}: {res}"]
        for st in H.statements(s.ddl("hive")):
            hive.query(as_run(st))
        _, f = scans("kill -9 after an Iceberg commit: Hive reads the committed snapshot")
        failures += f
        s = H.Server("modern", args, tmp=tmp)
        s.flush("crash")
        upto, f = scans("kill -9: restarted and flushed: every acked change once, each key its newest put")
        failures += f
        if upto < max(log):
            failures.append(f"kill -9: after the restart's flush the change log reaches seq {upto}, not {max(log)}")
    finally:
        hive.query("DROP DATABASE IF EXISTS crash CASCADE")
        s.cleanup()
    return failures


def run():
    tmp = tempfile.mkdtemp(prefix="idbsync-hive-iceberg-")
    hive = HI.start(tmp)
    m = H.Matrix(ENGINE)
    m.cell("-", "startup seconds", f"{hive.startup_s:.0f}")
    failures = []
    try:
        for profile in ("compat", "modern"):
            failures += check_profile(hive, m, profile)
        failures += crash(hive, m)
        failures += loop(hive, m)
    finally:
        hive.stop()
        if not H.KEEP:
            shutil.rmtree(tmp, ignore_errors=True)
    assert not failures, "\n".join(failures[:40])


if __name__ == "__main__":
    H.main_guard(run)
