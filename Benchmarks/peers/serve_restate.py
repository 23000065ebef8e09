"""Serves restate_steps.py (Restate's Python SDK) with hypercorn in this one process, for Keel to call over h2c.

    python serve_restate.py 127.0.0.1:PORT [--max-requests-per-connection N]

Why not `hypercorn restate_steps:app`: the CLI runs the app in a spawned worker process (harder to stop by pid),
and it keeps hypercorn's `keep_alive_max_requests` of 1,000, after which hypercorn sends GOAWAY on the HTTP/2
connection. Keel keeps one HTTP/2 connection per deployment and, as of this writing, goes on opening streams on a
connection that has received GOAWAY until it closes: invocations then fail with `StreamClosed(... Cancel)` (503,
retried) or stall, so a benchmark against hypercorn's default stops making progress after about 1,000 invocations.
By default this runner raises the limit to 10^9 (one connection for the whole run); pass
`--max-requests-per-connection 1000` to see hypercorn's default behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from hypercorn.asyncio import serve  # noqa: E402
from hypercorn.config import Config  # noqa: E402

from restate_steps import app  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bind", help="host:port")
    parser.add_argument("--max-requests-per-connection", type=int, default=10**9)
    args = parser.parse_args()

    config = Config()
    config.bind = [args.bind]
    config.keep_alive_max_requests = args.max_requests_per_connection
    config.accesslog = None
    config.errorlog = "-"
    config.loglevel = "WARNING"

    # The endpoint keeps no state, so SIGTERM or SIGINT ends the process at once. The SDK's ASGI app installs its
    # own SIGTERM handler on the first request (to drain invocations, without ending the process), through
    # `restate.server.install_shutdown_hook`, which keeps one dispatcher per loop and signal; registering ours
    # there first keeps both.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        from restate.server import install_shutdown_hook
    except ImportError:
        install_shutdown_hook = None
    for sig in (signal.SIGTERM, signal.SIGINT):
        if install_shutdown_hook is not None:
            install_shutdown_hook(loop, lambda: os._exit(0), sig)
        else:
            loop.add_signal_handler(sig, os._exit, 0)
    loop.run_until_complete(serve(app, config, shutdown_trigger=asyncio.Event().wait))


if __name__ == "__main__":
    main()
