"""A reader querying in a loop while servers ingest and flush, for the Iceberg engine tests
(test_trino_iceberg.py, test_spark_iceberg.py, test_duckdb_iceberg.py): a writer thread per
server pushes puts and deletes to loop/live and records every applied change; each scan an
engine returns is checked against that record, bounded by what the scan claims to show (the
change log at one snapshot: exactly the changes up to its idbsync.seq) or by what was flushed
before the query (progress.json). docs/lake-layout.md, "Known issue", has the figures."""
import contextlib
import json
import os
import random
import threading
import time

import harness as H


class Writer(threading.Thread):
    """Pushes puts and deletes to loop/live (the server flushes every 200 ms) until stopped and
    records every applied change: log[seq] = (key_json, op, n)."""

    def __init__(self, server, seed):
        super().__init__(daemon=True)
        self.s, self.rnd = server, random.Random(seed)
        self.log, self.error = {}, None
        self.stop = threading.Event()
        self.pushes, self.busy = 0, False    # completed pushes (their changes in log), one in flight
        self.cond = threading.Condition()    # guards log, pushes and busy

    def log_now(self):
        """A copy of the log holding every change applied before the call: waits for the push
        in flight (if any) to be recorded."""
        with self.cond:
            n = self.pushes
            self.cond.wait_for(lambda: self.pushes > n or not self.busy, timeout=60)
            return dict(self.log)

    def run(self):
        mid = 1
        while not self.stop.is_set():
            muts = []
            for _ in range(40):
                k = self.rnd.randrange(150)
                if self.rnd.random() < 0.15 and mid > 1:
                    muts.append({"id": mid, "store": "live", "op": "delete", "key": k})
                else:
                    muts.append({"id": mid, "store": "live", "op": "put", "key": k, "value": {"n": mid, "s": f"v{mid} ✓"}})
                mid += 1
            with self.cond:
                self.busy = True
            try:
                r = self.s.push("loop", "loop-writer", muts)
            except Exception as e:  # noqa: BLE001 - the test fails on it
                self.error = str(e)
                break
            by_id = {x["id"]: x for x in muts}
            with self.cond:
                for first, seq, count in r["kept"]:
                    for i in range(count):
                        x = by_id[first + i]
                        self.log[seq + i] = (H.canon(x["key"]), x["op"], x["id"] if x["op"] == "put" else None)
                self.pushes += 1
                self.busy = False
                self.cond.notify_all()
            time.sleep(0.05)
        with self.cond:
            self.busy = False
            self.cond.notify_all()


def seed(*servers):
    """Gives loop/live its tables before the loop starts: one row pushed and flushed."""
    for s in servers:
        s.push("loop", "loop-seed", [{"id": 1, "store": "live", "op": "put", "key": -1, "value": {"n": 0, "s": ""}}])
        s.flush("loop")


def start_writers(*servers):
    """A started Writer per server (seeded from seed()'s row), in the same order."""
    writers = []
    for i, s in enumerate(servers):
        w = Writer(s, i + 1)
        w.log[s.pull("loop")["live"]["-1"]["seq"]] = ("-1", "put", 0)   # the seed row
        w.start()
        writers.append(w)
    return writers


def stop_writers(writers):
    """Stops the writers; returns their failures."""
    for w in writers:
        w.stop.set()
    for w in writers:
        w.join(60)
    return [f"loop writer: {w.error}" for w in writers if w.error]


def progress(server):
    """(changes_seq, state_seq) the server has flushed."""
    with open(os.path.join(server.lake, "_idbsync", "progress.json")) as f:
        p = json.load(f)
    return p["changes_seq"], p["state_seq"]


def metadata(lake, db, table, follow=True):
    """The newest metadata JSON of an Iceberg table of the file-system catalog:
    metadata/version-hint.text, then (follow) any newer vN.metadata.json (the hint is a hint:
    written after the version it names; a reader of the hint alone, such as DuckDB's
    iceberg_scan, may not see that version yet)."""
    meta = os.path.join(lake, "_iceberg", db, table, "metadata")
    with open(os.path.join(meta, "version-hint.text")) as f:
        v = int(f.read().strip())
    while follow and os.path.exists(os.path.join(meta, f"v{v + 1}.metadata.json")):
        v += 1
    with open(os.path.join(meta, f"v{v}.metadata.json")) as f:
        return json.load(f)


def newest_snapshot(lake, db, table, follow=True):
    """(snapshot id, idbsync.seq) of the table's current snapshot (metadata())."""
    m = metadata(lake, db, table, follow)
    s = next(s for s in m["snapshots"] if s["snapshot-id"] == m["current-snapshot-id"])
    return s["snapshot-id"], int(s["summary"]["idbsync.seq"])


def check_changes(rows, log, upto=None, floor=0):
    """rows [(seq, key, op, n)] of one change-log scan must hold exactly the changes <= upto (its
    snapshot's idbsync.seq), or, upto None, every change <= the newest seq of the scan and <=
    floor (the changes_seq flushed before the query)."""
    problems = {"duplicates": 0, "missing": 0, "wrong": 0}
    seen = set()
    for seq, key, op, n in rows:
        if seq in seen:
            problems["duplicates"] += 1
        seen.add(seq)
        if log.get(seq) != (key, op, n) or (upto is not None and seq > upto):
            problems["wrong"] += 1
    top = upto if upto is not None else max(max(seen, default=0), floor)
    problems["missing"] = sum(1 for s in log if s <= top and s not in seen)
    return problems


