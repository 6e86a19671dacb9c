"""Trino (single node, Java 25, Hive connector over a file metastore) reads the lake of a real
server, both profiles: every statement of `idbsync ddl --dialect trino` runs as printed (schema,
external tables, sync_partition_metadata), then every row and column of the current state and
the change log must equal the server's pull feed and pushed mutations. Trino then writes a table
into the inbox (CREATE TABLE AS) whose rows reach the pull feed and a real Chromium's IndexedDB
with their JS types."""
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


def run():
    home = os.environ.get("IDBSYNC_TRINO_HOME") or os.path.join(H.CACHE, f"trino-{T.VERSION}")
    tmp = tempfile.mkdtemp(prefix="idbsync-trino-")
    trino = T.Trino(tmp, home)
    m = H.Matrix(f"Trino {T.VERSION}")
    m.cell("-", "startup seconds", f"{trino.startup_s:.0f}")

    def one(profile, s, data, live):
        def drop(st):   # a second profile: the same table names over another lake
            if st.startswith("CREATE TABLE"):
                trino.query("DROP TABLE IF EXISTS " + re.match(r"CREATE TABLE IF NOT EXISTS (\S+)", st).group(1))
        failures = H.run_ddl(m, profile, s.ddl("trino"), trino.query, (T.TrinoError,), before=drop)
        results = H.compare_tables(s, data, live, lambda meta, kind: trino.dicts(
            f"SELECT * FROM hive.app.{meta['table']}" + ("_changes" if kind == "changes" else ""))[0],
            (T.TrinoError,))

        # the other direction: CREATE TABLE AS into the inbox reaches the pull feed
        if profile == "compat":
            want = H.expected_import_rows()
            values = ", ".join(
                f"(BIGINT '{r['id']}', BIGINT '{r['big']}', DOUBLE '{r['d']!r}', {str(r['ok']).upper()}, "
                f"'{r['s']}', TIMESTAMP '{r['at'].strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}', X'{r['bin'].hex()}', "
                f"DECIMAL '{r['dec']}')" for r in want)
            # written beside the lake and moved into the inbox whole (harness.import_dir: a
            # file written straight into the inbox was once picked up while Trino still wrote it)
            out = os.path.join(os.path.realpath(s.tmp), "from_trino")
            try:
                trino.query("DROP TABLE IF EXISTS hive.app.from_trino")
                trino.query(f"CREATE TABLE hive.app.from_trino WITH (external_location = 'local://{out}', "
                            f"format = 'PARQUET') AS SELECT * FROM (VALUES {values}) "
                            "AS t(id, big, d, ok, s, \"at\", bin, \"dec\")")
                probs = H.import_dir(s, out, "from_trino", want)
            except (T.TrinoError, AssertionError, OSError) as e:
                probs = [f"reverse: {e}"]
            m.cell(profile, "reverse: CREATE TABLE AS -> inbox -> pull feed", "ok" if not probs else "FAIL: " + probs[0][:200])
            failures += probs
            if not probs:
                failures += H.to_browser(m, profile, "reverse: CREATE TABLE AS -> inbox -> Chromium IndexedDB, "
                                         "value and JS type", s, "from_trino", want)

        failures += H.check_lake(m, s, profile)
        def read_live():
            try:
                trino.query("CALL hive.system.flush_metadata_cache()")
                r, _ = trino.dicts("SELECT idb_key, idb_seq, n FROM hive.app.live")
            except T.TrinoError as e:
                if "does not exist" in str(e):
                    return []
                raise
            return [(x["idb_key"], x["idb_seq"], x["n"]) for x in r]
        failures += H.record_reads(m, profile, H.concurrent_reads(
            s, read_live, seeded=H.live_table(s, "trino", trino.query, drop)))
        return failures + H.settle(m, profile, results, KNOWN, "Trino")
    H.check_profiles(one, trino.stop)


if __name__ == "__main__":
    H.main_guard(run)
