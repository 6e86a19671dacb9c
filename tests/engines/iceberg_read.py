"""Reads idbsync's Iceberg tables with pyiceberg (an independent Iceberg implementation) and
prints JSON for tests/lake/iceberg*.test.mjs.

  iceberg_read.py scan TABLE_DIR[@AS_OF_SEQ][#ROW_FILTER] ...
      one {"snapshots":[{"id","seq","op","parent"}], "snapshot": id, "schema", "rows":[...]}
      per argument, for the current snapshot, or the newest one whose summary idbsync.seq
      <= AS_OF_SEQ (time travel), with "files": the data files the scan planned (a ROW_FILTER
      such as "idb_seq <= 5" prunes by the manifests' metrics) and "parts": their [spec id,
      partition values]; one process for all
      (pyiceberg's import takes seconds).
  iceberg_read.py loop SECONDS CHANGES_DIR STATE_DIR   (at least SECONDS and 6 scans)
      scans both tables' newest committed metadata in a loop while the server writes and prints
      {"scans", "errors":[..], "dups", "gaps", "backwards", "max_seq"}: the change log must hold
      every seq 1..max exactly once (one store), the state each key once.
      TABLE_DIR may also be rest+URI/NS.TABLE: the table as the Iceberg REST catalog at URI
      has it (load_table; the catalog's current metadata).
  iceberg_read.py history TABLE_DIR ...
      one {"snapshots":[{"id","seq","op","rows":[...]}]} per argument: every snapshot the
      newest metadata keeps, in commit order, each scanned (time travel to each).
  iceberg_read.py append URI NS.TABLE JSON_ROWS
      appends rows to a table through the REST catalog (another writer's commit).
  iceberg_read.py catalog URI
      {"namespaces": [..], "tables": {ns: [names]}, "write": "ExceptionType: message"}: what
      the REST catalog at URI lists, and what a create_namespace attempt raised (null: none).
  iceberg_read.py refs TABLE_DIR
      {"refs": [paths]}: every manifest list, manifest and data file (deleted entries too) that
      a snapshot of the newest metadata names; "snapshots": how many it keeps, "errors": those
      whose scan failed (each kept snapshot is read).
  iceberg_read.py size TABLE_DIR
      {"json","list","manifests","n_manifests","snapshots","disk","disk_files"}: bytes of the
      metadata the current snapshot needs, and of metadata/ on disk.
  iceberg_read.py files TABLE_DIR
      {"files": [{"path", "column_sizes", "nan_value_counts", "value_counts", "footer_sizes",
      "footer_nans", "doubles"}]}: each data file of the current snapshot with the metrics its
      manifest entry gives (pyiceberg's reading, by field id) beside pyarrow's reading of the
      file: compressed bytes per top-level column (footer), NaNs per double column (values).
  iceberg_read.py versions TABLE_DIR
      opens every metadata/vN.metadata.json and scans its current snapshot:
      {"versions": n, "errors": [..]} (each version a reader may have found must be readable).
The newest metadata is found as the Hadoop catalog does: the highest metadata/vN.metadata.json.
"""
import base64
import datetime
import json
import os
import re
import sys
import time

from pyiceberg.table import StaticTable


def latest(table_dir):
    best = 0
    for n in os.listdir(os.path.join(table_dir, "metadata")):
        m = re.fullmatch(r"v(\d+)\.metadata\.json", n)
        if m:
            best = max(best, int(m.group(1)))
    return os.path.join(table_dir, "metadata", f"v{best}.metadata.json")


def open_latest(table_dir):
    """The newest version, listed again if it left the disk between the listing and the open: a
    version superseded more than --iceberg-keep ago may be removed, and a reader stalled that long
    after its listing (a loaded machine) lists again, as the Hadoop catalog's readers do. Only the
    metadata file is retried: a snapshot once opened must read to the end."""
    for attempt in range(5):
        path = latest(table_dir)
        try:
            return StaticTable.from_metadata(path)
        except FileNotFoundError:
            if attempt == 4 or os.path.exists(path):
                raise


def plain(v):
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if isinstance(v, bytes):
        return {"$bin": base64.b64encode(v).decode()}
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def snap_seq(s):
    return int(s.summary.additional_properties.get("idbsync.seq", "-1"))


def rest_table(uri, ident):
    from pyiceberg.catalog import load_catalog
    # ICEBERG_READ_PROPS: more catalog properties as JSON (s3.endpoint, s3.access-key-id, ...)
    props = json.loads(os.environ.get("ICEBERG_READ_PROPS", "{}"))
    return load_catalog("rest", type="rest", uri=uri, **props).load_table(ident)


