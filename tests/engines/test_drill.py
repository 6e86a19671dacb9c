"""Apache Drill 1.22 (embedded Drillbit, REST on a free loopback port) reads the lake of a real
server, both profiles: the dfs workspace and every statement of `idbsync ddl --dialect drill` run
as printed (ALTER SESSION, CREATE OR REPLACE VIEW, REFRESH TABLE METADATA), then each view
returns every row and column of the current state and the change log as the server has them.
End to end with --drill-url: POST /v1/db/{db}/query is answered by Drill over the lake, and the
server's refresh notifications after each flush are accepted by Drill. Drill's CREATE TABLE AS,
moved into the inbox, reaches the pull feed and a real Chromium's IndexedDB with its JS types."""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as H  # noqa: E402
import drill as D  # noqa: E402
import drill_missing_column as R  # noqa: E402

VERSION = "Apache Drill 1.22.0"

# What Drill 1.22 cannot read, measured by this test and documented in docs/engines.md with the
# workaround; a cell listed here may fail without failing the test (and says so when it passes).
STRUCT_DEFECT = (
    "reading a change log whose files differ in schema (a column added later) while projecting a struct "
    "column fails; the error varies from run to run: 'Current context not Array but Object', "
    "NegativeArraySizeException, a truncated REST answer, an OutOfMemoryError that ends the Drillbit "
    "(with 1 and 2 GiB of heap), or no error and the struct read as NULL in some rows. Drill's defect, reproduced on two small files by drill_missing_column.py: "
    "a column missing from the file Drill scans first is filled as INT and the later files' values are read "
    "through it; the views' CASTs cure flat columns, not a struct projected whole")
KNOWN = [
    ("modern", "changes", r"_changes: ", STRUCT_DEFECT),
    # the same defect at times answers without an error, the struct column read as NULL in some
    # rows of the change log (twice in clean-clone CI runs, 2026-12-06): only that shape is let
    # through; Matrix.record files a problem of column obj under "nested"
    ("modern", "nested", r"^seq \d+ column obj \(\{'struct'.*\): engine None != pushed \{", STRUCT_DEFECT),
    ("modern", "nested", r"engine \[\] != (server|pushed) None",
     "a null or missing array reads as [] (Drill's repeated types have no NULL)"),
]


def view_rows(drill, name):
    rows, cols, types = drill.rows(f"SELECT * FROM dfs.tmp.`{name}`")
    return rows, dict(zip(cols, types))


def drill_value(v, dtype):
    """Drill's REST API sends most values as strings; turn them back into typed values."""
    if v is None or not isinstance(v, str):
        return v
    if dtype == "BIT":
        return v == "true"
    if dtype in ("BIGINT", "INT"):
        return int(v)
    if dtype in ("FLOAT8", "FLOAT4"):
        return float(v)
    return v


def typed(rows, types):
    return [{k: drill_value(v, types.get(k)) for k, v in r.items()} for r in rows]


def hexes(b):
    """Bytes as Drill's binary_string() escapes: \\x01\\x00\\xFF."""
    return "".join("\\x%02X" % x for x in b)


def metric(url, name):
    code, text = H.http("GET", url + "/metrics")
    total = 0.0
    for line in text.decode().splitlines():
        if line.startswith(name):
            total += float(line.rsplit(" ", 1)[1])
    return total


