"""Apache Arrow (pyarrow, the reference C++ Parquet reader) reads the lake of a real server,
both profiles: every row and column of the current state and the change log equal the server's
pull feed and pushed mutations; page checksums verified; file metadata as documented; and the
compat lake passes `idbsync lake check --profile compat`."""
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness as H  # noqa: E402

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pyarrow.dataset as ds  # noqa: E402


def read_dir(table_dir):
    """Every row of every file under table_dir, file by file (old change-log files keep their
    schema), with hive partition values from the path."""
    rows = []
    for path in sorted(glob.glob(os.path.join(table_dir, "**", "*.parquet"), recursive=True)):
        rel = os.path.relpath(path, table_dir)
        if any(p.startswith(("_", ".")) for p in rel.split(os.sep)):
            continue
        f = pq.ParquetFile(path, page_checksum_verification=True)
        md = f.metadata
        assert md.created_by.startswith("idbsync"), md.created_by
        parts = {}
        for seg in rel.split(os.sep)[:-1]:
            k, _, v = seg.partition("=")
            parts[k] = ds.HivePartitioning.discover(segment_encoding="uri")  # noqa: F841 (documents the codec)
            from urllib.parse import unquote
            parts[k] = None if v == "__HIVE_DEFAULT_PARTITION__" else unquote(v)
        t = f.read()
        for r in t.to_pylist():
            r.update(parts)
            rows.append(r)
    return rows


def dataset_rows(table_dir):
    """The same table through pyarrow.dataset with hive partitioning (what users run)."""
    d = ds.dataset(table_dir, format="parquet", partitioning=ds.HivePartitioning.discover(infer_dictionary=False))
    return d.to_table().to_pylist()


def run():
    m = H.Matrix(f"pyarrow {pa.__version__}")

    def one(profile, s, data, live):
        results = []
        for store, feature in (("items", "state"), ("events", "partitions")):
            meta = H.table_meta(s.lake, "app", store)
            state = read_dir(os.path.join(s.lake, "app", meta["table"]))
            results.append((feature, H.compare_state("pyarrow", meta, live.get(store, {}), state)))
            changes = read_dir(os.path.join(s.lake, "app", meta["table"] + "_changes"))
            results.append(("changes" if store == "items" else feature,
                            H.compare_changes("pyarrow", meta, data.log, live.get(store, {}), changes)))
            # a dataset over the state table (one schema per table) gives the same rows
            via_ds = dataset_rows(os.path.join(s.lake, "app", meta["table"]))
            assert len(via_ds) == len(state), (len(via_ds), len(state))
        problems = m.record(profile, results)
        live_dir = os.path.join(s.lake, "app", "live")

        def read_live():
            return [(r["idb_key"], r["idb_seq"], r["n"]) for r in read_dir(live_dir)]
        failed = H.record_reads(m, profile, H.concurrent_reads(s, read_live))
        assert not failed, failed
        # the other direction: a Parquet file written by Arrow in the inbox reaches the pull feed
        rows = H.expected_import_rows()
        inbox = os.path.join(s.lake, "app", "_inbox", "from_arrow")
        os.makedirs(inbox)
        with open(os.path.join(inbox, "_import.json"), "w") as f:
            f.write('{"key":"id"}')
        import decimal
        t = pa.table({
            "id": pa.array([r["id"] for r in rows], pa.int64()),
            "big": pa.array([r["big"] for r in rows], pa.int64()),
            "d": pa.array([r["d"] for r in rows], pa.float64()),
            "ok": pa.array([r["ok"] for r in rows], pa.bool_()),
            "s": pa.array([r["s"] for r in rows], pa.string()),
            "at": pa.array([r["at"] for r in rows], pa.timestamp("ms", tz="UTC")),
            "bin": pa.array([r["bin"] for r in rows], pa.binary()),
            "dec": pa.array([decimal.Decimal(r["dec"]) for r in rows], pa.decimal128(12, 2)),
        })
        pq.write_table(t, os.path.join(inbox, "part-0.parquet"))
        open(os.path.join(inbox, "_SUCCESS"), "w").close()
        probs = H.compare_import(H.wait_import(s, "app", "from_arrow", len(rows)), rows)
        m.cell(profile, "reverse: pq.write_table -> inbox -> pull feed", "ok" if not probs else "FAIL: " + probs[0])
        assert not probs, probs
        # ... and the imported rows (a decimal, a 2^62 integer) back in the lake
        s.flush("app")
        live = s.pull("app")
        meta = H.table_meta(s.lake, "app", "from_arrow")
        probs = H.compare_state("pyarrow", meta, live["from_arrow"],
                                read_dir(os.path.join(s.lake, "app", meta["table"])))
        types = {c["field"]: c["type"] for c in meta["columns"]}
        m.cell(profile, "imported decimals and big integers in the lake",
               (f"ok (dec {types.get('dec')}, big {types.get('big')})" if not probs else "FAIL: " + probs[0][:200]))
        assert not probs, probs
        rc, out = H.lake_check(s.lake, "compat" if profile == "compat" else "impala4")
        m.cell(profile, "idbsync lake check", "ok" if rc == 0 else "FAIL: " + out[:300])
        assert rc == 0, out
        assert not problems, "\n".join(p for _, p in problems[:40])
    H.each_profile(one)


if __name__ == "__main__":
    H.main_guard(run)
