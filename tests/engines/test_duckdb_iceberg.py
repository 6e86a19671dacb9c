"""DuckDB 1.5.5 (@duckdb/node-api) with its iceberg extension reads the Iceberg tables of a real
server (--lake-format iceberg), both profiles: the statements of `idbsync ddl --dialect duckdb`
run as printed (INSTALL iceberg; LOAD iceberg; a view per table over iceberg_scan(dir), which
follows metadata/version-hint.text), then every row and column of both stores' state and change
log must equal the pull feed and the pushed mutations, and iceberg_scan(dir, snapshot_from_id =>)
of the state snapshot whose idbsync.seq is the first flush's returns that flush's state.
DuckDB downloads extensions from its own site, which this machine cannot reach: tests/engines/run
installs the signed extension files from PyPI (duckdb-extension-iceberg, -avro) and DuckDB from
npm at the same release (tests/engines/duckdb_iceberg.mjs runs the queries)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness as H  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = "1.5.5"


def duckdb(statements, queries):
    r = subprocess.run(["node", os.path.join(HERE, "duckdb_iceberg.mjs")], capture_output=True, text=True,
                       input=json.dumps({"statements": statements, "queries": queries}), timeout=600)
    if r.returncode:
        raise RuntimeError(f"DuckDB: {r.stderr.strip()[-1500:]}")
    return json.loads(r.stdout)


def snapshots(lake, db, table):
    """[(snapshot id, idbsync.seq)] of the table's newest committed metadata, oldest first."""
    meta = os.path.join(lake, "_iceberg", db, table, "metadata")
    with open(os.path.join(meta, "version-hint.text")) as f:
        v = int(f.read().strip())
    while os.path.exists(os.path.join(meta, f"v{v + 1}.metadata.json")):
        v += 1
    with open(os.path.join(meta, f"v{v}.metadata.json")) as f:
        m = json.load(f)
    return [(s["snapshot-id"], int(s["summary"]["idbsync.seq"])) for s in
            sorted(m["snapshots"], key=lambda s: s["sequence-number"]) if "idbsync.seq" in s["summary"]]


def check_profile(m, profile):
    s = H.Server(profile, ["--lake-format", "iceberg"])
    failures = []
    try:
        data = H.Dataset(s).run()
        f1 = data.first_flush
        live = s.pull("app")
        ddl = s.ddl("duckdb")
        # every table's view, and time travel to the first flush's state snapshot
        queries = {}
        for store, _, _ in H.TABLES:
            meta = H.table_meta(s.lake, "app", store)
            for kind in ("state", "changes"):
                name = meta["table"] + ("_changes" if kind == "changes" else "")
                queries[name] = f"SELECT * FROM app_{name}"
        old = [sid for sid, seq in snapshots(s.lake, "app", "items") if seq <= f1]
        items_dir = os.path.join(os.path.realpath(s.lake), "_iceberg", "app", "items")
        if old:
            queries["travel"] = f"SELECT idb_key, idb_seq FROM iceberg_scan('{items_dir}', snapshot_from_id => {old[-1]})"
        try:
            got = duckdb(H.statements(ddl), queries)
            m.cell(profile, "DDL as printed (iceberg_scan views)", "ok")
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            m.cell(profile, "DDL as printed (iceberg_scan views)", "FAIL: " + str(e)[:200])
            return [f"{profile}: {e}"]
        results = H.compare_tables(s, data, live, lambda meta, kind: [H.merge_widened(r) for r in got[
            meta["table"] + ("_changes" if kind == "changes" else "")]])
        failures += [f"{profile}: {p}" for _, p in m.record(profile, results)]
        failures += H.time_travel(m, profile, "time travel snapshot_from_id", data, f1,
                                  {r["idb_key"]: r["idb_seq"] for r in got["travel"]} if old else None)
    finally:
        s.cleanup()
    return failures


def run():
    m = H.Matrix(f"DuckDB {VERSION} + iceberg")
    failures = []
    for profile in ("compat", "modern"):
        failures += check_profile(m, profile)
    assert not failures, "\n".join(failures[:40])


if __name__ == "__main__":
    H.main_guard(run)
