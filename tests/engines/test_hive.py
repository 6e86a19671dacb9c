"""Apache Hive 4.1.0 (in process: embedded Derby metastore, local file system, MapReduce in local
mode, Java 17) reads the lake of a real server, both profiles: every statement of `idbsync ddl
--dialect hive` runs as printed, then both of Hive's Parquet readers return every row and column
of the current state and the change log as the server has them: a plain SELECT * (a fetch task:
the row-mode ParquetRecordReaderWrapper) and the same SELECT * and an aggregate as MapReduce jobs
(the VectorizedParquetRecordReader; EXPLAIN VECTORIZATION must say so). Then Hive writes a table
into the inbox (INSERT OVERWRITE TABLE ... STORED AS PARQUET) and its rows reach the pull feed and
a real Chromium's IndexedDB with their JS types; and a row-reader query runs in a loop while the
server ingests and flushes."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import harness as H  # noqa: E402
import hive as HV  # noqa: E402

ENGINE = f"Apache Hive {HV.VERSION}"

# Measured by this test, documented in docs/engines.md; a listed cell may fail without failing
# the test (the log says so). (profile or None, feature or None, regex, why)
KNOWN = []


def explain(hive, sql):
    return "\n".join(r["Explain"] for r in hive.rows("EXPLAIN VECTORIZATION " + sql))


def nested_complex(meta):
    """Whether a column is a struct or array holding a struct or array (the modern profile's
    `obj`, a struct with a struct field): Hive's Vectorizer keeps such a table's Parquet scan in
    row mode (hasUnsupportedVectorizedParquetDataType: "VectorizedParquetRecordReader cannot
    handle nested complex types")."""
    def deep(t):
        return isinstance(t, dict) and ("struct" in t or "list" in t)
    for c in meta["columns"]:
        t = c["type"]
        if isinstance(t, dict) and "struct" in t and any(deep(f["type"]) for f in t["struct"]):
            return True
        if isinstance(t, dict) and "list" in t and deep(t["list"]):
            return True
    return False


def readers(hive, m, profile, lake):
    """Sets Hive up for each reader and proves from its plan which one a SELECT * uses."""
    def fetch_task():
        hive.query("SET hive.fetch.task.conversion=more")
        plan = explain(hive, "SELECT * FROM app.items")
        assert "Map Reduce" not in plan and "Fetch Operator" in plan, plan
    def vectorized():
        hive.query("SET hive.fetch.task.conversion=none")
        hive.query("SET hive.vectorized.execution.enabled=true")
        for store, _, _ in H.TABLES:
            meta = H.table_meta(lake, "app", store)
            for t in (meta["table"], meta["table"] + "_changes"):
                plan = explain(hive, f"SELECT * FROM app.{t}")
                vec = "Execution mode: vectorized" in plan
                why = " ".join(ln.strip() for ln in plan.splitlines() if "enabledConditionsNotMet" in ln)
                if vec:
                    m.cell(profile, f"vectorized reader: {t} map work", "ok (Execution mode: vectorized)")
                elif nested_complex(meta):
                    m.cell(profile, f"vectorized reader: {t} map work",
                           "row mode: a struct holds a struct (Hive vectorizes no nested complex type)")
                else:
                    m.cell(profile, f"vectorized reader: {t} map work", "FAIL: not vectorized: " + why[:160])
                    raise AssertionError(f"{profile}: app.{t}: the job does not use the vectorized reader: {why}")
    return (("row reader (fetch task)", fetch_task), ("vectorized reader (MapReduce job)", vectorized))


def aggregate(hive, meta, kind, values):
    """count(*) and count(column) for idb_seq and every data column: an aggregate in a vectorized
    map task, checked against the server's values (every null decoded as null, every value not).
    values: one {column: expected value} per row of the table."""
    cols = ["idb_seq"] + [c for c, _, f in H.columns(meta, kind) if f is not None]
    name = f"app.{meta['table']}" + ("_changes" if kind == "changes" else "")
    got = hive.rows("SELECT count(*) AS n_rows, " + ", ".join(f"count(`{c}`) AS `{c}`" for c in cols) + f" FROM {name}")[0]
    want = {"n_rows": len(values), "idb_seq": len(values)}
    for c in cols[1:]:
        want[c] = sum(1 for r in values if r.get(c) is not None)
    return [f"{name} aggregate: column {c}: count {got[c]} != {want[c]}" for c in want if int(got[c]) != want[c]]


def change_values(meta, data):
    """{column: expected value} of each change-log row (None for every data column of a delete)."""
    out = []
    for e in data.log:
        if e["store"] == meta["store"]:
            v = e["value"] if isinstance(e["value"], dict) or e["value"] is None else {"$value": e["value"]}
            out.append({n: H.expect_value(t, (v or {}).get(f)) if e["op"] == "put" else None
                        for n, t, f in H.columns(meta, "changes") if f is not None})
    return out


def reverse(hive, s, m, profile):
    """INSERT OVERWRITE TABLE ... STORED AS PARQUET into the inbox -> the pull feed."""
    want = H.expected_import_rows()
    rows = " UNION ALL ".join(
        f"SELECT CAST({r['id']} AS BIGINT), CAST({r['big']} AS BIGINT), CAST({r['d']!r} AS DOUBLE), "
        f"{str(r['ok']).upper()}, '{r['s']}', "
        f"CAST('{r['at'].strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}' AS TIMESTAMP), "
        f"unhex('{r['bin'].hex()}'), CAST('{r['dec']}' AS DECIMAL(12,2))" for r in want)
    # a table of its own whose directory is then moved in whole: Hive clears the target first,
    # and the inbox must see the job's files and its settings together. (INSERT OVERWRITE
    # DIRECTORY would name the columns _col0, _col1...: measured.)
    out = os.path.join(s.tmp, "from_hive")
    try:
        hive.query("CREATE DATABASE IF NOT EXISTS hive_out")
        hive.query("DROP TABLE IF EXISTS hive_out.from_hive")
        hive.query("CREATE EXTERNAL TABLE hive_out.from_hive (id BIGINT, big BIGINT, d DOUBLE, ok BOOLEAN, s STRING, "
                   f"`at` TIMESTAMP, bin BINARY, `dec` DECIMAL(12,2)) STORED AS PARQUET LOCATION 'file://{out}'")
        hive.query(f"INSERT OVERWRITE TABLE hive_out.from_hive {rows}")
        probs = H.import_dir(s, out, "from_hive", want)
    except (HV.HiveError, AssertionError, OSError) as e:
        probs = [f"reverse: {e}"[:2000]]
    m.cell(profile, "reverse: INSERT OVERWRITE TABLE ... STORED AS PARQUET -> inbox -> pull feed",
           "ok" if not probs else "FAIL: " + probs[0][:200])
    if not probs:
        probs = H.to_browser(m, profile, "reverse: INSERT OVERWRITE TABLE ... STORED AS PARQUET -> inbox -> "
                             "Chromium IndexedDB, value and JS type", s, "from_hive", want)
    return probs


def reads_during_ingest(hive, s, m, profile):
    """A row-reader query (a fetch task) in a loop while the server ingests and flushes every
    200 ms: errors, duplicates and wrong rows (harness.concurrent_reads)."""
    hive.query("SET hive.fetch.task.conversion=more")
    seeded = H.live_table(s, "hive", hive.query)

    def read_live():
        return [(x["idb_key"], x["idb_seq"], x["n"]) for x in hive.rows("SELECT idb_key, idb_seq, n FROM app.live")]
    return H.record_reads(m, profile, H.concurrent_reads(s, read_live, seeded=seeded))


def run():
    tmp = tempfile.mkdtemp(prefix="idbsync-hive-")
    hive = HV.Hive(tmp)
    m = H.Matrix(ENGINE)
    m.cell("-", "startup seconds", f"{hive.startup_s:.0f}")

    def one(profile, s, data, live):
        hive.query("DROP DATABASE IF EXISTS app CASCADE")
        failures = H.run_ddl(m, profile, s.ddl("hive"), hive.query, (HV.HiveError,))

        def read(meta, kind):
            return hive.rows(f"SELECT * FROM app.{meta['table']}" + ("_changes" if kind == "changes" else ""))
        for label, setup in readers(hive, m, profile, s.lake):
            setup()
            results = H.compare_tables(s, data, live, read, (HV.HiveError,))
            if label.startswith("vectorized"):
                agg = []
                for store, feature, cfeature in H.TABLES:
                    meta = H.table_meta(s.lake, "app", store)
                    want = list(H.expected_state(meta, live.get(store, {})).values())
                    try:
                        agg.append((feature, aggregate(hive, meta, "state", want)))
                        agg.append((cfeature, aggregate(hive, meta, "changes", change_values(meta, data))))
                    except HV.HiveError as e:
                        agg.append((feature, [f"{meta['table']} aggregate: unreadable: {H.short_error(e)}"]))
                first = next((p for _, ps in agg for p in ps), None)
                m.cell(profile, "aggregate: count(*), count(col) of every column", "ok" if not first else
                       "FAIL: " + first[:200])
                results += agg
            failures += H.settle(H.Matrix(f"{ENGINE} {label}"), profile, results, KNOWN, "Hive")
        if profile == "compat":
            hive.query("SET hive.fetch.task.conversion=more")
            failures += reverse(hive, s, m, profile)
        failures += H.check_lake(m, s, profile)
        return failures + reads_during_ingest(hive, s, m, profile)

    def stop():
        hive.stop()
        if not H.KEEP:
            shutil.rmtree(tmp, ignore_errors=True)
    H.check_profiles(one, stop)


if __name__ == "__main__":
    H.main_guard(run)
