"""The 3-step workflow as a Restate Python SDK (PyPI `restate-sdk`) service, for Keel to call over HTTP/2.

    hypercorn restate_steps:app --bind 127.0.0.1:PORT        (cwd = this directory; HTTP/1.1 and h2c on one port)

`PyBench/run {"steps": N}` is the same handler as Keel's embedded `Bench/run {"steps": N}`: N journaled steps,
step i returns i, the handler returns N. Keel journals each step's command and result durably before the
handler goes on, exactly as for the embedded Swift handler; the difference is that the handler runs in this
Python process and talks to Keel over an HTTP/2 stream (the Restate service protocol), one per invocation.

restate-sdk 1.3.0: `ctx.run_typed(name, action, RunOptions(type_hint=...), *args)` is the journaled step.
"""

from typing import Any, Dict

import restate
from restate import Context, RunOptions

bench = restate.Service("PyBench")


async def _step(i: int) -> int:
    return i


@bench.handler()
async def run(ctx: Context, request: Dict[str, Any]) -> int:
    count = int(request.get("steps", 3))
    for i in range(count):
        done = await ctx.run_typed(f"step-{i}", _step, RunOptions(type_hint=int), i)
        assert done == i
    return count


app = restate.app(services=[bench])