def run():
    tmp = tempfile.mkdtemp(prefix="idbsync-drill-")
    drill = D.Drill(tmp)
    m = H.Matrix(VERSION)
    failures = []
    try:
        m.cell("-", "startup seconds", f"{drill.startup_s:.0f}")
        # the smallest files that show why the modern change log fails below (see KNOWN): Drill's
        # current wrong answers are asserted, so a Drill that reads them right fails here
        failures += R.run(drill, tmp)
        views = os.path.join(tmp, "views")

        def ready(profile, s):
            # the workspace first (as the DDL prints it), so the refresh notifications of the
            # very first flush reach a Drill that knows dfs.lake
            drill.add_workspaces({"lake": {"location": os.path.realpath(s.lake), "writable": False,
                                           "defaultInputFormat": "parquet", "allowAccessOutsideWorkspace": False},
                                  "tmp": {"location": views, "writable": True, "defaultInputFormat": None,
                                          "allowAccessOutsideWorkspace": False}})

        def one(profile, s, data, live):
            ddl = s.ddl("drill")
            ws = D.workspace_from_ddl(ddl)
            assert ws["lake"]["location"] == os.path.realpath(s.lake), ws
            drill.add_workspaces(ws)
            failures = H.run_ddl(m, profile, ddl, drill.query, (D.DrillError,))
            refresh_ok = not any(": DDL refused: REFRESH" in f for f in failures)
            results = []
            for store, feature in (("items", "state"), ("events", "partitions")):
                meta = H.table_meta(s.lake, "app", store)
                rows, types = view_rows(drill, f"app_{meta['table']}")
                results.append((feature, H.compare_state("drill", meta, live.get(store, {}), typed(rows, types))))

            # --drill-url: the server's query API answered by Drill over the lake
            q = H.post_json(f"{s.url}/v1/db/app/query",
                            {"sql": "SELECT idb_key, idb_seq, name FROM dfs.tmp.`app_items` WHERE idb_seq > ? "
                                    "ORDER BY idb_key", "params": [0]})
            want = sorted((k, e["seq"], e["value"].get("name")) for k, e in live["items"].items())
            got = sorted(tuple(r) for r in q["rows"])
            ok = q.get("engine") == "drill" and got == want
            m.cell(profile, "query API via --drill-url", "ok" if ok else f"FAIL: {q}"[:160])
            if not ok:
                failures.append(f"{profile}: /query via Drill: {got[:3]} != {want[:3]}")
            # a parameter outside Latin-1 (the server inlines parameters as SQL literals)
            k = next(k for k, e in live["items"].items() if "🎉" in (e["value"].get("name") or ""))
            code, text = H.http("POST", f"{s.url}/v1/db/app/query",
                                {"sql": "SELECT idb_key FROM dfs.tmp.`app_items` WHERE name = ?",
                                 "params": [live["items"][k]["value"]["name"]]})
            uni_ok = code == 200 and H.json.loads(text)["rows"] == [[k]]
            m.cell(profile, "query API via --drill-url, a non-Latin-1 parameter (Drill with saffron.default.charset=UTF-16LE)",
                   "ok" if uni_ok else f"FAIL: {code} {text[:150]!r}")
            if not uni_ok:
                failures.append(f"{profile}: a non-Latin-1 parameter through --drill-url: {code} {text[:300]!r}")
            # the refresh notifications of every flush: sent and accepted
            deadline = time.time() + 60
            while time.time() < deadline and metric(s.url, "idbsync_lake_notify_pending") > 0:
                time.sleep(0.5)
            sent = metric(s.url, 'idbsync_lake_notify_total{result="ok"}')
            failed = metric(s.url, 'idbsync_lake_notify_total{result="failed"}')
            ok = sent > 0 and failed == 0 and refresh_ok
            m.cell(profile, "REFRESH TABLE METADATA", f"ok ({sent:.0f} accepted)" if ok else
                   f"FAIL: {sent:.0f} ok, {failed:.0f} failed")
            if not ok:
                failures.append(f"{profile}: refresh notifications: {sent} ok, {failed} failed; "
                                f"server log {s.errlog}: {open(s.errlog).read()[-1500:]}")
            # the other direction: CREATE TABLE AS into the inbox reaches the pull feed
            if profile == "compat":
                want = H.expected_import_rows()
                # Drill refuses CREATE TABLE AS in a workspace under the lake's hidden _inbox (the query
                # fails without a message): write it in dfs.tmp, then move the table dir in at once
                # the rows come from a JSON file: Drill folds constant expressions into literals, and
                # its SQL literals are ISO-8859-1 (a non-Latin-1 string literal fails to encode)
                with open(os.path.join(views, "rows.json"), "w") as f:
                    for r in want:
                        f.write(H.json.dumps({"id": r["id"], "big": r["big"], "d": r["d"], "ok": r["ok"], "s": r["s"],
                                              "at": r["at"].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                                              "bin": hexes(r["bin"]), "dec": r["dec"]}, ensure_ascii=False) + "\n")
                drill.query("CREATE TABLE dfs.tmp.`from_drill` AS SELECT CAST(t.id AS BIGINT) AS id, "
                            "CAST(t.big AS BIGINT) AS big, CAST(t.d AS DOUBLE) AS d, CAST(t.ok AS BOOLEAN) AS ok, "
                            "CAST(t.s AS VARCHAR) AS s, CAST(t.`at` AS TIMESTAMP) AS `at`, binary_string(t.bin) AS bin, "
                            "CAST(t.`dec` AS DECIMAL(12, 2)) AS `dec` FROM dfs.tmp.`rows.json` t",
                            {"store.format": "parquet"})
                probs = H.import_dir(s, os.path.join(views, "from_drill"), "from_drill", want)
                m.cell(profile, "reverse: CREATE TABLE AS (dfs.tmp, moved into the inbox) -> pull feed", "ok" if not probs else "FAIL: " + probs[0])
                failures += probs
                if not probs:
                    failures += H.to_browser(m, profile, "reverse: CREATE TABLE AS -> inbox -> Chromium IndexedDB, "
                                             "value and JS type", s, "from_drill", want)
            failures += H.check_lake(m, s, profile)
            # a reader in a loop while a server ingests and flushes every 200 ms: a server of its
            # own without --drill-url, as the refresh after every flush rewrites Drill's metadata
            # cache under the running queries (measured: most of them fail then)
            s2 = H.Server(profile)
            try:
                drill.add_workspaces({"live": {"location": os.path.realpath(s2.lake), "writable": False,
                                               "defaultInputFormat": "parquet",
                                               "allowAccessOutsideWorkspace": False}})

                # a widened column read directly, without Drill's metadata cache (no REFRESH)
                d2 = H.Dataset(s2).run()
                want_w = {e["seq"]: (None if e["op"] == "delete" or (e["value"] or {}).get("w") is None
                                     else float(e["value"]["w"])) for e in d2.log if e["store"] == "items"}
                try:
                    r, _, _ = drill.rows("SELECT idb_seq, w FROM dfs.live.`app/items_changes`")
                    bad = [(x["idb_seq"], x["w"], want_w.get(x["idb_seq"])) for x in r
                           if x["w"] != want_w.get(x["idb_seq"])]
                    res = "ok" if not bad and len(r) == len(want_w) else f"FAIL: {len(bad)} wrong values, e.g. {bad[:2]}"
                except D.DrillError as e:
                    res = f"FAIL: {e}"[:200]
                m.cell(profile, "evolution: widened column queried directly, no metadata cache", res)

                def read_live():
                    r, _, _ = drill.rows("SELECT idb_key, idb_seq, n FROM dfs.live.`app/live`")
                    return [(x["idb_key"], x["idb_seq"], x["n"]) for x in r]
                c = H.concurrent_reads(s2, read_live)
            finally:
                s2.cleanup()
            failures += H.record_reads(m, profile, c)
            # the change logs last, items' last of all: the modern one makes Drill fail (see
            # KNOWN), at times by an OutOfMemoryError that ends the Drillbit
            for store, feature in (("events", "partitions"), ("items", "changes")):
                meta = H.table_meta(s.lake, "app", store)
                try:
                    rows, types = view_rows(drill, f"app_{meta['table']}_changes")
                    results.append((feature, H.compare_changes("drill", meta, data.log, live.get(store, {}),
                                                               typed(rows, types))))
                except (D.DrillError, OSError) as e:
                    results.append((feature, [f"{meta['table']}_changes: {e}"]))
            return failures + H.settle(m, profile, results, KNOWN, "Drill")
        # a minute for a query through Drill (5 s by default): a cold Drill on a loaded 2-core
        # machine took longer than that for its first query of a view
        failures += H.each_profile(one, H.PARTITIONED + ("--drill-url", drill.url, "--query-timeout", "60000"),
                                   ready=ready)
    finally:
        drill.stop()
    assert not failures, "\n".join(failures[:40])


if __name__ == "__main__":
    H.main_guard(run)
