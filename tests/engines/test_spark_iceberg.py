"""Apache Spark with the Iceberg runtime (iceberg-spark-runtime-4.0_2.13 1.10.0, resolved by Maven
from tests/engines/spark_iceberg/pom.xml) reads the Iceberg tables of a real server
(--lake-format iceberg, docs/iceberg.md), both profiles through the REST catalog the server
serves (compat with --auth tokens; store events partitioned by region, and a filter on region
plans fewer data files), compat also through the `hadoop` catalog on DIR/_iceberg that `idbsync
ddl --dialect spark` prints (its statements run as printed), modern also through a REST catalog
(Iceberg's own server, tests/engines/IcebergRestCatalog.java) that the server commits to
(--iceberg-rest). Every row and column of the current state and the change log
must equal the pull feed and the pushed mutations (a widened column is read as
coalesce(w, w__long): its older values keep their old field id), and time travel to the snapshot
whose idbsync.seq is the first flush's returns the state of that flush."""
import os
import re
import subprocess
import sys
import tempfile
import time

os.environ["TZ"] = "UTC"
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
time.tzset()
sys.path.insert(0, os.path.dirname(__file__))
import harness as H  # noqa: E402
import reader_loop as L  # noqa: E402
import spark as SP  # noqa: E402

import pyspark  # noqa: E402

LOG = os.path.join(SP.LOGS, "spark-iceberg.log")
HERE = os.path.dirname(os.path.abspath(__file__))
ROUNDS = int(os.environ.get("IDBSYNC_SPARK_LOOP_ROUNDS", "40"))


def session(tmp, rest_uri, warehouse):
    with open(os.environ["IDBSYNC_ENGINE_CLASSPATH"]) as f:
        jars = f.read().strip().replace(":", ",")
    b = (SP.builder("idbsync-engines-iceberg", LOG)
         .config("spark.jars", jars)
         .config("spark.sql.warehouse.dir", os.path.join(tmp, "warehouse"))
         .config("spark.sql.catalog.rest", "org.apache.iceberg.spark.SparkCatalog")
         .config("spark.sql.catalog.rest.type", "rest")
         .config("spark.sql.catalog.rest.uri", rest_uri)
         .config("spark.sql.catalog.rest.cache-enabled", "false"))
    return b.getOrCreate()


def rest_catalog(tmp):
    """Iceberg's REST catalog server on 127.0.0.1 (a free port); returns (process, uri)."""
    jar = subprocess.run([os.path.join(HERE, "iceberg_rest_env.sh")], capture_output=True, text=True, check=True).stdout.strip()
    d = os.path.join(tmp, "catalog")
    os.makedirs(d)
    p = subprocess.Popen(["java", "-Xmx512m", "-cp", jar, os.path.join(HERE, "IcebergRestCatalog.java"), d,
                          os.path.join(d, "catalog.db")], stdout=subprocess.PIPE, stderr=open(os.path.join(d, "log"), "wb"),
                         text=True)
    line = p.stdout.readline()
    m = re.match(r"listening (\d+)", line)
    if not m:
        p.kill()
        raise RuntimeError(f"the REST catalog did not start: {open(os.path.join(d, 'log')).read()[-2000:]}")
    return p, f"http://127.0.0.1:{m.group(1)}"


def statements(ddl):
    return [s.strip().rstrip(";") for s in ddl.split(";\n") if s.strip() and not s.strip().startswith("--")]


def rows(spark, table, version=None, user=""):
    v = f" VERSION AS OF {version}" if version else ""
    return H.iceberg_rows([r.asDict(recursive=True) for r in spark.sql(f"SELECT * FROM {table}{v}").collect()], user)


def served_catalog(spark, name, ddl):
    """Attaches the REST catalog a running server serves as Spark catalog `name`, with the
    settings `idbsync ddl --dialect spark --catalog-uri URL` prints (its `--conf
    spark.sql.catalog.idbsync...` lines, renamed: a Spark session keeps a catalog it loaded, so
    each server gets its own name) and Iceberg's table cache off (every query loads the table)."""
    confs = re.findall(r"--conf spark\.sql\.catalog\.idbsync(\S*)=(\S+)", ddl)
    if not any(k == ".type" and v == "rest" for k, v in confs):
        raise AssertionError(f"the DDL prints no REST catalog settings:\n{ddl}")
    for k, v in confs:
        spark.conf.set(f"spark.sql.catalog.{name}{k}", v)
    spark.conf.set(f"spark.sql.catalog.{name}.cache-enabled", "false")
    return [st.replace("idbsync.`", f"{name}.`") for st in statements(ddl)]


def run_statements(spark, sts):
    errs = []
    for st in sts:
        try:
            spark.sql(st).collect()
        except Exception as e:  # noqa: BLE001 - every refusal is a finding
            errs.append(f"{st[:80]}: {H.short_error(e)}")
    return errs


