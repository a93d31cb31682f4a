#!/usr/bin/env python3
"""Storage layouts for the audit trail, compared before a redesign (issue 20).

Writes the same realistic records (~700 bytes of JSON each) into a fresh SQLite database per
layout, in transactions of 64 (the writer's batch at moderate load), with the gateway's
pragmas (WAL, synchronous=NORMAL, 8 MiB cache, wal_autocheckpoint 4000), and prints the
process CPU time (user + system) and the wall time per record. Python's stdlib sqlite3 is used so
the layouts can be tried without touching the gateway. Its own per-row overhead (about a
microsecond) is included, and it favours the layouts with fewer rows per record (by up to
about a microsecond per record): read the differences between rows, not the absolute numbers.

    python3 benches/load/audit_layouts.py [--records 200000] [LAYOUT ...]

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
"""
import json
import os
import random
import sqlite3
import sys
import tempfile
import time

BATCH = 64


def record(i, second):
    return json.dumps({
        "ts": "2026-12-05T10:%02d:%02d.%06dZ" % (second // 60 % 60, second % 60, i % 1000000),
        "request_id": "%08x-%08x%016x" % (second, random.getrandbits(32), random.getrandbits(64)),
        "kind": "request", "actor": "acct-%d" % (i % 50),
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


LAYOUTS = {
    "current": (CURRENT + INDEXES, per_record_rows),
    "noindex": (CURRENT, per_record_rows),
    "entries": (BATCH_TABLE + ENTRIES + "CREATE INDEX entry_actor ON audit_entry(actor, ts);", entries_rows),
    "entries1": (BATCH_TABLE + ENTRIES, entries_rows),
    "batch_req": (BATCH_TABLE + REQUESTS, batch_req_rows),
    "batch": (BATCH_TABLE, lambda first, recs: batch_row(first, recs)[2]),
}


def run(name, n):
    schema, rows_of = LAYOUTS[name]
    with tempfile.TemporaryDirectory() as d:
        c = sqlite3.connect(os.path.join(d, "a.db"), isolation_level=None)
        try:
            measure(name, n, c, schema, rows_of)
        finally:
            c.close()


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
    print("%-10s CPU %5.1f us/record   wall %5.1f us/record" % (name, cpu / n * 1e6, wall / n * 1e6), flush=True)


def main():
    args = sys.argv[1:]
    n = 200000
    if args[:1] == ["--records"]:
        if len(args) < 2 or not args[1].isdigit() or int(args[1]) < BATCH:
            sys.exit("--records takes a number of records (at least %d)" % BATCH)
        n, args = int(args[1]), args[2:]
    for name in args or list(LAYOUTS):
        if name not in LAYOUTS:
            sys.exit("unknown layout %s; one of: %s" % (name, ", ".join(LAYOUTS)))
        run(name, n)


if __name__ == "__main__":
    main()
