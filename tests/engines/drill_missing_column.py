"""The smallest reproduction of how Apache Drill 1.22 misreads a column missing from the first
Parquet file it scans (issue 14), run by test_drill.py against its Drillbit. It asserts Drill's
current, wrong answers so that a Drill that reads them right fails the test: then drop the
"wrong" assertions and the limits in docs/engines.md (Drill item 5).

The defect is Drill's, not the writer's: the same two files written by `idbsync parquet write
--profile compat`, `--profile modern` (also with --no-dictionary, --compression none or snappy)
and by pyarrow 22 misread alike; codec, dictionary, page version and timestamp type play no part.
What matters is only (a) a column present in a later file but not in the file Drill scans first
(which file comes first depends on the file names, not their order or size), and, for the views
that cast every column, (b) a struct column projected whole (the modern profile's nested mode).
Drill 1.22 (tag drill-1.22.0, 081a6410dd):
  exec/java-exec/.../store/parquet/columnreaders/ParquetSchema.java:209-236 (flat reader) and
  exec/java-exec/.../store/parquet2/DrillParquetReader.java:301-306 (complex reader, chosen for a
  file with a struct column, AbstractParquetScanBatchCreator.java:307-315) fill a column missing
  from the file with a NullableIntVector named after col.toExpr(), i.e. "`added`" with the
  backquotes, so the projection above the scan never finds `added` in the first batch, types it
  INT ("Unable to find value vector of path `added`, returning null instance" in drill.log) and
  then reads the next file's VARCHAR vector through that INT."""
import json
import os
import subprocess

import harness as H

# the file Drill scans first (measured on 1.22: x_a before y_b whatever the directory; the test
# checks the order it got and tries the swapped names too)
NAMES = (("x_a", "y_b"), ("y_b", "x_a"))
FIRST = [{"idb_seq": 1, "obj": {"a": 1}}, {"idb_seq": 2, "obj": {"a": 2}}]
LATER = [{"idb_seq": 25, "obj": {"a": 3}, "added": "new column ✨"}, {"idb_seq": 26, "obj": None, "added": "max"},
         {"idb_seq": 27, "obj": None, "added": None}, {"idb_seq": 28, "obj": None, "added": None}]
ADDED = {1: None, 2: None, 25: "new column ✨", 26: "max", 27: None, 28: None}
OBJ_A = {1: 1, 2: 2, 25: 3, 26: None, 27: None, 28: None}   # Drill has no NULL map: {"a": null}


def write(path, rows, profile, struct):
    src = path + ".ndjson"
    with open(src, "w") as f:
        for r in rows:
            f.write(json.dumps(r if struct else {k: v for k, v in r.items() if k != "obj"}) + "\n")
    subprocess.run([H.BIN, "parquet", "write", "--profile", profile, src, path], check=True, capture_output=True)
    os.unlink(src)


def lake(drill, root, profile, struct):
    """A directory with the two files where Drill scans the one without `added` first, or None."""
    for first, later in NAMES:
        d = os.path.join(root, f"{profile}-{'struct' if struct else 'flat'}-{first}")
        os.makedirs(d)
        write(os.path.join(d, first + ".parquet"), FIRST, profile, struct)
        write(os.path.join(d, later + ".parquet"), LATER, profile, struct)
        rows, _, _ = drill.rows(f"SELECT CAST(t.idb_seq AS BIGINT) AS s FROM dfs.repro.`{os.path.basename(d)}` t")
        if rows and int(rows[0]["s"]) < 25:
            return os.path.basename(d)
    return None


def run(drill, tmp):
    """Problems (a list of strings, empty when Drill still misreads exactly as documented)."""
    root = os.path.join(tmp, "repro")
    os.makedirs(root)
    drill.add_workspaces({"repro": {"location": root, "writable": False, "defaultInputFormat": "parquet",
                                    "allowAccessOutsideWorkspace": False}})
    problems = []

    def check(what, ok):
        if not ok:
            problems.append(f"Drill missing-column reproduction: {what}")

    for profile, struct in (("compat", False), ("modern", False), ("modern", True)):
        name = lake(drill, root, profile, struct)
        tag = f"{profile}{' with a struct column' if struct else ''}"
        if name is None:
            problems.append(f"Drill missing-column reproduction ({tag}): Drill scanned the file with `added` "
                            "first under both names; the reproduction needs the other order")
            continue
        t = f"dfs.repro.`{name}` t"
        # wrong: `added` typed INT, the strings lost, a NULL read as a number (32548 on 1.22)
        rows, _, types = drill.rows(f"SELECT t.idb_seq, t.added FROM {t}")
        got = {int(r["idb_seq"]): r["added"] for r in rows}
        check(f"{tag}: SELECT t.added is still misread (INT, strings lost): got {types} {got}",
              types[1] == "INT" and got != ADDED and got[25] is None)
        # wrong: SELECT * takes its columns from the first file and leaves `added` out
        _, cols, _ = drill.rows(f"SELECT * FROM {t}")
        check(f"{tag}: SELECT * still leaves out `added`: got {cols}", "added" not in cols)
        # right: CAST, as every view of `idbsync ddl --dialect drill` does
        cast = "CAST(t.idb_seq AS BIGINT) AS idb_seq, CAST(t.added AS VARCHAR) AS added"
        if not struct:
            rows, _, _ = drill.rows(f"SELECT {cast} FROM {t}")
            got = {int(r["idb_seq"]): r["added"] for r in rows}
            check(f"{tag}: CAST(t.added AS VARCHAR) reads every value: got {got}", got == ADDED)
            continue
        # wrong: the whole struct, next to the cast column, reads the later file's values wrong
        rows, _, _ = drill.rows(f"SELECT {cast}, t.obj AS obj FROM {t}")
        got = {int(r["idb_seq"]): (r["obj"] or {}).get("a") for r in rows}
        check(f"{tag}: t.obj is still misread next to CAST(t.added ...): got {got}", got != OBJ_A)
        # right: its fields projected one by one (the documented workaround)
        rows, _, _ = drill.rows(f"SELECT {cast}, t.obj.a AS a FROM {t}")
        got_a = {int(r["idb_seq"]): None if r["a"] is None else int(r["a"]) for r in rows}
        got_s = {int(r["idb_seq"]): r["added"] for r in rows}
        check(f"{tag}: t.obj.a and CAST(t.added ...) read every value: got {got_a} {got_s}",
              got_a == OBJ_A and got_s == ADDED)
    return problems