def read_catalog(spark, m, profile, cat, s, data, live):
    """Every table through catalog `cat` equal to the pull feed and the pushed mutations, and
    time travel to the snapshot whose idbsync.seq is the first flush's."""
    results = H.compare_tables(s, data, live, lambda meta, kind: rows(
        spark, f"{cat}.app.{meta['table']}" + ("_changes" if kind == "changes" else ""), user=s.user))
    failures = [f"{profile} {cat}: {p}" for _, p in m.record(profile, results)]
    snaps = spark.sql(f"SELECT snapshot_id, CAST(summary['idbsync.seq'] AS BIGINT) AS seq FROM {cat}.app.items.snapshots "
                      f"ORDER BY committed_at").collect()
    old = [r.snapshot_id for r in snaps if r.seq is not None and r.seq <= data.first_flush]
    return failures + H.time_travel(m, profile, f"{cat}: time travel VERSION AS OF", data, data.first_flush, {
        r["idb_key"]: r["idb_seq"] for r in rows(spark, f"{cat}.app.items", old[-1])} if old else None)


def scan_files(spark, sql):
    """(rows, data files the Iceberg scans of sql planned: their resultDataFiles metric). AQE
    off for the query: the executed plan's leaves are then the scans themselves."""
    aqe = spark.conf.get("spark.sql.adaptive.enabled")
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    try:
        df = spark.sql(sql)
        rows = df.collect()
        leaves = df._jdf.queryExecution().executedPlan().collectLeaves()
        n = 0
        for i in range(leaves.size()):
            metrics = leaves.apply(i).metrics()
            if metrics.contains("resultDataFiles"):
                n += metrics.apply("resultDataFiles").value()
        return rows, n
    finally:
        spark.conf.set("spark.sql.adaptive.enabled", aqe)


def pruning(spark, m, profile, table, live):
    """A filter on the partitioned state's partition column (events by region) plans fewer data
    files than the whole table and returns exactly the live keys of that value."""
    _, every = scan_files(spark, f"SELECT idb_key FROM {table}")
    rows, eu = scan_files(spark, f"SELECT idb_key FROM {table} WHERE region = 'eu'")
    want = sorted(k for k, e in live.get("events", {}).items() if (e["value"] or {}).get("region") == "eu")
    got = sorted(r.idb_key for r in rows)
    res = "ok" if got == want and 0 < eu < every else f"FAIL: {eu} of {every} files, keys {got} != {want}"
    m.cell(profile, "partition pruning (region = 'eu')", res if res != "ok" else f"ok: {eu} of {every} files")
    return [] if res == "ok" else [f"{profile} {table}: partition pruning: {res}"]


SPARK_TYPES = {"bigint": "bigint", "double": "double", "boolean": "boolean", "string": "string", "json": "string",
               "timestamp": "timestamp", "binary": "binary"}


def column_types(spark, m, profile, table, meta):
    """Each column of the table as Spark types it: the lake's type (docs/types.md), a timestamp
    with time zone as Spark's `timestamp` (one without would be `timestamp_ntz`), structs and
    lists as such, not as text."""
    got = {r.col_name: r.data_type for r in spark.sql(f"DESCRIBE TABLE {table}").collect()}
    probs = []
    for c in meta["columns"]:
        t = c["type"]
        want = "struct<" if isinstance(t, dict) and "struct" in t else "array<" if isinstance(t, dict) and "list" in t \
            else SPARK_TYPES[t]
        g = got.get(c["name"], "<missing>")
        if g != want and not (want.endswith("<") and g.startswith(want)):
            probs.append(f"column {c['name']}: Spark type {g}, lake type {t}")
    m.cell(profile, "column types (DESCRIBE)", "ok" if not probs else "FAIL: " + probs[0][:200])
    return [f"{profile} {table}: {p}" for p in probs]


