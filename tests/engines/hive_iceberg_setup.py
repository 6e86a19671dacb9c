"""Apache Hive 4.1.0 set up to read idbsync's Iceberg tables, shared by test_hive_iceberg.py and
test_iceberg_crash.py: Iceberg's iceberg-hive-runtime handler after Hive's jars, the adapter SerDe
(hive_iceberg/Hive4IcebergSerDe.java, compiled here) named in each CREATE TABLE, the two session
settings (docs/engines.md, "Hive 4 and the Iceberg tables")."""
import os
import subprocess

import hive as HV
import reader_loop as L

HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME = "1.4.3"   # org.apache.iceberg:iceberg-hive-runtime, hive_iceberg/pom.xml
ENGINE = f"Apache Hive {HV.VERSION} + iceberg-hive-runtime {RUNTIME}"
ADAPTER = "dev.idbsync.hive.Hive4IcebergSerDe"


# The session's settings (docs/engines.md, "Hive 4 and the Iceberg tables"). Without a storage
# handler that gives Hive the table's statistics (Hive 4's own does, canProvideBasicStatistics:
# from the snapshot summary; Iceberg 1.4.3's has no such method),
# Hive's planner sizes a table by listing its directory, metadata/ included, and its fetch-task
# threshold does the same: a file that the server's commit or expiry removes meanwhile fails the
# query at compile time ("Error while running command to get file permissions ... ls: cannot
# access '.../metadata/v18.metadata.json'", 24 of 30 queries of the loop, measured).
SETTINGS = {"hive.stats.estimate": "false", "hive.fetch.task.conversion.threshold": "-1"}


def classpath(tmp):
    """The Hive JVM's classpath: Hive's jars, then Iceberg's runtime, then the adapter (compiled
    here). Maven lists the runtime first; it carries a copy of Hive 3's
    org.apache.hadoop.hive.ql.exec.vector.VectorizedSupport that must not hide Hive 4's, so it
    goes after every Hive jar (its Parquet, Avro and the rest are relocated: no other clash)."""
    cp = HV.resolved_classpath()
    runtime = [e for e in cp if "/iceberg-hive-runtime-" in e]
    assert runtime, "iceberg-hive-runtime is not on the resolved classpath"
    cp = [e for e in cp if e not in runtime] + runtime
    out = os.path.join(tmp, "classes")
    r = subprocess.run(["javac", "-nowarn", "-d", out, "-cp", ":".join(cp), os.path.join(HERE, "hive_iceberg", "Hive4IcebergSerDe.java")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return cp + [out]


def as_run(statement):
    """A statement of `idbsync ddl --dialect hive` as this test runs it: the adapter SerDe named
    before STORED BY ICEBERG, nothing else changed."""
    return statement.replace("STORED BY ICEBERG", f"ROW FORMAT SERDE '{ADAPTER}' STORED BY ICEBERG", 1)


def select(lake, db, table, hive_db=None, meta=None):
    """SELECT of every column of the table's current Iceberg schema: a timestamptz
    column, which Hive 4 reads as `timestamp with local time zone`, cast to TIMESTAMP (the same
    instant in the session's UTC; the launcher's JsonSerDe cannot print the local-zone type:
    "Unsupported type: TIMESTAMPLOCALTZ"). hive_db: the Hive database the table is attached in
    (db's name by default); meta: the table's metadata JSON (by default the file-system
    catalog's newest in lake)."""
    meta = meta or L.metadata(lake, db, table)
    schema = next(s for s in meta["schemas"] if s["schema-id"] == meta["current-schema-id"])
    out = []
    for f in schema["fields"]:
        n = f"`{f['name']}`"
        out.append(f"CAST({n} AS TIMESTAMP) AS {n}" if f["type"] == "timestamptz" else n)
    return "SELECT " + ", ".join(out) + f" FROM {hive_db or db}.{table}"


def start(tmp):
    """One Hive JVM (tmp: its metastore, warehouse and the adapter's classes) with the settings."""
    return HV.Hive(tmp, SETTINGS, classpath=classpath(tmp))
