"""DuckDB 1.5.5 (@duckdb/node-api) with its iceberg extension reads the Iceberg tables of a real
server (--lake-format iceberg), both profiles (store events partitioned by region: a filter on it
reads fewer files, EXPLAIN ANALYZE), two ways, each with the statements `idbsync ddl`
prints, run as printed: `--dialect duckdb` (INSTALL iceberg; LOAD iceberg; a view per table over
iceberg_scan(dir), which follows metadata/version-hint.text) and `--dialect duckdb --catalog-uri`
(ATTACH ... TYPE iceberg to the REST catalog the server serves; compat with --auth tokens and the
admin token in a DuckDB secret). Every row and column of both stores' state and change log must
equal the pull feed and the pushed mutations, and time travel to the state snapshot whose
idbsync.seq is the first flush's (iceberg_scan(dir, snapshot_from_id =>), AT (VERSION =>))
returns that flush's state. DuckDB downloads extensions from its own site, which this machine
cannot reach: tests/engines/run installs the signed extension files from PyPI
(duckdb-extension-iceberg, -avro, -httpfs) and DuckDB from npm at the same release
(tests/engines/duckdb_iceberg.mjs runs the queries)."""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness as H  # noqa: E402
import reader_loop as L  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "1.5.5"
ROUNDS = int(os.environ.get("IDBSYNC_DUCKDB_LOOP_ROUNDS", "150"))


def duckdb(statements, queries):
    r = subprocess.run(["node", os.path.join(HERE, "duckdb_iceberg.mjs")], capture_output=True, text=True,
                       input=json.dumps({"statements": statements, "queries": queries}), timeout=600)
    if r.returncode:
        raise RuntimeError(f"DuckDB: {r.stderr.strip()[-1500:]}")
    return json.loads(r.stdout)


class DuckDBError(Exception):
    pass