def open_table(spec):
    if spec.startswith("rest+"):
        uri, _, ident = spec[5:].rpartition("/")
        return rest_table(uri, ident)
    return StaticTable.from_metadata(latest(spec))


def catalog(uri):
    from pyiceberg.catalog import load_catalog
    props = json.loads(os.environ.get("ICEBERG_READ_PROPS", "{}"))
    cat = load_catalog("rest", type="rest", uri=uri, **props)
    out = {"namespaces": [".".join(ns) for ns in cat.list_namespaces()], "tables": {}, "write": None}
    for ns in out["namespaces"]:
        out["tables"][ns] = sorted(".".join(t[len(ns.split(".")):]) for t in cat.list_tables(ns))
    try:
        cat.create_namespace("idbsync_test_new")
    except Exception as e:
        out["write"] = f"{type(e).__name__}: {e}"[:300]
    print(json.dumps(out))


def append(uri, ident, rows):
    import pyarrow as pa
    tab = rest_table(uri, ident)
    tab.append(pa.Table.from_pylist(json.loads(rows), schema=tab.schema().as_arrow()))
    print(json.dumps({"snapshot": tab.refresh().metadata.current_snapshot_id}))


def scan(table_dir, as_of=None, row_filter=None):
    tab = open_table(table_dir)
    snaps = tab.metadata.snapshots
    sid = tab.metadata.current_snapshot_id
    if as_of is not None:
        older = [s for s in snaps if snap_seq(s) <= as_of]
        sid = max(older, key=lambda s: s.sequence_number).snapshot_id if older else None
    sc = None if sid is None else tab.scan(snapshot_id=sid, **({"row_filter": row_filter} if row_filter else {}))
    rows = [] if sc is None else sc.to_arrow().to_pylist()
    tasks = [] if sc is None else list(sc.plan_files())
    paths = [t.file.file_path for t in tasks]
    return {
        "snapshots": [{"id": s.snapshot_id, "seq": snap_seq(s), "op": s.summary.operation.value,
                       "parent": s.parent_snapshot_id} for s in snaps],
        "snapshot": sid,
        "schema": [f.name for f in tab.schema().fields],
        "rows": plain(rows),
        "files": len(paths),
        "paths": paths,
        # the planned files' partition spec and values (a filter prunes by them)
        "parts": [] if sc is None else sorted(
            [[t.file.spec_id, plain([t.file.partition[i] for i in range(len(t.file.partition))])]
             for t in tasks], key=json.dumps),
    }


def loop(seconds, changes_dir, state_dir):
    out = {"scans": 0, "errors": [], "dups": 0, "gaps": 0, "backwards": 0, "max_seq": 0, "state_dups": 0}
    # At least SECONDS and at least 6 scans (a loaded machine may need longer for 6; capped at 5 min):
    # the test keeps writing until this loop ends, so every scan races the writer.
    end = time.time() + seconds
    last = 0
    while time.time() < end or (out["scans"] < 6 and time.time() < end + 300):
        try:
            if not os.path.isdir(os.path.join(changes_dir, "metadata")):
                time.sleep(0.05)
                continue
            seqs = open_latest(changes_dir).scan(selected_fields=("idb_seq",)).to_arrow()
            seqs = seqs.column("idb_seq").to_pylist()
            if len(seqs) != len(set(seqs)):
                out["dups"] += 1
            hi = max(seqs) if seqs else 0
            if set(seqs) != set(range(1, hi + 1)):
                out["gaps"] += 1
            if hi < last:
                out["backwards"] += 1
            last = max(last, hi)
            if os.path.isdir(os.path.join(state_dir, "metadata")):
                st = open_latest(state_dir).scan(selected_fields=("idb_user", "idb_key")).to_arrow()
                keys = list(zip(st.column("idb_user").to_pylist(), st.column("idb_key").to_pylist()))
                if len(keys) != len(set(keys)):
                    out["state_dups"] += 1
            out["scans"] += 1
        except Exception as e:  # every failure counts: the test expects none
            out["errors"].append(f"{type(e).__name__}: {e}"[:300])
    out["max_seq"] = last
    print(json.dumps(out))


def refs(table_dir):
    tab = open_table(table_dir)
    out = set()
    strip = lambda p: p[7:] if p.startswith("file://") else p  # noqa: E731
    for s in tab.metadata.snapshots:
        out.add(strip(s.manifest_list))
        for m in s.manifests(tab.io):
            out.add(strip(m.manifest_path))
            for e in m.fetch_manifest_entry(tab.io, discard_deleted=False):
                out.add(strip(e.data_file.file_path))
    # every kept snapshot must read (time travel to any of them)
    errors = []
    for s in tab.metadata.snapshots:
        try:
            tab.scan(snapshot_id=s.snapshot_id).to_arrow()
        except Exception as e:
            errors.append(f"snapshot {s.snapshot_id}: {type(e).__name__}: {e}"[:300])
    print(json.dumps({"refs": sorted(out), "snapshots": len(tab.metadata.snapshots), "errors": errors}))