def check_profile(spark, m, mr, profile, rest_uri):
    """Both profiles: the REST catalog the server serves (matrix mr; compat with --auth tokens and
    the admin token as Spark's bearer token, modern without auth), with store events partitioned
    by region (H.PARTITIONED) and a filter on it pruned; compat also through the hadoop catalog
    on the lake's files (matrix m); modern also through Iceberg's own REST catalog that the
    server commits to (--iceberg-rest, unpartitioned there; matrix m)."""
    failures = []
    if rest_uri:
        s = H.Server(profile, ["--lake-format", "iceberg", "--iceberg-rest", rest_uri])
        try:
            data = H.Dataset(s).run()
            failures += read_catalog(spark, m, profile, "rest", s, data, s.pull("app"))
        finally:
            s.cleanup()
    auth = profile == "compat"
    args = ["--lake-format", "iceberg", *H.PARTITIONED]
    s = H.admin_server(profile, args) if auth else H.Server(profile, args)
    try:
        data = H.Dataset(s).run()
        live = s.pull("app")
        if not rest_uri:
            ddl = s.ddl("spark")
            wh = re.search(r"spark\.sql\.catalog\.idbsync\.warehouse=(\S+)", ddl).group(1)
            spark.conf.set("spark.sql.catalog.idbsync", "org.apache.iceberg.spark.SparkCatalog")
            spark.conf.set("spark.sql.catalog.idbsync.type", "hadoop")
            spark.conf.set("spark.sql.catalog.idbsync.warehouse", wh)
            errs = run_statements(spark, statements(ddl))
            m.cell(profile, "hadoop catalog: DDL as printed", "ok" if not errs else "FAIL: " + errs[0])
            failures += errs + read_catalog(spark, m, profile, "idbsync", s, data, live)
            failures += pruning(spark, m, profile, "idbsync.app.events", live)
        # the served catalog, as `idbsync ddl --dialect spark --catalog-uri` prints it (a Spark
        # session keeps a catalog it loaded: one name per server)
        ddl = s.ddl("spark", "--catalog-uri", f"{s.url}/iceberg", env={"IDBSYNC_ICEBERG_TOKEN": s.token} if auth else {})
        if auth and f"token={s.token}" not in ddl:
            failures.append(f"{profile}: the DDL does not carry the admin token:\n{ddl}")
        cat = f"served_{profile}"
        errs = run_statements(spark, served_catalog(spark, cat, ddl))
        mr.cell(profile, "served REST catalog: DDL as printed", "ok" if not errs else "FAIL: " + errs[0])
        failures += errs + read_catalog(spark, mr, profile, cat, s, data, live)
        failures += pruning(spark, mr, profile, f"{cat}.app.events", live)
        failures += column_types(spark, mr, profile, f"{cat}.app.items", H.table_meta(s.lake, "app", "items"))
    finally:
        s.cleanup()
    return failures


def loop(spark, m):
    """A reader in a loop through Spark while two servers ingest and flush: one with
    --lake-format iceberg read through the REST catalog it serves (the change log at its newest
    snapshot, VERSION AS OF its id, must hold exactly the changes up to its idbsync.seq; the
    state must miss no row flushed before the query), one with the plain layout read with
    spark.read.parquet (its failure rate is a figure, docs/lake-layout.md)."""
    with L.servers() as (ice, hive):
        failures = run_statements(spark, served_catalog(spark, "loop", ice.ddl(
            "spark", "--catalog-uri", f"{ice.url}/iceberg", "--db", "loop")))
        changes_dir, state_dir = (os.path.join(hive.lake, "loop", t) for t in ("live_changes", "live"))

        def ice_changes():
            snaps = spark.sql("SELECT snapshot_id, CAST(summary['idbsync.seq'] AS BIGINT) AS seq "
                              "FROM loop.loop.live_changes.snapshots ORDER BY committed_at").collect()
            sid, upto = [(r.snapshot_id, r.seq) for r in snaps if r.seq is not None][-1]
            return spark.sql(f"SELECT idb_seq, idb_key, idb_op, n FROM loop.loop.live_changes VERSION AS OF {sid}").collect(), (upto, 0)

        def ice_state():
            floor = L.progress(ice)[1]
            return spark.sql("SELECT idb_key, idb_seq, n FROM loop.loop.live").collect(), floor

        def hive_changes():
            floor = L.progress(hive)[0]
            return spark.read.parquet(changes_dir).select("idb_seq", "idb_key", "idb_op", "n").collect(), (None, floor)

        def hive_state():
            floor = L.progress(hive)[1]
            return spark.read.parquet(state_dir).select("idb_key", "idb_seq", "n").collect(), floor

        return failures + L.run(m, "Spark", "served REST catalog", ice, hive, ROUNDS,
                                [("changes", ice_changes), ("state", ice_state)],
                                [("changes", hive_changes), ("state", hive_state)])


def run():
    tmp = tempfile.mkdtemp(prefix="idbsync-spark-iceberg-")
    cat, uri = rest_catalog(tmp)
    t0 = time.time()
    spark = session(tmp, uri, os.path.join(tmp, "warehouse"))
    H.log(f"Apache Spark {pyspark.__version__} with Iceberg started in {time.time() - t0:.1f}s (log {LOG})")
    m = H.Matrix(f"Apache Spark {pyspark.__version__} + Iceberg 1.10.0")
    mr = H.Matrix(f"Apache Spark {pyspark.__version__} + Iceberg 1.10.0, served REST catalog")
    failures = []
    try:
        failures += check_profile(spark, m, mr, "compat", None)
        failures += check_profile(spark, m, mr, "modern", uri)
        failures += loop(spark, mr)
    finally:
        spark.stop()
        cat.kill()
        cat.wait()
    if failures:
        raise AssertionError("\n".join(failures[:40]))


if __name__ == "__main__":
    H.main_guard(run)