class Reader:
    """One DuckDB (duckdb_iceberg.mjs in its loop mode) that ran `statements` and answers one
    query at a time: query(sql, columns) -> [tuple] (BIGINTs as ints), DuckDBError when it fails."""

    def __init__(self, statements):
        self.p = subprocess.Popen(["node", os.path.join(HERE, "duckdb_iceberg.mjs")], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.p.stdin.write(json.dumps({"statements": statements, "loop": True}) + "\n")

    def query(self, sql, columns):
        self.p.stdin.write(json.dumps(sql) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"DuckDB ended (exit {self.p.wait()})")
        r = json.loads(line)
        if "error" in r:
            raise DuckDBError(r["error"])
        num = lambda c, v: int(v) if v is not None and c in ("idb_seq", "n") else v  # noqa: E731
        return [tuple(num(c, row[c]) for c in columns) for row in r["rows"]]

    def close(self):
        H.end_process(self.p, wait=30, close_stdin=True)


def loop(m):
    """A reader in a loop through DuckDB while two servers ingest and flush: one with
    --lake-format iceberg read with iceberg_scan (the views `idbsync ddl --dialect duckdb`
    prints; the change log at the newest snapshot of the file-system catalog, snapshot_from_id,
    must hold exactly the changes up to its idbsync.seq; the state must miss no row flushed
    before the query), one with the plain layout read through its read_parquet views (its
    failure rate is a figure, docs/lake-layout.md, "Known issue")."""
    with L.servers() as (ice, hive):
        readers = [Reader(H.statements(s.ddl("duckdb", "--db", "loop"))) for s in (ice, hive)]
        try:
            r_ice, r_hive = readers
            changes_dir = os.path.join(os.path.realpath(ice.lake), "_iceberg", "loop", "live_changes")
            cols_c, cols_s = ("idb_seq", "idb_key", "idb_op", "n"), ("idb_key", "idb_seq", "n")

            def ice_changes():
                sid, upto = L.newest_snapshot(ice.lake, "loop", "live_changes", follow=False)   # as iceberg_scan
                return r_ice.query(f"SELECT {', '.join(cols_c)} FROM iceberg_scan('{changes_dir}', snapshot_from_id => {sid})",
                                   cols_c), (upto, 0)

            def state(r, s, table):
                floor = L.progress(s)[1]
                return r.query(f"SELECT {', '.join(cols_s)} FROM {table}", cols_s), floor

            def hive_changes():
                floor = L.progress(hive)[0]
                return r_hive.query(f"SELECT {', '.join(cols_c)} FROM loop.live_changes", cols_c), (None, floor)

            return L.run(m, "DuckDB", "iceberg_scan", ice, hive, ROUNDS,
                         [("changes", ice_changes), ("state", lambda: state(r_ice, ice, "loop_live"))],
                         [("changes", hive_changes), ("state", lambda: state(r_hive, hive, "loop.live"))], (DuckDBError,))
        finally:
            for r in readers:
                r.close()


def snapshots(lake, db, table):
    """[(snapshot id, idbsync.seq)] of the table's newest committed metadata, oldest first."""
    m = L.metadata(lake, db, table)
    return [(s["snapshot-id"], int(s["summary"]["idbsync.seq"])) for s in
            sorted(m["snapshots"], key=lambda s: s["sequence-number"]) if "idbsync.seq" in s["summary"]]


def pruning(m, profile, got, live):
    """A filter on the partitioned state's partition column (events by region): iceberg_scan reads
    fewer files (EXPLAIN ANALYZE's "Total Files Read") than the whole table and returns exactly
    the live keys of that value."""
    every, eu = (sum(int(n) for r in got[q] for n in re.findall(r"Total Files Read: (\d+)", r["explain_value"]))
                 for q in ("files every", "files eu"))
    keys = sorted(r["idb_key"] for r in got["eu"])
    want = sorted(k for k, e in live.get("events", {}).items() if (e["value"] or {}).get("region") == "eu")
    res = "ok" if keys == want and 0 < eu < every else f"FAIL: {eu} of {every} files, keys {keys} != {want}"
    m.cell(profile, "partition pruning (region = 'eu')", res if res != "ok" else f"ok: {eu} of {every} files")
    return [] if res == "ok" else [f"{profile}: iceberg_scan partition pruning: {res}"]


def check_profile(m, mr, profile):
    """m: the matrix of the file-system reading (iceberg_scan views), mr: of the served REST
    catalog (ATTACH); compat with --auth tokens (the admin token in a DuckDB secret)."""
    auth = profile == "compat"
    args = ["--lake-format", "iceberg", *H.PARTITIONED]
    s = H.admin_server(profile, args) if auth else H.Server(profile, args)
    failures = []
    try:
        data = H.Dataset(s).run()
        f1 = data.first_flush
        live = s.pull("app")
        ddl = H.statements(s.ddl("duckdb")) + H.statements(s.ddl(
            "duckdb", "--catalog-uri", f"{s.url}/iceberg", env={"IDBSYNC_ICEBERG_TOKEN": s.token} if auth else {}))
        # every table through its view and through the catalog, and time travel to the first
        # flush's state snapshot both ways
        queries = {}
        for store, _, _ in H.TABLES:
            meta = H.table_meta(s.lake, "app", store)
            for kind in ("state", "changes"):
                name = meta["table"] + ("_changes" if kind == "changes" else "")
                queries[name] = f"SELECT * FROM app_{name}"
                queries["rest " + name] = f"SELECT * FROM idbsync.app.{name}"
        old = [sid for sid, seq in snapshots(s.lake, "app", "items") if seq <= f1]
        items_dir = os.path.join(os.path.realpath(s.lake), "_iceberg", "app", "items")
        if old:
            queries["travel"] = f"SELECT idb_key, idb_seq FROM iceberg_scan('{items_dir}', snapshot_from_id => {old[-1]})"
            queries["rest travel"] = f"SELECT idb_key, idb_seq FROM idbsync.app.items AT (VERSION => {old[-1]})"
        # partition pruning: events is partitioned by region (H.PARTITIONED)
        events_dir = os.path.join(os.path.realpath(s.lake), "_iceberg", "app", "events")
        for name, where in (("files every", ""), ("files eu", " WHERE region = 'eu'")):
            queries[name] = f"EXPLAIN ANALYZE SELECT idb_key FROM iceberg_scan('{events_dir}'){where}"
        queries["eu"] = f"SELECT idb_key FROM iceberg_scan('{events_dir}') WHERE region = 'eu'"
        try:
            got = duckdb(ddl, queries)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            m.cell(profile, "DDL as printed", "FAIL: " + str(e)[:200])
            return [f"{profile}: {e}"]
        for mx, pre, label in ((m, "", "iceberg_scan views"), (mr, "rest ", "ATTACH (TYPE iceberg)")):
            mx.cell(profile, f"DDL as printed ({label})", "ok")
            results = H.compare_tables(s, data, live, lambda meta, kind: H.iceberg_rows(got[
                pre + meta["table"] + ("_changes" if kind == "changes" else "")], s.user))
            failures += [f"{profile} {label}: {p}" for _, p in mx.record(profile, results)]
            failures += H.time_travel(mx, profile, "time travel " + ("AT (VERSION =>)" if pre else "snapshot_from_id"),
                                      data, f1, {r["idb_key"]: r["idb_seq"] for r in got[pre + "travel"]} if old else None)
        failures += pruning(m, profile, got, live)
    finally:
        s.cleanup()
    return failures


def run():
    m = H.Matrix(f"DuckDB {VERSION} + iceberg, iceberg_scan")
    mr = H.Matrix(f"DuckDB {VERSION} + iceberg, served REST catalog")
    failures = []
    for profile in ("compat", "modern"):
        failures += check_profile(m, mr, profile)
    failures += loop(m)
    assert not failures, "\n".join(failures[:40])


if __name__ == "__main__":
    H.main_guard(run)
