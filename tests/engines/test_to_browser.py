"""The reverse direction into a real browser: Parquet written by Apache Arrow (pyarrow) and Apache
Spark (df.write.parquet) is dropped into a store's inbox (LAKE/<db>/_inbox/<store>/), imported by
the server, and pulled by the browser client into Chromium's IndexedDB (tests/engines/idb_dump.mjs).
Every value read back from IndexedDB must be what the engine wrote, with the JavaScript type
docs/types.md promises for its Parquet type: numbers and BigInts (beyond 2^53), NaN/Infinity/-0,
DECIMAL as a number (p <= 15), an integer (scale 0) or an exact string, strings with emoji, Date
objects for DATE and every TIMESTAMP unit and INT96, TIME as text, ArrayBuffer for binary, objects
for STRUCT and string-keyed MAP, arrays for LIST, null for null. (DuckDB's files take the same way
in tests/browser/import.test.mjs.)"""
import base64
import datetime as dt
import decimal
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import time

os.environ["TZ"] = "UTC"
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
time.tzset()
sys.path.insert(0, os.path.dirname(__file__))
import harness as H  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

D = decimal.Decimal
UTC = dt.timezone.utc
BIG = 2 ** 53
BASE = dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)


def rows():
    """The values both engines write: every row has every column, some of them null."""
    out = []
    for i in range(1, 7):
        out.append({
            "id": i,
            "i8": -128 + i, "i16": -30000 + i, "i32": 2 ** 31 - 1 - i,
            "i64": (BIG + i) * (-1 if i % 2 else 1) if i < 5 else i * 1000,
            "u64": 2 ** 64 - i if i % 3 == 0 else i,
            "f32": [0.25, 1.1, -3.5, None, 1e30, 0.0][i - 1],
            "f64": [1 / 3, float("nan"), float("inf"), float("-inf"), -0.0, None][i - 1],
            "dec": D(f"{i * 1234567.89 - 5000000:.2f}") if i != 4 else None,
            "dec0": D(2 ** 70 + i) if i % 2 else D(-i),
            "decw": D(f"12345678901234567.{i:02d}") * (-1 if i == 2 else 1),
            "ok": [True, False, None, True, False, True][i - 1],
            "s": [f"Grüße 世界 🎉👩‍👩‍👧 #{i}", "", "quote \" back\\slash\nnew line\ttab", None, "e\u0301", "ascii"][i - 1],
            "bin": bytes([0, 255, i, 10, 13, 0x80]) if i != 3 else None,
            "day": dt.date(1999, 12, 31) + dt.timedelta(days=i * 4000 - 12000) if i != 5 else None,
            "ts": BASE + dt.timedelta(days=i * 3000 - 9000, microseconds=-i * 123) if i != 6 else None,
            "st": {"a": i, "b": f"s{i} ✓", "inner": {"c": i % 2 == 0}} if i != 2 else None,
            "li": [i, None, -i] if i != 3 else ([] if i == 3 else None),
            "m": {"k": i, "ключ": None} if i != 4 else None,
            "nul": None,
        })
    return out