def check_state(rows, log, floor):
    """rows [(key, seq, n)] of one state scan read after the state of seq `floor` was flushed:
    each key once, each row a pushed put no older than the key's change <= floor, and every key
    live at floor present unless a later change deleted it."""
    problems = {"duplicates": 0, "missing": 0, "wrong": 0}
    last, deleted_later = {}, set()
    for seq in sorted(log):
        key, op, _ = log[seq]
        if seq <= floor:
            last[key] = (seq, op)
        elif op == "delete":
            deleted_later.add(key)
    seen = set()
    for key, seq, n in rows:
        if key in seen:
            problems["duplicates"] += 1
        seen.add(key)
        before = last.get(key, (0, None))[0]
        if log.get(seq) != (key, "put", n) or seq < before:
            problems["wrong"] += 1
    problems["missing"] = sum(1 for k, (_, op) in last.items()
                              if op == "put" and k not in seen and k not in deleted_later)
    return problems


def check_state_at(rows, log, upto):
    """rows [(key, seq, n)] of one state scan at the snapshot whose idbsync.seq is upto: exactly
    the state after every change <= upto (each live key once, at its newest put <= upto)."""
    want = {}
    for seq in sorted(s for s in log if s <= upto):
        key, op, n = log[seq]
        if op == "delete":
            want.pop(key, None)
        else:
            want[key] = (seq, n)
    problems = {"duplicates": 0, "missing": 0, "wrong": 0}
    seen = set()
    for key, seq, n in rows:
        if key in seen:
            problems["duplicates"] += 1
        seen.add(key)
        if want.get(key) != (seq, n):
            problems["wrong"] += 1
    problems["missing"] = sum(1 for k in want if k not in seen)
    return problems


class Tally:
    """The scans of one layout through one engine, each checked once it is read against the
    writer's log (Writer.log_now: the scan's rows are not kept, the change log grows with every
    round); errors: the engine's query exceptions (a failed query is counted, any other
    exception is the test's own bug and raised)."""

    def __init__(self, writer, errors=(Exception,)):
        self.writer, self.errors_of = writer, errors
        self.queries = self.failed = self.errors = self.rows = 0
        self.problems = {"duplicates": 0, "missing": 0, "wrong": 0}
        self.samples = []
        self.bounds = set()   # the flushes the scans were bounded by (snapshot seqs / progress.json)

    def read(self, kind, fn):
        """fn() -> (rows, bound): one scan and what check_changes / check_state bound it by
        (kind "state_at": a state scan at one snapshot, bound its idbsync.seq, check_state_at)."""
        self.queries += 1
        try:
            rows, bound = fn()
        except self.errors_of as e:
            self.errors += 1
            self.failed += 1
            if len(self.samples) < 3:
                self.samples.append(H.short_error(e))
            return
        self.rows += len(rows)
        self.bounds.add((bound[0] or bound[1]) if isinstance(bound, tuple) else bound)
        log = self.writer.log_now()
        rows = [tuple(r) for r in rows]
        p = check_changes(rows, log, *bound) if kind == "changes" else \
            check_state_at(rows, log, bound) if kind == "state_at" else check_state(rows, log, bound)
        for k, v in p.items():
            self.problems[k] += v
        if any(p.values()):
            self.failed += 1
            if len(self.samples) < 3:
                self.samples.append(f"{kind} scan: {p}")

    def cell(self):
        p = self.problems
        return (f"{self.queries} queries ({self.rows} rows, {len(self.bounds)} flushed seqs): {self.errors} errors, {p['duplicates']} duplicates, {p['missing']} missing, "
                f"{p['wrong']} wrong rows; {self.failed} failed ({100.0 * self.failed / max(self.queries, 1):.2f}%)"
                + (f" e.g. {self.samples[0][:120]}" if self.samples else ""))


def report(m, engine, t_ice, t_hive, how):
    """Records both tallies in the matrix and the log; returns the failures: any failed Iceberg
    query, or none that read. The plain layout's rate is a figure only."""
    m.cell("modern", f"Iceberg ({how}): reader in a loop during ingest", t_ice.cell())
    m.cell("modern", "plain hive layout: the same loop, same run", t_hive.cell())
    H.log(f"loop ({engine}): iceberg {t_ice.cell()}; hive {t_hive.cell()}; load {os.getloadavg()}")
    H.log(f"loop failures ({engine}): iceberg {t_ice.samples}; hive {t_hive.samples}")
    if t_ice.failed or t_ice.queries == t_ice.errors:
        return [f"{engine}: Iceberg reader in a loop: {t_ice.cell()}; {t_ice.samples}"]
    return []


@contextlib.contextmanager
def servers():
    """The loop's two servers (modern profile), one with --lake-format iceberg and one with the
    plain layout, their tables seeded (seed()); stopped and removed after."""
    ice = H.Server("modern", ["--lake-format", "iceberg"])
    try:
        hive = H.Server("modern")
        try:
            seed(ice, hive)
            yield ice, hive
        finally:
            hive.cleanup()
    finally:
        ice.cleanup()


def run(m, engine, how, ice, hive, rounds, ice_reads, hive_reads, errors=(Exception,)):
    """Writers on both servers, then `rounds` rounds taking turns: each (kind, fn) of
    ice_reads, then of hive_reads, one Tally read each; returns report()'s failures and the
    writers'."""
    writers = start_writers(ice, hive)
    try:
        t_ice, t_hive = (Tally(w, errors) for w in writers)
        for _ in range(rounds):
            for t, reads in ((t_ice, ice_reads), (t_hive, hive_reads)):
                for kind, fn in reads:
                    t.read(kind, fn)
    finally:
        failures = stop_writers(writers)
    return failures + report(m, engine, t_ice, t_hive, how)
