"""The engine suite's shared half: starts a real `idbsync serve` on 127.0.0.1 with a temp lake,
pushes values of every type the lake maps (unicode and emoji, integers past 2^53, doubles,
booleans, nulls and missing fields, dates, binary, nested objects and arrays, a column added
later, a widening, deletes; one store partitioned), flushes, and gives the server's own answer
(the pull feed, and the pushed mutations with the seqs the server gave them) so each engine test
can compare every row and column it reads with it. Standard library only: every engine's venv
or JVM test can import it.
"""
import base64
import datetime as dt
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

SRC = os.environ.get("IDBSYNC_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
BIN = os.environ.get("IDBSYNC_BIN") or os.path.join(SRC, "build", "idbsync")
CACHE = os.environ.get("IDBSYNC_ENGINES_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "idbsync-engines")
KEEP = os.environ.get("IDBSYNC_KEEP_TMP")


def log(*a):
    print("#", *a, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http(method, url, body=None, timeout=120, headers=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def post_json(url, body=None, timeout=120, headers=None):
    code, text = http("POST", url, body if body is not None else b"", timeout, headers)
    if code != 200:
        raise AssertionError(f"POST {url}: {code} {text[:2000]!r}")
    return json.loads(text)


class Server:
    """A real `idbsync serve` on 127.0.0.1:<free port> with a temp data dir and lake."""

    def __init__(self, profile, args=(), tmp=None, token=None, env=None):
        """token: sent as a bearer token with every request (a server with --auth tokens:FILE);
        env: more environment variables for the server (an S3 warehouse's keys)."""
        self.token, self.user = token, ""
        self.headers = {"authorization": f"Bearer {token}"} if token else None
        self.tmp = tmp or tempfile.mkdtemp(prefix=f"idbsync-eng-{profile}-")
        self.lake = os.path.join(self.tmp, "lake")
        self.data = os.path.join(self.tmp, "data")
        self.profile = profile
        self.errlog = os.path.join(self.tmp, "server.log")
        argv = [BIN, "serve", "--data", self.data, "--lake", self.lake, "--listen", "127.0.0.1:0",
                "--lake-profile", profile, "--flush-interval", "200ms", *args]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(self.errlog, "ab"), text=True,
                                     env={**os.environ, **(env or {})})
        deadline = time.time() + 20
        self.url = None
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on (http://127\.0\.0\.1:\d+) ", line)
            if m:
                self.url = m.group(1)
                break
        if not self.url:
            self.stop()
            raise RuntimeError(f"idbsync serve did not start; see {self.errlog}:\n" + open(self.errlog).read()[-3000:])

    def push(self, db, client, mutations):
        return post_json(f"{self.url}/v1/db/{db}/push", {"client": client, "mutations": mutations}, headers=self.headers)

    def flush(self, db):
        return post_json(f"{self.url}/v1/db/{db}/flush", headers=self.headers)

    def pull(self, db):
        """Live state: {store: {key_json: {"seq", "hlc", "value", "key"}}}."""
        state, since = {}, 0
        while True:
            code, text = http("GET", f"{self.url}/v1/db/{db}/pull?since={since}&limit=10000", headers=self.headers)
            assert code == 200, text
            p = json.loads(text)
            for c in p["changes"]:
                m = state.setdefault(c["store"], {})
                k = canon(c["key"])
                if c["op"] == "delete":
                    m.pop(k, None)
                else:
                    m[k] = {"seq": c["seq"], "hlc": c["hlc"], "value": c.get("value"), "key": c["key"]}
            since = p["cursor"]
            if not p.get("more"):
                return state

    def ddl(self, dialect, *args, env=None):
        r = subprocess.run([BIN, "ddl", "--lake", self.lake, "--dialect", dialect, *args],
                           capture_output=True, text=True, env={**os.environ, **(env or {})})
        assert r.returncode == 0, r.stderr
        return r.stdout

    def stop(self):
        end_process(self.proc, wait=30)

    def cleanup(self):
        self.stop()
        if not KEEP:
            shutil.rmtree(self.tmp, ignore_errors=True)


def end_process(proc, wait=60, close_stdin=False):
    """Ends a process the suite started: closes its stdin (a launcher that reads statements there
    and exits at their end) or sends SIGTERM, waits up to `wait` s, then kills it."""
    if proc.poll() is not None:
        return
    try:
        if close_stdin:
            proc.stdin.close()
        else:
            proc.send_signal(signal.SIGTERM)
        proc.wait(wait)
    except (subprocess.TimeoutExpired, OSError):
        proc.kill()
        proc.wait()


# The partitioned store every engine test's server has: `events` by its region field.
PARTITIONED = ("--lake-partition", "app/events=region")


def each_profile(body, args=PARTITIONED, profiles=("compat", "modern"), ready=None):
    """The engine tests' setup, once per profile: a real server (Server(profile, args)) with the
    data set pushed and flushed (Dataset.run), then body(profile, server, data, live) with live
    the pull feed (Server.pull) -> [failure line]; the server is stopped and its temp dir removed
    after each profile, whatever body raised. ready(profile, server), when given, runs before
    the data set is pushed (an engine that must know the lake before the first flush's refresh
    notification). Returns the failure lines of every profile."""
    failures = []
    for profile in profiles:
        s = Server(profile, list(args))
        try:
            if ready:
                ready(profile, s)
            data = Dataset(s).run()
            failures += body(profile, s, data, s.pull(data.db)) or []
        finally:
            s.cleanup()
    return failures


def check_profiles(body, stop, **kw):
    """each_profile(body, **kw) over an engine that is already running, then stop() (the engine's
    end), whatever happened; raises AssertionError naming the failures (the first 40)."""
    try:
        failures = each_profile(body, **kw)
    finally:
        stop()
    assert not failures, "\n".join(failures[:40])


def admin_server(profile, args=(), token="engines-admin-token", user="ops", env=None):
    """A Server with --auth tokens:FILE whose one token is an admin's (the served Iceberg
    catalog needs one); requests carry it, and the rows it pushes have idb_user `user`."""
    tmp = tempfile.mkdtemp(prefix=f"idbsync-eng-{profile}-")
    with open(os.path.join(tmp, "tokens"), "w") as f:
        f.write(f"{token} {user} admin\n")
    s = Server(profile, [*args, "--auth", f"tokens:{os.path.join(tmp, 'tokens')}"], tmp=tmp, token=token, env=env)
    s.user = user
    return s


def canon(v):
    """The lake's idb_key: the key as canonical JSON text (no spaces)."""
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# The data set: every type, in two rounds so a column is added and another widened in between.

BIG = 9007199254740993          # 2^53 + 1: a double cannot hold it
EMOJI = "Grüße, 世界 🎉👩‍👩‍👧 \u00e9\u0301 \"q\" \\ \n tab\t"


def round1():
    items = []
    for k in range(12):
        v = {
            "n": k * 1000003 - 5,
            "big": BIG + k if k % 2 else -(BIG + k),
            "bigtag": {"$bigint": str(2 ** 70 + k)},
            "d": k / 7 if k != 5 else -0.5,
            "ok": k % 3 == 0,
            "name": f"{EMOJI} #{k}",
            "at": {"$date": dt.datetime(2024, 2, 29, 23, 59, 59, 123000, tzinfo=dt.timezone.utc)
                   .__add__(dt.timedelta(days=k * 400 - 3000)).isoformat(timespec="milliseconds")
                   .replace("+00:00", "Z")},
            "bin": {"$bin": base64.b64encode(bytes([0, 255, k, 10, 13, 0x80])).decode()},
            "obj": {"a": k, "s": f"s{k} ✓", "inner": {"deep": k % 2 == 0}},
            "arr": [k, k + 1, k * 2],
            "w": k,                      # widened to DOUBLE in round 2
        }
        if k % 4 == 1:
            v["maybe"] = None            # explicit null
        elif k % 4 == 2:
            v["maybe"] = f"present {k}"  # else missing
        items.append(("put", k if k % 3 else f"key-{k}-ключ", v))
    regions = ["eu", "us-east", "ap/x ü", None, "q:'\\%#=?*[]{}^\"", ""]
    events = [("put", f"e{k}", {"region": regions[k % len(regions)], "v": k, "tag": f"t{k}"}) for k in range(12)]
    return {"items": items, "events": events}


def round2():
    items = [
        ("put", 1, {"n": 1, "w": 2.5, "added": "new column ✨", "name": "updated 🙂", "ok": False,
                    "arr": [], "obj": {"a": -1, "s": "", "inner": {"deep": True}}}),
        ("put", 100, {"n": -(2 ** 63), "w": 1e300, "added": "max", "big": 2 ** 63 - 1, "d": -1.5e-300}),
        ("delete", 2, None),
        ("delete", "key-3-ключ", None),
    ]
    events = [("put", "e1", {"region": "eu", "v": 100, "tag": "moved"}), ("delete", "e2", None)]
    return {"items": items, "events": events}


class Dataset:
    """Pushes the data set and records every applied mutation with its seq."""

    def __init__(self, server, db="app", client="engines-1"):
        self.s, self.db, self.client = server, db, client
        self.next_id = 1
        self.log = []    # [{"seq", "store", "op", "key", "value"}]

    def push_round(self, rnd):
        muts = []
        for store, ops in rnd.items():
            for op, key, value in ops:
                m = {"id": self.next_id, "store": store, "op": op, "key": key}
                if op == "put":
                    m["value"] = value
                muts.append(m)
                self.next_id += 1
        r = self.s.push(self.db, self.client, muts)
        by_id = {m["id"]: m for m in muts}
        for first, seq, count in r["kept"]:
            for i in range(count):
                m = by_id[first + i]
                self.log.append({"seq": seq + i, "store": m["store"], "op": m["op"], "key": m["key"],
                                 "value": m.get("value")})
        assert len(self.log) == self.next_id - 1, f"every mutation kept: {r}"

    def run(self):
        """Both rounds, each flushed; first_flush: the seq the first flush reached (time travel)."""
        self.push_round(round1())
        self.first_flush = self.s.flush(self.db)["flushed"]
        self.push_round(round2())
        self.s.flush(self.db)
        return self


# ---------------------------------------------------------------------------------------------
# What an engine should return, from the lake's metadata and the server's values.

def table_meta(lake, db, store):
    with open(os.path.join(lake, db, "_idbsync", f"{store}.json")) as f:
        return json.load(f)


def parse_date(s):
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


def ms(t):
    """A timestamp (aware, naive UTC, pandas, or epoch number) -> epoch milliseconds."""
    if t is None:
        return None
    if hasattr(t, "to_pydatetime"):
        t = t.to_pydatetime()
    if isinstance(t, dt.datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.timezone.utc)
        return round(t.timestamp() * 1000)
    if isinstance(t, str):
        return ms(parse_date(t.replace(" ", "T") + ("" if re.search(r"Z|[+-]\d\d:?\d\d$", t) else "Z")))
    return int(t)


def unjson(v):
    """Tagged JSON value -> plain comparable Python (dates -> ("ts", ms), binary -> bytes)."""
    if isinstance(v, dict):
        if len(v) == 1:
            (k, x), = v.items()
            if k == "$date":
                return ("ts", ms(parse_date(x)))
            if k == "$bin":
                return base64.b64decode(x)
            if k == "$bigint":
                return int(x)
        return {k: unjson(x) for k, x in v.items()}
    if isinstance(v, list):
        return [unjson(x) for x in v]
    return v


def expect_value(ctype, v):
    """The value a correct engine returns for JSON value v in a column of lake type ctype,
    normalized as norm() normalizes what the engine returns."""
    if v is None:
        return None
    if isinstance(ctype, dict) and "struct" in ctype:
        if not isinstance(v, dict):
            return None
        out = {f["name"]: expect_value(f["type"], v.get(f["field"])) for f in ctype["struct"]}
        return None if all(x is None for x in out.values()) else out
    if isinstance(ctype, dict) and "list" in ctype:
        return [expect_value(ctype["list"], x) for x in v]
    if ctype == "bigint":
        return int(v)
    if ctype == "double":
        if isinstance(v, dict) and "$num" in v:
            return float(v["$num"])
        return float(v)
    if ctype == "boolean":
        return bool(v)
    if ctype == "timestamp":
        return ("ts", ms(parse_date(v["$date"])))
    if ctype == "binary":
        return base64.b64decode(v["$bin"])
    if ctype == "json":
        return ("json", unjson(v))
    if ctype == "string":
        if isinstance(v, str):
            return v
        if isinstance(v, dict) and "$bigint" in v:
            return v["$bigint"]
        return ("json", unjson(v))
    raise AssertionError(f"unknown column type {ctype}")


def norm(ctype, v):
    """Normalizes an engine's value of a column of lake type ctype."""
    if v is None:
        return None
    if isinstance(ctype, dict) and "struct" in ctype:
        if isinstance(v, str):
            v = json.loads(v)
        if isinstance(v, (list, tuple)) and not isinstance(v, dict):
            v = {f["name"]: x for f, x in zip(ctype["struct"], v)}
        if hasattr(v, "asDict"):
            v = v.asDict()
        out = {f["name"]: norm(f["type"], v.get(f["name"])) for f in ctype["struct"]}
        return None if all(x is None for x in out.values()) else out
    if isinstance(ctype, dict) and "list" in ctype:
        if isinstance(v, str):
            v = json.loads(v)
        return [norm(ctype["list"], x) for x in v]
    if ctype == "bigint":
        return int(v)
    if ctype == "double":
        return float(v)
    if ctype == "boolean":
        return bool(v)
    if ctype == "timestamp":
        return ("ts", ms(v))
    if ctype == "binary":
        if isinstance(v, str):
            return base64.b64decode(v)
        return bytes(v)
    if ctype == "json":
        return ("json", unjson(json.loads(v)))
    if ctype == "string":
        if isinstance(v, (bytes, bytearray)):
            v = v.decode()
        return v
    raise AssertionError(f"unknown column type {ctype}")


def columns(meta, kind):
    """[(name, lake type, field or None)] of a table kind, in file order (system columns first)."""
    sys_cols = {
        "state": [("idb_key", "string"), ("idb_user", "string"), ("idb_seq", "bigint"), ("idb_hlc", "string")],
        "changes": [("idb_seq", "bigint"), ("idb_op", "string"), ("idb_deleted", "boolean"), ("idb_key", "string"),
                    ("idb_user", "string"), ("idb_client", "string"), ("idb_mid", "bigint"), ("idb_hlc", "string"),
                    ("idb_ts", "timestamp"), ("idb_origin", "string")],
    }[kind]
    out = [(n, t, None) for n, t in sys_cols]
    for c in meta["columns"]:
        if kind == "state" and c["field"] == meta.get("partition_by"):
            continue
        out.append((c["name"], c["type"], c["field"]))
    return out


def merge_widened(row):
    """An Iceberg table's row with a widened column read as coalesce(w, w__<oldtype>): the older
    values keep their old field id under that name (docs/iceberg.md, "Schema evolution")."""
    for k in list(row):
        m = re.fullmatch(r"(.+)__(long|double|string|boolean|binary|timestamptz)", k)
        if m and row.get(m.group(1)) is None and row[k] is not None:
            row[m.group(1)] = row[k]
    return row


def iceberg_rows(rows, user=""):
    """Rows an engine read from an Iceberg table as the comparisons expect them: a widened column
    merged (merge_widened), and idb_user, which must be `user` (the pushing token's), blanked
    like the empty user of --auth none that expected_state assumes."""
    for r in rows:
        if r.get("idb_user") == user:
            r["idb_user"] = ""
        merge_widened(r)
    return rows


def state_at(log, store, seq):
    """{idb_key: idb_seq} of the store's live keys after every logged change <= seq."""
    out = {}
    for e in sorted(log, key=lambda e: e["seq"]):
        if e["store"] == store and e["seq"] <= seq:
            if e["op"] == "delete":
                out.pop(canon(e["key"]), None)
            else:
                out[canon(e["key"])] = e["seq"]
    return out


def time_travel(m, profile, label, data, seq, got, store="items"):
    """Records the label's cell: got ({idb_key: idb_seq} an engine read from the snapshot whose
    idbsync.seq is seq, None when it found none) must be the store's state at seq. Returns the
    failure lines."""
    want = state_at(data.log, store, seq)
    got = {k: int(v) for k, v in got.items()} if got is not None else None
    res = "ok" if got == want else f"FAIL: as of seq {seq}: {sorted(got.items()) if got else got} != {sorted(want.items())}"
    m.cell(profile, label, res[:200])
    return [] if res == "ok" else [f"{profile}: {label}: {res}"]


def expected_state(meta, live):
    """{idb_key: {column: value}} of the current state table."""
    rows = {}
    for k, e in live.items():
        v = e["value"] if isinstance(e["value"], dict) else {"$value": e["value"]}
        r = {"idb_key": k, "idb_user": "", "idb_seq": e["seq"], "idb_hlc": e["hlc"]}
        for name, ctype, f in columns(meta, "state")[4:]:
            r[name] = expect_value(ctype, v.get(f))
        if meta.get("partition_column"):
            pv = v.get(meta["partition_by"])
            r[meta["partition_column"]] = pv if pv not in (None, "") else "__HIVE_DEFAULT_PARTITION__"
        rows[k] = r
    return rows


def compare_state(engine, meta, live, got_rows, skip=()):
    """got_rows: [{column: raw engine value}]. Every row and every column must match."""
    want = expected_state(meta, live)
    cols = [c for c in columns(meta, "state") if c[0] not in skip]
    problems = []
    seen = set()
    for raw in got_rows:
        k = raw["idb_key"]
        if k in seen:
            problems.append(f"duplicate key {k}")
        seen.add(k)
        w = want.get(k)
        if w is None:
            problems.append(f"key {k} is not live on the server")
            continue
        for name, ctype, _ in cols:
            g = norm(ctype, raw.get(name))
            if not same(g, w[name]):
                problems.append(f"key {k} column {name} ({ctype}): engine {g!r} != server {w[name]!r}")
        pc = meta.get("partition_column")
        if pc and pc not in skip and pc in raw and raw[pc] != w[pc]:
            # the default partition: null or "" (an Iceberg table's column holds the value pushed)
            if not (raw[pc] in (None, "", "__HIVE_DEFAULT_PARTITION__") and w[pc] == "__HIVE_DEFAULT_PARTITION__"):
                problems.append(f"key {k} column {pc}: engine {raw[pc]!r} != {w[pc]!r}")
    for k in want:
        if k not in seen:
            problems.append(f"key {k} missing")
    return problems


def compare_changes(engine, meta, log, live, got_rows, skip=()):
    """The change log: one row per applied mutation (seq, op, key); rows whose seq is the
    live version of a key equal the pull feed in every column."""
    mine = {e["seq"]: e for e in log if e["store"] == meta["store"]}
    live_by_seq = {e["seq"]: (k, e) for k, e in live.items()}
    cols = [c for c in columns(meta, "changes") if c[0] not in skip]
    problems, seen = [], set()
    for raw in got_rows:
        s = int(raw["idb_seq"])
        if s in seen:
            problems.append(f"seq {s} twice")
        seen.add(s)
        m = mine.get(s)
        if not m:
            problems.append(f"seq {s} was not pushed")
            continue
        if raw["idb_op"] != m["op"] or raw["idb_key"] != canon(m["key"]):
            problems.append(f"seq {s}: op/key {raw['idb_op']} {raw['idb_key']} != {m['op']} {canon(m['key'])}")
        if bool(raw["idb_deleted"]) != (m["op"] == "delete"):
            problems.append(f"seq {s}: idb_deleted {raw['idb_deleted']}")
        v = m["value"] if isinstance(m["value"], dict) or m["value"] is None else {"$value": m["value"]}
        for name, ctype, f in cols:
            if f is None:
                continue
            g = norm(ctype, raw.get(name))
            w = expect_value(ctype, (v or {}).get(f)) if m["op"] == "put" else None
            if not same(g, w):
                problems.append(f"seq {s} column {name} ({ctype}): engine {g!r} != pushed {w!r}")
        if s in live_by_seq and raw.get("idb_hlc") != live_by_seq[s][1]["hlc"]:
            problems.append(f"seq {s}: idb_hlc {raw.get('idb_hlc')} != pull feed {live_by_seq[s][1]['hlc']}")
    for s in mine:
        if s not in seen:
            problems.append(f"seq {s} missing")
    return problems


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def lake_check(lake, profile):
    r = subprocess.run([BIN, "lake", "check", "--profile", profile, lake], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


FEATURES = {"idb_ts": "timestamps", "obj": "nested", "arr": "nested", "at_": "timestamps", "bin": "binary", "big": "big integers",
            "bigtag": "big integers", "added": "evolution", "w": "evolution", "region": "partitions"}


def feature_of(problem, table_feature):
    m = re.search(r"column (\w+)", problem)
    return FEATURES.get(m.group(1), table_feature) if m and "unreadable" not in problem else table_feature


class Matrix:
    """Cells of docs/engines.md's matrix, printed as `# matrix engine|profile|feature|result`
    lines (tests/engines/matrix.py collects them)."""

    def __init__(self, engine):
        self.engine = engine
        self.cells = []

    def cell(self, profile, feature, result):
        self.cells.append((profile, feature, result))
        print(f"# matrix {self.engine}|{profile}|{feature}|{result}", flush=True)

    def record(self, profile, problems_by_table, features=("state", "changes", "partitions", "evolution", "nested",
                                                             "timestamps", "binary", "big integers")):
        """problems_by_table: [(table feature, [problem])]; one cell per feature, ok or the first problem."""
        found = {}
        for tf, probs in problems_by_table:
            for p in probs:
                found.setdefault(feature_of(p, tf), []).append(p)
        for f in features:
            self.cell(profile, f, "ok" if f not in found else "FAIL: " + found[f][0][:160])
        return [(f, p) for f, ps in found.items() for p in ps]


def statements(ddl):
    """The SQL statements of `idbsync ddl` output, as printed (comments and blank lines dropped)."""
    out, cur = [], []
    for line in ddl.splitlines():
        if line.startswith("--") or not line.strip():
            continue
        cur.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(cur).rstrip().rstrip(";"))
            cur = []
    return out


def run_ddl(m, profile, ddl, execute, errors=(Exception,), label="DDL as printed", before=None):
    """Runs every statement of `idbsync ddl` output as printed with execute(statement) (after
    before(statement), when given: an engine's DROP of a table the previous profile created);
    records the label's cell; returns the refusals as failure lines."""
    failures = []
    for st in statements(ddl):
        try:
            if before:
                before(st)
            execute(st)
        except errors as e:
            failures.append(f"{profile}: DDL refused: {st[:100]}...: {str(e)[:300]}")
    m.cell(profile, label, "ok" if not failures else "FAIL: " + failures[0][:200])
    return failures


# The tables every engine test reads: (store, feature of its state table, of its change log).
TABLES = (("items", "state", "changes"), ("events", "partitions", "partitions"))


def compare_tables(server, data, live, read, errors=(Exception,), refused=None, kinds=("state", "changes")):
    """Reads each table of TABLES with read(meta, kind) -> [{column: raw value}] and compares it
    with the server's pull feed (state) or pushed mutations (change log). A read that raises one
    of errors becomes the table's problem (refused(name, meta, e) -> [problem], when given).
    Returns [(feature, [problem])] for Matrix.record / settle."""
    results = []
    for store, feature, cfeature in TABLES:
        meta = table_meta(server.lake, data.db, store)
        for kind in kinds:
            f = feature if kind == "state" else cfeature
            name = meta["table"] + ("_changes" if kind == "changes" else "")
            try:
                got = read(meta, kind)
                probs = (compare_state("", meta, live.get(store, {}), got) if kind == "state" else
                         compare_changes("", meta, data.log, live.get(store, {}), got))
            except errors as e:
                probs = refused(name, meta, e) if refused else [f"{name}: unreadable: {short_error(e)}"]
            results.append((f, probs))
    return results


def settle(m, profile, results, known, what):
    """Records one cell per feature (Matrix.record) and returns the problems that are failures:
    those no entry of known, [(profile or None, feature or None, regex, why)], explains (an
    engine's measured limitation, documented in docs/engines.md; the log names it)."""
    failures = []
    for f, p in m.record(profile, results):
        why = next((w for kp, kf, pat, w in known if kp in (None, profile) and kf in (None, f) and re.search(pat, p)),
                   None)
        if why:
            log(f"known {what} limitation ({why}): {p[:300]}")
        else:
            failures.append(f"{profile}: {p}")
    return failures


def check_lake(m, server, profile):
    """Impala's reader rules (idbsync lake check) over a lake an engine read and wrote into."""
    rc, out = lake_check(server.lake, "compat" if profile == "compat" else "impala4")
    m.cell(profile, "idbsync lake check", "ok" if rc == 0 else "FAIL: " + out[:200])
    return [f"{profile}: idbsync lake check: {out[:2000]}"] if rc else []


def main_guard(fn):
    """Runs fn(), prints the plain closing line ctest and CI read, exits 0/1."""
    t0 = time.time()
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - a test reports every failure the same way
        import traceback
        traceback.print_exc()
        print(f"0 passed, 1 failed ({time.time() - t0:.1f}s)", flush=True)
        sys.exit(1)
    print(f"1 passed, 0 failed ({time.time() - t0:.1f}s)", flush=True)


# ---------------------------------------------------------------------------------------------
# A reader querying in a loop while the server ingests and flushes.

def pass_number(server, db, table):
    """The table's state pass number, D/_idbsync/<t>.pass (docs/lake-layout.md, "What a reader
    sees"): odd while a pass changes the table's files, and it only grows; None when unreadable."""
    try:
        with open(os.path.join(server.lake, db, "_idbsync", f"{table}.pass")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def concurrent_reads(server, read_state, seconds=10, db="app", store="live", keys=150, batch=40, seeded=None,
                     burst=1.0, quiet=1.5):
    """Pushes puts and deletes to `store` in bursts (`burst` seconds of a push every 50 ms, then
    `quiet` seconds without; the server flushes every 200 ms) for `seconds` while read_state() ->
    [(idb_key, idb_seq, n)] runs in a loop on this thread. Each query is bracketed by the table's
    pass number: the same even number before and after means it read one state of the files, and
    such a query must hold no key twice and no row that was never pushed (the plain layout's
    contract). A query that spanned a state pass may fail (a name it listed was replaced: the
    plain layout never writes over a name) but holds no key twice and no row torn between two
    versions of a file either; it is counted apart ("spanned", docs/lake-layout.md, "What a
    reader sees"). The quiet spells give every engine one-state queries to check (the loop goes
    on past `seconds` until 3 did, up to 4x); a run without any fails (see record_reads).
    Returns a dict: queries, errors (with the first messages), one_state, duplicates and wrong rows
    of one-state queries, spanned, spanned_duplicates and spanned_wrong."""
    import random
    import threading
    rnd = random.Random(7)
    pushed = dict(seeded or {})      # seq -> (key_json, n)
    stop = threading.Event()
    errors_push = []
    t0 = time.time()

    def writer():
        mid, n = 1, 0
        while not stop.is_set():
            if (time.time() - t0) % (burst + quiet) >= burst:
                time.sleep(0.05)
                continue
            muts = []
            for _ in range(batch):
                k = rnd.randrange(keys)
                n += 1
                if rnd.random() < 0.15:
                    muts.append({"id": mid, "store": store, "op": "delete", "key": k})
                else:
                    muts.append({"id": mid, "store": store, "op": "put", "key": k,
                                 "value": {"n": n, "s": f"v{n} ✓", "d": n / 3}})
                mid += 1
            try:
                r = server.push(db, "concurrent-writer", muts)
            except Exception as e:  # noqa: BLE001
                errors_push.append(str(e))
                return
            by_id = {m["id"]: m for m in muts}
            for first, seq, count in r["kept"]:
                for i in range(count):
                    m = by_id[first + i]
                    if m["op"] == "put":
                        pushed[seq + i] = (canon(m["key"]), m["value"]["n"])
            time.sleep(0.05)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    res = {"queries": 0, "errors": 0, "one_state_errors": 0, "error_samples": [], "one_state": 0, "duplicates": 0, "wrong": 0,
           "wrong_samples": [], "spanned": 0, "spanned_duplicates": 0, "spanned_wrong": 0}
    later = []   # (one_state, key, seq, n): checked once the writer has recorded every push
    deadline, limit = t0 + seconds, t0 + 4 * seconds
    time.sleep(1.0)   # the table exists after the first flush
    # on past `seconds` (up to 4x) until 3 queries read one state: a slow engine on a loaded
    # machine may have had only one or none
    while time.time() < deadline or (res["one_state"] < 3 and time.time() < limit):
        before = pass_number(server, db, store)
        try:
            rows, failed = read_state(), None
        except Exception as e:  # noqa: BLE001 - every failed read is counted
            rows, failed = [], e
        one = before is not None and before % 2 == 0 and pass_number(server, db, store) == before
        if failed:
            res["errors"] += 1
            res["one_state_errors"] += one
            if len(res["error_samples"]) < 3:
                res["error_samples"].append(short_error(failed))
            continue
        res["queries"] += 1
        res["one_state" if one else "spanned"] += 1
        res["rows"] = res.get("rows", 0) + len(rows)
        seen = set()
        for key, seq, n in rows:
            if key in seen:
                res["duplicates" if one else "spanned_duplicates"] += 1
            seen.add(key)
            if pushed.get(int(seq)) != (key, int(n)):
                later.append((one, key, int(seq), int(n)))   # the writer may not have recorded it yet
    stop.set()
    t.join(30)
    assert not errors_push, errors_push
    if res["queries"] and not res.get("rows"):
        # queries that succeed but never see a row: the reader does not see the table at all
        res["wrong"] += 1
        res["wrong_samples"].append("no query returned a row: the reader does not see the table")
    for one, key, seq, n in later:
        if pushed.get(seq) != (key, n):
            if not one:
                res["spanned_wrong"] += 1
                continue
            res["wrong"] += 1
            if len(res["wrong_samples"]) < 3:
                res["wrong_samples"].append((key, seq, n, pushed.get(seq)))
    return res


def live_table(server, dialect, execute, before=None, db="app"):
    """Gives the store concurrent_reads writes a table before the loop starts: pushes one row to
    `live`, flushes, and runs the statements of `idbsync ddl --dialect X --store live` that name
    it, as printed (before(statement) first, when given). Returns the seeded {seq: (key, n)}."""
    r = server.push(db, "concurrent-writer-0", [{"id": 1, "store": "live", "op": "put", "key": -1,
                                                 "value": {"n": 0, "s": "", "d": 0.5}}])
    server.flush(db)
    for st in statements(server.ddl(dialect, "--store", "live")):
        if "live" in st:
            if before:
                before(st)
            execute(st)
    return {r["kept"][0][1]: ("-1", 0)}


def short_error(e):
    """The line of an engine's error that says what went wrong (a JVM's root cause)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    caused = [ln for ln in lines if ln.startswith("Caused by:")]
    if caused:
        return caused[-1][:200]
    exc = [ln for ln in lines if "Exception:" in ln or "Error:" in ln]
    return (exc or lines or [repr(e)])[0][:200]


def record_reads(m, profile, res):
    """Records a concurrent_reads result as the profile's "reads during ingest" cell; returns a
    failure line when a query that read one state failed, when any query saw a duplicate key or a
    row that was never pushed (torn between two versions of a file), or when no query read one
    state (nothing was checked). Errors of queries that spanned a state pass (file-not-found) are
    counted in the cell: the plain layout's documented limit, docs/lake-layout.md."""
    m.cell(profile, "reads during ingest", concurrency_cell(res))
    if (res["duplicates"] or res["wrong"] or res["one_state_errors"] or res["spanned_duplicates"] or res["spanned_wrong"]
            or (res["queries"] and not res["one_state"])):
        return [f"{profile}: reads during ingest: {res}"]
    return []


def concurrency_cell(res):
    s = (f"{res['queries']} queries ({res.get('rows', 0)} rows): {res['errors']} errors "
         f"({res['one_state_errors']} in one state); "
         f"{res['one_state']} read one state: {res['duplicates']} duplicates, {res['wrong']} wrong rows; "
         f"{res['spanned']} spanned a pass: {res['spanned_duplicates']} duplicates, "
         f"{res['spanned_wrong']} torn rows")
    if res["error_samples"]:
        s += f" (e.g. {res['error_samples'][0][:140]})"
    return s


# ---------------------------------------------------------------------------------------------
# The other direction: an engine writes Parquet into LAKE/<db>/_inbox/<store>/ and the rows
# reach the server's pull feed (what a browser applies to IndexedDB) with their types.

def expected_import_rows():
    """Rows every engine writes (as it can): id, a big integer, a double, a boolean, a unicode
    string, a timestamp (ms, UTC), binary, a decimal(12,2)."""
    base = dt.datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=dt.timezone.utc)
    return [{"id": i, "big": (2 ** 62 + i) * (-1 if i % 2 else 1), "d": i / 8, "ok": i % 2 == 0,
             "s": f"import {i} ✓ 🎉", "at": base + dt.timedelta(days=i), "bin": bytes([i, 0, 255]),
             "dec": f"{i * 1000 + 0.25:.2f}"} for i in range(1, 6)]


def wait_import(server, db, store, n, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        live = server.pull(db).get(store, {})
        if len(live) >= n:
            return live
        time.sleep(0.5)
    inbox = os.path.join(server.lake, db, "_inbox", store)
    listing = []
    for root, _, files in os.walk(inbox):
        listing += [os.path.relpath(os.path.join(root, f), inbox) for f in files]
    raise AssertionError(f"{store}: {len(server.pull(db).get(store, {}))} of {n} rows imported after {timeout}s; "
                         f"inbox: {listing}; server log {server.errlog}")


def import_dir(server, out, store, rows, db="app"):
    """Moves a table dir an engine wrote beside the lake (out) into LAKE/db/_inbox/store whole,
    with an _import.json keyed by id: the inbox sees the job's files together (written straight
    into the inbox, a file can be picked up while the engine still writes it). Waits for the
    rows in the pull feed; returns compare_import's problems."""
    with open(os.path.join(out, "_import.json"), "w") as f:
        f.write('{"key":"id"}')
    inbox = os.path.join(os.path.realpath(server.lake), db, "_inbox", store)
    os.makedirs(os.path.dirname(inbox), exist_ok=True)
    os.rename(out, inbox)
    return compare_import(wait_import(server, db, store, len(rows)), rows)


def matched(rows, by_id, problems, missing):
    """Yields (written row, the row read back with its id) for each of rows; a row not read back
    adds the problem "id N <missing>"."""
    for r in rows:
        g = by_id.get(r["id"])
        if g is None:
            problems.append(f"id {r['id']} {missing}")
        else:
            yield r, g


def compare_import(live, rows, fields=("big", "d", "ok", "s", "at", "bin", "dec")):
    """Problems between the pull feed (live) and the rows written (expected_import_rows())."""
    problems = []
    by_key = {json.loads(k): e["value"] for k, e in live.items()}
    for r, v in matched(rows, by_key, problems, "not imported"):
        for f in fields:
            want = r[f]
            if isinstance(want, dt.datetime):
                want = ("ts", ms(want))
            got = unjson(v.get(f))
            if f == "dec" and isinstance(got, (int, float)):
                got = f"{got:.2f}"
            if not same(got, want):
                problems.append(f"id {r['id']} column {f}: browser gets {v.get(f)!r}, written {r[f]!r}")
    return problems


# ---------------------------------------------------------------------------------------------
# ... and on into a real browser: Chromium syncs the server and IndexedDB holds the rows.

def browser_rows(server, stores, db="app"):
    """Opens a real Chromium on the server's origin (tests/engines/idb_dump.mjs), syncs db with
    one object store per name in stores, and returns {store: [row]} with every JS value tagged
    by its type: Date {"$D": ms}, BigInt {"$B": digits}, ArrayBuffer {"$AB": base64},
    NaN/±Infinity/-0 {"$N": text}."""
    r = subprocess.run(["node", os.path.join(os.path.dirname(os.path.abspath(__file__)), "idb_dump.mjs"),
                        server.url, db, *stores],
                       capture_output=True, text=True, timeout=600, env={**os.environ, "IDBSYNC_BIN": BIN})
    assert r.returncode == 0, f"idb_dump.mjs failed ({r.returncode}): {r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def browser_form(f, v):
    """What IndexedDB holds for field f of expected_import_rows() (docs/types.md, Parquet ->
    IndexedDB): integers as numbers, a BigInt beyond 2^53, a Date, an ArrayBuffer, and the
    DECIMAL(12,2) (p <= 15) as a number."""
    if v is None:
        return None
    if f in ("id", "big"):
        return v if -2 ** 53 <= v <= 2 ** 53 else {"$B": str(v)}
    if f == "at":
        return {"$D": ms(v)}
    if f == "bin":
        return {"$AB": base64.b64encode(v).decode()}
    if f == "dec":
        return float(v)
    return v


def same_js(got, want):
    """Equal values of the same JS type (a JSON number is the same number whether int or float)."""
    num = (int, float)
    if isinstance(got, num) and isinstance(want, num) and not isinstance(got, bool) and not isinstance(want, bool):
        return got == want
    return type(got) is type(want) and got == want


def compare_browser(got_rows, rows, forms=None, fields=("id", "big", "d", "ok", "s", "at", "bin", "dec")):
    """Problems between the rows a real Chromium's IndexedDB holds (browser_rows) and the rows an
    engine wrote (expected_import_rows()), value and JS type. forms: {field: fn(row) -> tagged
    value} for a field an engine writes otherwise (each documented where the test passes it)."""
    problems = []
    for r, g in matched(rows, {g.get("id"): g for g in got_rows}, problems, "not in IndexedDB"):
        for f in fields:
            want = (forms or {}).get(f, lambda x: browser_form(f, x[f]))(r)
            if f not in g:
                problems.append(f"id {r['id']} field {f}: missing in IndexedDB (want {want!r})")
            elif not same_js(g[f], want):
                problems.append(f"id {r['id']} field {f}: IndexedDB holds {g[f]!r}, want {want!r} (written {r[f]!r})")
    if len(got_rows) != len(rows):
        problems.append(f"{len(got_rows)} rows in IndexedDB, {len(rows)} written")
    return problems


def to_browser(m, profile, label, server, store, rows, forms=None):
    """After an engine's write-back reached the pull feed: the same rows in a real Chromium's
    IndexedDB, value by value with their JS types; records the label's cell, returns problems."""
    try:
        probs = [f"{store} in IndexedDB: {p}" for p in compare_browser(browser_rows(server, [store])[store], rows, forms)]
    except (AssertionError, OSError, subprocess.TimeoutExpired, ValueError) as e:
        probs = [f"{store} in IndexedDB: {e}"[:2000]]
    m.cell(profile, label, "ok" if not probs else "FAIL: " + probs[0][:200])
    return probs