def tag_ms(t):
    """A datetime/date as the Date the browser must hold: {$D: epoch ms} (sub-millisecond digits
    truncated, as a Date holds milliseconds)."""
    if isinstance(t, dt.datetime):
        us = (t - dt.datetime(1970, 1, 1, tzinfo=UTC)) // dt.timedelta(microseconds=1)
        return {"$D": us // 1000}
    return {"$D": (t - dt.date(1970, 1, 1)).days * 86400000}


def as_int(v):
    return int(v) if -BIG <= v <= BIG else {"$B": str(int(v))}


def as_num(v):
    if math.isnan(v):
        return {"$N": "NaN"}
    if math.isinf(v):
        return {"$N": "Infinity" if v > 0 else "-Infinity"}
    if v == 0 and math.copysign(1, v) < 0:
        return {"$N": "-0"}
    return v


def expected(col, v):
    """What IndexedDB must hold for value v of column col (docs/types.md, Parquet -> IndexedDB)."""
    if v is None:
        return None
    if col in ("id", "i8", "i16", "i32", "i64", "u64", "big"):
        return as_int(v)
    if col in ("f64", "d"):
        return as_num(v)
    if col == "f32":
        return ("f32", v)
    if col == "dec":                 # DECIMAL(12,2): p <= 15 -> a number
        return float(v)
    if col == "dec0":                # DECIMAL(38,0): an integer, BigInt beyond 2^53
        return as_int(int(v))
    if col == "decw":                # DECIMAL(20,2): the exact digits as a string
        return f"{v:.2f}"
    if col in ("ok", "s", "nul"):
        return v
    if col == "bin":
        return {"$AB": base64.b64encode(v).decode()}
    if col in ("day", "ts"):
        return tag_ms(v)
    if col == "st":
        return {"a": v["a"], "b": v["b"], "inner": {"c": v["inner"]["c"]}}
    if col == "li":
        return list(v)
    if col == "m":
        return dict(v)
    raise AssertionError(f"no expectation for column {col}")


def same(col, got, want):
    if isinstance(want, tuple) and want[0] == "f32":   # FLOAT: the same float32, however printed
        return isinstance(got, (int, float)) and struct.pack("<f", got) == struct.pack("<f", want[1])
    return H.same_js(got, want)


def compare(store, got_rows, written, cols):
    problems = []
    for r, g in H.matched(written, {r["id"]: r for r in got_rows}, problems, f"not in {store} in IndexedDB"):
        for c in cols:
            w = expected(c, r[c])
            if c not in g:
                problems.append(f"{store}: id {r['id']} field {c}: missing in IndexedDB (want {w!r})")
            elif not same(c, g[c], w):
                problems.append(f"{store}: id {r['id']} field {c}: IndexedDB holds {g[c]!r}, engine wrote {r[c]!r} "
                                f"(want {w!r})")
    if len(got_rows) != len(written):
        problems.append(f"{store}: {len(got_rows)} rows in IndexedDB, {len(written)} written")
    return problems


# ---------------------------------------------------------------------------------------------
# The writers

ARROW_TYPES = [("id", pa.int64()), ("i8", pa.int8()), ("i16", pa.int16()), ("i32", pa.int32()), ("i64", pa.int64()),
               ("u64", pa.uint64()), ("f32", pa.float32()), ("f64", pa.float64()), ("dec", pa.decimal128(12, 2)),
               ("dec0", pa.decimal128(38, 0)), ("decw", pa.decimal128(20, 2)), ("ok", pa.bool_()),
               ("s", pa.string()), ("bin", pa.binary()), ("day", pa.date32()), ("ts", pa.timestamp("us", tz="UTC")),
               ("st", pa.struct([("a", pa.int64()), ("b", pa.string()), ("inner", pa.struct([("c", pa.bool_())]))])),
               ("li", pa.list_(pa.int64())), ("m", pa.map_(pa.string(), pa.int64())), ("nul", pa.string())]


def write_pyarrow(out, data):
    """pq.write_table with pyarrow's defaults (snappy, V2 data pages, RLE_DICTIONARY, INT64 micros)."""
    os.makedirs(out)
    cols = {n: [r[n] if n != "m" or r[n] is None else list(r[n].items()) for r in data] for n, _ in ARROW_TYPES}
    t = pa.table({n: pa.array(cols[n], type=t) for n, t in ARROW_TYPES})
    pq.write_table(t, os.path.join(out, "part-0.parquet"))
    # a second file with other timestamp units: ms, ns (UTC) and a local (not UTC-adjusted) one
    t2 = pa.table({"id": pa.array([101, 102], pa.int64()),
                   "ts_ms": pa.array([BASE, None], pa.timestamp("ms", tz="UTC")),
                   "ts_ns": pa.array([BASE, BASE + dt.timedelta(days=-20000)], pa.timestamp("ns", tz="UTC")),
                   "ts_local": pa.array([BASE.replace(tzinfo=None), None], pa.timestamp("us")),
                   "t": pa.array([dt.time(7, 8, 9, 123456), dt.time(23, 59, 59, 1000)], pa.time64("us"))})
    pq.write_table(t2, os.path.join(out, "part-1.parquet"))
    return [{"id": 101, "ts_ms": tag_ms(BASE.replace(microsecond=123000)), "ts_ns": tag_ms(BASE),
             "ts_local": tag_ms(BASE), "t": "07:08:09.123456"},
            {"id": 102, "ts_ms": None, "ts_ns": tag_ms(BASE + dt.timedelta(days=-20000)), "ts_local": None,
             "t": "23:59:59.001"}]


def write_spark(out, data):
    """df.write.parquet with Spark's defaults (snappy, INT96 timestamps, DECIMAL as INT32/INT64/FLBA)."""
    from pyspark.sql import SparkSession
    from pyspark.sql import types as T
    tmp = tempfile.mkdtemp(prefix="idbsync-tobr-spark-")
    spark = (SparkSession.builder.master("local[2]").appName("idbsync-to-browser")
             .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.driver.memory", "1g").config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.warehouse.dir", os.path.join(tmp, "wh"))
             .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC").getOrCreate())
    try:
        schema = T.StructType([
            T.StructField("id", T.LongType()), T.StructField("i32", T.IntegerType()), T.StructField("i64", T.LongType()),
            T.StructField("f64", T.DoubleType()), T.StructField("dec", T.DecimalType(12, 2)),
            T.StructField("dec0", T.DecimalType(38, 0)), T.StructField("decw", T.DecimalType(20, 2)),
            T.StructField("ok", T.BooleanType()), T.StructField("s", T.StringType()), T.StructField("bin", T.BinaryType()),
            T.StructField("day", T.DateType()), T.StructField("ts", T.TimestampType()),
            T.StructField("st", T.StructType([T.StructField("a", T.LongType()), T.StructField("b", T.StringType()),
                                              T.StructField("inner", T.StructType([T.StructField("c", T.BooleanType())]))])),
            T.StructField("li", T.ArrayType(T.LongType())), T.StructField("m", T.MapType(T.StringType(), T.LongType())),
            T.StructField("nul", T.StringType())])
        vals = [tuple(r[f.name] if f.name != "bin" or r["bin"] is None else bytearray(r["bin"]) for f in schema.fields)
                for r in data]
        spark.createDataFrame(vals, schema).coalesce(1).write.mode("overwrite").parquet("file://" + out)
    finally:
        spark.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return [f.name for f in schema.fields]


def drop_in(server, store, build):
    """Builds a job's directory beside the lake with build(dir) (dir does not exist yet) and moves
    it into the inbox whole, with its settings."""
    job = os.path.join(server.tmp, "job-" + store)
    res = build(job)
    with open(os.path.join(job, "_import.json"), "w") as f:
        f.write('{"key":"id"}')
    inbox = os.path.join(os.path.realpath(server.lake), "app", "_inbox")
    os.makedirs(inbox, exist_ok=True)
    os.rename(job, os.path.join(inbox, store))
    return res


def run():
    data = rows()
    m = H.Matrix("Chromium IndexedDB")
    s = H.Server("compat")
    failures = []
    try:
        arrow_cols = [n for n, _ in ARROW_TYPES]
        extra = drop_in(s, "from_pyarrow", lambda d: write_pyarrow(d, data))
        spark_cols = drop_in(s, "from_spark", lambda d: write_spark(d, data))
        H.wait_import(s, "app", "from_pyarrow", len(data) + len(extra), timeout=120)
        H.wait_import(s, "app", "from_spark", len(data), timeout=120)
        got = H.browser_rows(s, ["from_pyarrow", "from_spark"])
        for store in got:   # the typed forms really arrived (not, say, every value as text)
            text = json.dumps(got[store])
            assert all(t in text for t in ('"$B"', '"$D"', '"$AB"', '"$N"')), f"{store}: {text[:2000]}"
        probs = compare("from_pyarrow", [r for r in got["from_pyarrow"] if r["id"] < 100], data, arrow_cols)
        for w in extra:
            g = next((r for r in got["from_pyarrow"] if r["id"] == w["id"]), None)
            for c, v in w.items():
                if g is None or g.get(c, "missing") != v:
                    probs.append(f"from_pyarrow: id {w['id']} field {c}: IndexedDB holds "
                                 f"{(g or {}).get(c, 'missing')!r}, want {v!r}")
        m.cell("-", "pyarrow pq.write_table -> inbox -> IndexedDB", "ok" if not probs else "FAIL: " + probs[0][:200])
        failures += probs
        probs = compare("from_spark", got["from_spark"], data, spark_cols)
        m.cell("-", "Spark df.write.parquet -> inbox -> IndexedDB", "ok" if not probs else "FAIL: " + probs[0][:200])
        failures += probs
    finally:
        s.cleanup()
    assert not failures, "\n".join(failures[:60])


if __name__ == "__main__":
    H.main_guard(run)
