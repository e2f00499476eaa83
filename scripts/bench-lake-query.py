#!/usr/bin/env python3
"""Times DuckDB on "deletes per author per day over the last quarter" over a
lake, through the view `trailmark lake ddl --engine duckdb` prints.

    cargo run --release -p trailmark-lake --example generate -- /tmp/lake10m 10000000 > /tmp/lake10m.sql
    python3 scripts/bench-lake-query.py /tmp/lake10m.sql     # a Python with duckdb

Prints the row count, then the query's time on its first run and the fastest
and median of five more (DuckDB's default threads: every core).
"""
import statistics
import sys
import time

import duckdb

QUERY = """
SELECT author, dt, count(*) AS deletes FROM changes
WHERE operation = 'delete' AND dt >= DATE '2026-09-01'
GROUP BY ALL ORDER BY dt, deletes DESC
"""

con = duckdb.connect()
con.execute(open(sys.argv[1]).read())
rows = con.execute("SELECT count(*) FROM changes").fetchone()[0]
times = []
for _ in range(6):
    start = time.perf_counter()
    answer = con.execute(QUERY).fetchall()
    times.append(time.perf_counter() - start)
threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
print(f"duckdb {duckdb.__version__}, threads {threads}")
print(f"rows in the lake      {rows:,}")
print(f"answer rows           {len(answer):,}")
print(f"first run             {times[0]:.3f} s")
print(f"next 5: fastest       {min(times[1:]):.3f} s")
print(f"next 5: median        {statistics.median(times[1:]):.3f} s")
