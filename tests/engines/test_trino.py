"""Trino (single node, Java 25, Hive connector over a file metastore) reads the lake of a real
server, both profiles: every statement of `idbsync ddl --dialect trino` runs as printed (schema,
external tables, sync_partition_metadata), then every row and column of the current state and
the change log must equal the server's pull feed and pushed mutations."""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import harness as H  # noqa: E402
import trino as T  # noqa: E402

# Measured by this test, documented in docs/engines.md; a listed cell may fail without failing
# the test (the log says so).
KNOWN = []


def known(profile, feature, problem):
    for p, f, pattern, why in KNOWN:
        if p in (None, profile) and f in (None, feature) and re.search(pattern, problem):
            return why
    return None


def statements(ddl):
    out, cur = [], []
    for line in ddl.splitlines():
        if line.startswith("--") or not line.strip():
            continue
        cur.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(cur).rstrip().rstrip(";"))
            cur = []
    return out


def run():
    home = os.environ.get("IDBSYNC_TRINO_HOME") or os.path.join(H.CACHE, f"trino-{T.VERSION}")
    tmp = tempfile.mkdtemp(prefix="idbsync-trino-")
    trino = T.Trino(tmp, home)
    m = H.Matrix(f"Trino {T.VERSION}")
    m.cell("-", "startup seconds", f"{trino.startup_s:.0f}")
    failures = []
    try:
        for profile in ("compat", "modern"):
            s = H.Server(profile, ["--lake-partition", "app/events=region"])
            try:
                data = H.Dataset(s).run()
                live = s.pull("app")
                for st in statements(s.ddl("trino")):
                    if st.startswith("CREATE TABLE"):
                        # a second profile: the same table names over another lake
                        name = re.match(r"CREATE TABLE IF NOT EXISTS (\S+)", st).group(1)
                        trino.query(f"DROP TABLE IF EXISTS {name}")
                    try:
                        trino.query(st)
                    except T.TrinoError as e:
                        failures.append(f"{profile}: DDL refused: {st[:100]}: {e}")
                m.cell(profile, "DDL as printed", "ok" if not failures else "FAIL: " + failures[-1][:200])
                results = []
                for store, feature, cfeature in (("items", "state", "changes"), ("events", "partitions", "partitions")):
                    meta = H.table_meta(s.lake, "app", store)
                    for kind, f in (("state", feature), ("changes", cfeature)):
                        name = f"hive.app.{meta['table']}" + ("_changes" if kind == "changes" else "")
                        try:
                            got, _ = trino.dicts(f"SELECT * FROM {name}")
                            probs = (H.compare_state("trino", meta, live.get(store, {}), got) if kind == "state" else
                                     H.compare_changes("trino", meta, data.log, live.get(store, {}), got))
                        except T.TrinoError as e:
                            probs = [f"{name}: unreadable: {e}"]
                        results.append((f, probs))

                # the other direction: CREATE TABLE AS into the inbox reaches the pull feed
                if profile == "compat":
                    want = H.expected_import_rows()
                    inbox = os.path.join(os.path.realpath(s.lake), "app", "_inbox", "from_trino")
                    values = ", ".join(
                        f"(BIGINT '{r['id']}', BIGINT '{r['big']}', DOUBLE '{r['d']!r}', {str(r['ok']).upper()}, "
                        f"'{r['s']}', TIMESTAMP '{r['at'].strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}', X'{r['bin'].hex()}', "
                        f"DECIMAL '{r['dec']}')" for r in want)
                    try:
                        trino.query("DROP TABLE IF EXISTS hive.app.from_trino")
                        trino.query(f"CREATE TABLE hive.app.from_trino WITH (external_location = 'local://{inbox}', "
                                    f"format = 'PARQUET') AS SELECT * FROM (VALUES {values}) "
                                    "AS t(id, big, d, ok, s, \"at\", bin, \"dec\")")
                        with open(os.path.join(inbox, "_import.json"), "w") as f:
                            f.write('{"key":"id"}')
                        probs = H.compare_import(H.wait_import(s, "app", "from_trino", len(want)), want)
                    except (T.TrinoError, AssertionError, OSError) as e:
                        probs = [f"reverse: {e}"]
                    m.cell(profile, "reverse: CREATE TABLE AS -> inbox -> pull feed", "ok" if not probs else "FAIL: " + probs[0][:200])
                    failures += probs

                # Impala's reader rules over the lake this engine read (and wrote into)
                rc, out = H.lake_check(s.lake, "compat" if profile == "compat" else "impala4")
                m.cell(profile, "idbsync lake check", "ok" if rc == 0 else "FAIL: " + out[:200])
                if rc:
                    failures.append(f"{profile}: idbsync lake check: {out[:2000]}")
                def read_live():
                    try:
                        trino.query("CALL hive.system.flush_metadata_cache()")
                        r, _ = trino.dicts("SELECT idb_key, idb_seq, n FROM hive.app.live")
                    except T.TrinoError as e:
                        if "does not exist" in str(e):
                            return []
                        raise
                    return [(x["idb_key"], x["idb_seq"], x["n"]) for x in r]
                # the live table is created from the DDL once it exists
                r = s.push("app", "concurrent-writer-0", [{"id": 1, "store": "live", "op": "put", "key": -1,
                                                            "value": {"n": 0, "s": "", "d": 0.5}}])
                seeded = {r["kept"][0][1]: ("-1", 0)}
                s.flush("app")
                for st in statements(s.ddl("trino", "--store", "live")):
                    if st.startswith("CREATE TABLE"):
                        trino.query("DROP TABLE IF EXISTS " + re.match(r"CREATE TABLE IF NOT EXISTS (\S+)", st).group(1))
                    if "live" in st:
                        trino.query(st)
                c = H.concurrent_reads(s, read_live, seeded=seeded)
                m.cell(profile, "reads during ingest", H.concurrency_cell(c))
                if c["duplicates"] or c["wrong"]:
                    failures.append(f"{profile}: reads during ingest: {c}")
                for f, p in m.record(profile, results):
                    why = known(profile, f, p)
                    if why:
                        H.log(f"known Trino limitation ({why}): {p[:300]}")
                    else:
                        failures.append(f"{profile}: {p}")
            finally:
                s.cleanup()
    finally:
        trino.stop()
    assert not failures, "\n".join(failures[:40])


if __name__ == "__main__":
    H.main_guard(run)