def size(table_dir):
    """Bytes of metadata the current snapshot needs (its metadata JSON, manifest list and the
    manifests that list names) and of everything under metadata/ on disk."""
    tab = open_table(table_dir)
    md = os.path.join(table_dir, "metadata")
    strip = lambda p: p[7:] if p.startswith("file://") else p  # noqa: E731
    cur = tab.current_snapshot()
    need = {"json": os.path.getsize(latest(table_dir)), "list": 0, "manifests": 0, "n_manifests": 0}
    if cur is not None:
        need["list"] = os.path.getsize(strip(cur.manifest_list))
        for m in cur.manifests(tab.io):
            need["manifests"] += os.path.getsize(strip(m.manifest_path))
            need["n_manifests"] += 1
    disk = sum(os.path.getsize(os.path.join(md, n)) for n in os.listdir(md))
    print(json.dumps({**need, "snapshots": len(tab.metadata.snapshots), "disk": disk,
                      "disk_files": len(os.listdir(md))}))


def files(table_dir):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    tab = open_table(table_dir)
    out = []
    for task in tab.scan().plan_files():
        f = task.file
        path = f.file_path[7:] if f.file_path.startswith("file://") else f.file_path
        pf = pq.ParquetFile(path)
        ids = {}
        for fld in pf.schema_arrow:
            if fld.metadata and b"PARQUET:field_id" in fld.metadata:
                ids[fld.name] = int(fld.metadata[b"PARQUET:field_id"])
        sizes, nans, doubles = {}, {}, []
        md = pf.metadata
        for g in range(md.num_row_groups):
            for c in range(md.num_columns):
                col = md.row_group(g).column(c)
                if col.path_in_schema in ids:
                    i = ids[col.path_in_schema]
                    sizes[i] = sizes.get(i, 0) + col.total_compressed_size
        for name, i in ids.items():
            fld = pf.schema_arrow.field(name)
            if str(fld.type) == "double":
                doubles.append(i)
                nans[i] = pc.sum(pc.is_nan(pf.read(columns=[name]).column(0))).as_py() or 0
        out.append({"path": path, "column_sizes": dict(f.column_sizes or {}),
                    "nan_value_counts": dict(f.nan_value_counts or {}), "value_counts": dict(f.value_counts or {}),
                    "footer_sizes": sizes, "footer_nans": nans, "doubles": sorted(doubles)})
    print(json.dumps({"files": out}))


def history(table_dir):
    """Every snapshot the newest metadata keeps, each scanned (time travel to it)."""
    tab = open_table(table_dir)
    out = []
    for s in sorted(tab.metadata.snapshots, key=lambda s: s.sequence_number):
        rows = tab.scan(snapshot_id=s.snapshot_id).to_arrow().to_pylist()
        out.append({"id": s.snapshot_id, "seq": snap_seq(s), "op": s.summary.operation.value, "rows": plain(rows)})
    return {"snapshots": out}


def versions(table_dir):
    out = {"versions": 0, "errors": []}
    for n in sorted(os.listdir(os.path.join(table_dir, "metadata"))):
        if not re.fullmatch(r"v(\d+)\.metadata\.json", n):
            continue
        out["versions"] += 1
        try:
            StaticTable.from_metadata(os.path.join(table_dir, "metadata", n)).scan().to_arrow()
        except Exception as e:
            out["errors"].append(f"{n}: {type(e).__name__}: {e}"[:300])
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "scan":
        res = []
        for a in sys.argv[2:]:
            a, _, flt = a.partition("#")
            d, _, seq = a.partition("@")
            res.append(scan(d, int(seq) if seq else None, flt or None))
        print(json.dumps(res))
    elif sys.argv[1] == "history":
        print(json.dumps([history(a) for a in sys.argv[2:]]))
    elif sys.argv[1] == "append":
        append(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "catalog":
        catalog(sys.argv[2])
    elif sys.argv[1] == "refs":
        refs(sys.argv[2])
    elif sys.argv[1] == "size":
        size(sys.argv[2])
    elif sys.argv[1] == "files":
        files(sys.argv[2])
    elif sys.argv[1] == "versions":
        versions(sys.argv[2])
    elif sys.argv[1] == "loop":
        loop(float(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: iceberg_read.py scan DIR[@SEQ]... | loop SECONDS CHANGES_DIR STATE_DIR")
