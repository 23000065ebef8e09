"""DBOS (PyPI `dbos`) running the 3-step workflow, driven by N concurrent callers; prints one JSON line.

    python dbos_bench.py --db sqlite      --data-dir DIR --callers 64 --warmup 2 --duration 10
    python dbos_bench.py --db sqlite-wal  --data-dir DIR --callers 64 ...
    python dbos_bench.py --db postgres    --pg-url postgresql://postgres@127.0.0.1:PORT --callers 64 ...

DBOS is a library: the workflow runs inside the caller's process, and every step and the workflow's status are
checkpointed to its system database before the workflow goes on. The workflow is the same as Keel's
`Bench/run {"steps":3}`: three steps, step i returns i, the workflow returns 3.

- `sqlite`: `system_database_url=sqlite:///DIR/dbos.sqlite`, as DBOS configures it (SQLite's default rollback
  journal, `journal_mode=delete`, and the default `synchronous`, FULL in Python's sqlite3 here).
- `sqlite-wal`: the same file with `PRAGMA journal_mode=WAL` set before DBOS opens it (the mode is stored in the
  file, so DBOS's connections use it); `synchronous` stays at its default (FULL), as in Keel.
- `postgres`: a fresh database on the PostgreSQL server at --pg-url (DBOS creates it), dropped afterwards.

Callers are OS threads calling the workflow function directly (DBOS's synchronous API: the workflow runs on the
calling thread). DBOS's connection pool defaults to 20; with more callers than that they would queue for
connections, so --pool-size defaults to max(20, callers + 4) (say --pool-size 20 for DBOS's own default).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "sqlite-wal", "postgres"], required=True)
    parser.add_argument("--data-dir", help="for SQLite: where the database file goes (keep it on a real disk)")
    parser.add_argument("--pg-url", help="for postgres: postgresql://user@host:port (no database name)")
    parser.add_argument("--callers", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--pool-size", type=int, default=None)
    parser.add_argument("--api", choices=["threads", "async"], default="threads",
                        help="threads: sync workflow called from OS threads; async: async workflow, asyncio callers")
    args = parser.parse_args()

    system, config = "DBOS", {"sqlite": "SQLite (as DBOS configures it)", "sqlite-wal": "SQLite, WAL",
                              "postgres": "PostgreSQL"}[args.db]
    pool_size = args.pool_size or max(20, args.callers + 4)
    facts = harness.python_facts()
    try:
        from importlib.metadata import version
        facts["dbos"] = version("dbos")
    except Exception:  # noqa: BLE001
        pass
    facts["sys_db_pool_size"] = pool_size

    database_name = None
    if args.db in ("sqlite", "sqlite-wal"):
        if not args.data_dir:
            parser.error("--data-dir is required with SQLite")
        path = os.path.join(args.data_dir, "dbos.sqlite")
        if args.db == "sqlite-wal":
            with sqlite3.connect(path) as connection:
                mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode.lower() != "wal":
                    harness.emit(harness.failure(system=system, config=config, callers=args.callers,
                                                 reason=f"PRAGMA journal_mode=WAL answered {mode}"))
                    sys.exit(1)
        url = f"sqlite:///{path}"
        facts["sqlite_library"] = sqlite3.sqlite_version
    else:
        if not args.pg_url:
            parser.error("--pg-url is required with postgres")
        database_name = f"dbos_bench_{uuid.uuid4().hex[:12]}"
        url = f"{args.pg_url.rstrip('/')}/{database_name}"

    from dbos import DBOS, DBOSConfig

    @DBOS.step()
    def step(i: int) -> int:
        return i

    @DBOS.workflow()
    def three_steps(n: int) -> int:
        for i in range(n):
            assert step(i) == i
        return n

    @DBOS.step()
    async def step_async(i: int) -> int:
        return i

    @DBOS.workflow()
    async def three_steps_async(n: int) -> int:
        for i in range(n):
            assert await step_async(i) == i
        return n

    dbos_config: DBOSConfig = {
        "name": "keel-peers-bench",
        "system_database_url": url,
        "sys_db_pool_size": pool_size,
        "log_level": "WARNING",
    }
    DBOS(config=dbos_config)
    launched = False
    try:
        try:
            DBOS.launch()
            launched = True
        except Exception as exc:  # noqa: BLE001
            harness.emit(harness.failure(system=system, config=config, callers=args.callers,
                                         reason=f"DBOS.launch() failed: {type(exc).__name__}: {exc}", facts=facts))
            sys.exit(1)

        if args.db != "postgres":
            with sqlite3.connect(path) as connection:
                facts["journal_mode"] = connection.execute("PRAGMA journal_mode").fetchone()[0]
                facts["synchronous_default"] = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(
                    connection.execute("PRAGMA synchronous").fetchone()[0])
        else:
            import psycopg
            with psycopg.connect(args.pg_url.rstrip("/") + "/postgres", autocommit=True) as connection:
                for setting in ("server_version", "fsync", "synchronous_commit", "wal_sync_method"):
                    facts[setting] = connection.execute(f"SHOW {setting}").fetchone()[0]

        steps = args.steps
        if args.api == "threads":
            recorder = harness.run_threads(lambda: three_steps(steps), callers=args.callers,
                                           warmup=args.warmup, duration=args.duration)
        else:
            import asyncio
            recorder = asyncio.run(harness.run_async(lambda: three_steps_async(steps), callers=args.callers,
                                                     warmup=args.warmup, duration=args.duration))
        facts["api"] = args.api
        line = harness.result(recorder, system=system, config=config, callers=args.callers, facts=facts)
        harness.emit(line)
    finally:
        if launched:
            DBOS.destroy(destroy_registry=True)
        if database_name:
            try:
                import psycopg
                time.sleep(0.2)
                with psycopg.connect(args.pg_url.rstrip("/") + "/postgres", autocommit=True) as connection:
                    connection.execute(f"DROP DATABASE IF EXISTS {database_name} WITH (FORCE)")
            except Exception as exc:  # noqa: BLE001
                print(f"dbos_bench: could not drop {database_name}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    main()
