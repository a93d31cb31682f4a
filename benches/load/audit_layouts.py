#!/usr/bin/env python3
"""Storage layouts for the audit trail, compared before a redesign (issue 20).

Writes the same realistic records (~700 bytes of JSON each) into a fresh SQLite database per
layout, in transactions of 64 (the writer's batch at moderate load), with the gateway's
pragmas (WAL, synchronous=NORMAL, 8 MiB cache, wal_autocheckpoint 4000), and prints the
process CPU time (user + system) and the wall time per record. Python's stdlib sqlite3 is used so
the layouts can be tried without touching the gateway. Its own per-row overhead (about a
microsecond) is included, and it favours the layouts with fewer rows per record (by up to
about a microsecond per record): read the differences between rows, not the absolute numbers.

    python3 benches/load/audit_layouts.py [--actors 50] [--records 200000] [LAYOUT ...]

Records come from --actors distinct actors taking turns (50: every batch of 64 names nearly
all of them, the worst case for anything written per actor).

Layouts:
  current     one row per record, the columns beside its JSON, four secondary indexes
              (ts, request_id, actor+ts, node+id): the trail as it is
  noindex     the same row, no secondary index (what the indexes cost)
  entries     the JSON of a batch in one row, one narrow row per record clustered by
              (ts, id), with request_id and actor+ts indexes
  entries1    the same with only the request_id index
  batch_req   one row per batch (its records, one chain link) plus one request_id entry per
              record
  batch       one row per batch, nothing per record
  batch_lookup
              one row per batch, plus per batch: a row per distinct actor and a row per
              distinct (kind, decision, reason) with its count; the lookups the redesign
              needs, written per batch rather than per record
  batch_second
              one row per batch, plus per second: a row per actor seen in it (written once)
              and a count per (kind, decision, reason), added to by each batch

    python3 benches/load/audit_layouts.py --queries [--actors N] [--records N]

writes `current`, `batch_lookup` and `batch_second` with N records each (default 200,000),
then times the lookups `audit query` and the portal make on each: one request id (the batches of the second
the id leads with, a text search in their records), the newest 100 records of a one-minute
window, of one actor and under a path prefix, and the counts by decision since a time. The
CPU times include Python's own; compare the layouts with each other. The batch layouts'
lookups here select a one-sided time range and the batches' records with an ORDER BY, two
shapes `cargo bench --bench audit_layout` found slow natively: read them as upper bounds.
Options come in this order: --queries, --actors, --records.
"""
import json
import os
import random
import sqlite3
import sys
import tempfile
import time

BATCH = 64
# Distinct actors, taking turns record by record (--actors; 50 unless given).
ACTORS = 50


