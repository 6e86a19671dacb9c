"""Apache Spark with the Iceberg runtime (iceberg-spark-runtime-4.0_2.13 1.10.0, resolved by Maven
from tests/engines/spark_iceberg/pom.xml) reads the Iceberg tables of a real server
(--lake-format iceberg, docs/iceberg.md), both profiles: compat through the `hadoop` catalog on
DIR/_iceberg that `idbsync ddl --dialect spark` prints (its statements run as printed), modern
through a REST catalog (Iceberg's own server, tests/engines/IcebergRestCatalog.java) that the
server commits to (--iceberg-rest). Every row and column of the current state and the change log
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
import spark as SP  # noqa: E402

import pyspark  # noqa: E402

LOG = os.path.join(SP.LOGS, "spark-iceberg.log")
HERE = os.path.dirname(os.path.abspath(__file__))


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


def rows(spark, table, version=None):
    v = f" VERSION AS OF {version}" if version else ""
    out = []
    for r in spark.sql(f"SELECT * FROM {table}{v}").collect():
        d = r.asDict(recursive=True)
        for k in list(d):   # a widened column: its older values under <name>__<type>
            m = re.fullmatch(r"(.+)__(long|double|string|boolean|binary|timestamptz)", k)
            if m and d.get(m.group(1)) is None and d[k] is not None:
                d[m.group(1)] = d[k]
        out.append(d)
    return out


def check_profile(spark, m, profile, rest_uri):
    args = ["--lake-format", "iceberg"] + (["--iceberg-rest", rest_uri] if rest_uri else [])
    s = H.Server(profile, args)
    failures = []
    try:
        data = H.Dataset(s)
        data.push_round(H.round1())
        f1 = s.flush("app")["flushed"]
        data.push_round(H.round2())
        s.flush("app")
        live = s.pull("app")
        if rest_uri:
            cat = "rest"
        else:
            cat = "idbsync"
            ddl = s.ddl("spark")
            wh = re.search(r"spark\.sql\.catalog\.idbsync\.warehouse=(\S+)", ddl).group(1)
            spark.conf.set("spark.sql.catalog.idbsync", "org.apache.iceberg.spark.SparkCatalog")
            spark.conf.set("spark.sql.catalog.idbsync.type", "hadoop")
            spark.conf.set("spark.sql.catalog.idbsync.warehouse", wh)
            errs = []
            for st in statements(ddl):
                try:
                    spark.sql(st).collect()
                except Exception as e:  # noqa: BLE001 - every refusal is a finding
                    errs.append(f"{st[:80]}: {H.short_error(e)}")
            m.cell(profile, "hadoop catalog: DDL as printed", "ok" if not errs else "FAIL: " + errs[0])
            failures += errs
        results = []
        for store, feature in (("items", "state"), ("events", "partitions")):
            meta = H.table_meta(s.lake, "app", store)
            for kind in ("state", "changes"):
                name = f"{cat}.app.{meta['table']}" + ("_changes" if kind == "changes" else "")
                try:
                    got = rows(spark, name)
                    probs = (H.compare_state("spark", meta, live.get(store, {}), got) if kind == "state" else
                             H.compare_changes("spark", meta, data.log, live.get(store, {}), got))
                except Exception as e:  # noqa: BLE001
                    probs = [f"{name}: unreadable: {H.short_error(e)}"]
                results.append((feature if kind == "state" else "changes", probs))
        failures += [f"{profile} {cat}: {p}" for _, p in m.record(profile, results)]
        # time travel: the snapshot of the first flush, by its idbsync.seq
        snaps = spark.sql(f"SELECT snapshot_id, CAST(summary['idbsync.seq'] AS BIGINT) AS seq FROM {cat}.app.items.snapshots "
                          f"ORDER BY committed_at").collect()
        old = [r.snapshot_id for r in snaps if r.seq is not None and r.seq <= f1]
        want = {}
        for e in data.log:
            if e["store"] == "items" and e["seq"] <= f1:
                want[H.canon(e["key"])] = e["seq"]
        got = {r["idb_key"]: r["idb_seq"] for r in rows(spark, f"{cat}.app.items", old[-1])} if old else None
        res = "ok" if got == want else f"FAIL: as of seq {f1}: {sorted(got.items()) if got else got} != {sorted(want.items())}"
        m.cell(profile, f"{cat}: time travel VERSION AS OF", res[:200])
        if res != "ok":
            failures.append(f"{profile} {cat}: time travel: {res}")
    finally:
        s.cleanup()
    return failures


def run():
    tmp = tempfile.mkdtemp(prefix="idbsync-spark-iceberg-")
    cat, uri = rest_catalog(tmp)
    t0 = time.time()
    spark = session(tmp, uri, os.path.join(tmp, "warehouse"))
    H.log(f"Apache Spark {pyspark.__version__} with Iceberg started in {time.time() - t0:.1f}s (log {LOG})")
    m = H.Matrix(f"Apache Spark {pyspark.__version__} + Iceberg 1.10.0")
    failures = []
    try:
        failures += check_profile(spark, m, "compat", None)
        failures += check_profile(spark, m, "modern", uri)
    finally:
        spark.stop()
        cat.kill()
        cat.wait()
    if failures:
        raise AssertionError("\n".join(failures[:40]))


if __name__ == "__main__":
    H.main_guard(run)