def record(i, second):
    return json.dumps({
        "ts": "2026-12-05T10:%02d:%02d.%06dZ" % (second // 60 % 60, second % 60, i % 1000000),
        "request_id": "%08x-%08x%016x" % (second, random.getrandbits(32), random.getrandbits(64)),
        "kind": "request", "actor": "acct-%d" % (i % ACTORS),
        "credential_id": "cred_0123456789abcdef", "tenant": "acme", "client_ip": "10.1.2.3",
        "method": "GET", "path": "/fscmRestApi/resources/11.13.18.05/invoices/%d" % (300100 + i % 1000),
        "query": "onlyData=true&limit=25", "decision": "relayed", "reason": "",
        "policy": "ap-automation", "rule": "read invoices and suppliers", "endpoint": "invoices.item",
        "snapshot_version": 3,
        "snapshot_hash": "107a5d84a2478da8d07b40ed70e1f474230cbd6657cb43e5210f0594214521a0",
        "upstream_host": "acme.fa.us2.oraclecloud.com", "upstream_identity": "FIN_INTEGRATION",
        "status": 200, "upstream_status": 200, "gateway_us": 4, "upstream_us": 48000,
        "total_us": 48200, "bytes_in": 0, "bytes_out": 2048,
    })


HASH = "b" * 64
CURRENT = """
CREATE TABLE audit_log (id INTEGER PRIMARY KEY, ts TEXT NOT NULL, request_id TEXT NOT NULL,
  kind TEXT NOT NULL, actor TEXT NOT NULL, decision TEXT NOT NULL, reason TEXT NOT NULL,
  path TEXT NOT NULL, record TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
  node TEXT NOT NULL DEFAULT '');
"""
INDEXES = """
CREATE INDEX audit_ts ON audit_log(ts); CREATE INDEX audit_request ON audit_log(request_id);
CREATE INDEX audit_actor ON audit_log(actor, ts); CREATE INDEX audit_node ON audit_log(node, id);
"""
BATCH_TABLE = """
CREATE TABLE audit_batch (id INTEGER PRIMARY KEY, node TEXT NOT NULL, ts_first TEXT NOT NULL,
  ts_last TEXT NOT NULL, records TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX batch_ts ON audit_batch(ts_last); CREATE INDEX batch_node ON audit_batch(node, id);
"""
ENTRIES = """
CREATE TABLE audit_entry (ts TEXT NOT NULL, id INTEGER NOT NULL, batch INTEGER NOT NULL,
  request_id TEXT NOT NULL, kind TEXT NOT NULL, actor TEXT NOT NULL, decision TEXT NOT NULL,
  reason TEXT NOT NULL, path TEXT NOT NULL, node TEXT NOT NULL, PRIMARY KEY (ts, id)) WITHOUT ROWID;
CREATE INDEX entry_request ON audit_entry(request_id);
"""
REQUESTS = """
CREATE TABLE audit_request (request_id TEXT NOT NULL, batch INTEGER NOT NULL,
  PRIMARY KEY (request_id, batch)) WITHOUT ROWID;
"""


def per_record_rows(first, recs):
    rows = []
    for k, r in enumerate(recs):
        j = json.loads(r)
        rows.append((first + k, j["ts"], j["request_id"], "request", j["actor"], "relayed", "",
                     j["path"], r, HASH, HASH, ""))
    return [("INSERT INTO audit_log VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)]


def batch_row(first, recs):
    js = [json.loads(r) for r in recs]
    bid = first // BATCH + 1
    row = (bid, "", js[0]["ts"], js[-1]["ts"], "\n".join(recs), HASH, HASH)
    return bid, js, [("INSERT INTO audit_batch VALUES (?,?,?,?,?,?,?)", [row])]


def entries_rows(first, recs):
    bid, js, stmts = batch_row(first, recs)
    rows = [(j["ts"], first + k, bid, j["request_id"], "request", j["actor"], "relayed", "",
             j["path"], "") for k, j in enumerate(js)]
    return stmts + [("INSERT INTO audit_entry VALUES (?,?,?,?,?,?,?,?,?,?)", rows)]


def batch_req_rows(first, recs):
    bid, js, stmts = batch_row(first, recs)
    return stmts + [("INSERT INTO audit_request VALUES (?,?)", [(j["request_id"], bid) for j in js])]


LOOKUP = """
CREATE TABLE audit_batch_actor (actor TEXT NOT NULL, ts_last TEXT NOT NULL, batch INTEGER NOT NULL,
  PRIMARY KEY (actor, ts_last, batch)) WITHOUT ROWID;
CREATE TABLE audit_batch_count (batch INTEGER NOT NULL, kind TEXT NOT NULL, decision TEXT NOT NULL,
  reason TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (batch, kind, decision, reason)) WITHOUT ROWID;
"""


def batch_lookup_rows(first, recs):
    bid, js, stmts = batch_row(first, recs)
    last = js[-1]["ts"]
    actors = sorted({j["actor"] for j in js})
    counts = {}
    for j in js:
        k = (j["kind"], j["decision"], j["reason"])
        counts[k] = counts.get(k, 0) + 1
    return stmts + [
        ("INSERT INTO audit_batch_actor VALUES (?,?,?)", [(a, last, bid) for a in actors]),
        ("INSERT INTO audit_batch_count VALUES (?,?,?,?,?)",
         [(bid,) + k + (n,) for k, n in sorted(counts.items())]),
    ]


SECOND = """
CREATE TABLE audit_actor_second (actor TEXT NOT NULL, second TEXT NOT NULL,
  PRIMARY KEY (actor, second)) WITHOUT ROWID;
CREATE TABLE audit_second_count (second TEXT NOT NULL, kind TEXT NOT NULL, decision TEXT NOT NULL,
  reason TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (second, kind, decision, reason)) WITHOUT ROWID;
"""

# (actor, second) pairs the batch_second writer has written: it writes each pair once.
SEEN = set()


def batch_second_rows(first, recs):
    bid, js, stmts = batch_row(first, recs)
    pairs, counts = [], {}
    for j in js:
        second = j["ts"][:19]
        if (j["actor"], second) not in SEEN:
            SEEN.add((j["actor"], second))
            pairs.append((j["actor"], second))
        k = (second, j["kind"], j["decision"], j["reason"])
        counts[k] = counts.get(k, 0) + 1
    return stmts + [
        ("INSERT OR IGNORE INTO audit_actor_second VALUES (?,?)", pairs),
        ("""INSERT INTO audit_second_count VALUES (?,?,?,?,?)
            ON CONFLICT (second, kind, decision, reason) DO UPDATE SET n = n + excluded.n""",
         [k + (n,) for k, n in sorted(counts.items())]),
    ]


LAYOUTS = {
    "current": (CURRENT + INDEXES, per_record_rows),
    "noindex": (CURRENT, per_record_rows),
    "entries": (BATCH_TABLE + ENTRIES + "CREATE INDEX entry_actor ON audit_entry(actor, ts);", entries_rows),
    "entries1": (BATCH_TABLE + ENTRIES, entries_rows),
    "batch_req": (BATCH_TABLE + REQUESTS, batch_req_rows),
    "batch": (BATCH_TABLE, lambda first, recs: batch_row(first, recs)[2]),
    "batch_lookup": (BATCH_TABLE + LOOKUP, batch_lookup_rows),
    "batch_second": (BATCH_TABLE + SECOND, batch_second_rows),
}


def run(name, n, queries=False):
    schema, rows_of = LAYOUTS[name]
    SEEN.clear()
    with tempfile.TemporaryDirectory() as d:
        c = sqlite3.connect(os.path.join(d, "a.db"), isolation_level=None)
        try:
            recs = measure(name, n, c, schema, rows_of)
            if queries:
                time_queries(name, c, recs)
        finally:
            c.close()


def newest_batches(c, where, args):
    """Records of the batches matching `where`, newest batch first, one batch at a time."""
    for (text,) in c.execute("SELECT records FROM audit_batch WHERE %s ORDER BY id DESC" % where, args):
        for r in reversed(text.split("\n")):
            yield r


def q_request_id(name, c, rid):
    if name == "current":
        return c.execute("SELECT record FROM audit_log WHERE request_id = ?", (rid,)).fetchall()
    second = int(rid[:8], 16)
    lo = "2026-12-05T10:%02d:%02d" % (second // 60 % 60, second % 60)
    hi = lo + "\uffff"
    needle = '"request_id": "%s"' % rid
    rows = c.execute("SELECT records FROM audit_batch WHERE ts_last >= ? AND ts_first <= ?", (lo, hi))
    return [r for (text,) in rows if needle in text for r in text.split("\n") if needle in r]


def q_window(name, c, lo, hi):
    if name == "current":
        return c.execute("SELECT record FROM audit_log WHERE ts >= ? AND ts < ? ORDER BY ts DESC, id DESC LIMIT 100",
                         (lo, hi)).fetchall()
    out = []
    for r in newest_batches(c, "ts_last >= ? AND ts_first < ?", (lo, hi)):
        if lo <= json.loads(r)["ts"] < hi:
            out.append(r)
            if len(out) == 100:
                break
    return out


def q_actor(name, c, actor):
    if name == "current":
        return c.execute("SELECT record FROM audit_log WHERE actor = ? ORDER BY ts DESC, id DESC LIMIT 100",
                         (actor,)).fetchall()
    out = []
    needle = '"actor": "%s"' % actor
    if name == "batch_second":
        seconds = c.execute("SELECT second FROM audit_actor_second WHERE actor = ? ORDER BY second DESC", (actor,))
        for (sec,) in seconds.fetchall():
            for r in newest_batches(c, "ts_last >= ? AND ts_first <= ?", (sec, sec + "\uffff")):
                if needle in r and r[8:27] == sec and json.loads(r)["actor"] == actor:
                    out.append(r)
                    if len(out) == 100:
                        return out
        return out
    batches = c.execute("SELECT batch FROM audit_batch_actor WHERE actor = ? ORDER BY ts_last DESC", (actor,))
    for (bid,) in batches:
        (text,) = c.execute("SELECT records FROM audit_batch WHERE id = ?", (bid,)).fetchone()
        for r in reversed(text.split("\n")):
            if needle in r and json.loads(r)["actor"] == actor:
                out.append(r)
                if len(out) == 100:
                    return out
    return out


def q_prefix(name, c, prefix):
    if name == "current":
        return c.execute("SELECT record FROM audit_log WHERE path LIKE ? ORDER BY ts DESC, id DESC LIMIT 100",
                         (prefix + "%",)).fetchall()
    out = []
    needle = '"path": "%s' % prefix
    for r in newest_batches(c, "1", ()):
        if needle in r and json.loads(r)["path"].startswith(prefix):
            out.append(r)
            if len(out) == 100:
                break
    return out


def q_counts(name, c, since):
    if name == "current":
        return c.execute("SELECT decision, COUNT(*) FROM audit_log WHERE ts >= ? AND kind = 'request' GROUP BY decision",
                         (since,)).fetchall()
    if name == "batch_second":
        return c.execute("""SELECT decision, SUM(n) FROM audit_second_count WHERE kind = 'request'
            AND second >= ? GROUP BY decision""", (since[:19],)).fetchall()
    # Whole batches from `since` on only: the batch it cuts through is left out (approximate,
    # as batch_second's whole seconds are; the timing is what this compares).
    return c.execute("""SELECT decision, SUM(n) FROM audit_batch_count WHERE kind = 'request' AND batch IN
        (SELECT id FROM audit_batch WHERE ts_first >= ?) GROUP BY decision""", (since,)).fetchall()


def timed(f, *a):
    t = time.perf_counter()
    out = f(*a)
    return (time.perf_counter() - t) * 1e3, out


def time_queries(name, c, recs):
    picks = random.Random(7).sample(range(len(recs)), 20)
    ids = [json.loads(recs[i])["request_id"] for i in picks]
    runs = [timed(q_request_id, name, c, rid) for rid in ids]
    assert all(len(out) == 1 for _, out in runs), "a request id must find its one record"
    ms = sorted(t for t, _ in runs)[len(runs) // 2]
    mid = json.loads(recs[len(recs) // 2])["ts"][:16]
    lo, hi = mid + ":00", mid + ":59.999999Z"
    rows = []
    for label, f, args in (("one-minute window, newest 100", q_window, (lo, hi)),
                           ("one actor, newest 100", q_actor, ("acct-7",)),
                           ("path prefix, newest 100", q_prefix, ("/fscmRestApi/resources/11.13.18.05/invoices/3001",)),
                           ("counts by decision, last ~10%", q_counts, (json.loads(recs[len(recs) * 9 // 10])["ts"],))):
        t, out = min((timed(f, name, c, *args) for _ in range(3)), key=lambda x: x[0])
        rows.append("%s %.1f ms (%d rows)" % (label, t, len(out)))
    print("%-12s request id %.1f ms (median of 20); %s" % (name, ms, "; ".join(rows)), flush=True)


def measure(name, n, c, schema, rows_of):
    for p in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-8192", "wal_autocheckpoint=4000"):
        c.execute("PRAGMA " + p)
    c.executescript(schema)
    recs = [record(i, 1000 + i // 5000) for i in range(n)]
    work = [rows_of(b + 1, recs[b:b + BATCH]) for b in range(0, n, BATCH)]
    cpu, wall = time.process_time(), time.time()
    for stmts in work:
        c.execute("BEGIN IMMEDIATE")
        for sql, rows in stmts:
            c.executemany(sql, rows)
        c.execute("COMMIT")
    cpu, wall = time.process_time() - cpu, time.time() - wall
    print("%-12s CPU %5.1f us/record   wall %5.1f us/record" % (name, cpu / n * 1e6, wall / n * 1e6), flush=True)
    return recs


def main():
    args = sys.argv[1:]
    n = 200000
    queries = args[:1] == ["--queries"]
    if queries:
        args = args[1:]
    if args[:1] == ["--actors"]:
        global ACTORS
        if len(args) < 2 or not args[1].isdigit() or int(args[1]) < 8:
            sys.exit("--actors takes a number of distinct actors (at least 8)")
        ACTORS, args = int(args[1]), args[2:]
    if args[:1] == ["--records"]:
        if len(args) < 2 or not args[1].isdigit() or int(args[1]) < BATCH:
            sys.exit("--records takes a number of records (at least %d)" % BATCH)
        n, args = int(args[1]), args[2:]
    if queries:
        if args:
            sys.exit("--queries compares current, batch_lookup and batch_second; name no layout")
        args = ["current", "batch_lookup", "batch_second"]
    for name in args or list(LAYOUTS):
        if name not in LAYOUTS:
            sys.exit("unknown layout %s; one of: %s" % (name, ", ".join(LAYOUTS)))
        run(name, n, queries)


if __name__ == "__main__":
    main()
