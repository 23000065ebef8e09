"""Python services that Keel's interop tests run through Restate's Python SDK, unchanged.

Run:  hypercorn services:app --bind 127.0.0.1:PORT      (cwd = this directory; serves HTTP/1.1 and h2c)
Venv: scripts/setup-python-interop.sh  (restate-sdk==1.3.0, hypercorn)

Restate Python SDK 1.3.0 APIs used here (read from the installed package, restate/*.py):
  - restate.Service(name)                          service; @svc.handler(name=None) -> handler named after the function
  - restate.VirtualObject(name)                    keyed object; @obj.handler(kind="exclusive"|"shared")
  - restate.app(services=[...])                    the ASGI app (restate/endpoint.py); protocol mode is chosen per
                                                   discovery request: HTTP/1.1 -> REQUEST_RESPONSE, h2 -> BIDI_STREAM
  - restate.Context / ObjectContext / ObjectSharedContext   handler context types (first parameter)
  - ctx.run_typed(name, action, restate.RunOptions(), *args)  journaled step; `ctx.run(name, action, args=(...))`
                                                   still exists in 1.3.0 but is marked DEPRECATED in its docstring
  - ctx.request().id                               the invocation id string ("inv_1...", from StartMessage.debug_id)
  - await ctx.get("count", type_hint=int) / ctx.set("count", value)      state (ObjectContext / ObjectSharedContext)
  - ctx.key()                                      the object key
  - ctx.object_call(handler_fn, key=..., arg=...)  typed call to a virtual-object handler (returns a future)
  - ctx.generic_call(service, handler, arg=bytes, key=...)  untyped call, raw bytes in and out
  - restate.TerminalError(message, status_code=402)          kwarg is `status_code` (default 500), also `metadata`
  - a plain Exception raised by a handler -> ErrorMessage (attempt failure, retried by the server)
Handler input/output use the default JSON serde, driven by the type hints (dict, int, str).
"""

import asyncio
import json
import os
import threading
from datetime import timedelta
from typing import Any, Dict

import restate
from restate import Context, ObjectContext, ObjectSharedContext, RunOptions, TerminalError

# ---------------------------------------------------------------------------------------------------------------------
# PySteps: N journaled steps, each with a side effect outside the engine (one line per real execution).
# ---------------------------------------------------------------------------------------------------------------------

steps = restate.Service("PySteps")


def _append_line(path: str, line: str) -> None:
    """Appends one line and fsyncs it, so a test reading the file sees exactly the executions that happened."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "a", encoding="utf-8") as file:
        file.write(line + "\n")
        file.flush()
        os.fsync(file.fileno())


@steps.handler()
async def run(ctx: Context, request: Dict[str, Any]) -> int:
    """`{"steps": N, "log": "/path", "delayMs": 0, "label": optional}` -> N.

    Step i appends "<label> <i>" to `log` (label defaults to the invocation id). With `delayMs` each step sleeps
    that long before writing its line, so a test can kill the server between steps.
    """
    count = int(request["steps"])
    log = str(request["log"])
    delay = float(request.get("delayMs", 0)) / 1000.0
    label = str(request.get("label") or ctx.request().id)

    async def step(i: int) -> int:
        if delay > 0:
            await asyncio.sleep(delay)
        _append_line(log, f"{label} {i}")
        return i

    for i in range(count):
        done = await ctx.run_typed(f"step-{i}", step, RunOptions(type_hint=int), i)
        assert done == i
    return count


# ---------------------------------------------------------------------------------------------------------------------
# PyCounter: a virtual object with exclusive `add` and shared `get` on state key "count".
# ---------------------------------------------------------------------------------------------------------------------

counter = restate.VirtualObject("PyCounter")


@counter.handler(kind="exclusive")
async def add(ctx: ObjectContext, value: int) -> int:
    total = (await ctx.get("count", type_hint=int) or 0) + value
    ctx.set("count", total)
    return total


@counter.handler(kind="shared")
async def get(ctx: ObjectSharedContext) -> int:
    return await ctx.get("count", type_hint=int) or 0


# ---------------------------------------------------------------------------------------------------------------------
# PyFlaky: fails (plain Exception -> retry) the first two attempts for an input key, then returns "ok".
# ---------------------------------------------------------------------------------------------------------------------

flaky = restate.Service("PyFlaky")

FLAKY_FAILURES = 2
_attempts: Dict[str, int] = {}
_attempts_lock = threading.Lock()


@flaky.handler(name="run")
async def flaky_run(ctx: Context, request: Dict[str, Any]) -> str:
    """`{"key": "k", "log": optional path}` -> "ok" on the third attempt for that key.

    With `log`, every attempt appends "attempt <n>" there and the count is read from the file (so it survives a
    restart of this process and several hypercorn workers); without it a module-level dict keyed by `key` counts.
    """
    key = str(request["key"])
    log = request.get("log")
    with _attempts_lock:
        if log:
            try:
                with open(log, encoding="utf-8") as file:
                    attempt = sum(1 for _ in file) + 1
            except FileNotFoundError:
                attempt = 1
            _append_line(log, f"attempt {attempt}")
        else:
            attempt = _attempts.get(key, 0) + 1
            _attempts[key] = attempt
    if attempt <= FLAKY_FAILURES:
        raise Exception(f"PyFlaky {key}: failing attempt {attempt} on purpose")  # pylint: disable=broad-exception-raised
    return "ok"


# ---------------------------------------------------------------------------------------------------------------------
# PyTerminal: always a terminal failure with an HTTP-ish status code.
# ---------------------------------------------------------------------------------------------------------------------

terminal = restate.Service("PyTerminal")


@terminal.handler(name="run")
async def terminal_run(ctx: Context, request: Dict[str, Any]) -> str:
    raise TerminalError("card declined", status_code=402)


# ---------------------------------------------------------------------------------------------------------------------
# PyCaller: one Python service calling another (PyCounter/{key}/add) through the engine.
# ---------------------------------------------------------------------------------------------------------------------

caller = restate.Service("PyCaller")


@caller.handler()
async def call(ctx: Context, request: Dict[str, Any]) -> int:
    """`{"key": "k", "value": 5}` -> PyCounter/k/add(5), typed call (CallCommand + two notifications)."""
    return await ctx.object_call(add, key=str(request["key"]), arg=int(request["value"]))


@caller.handler(name="callGeneric")
async def call_generic(ctx: Context, request: Dict[str, Any]) -> int:
    """Same as `call` through the untyped API: JSON bytes in, JSON bytes out."""
    raw = await ctx.generic_call(
        "PyCounter", "add", arg=json.dumps(int(request["value"])).encode(), key=str(request["key"])
    )
    return int(json.loads(raw))


@caller.handler(name="callTwice")
async def call_twice(ctx: Context, request: Dict[str, Any]) -> list:
    """`{"key": "k", "value": 5, "idempotencyKey": "ik"}`: calls PyCounter/k/add twice with one idempotency key;
    the second call attaches to the first invocation, so both answer the same and the counter moves once."""
    arg = json.dumps(int(request["value"])).encode()
    first = await ctx.generic_call("PyCounter", "add", arg=arg, key=str(request["key"]), idempotency_key=str(request["idempotencyKey"]))
    second = await ctx.generic_call("PyCounter", "add", arg=arg, key=str(request["key"]), idempotency_key=str(request["idempotencyKey"]))
    return [int(json.loads(first)), int(json.loads(second))]


@caller.handler(name="callPatient")
async def call_patient(ctx: Context, request: Dict[str, Any]) -> str:
    """`{"log": path, "children": path}`: calls PyToolkit/patient (which sleeps an hour), writes the callee's
    invocation id to `children` (once), and waits for it."""
    call = ctx.generic_call("PyToolkit", "patient", arg=json.dumps({"log": str(request["log"])}).encode())
    child = await call.invocation_id()
    await ctx.run_typed("record-child", lambda: _append_line(str(request["children"]), child), RunOptions(type_hint=type(None)))
    return str(json.loads(await call))


@caller.handler(name="sendLater")
async def send_later(ctx: Context, request: Dict[str, Any]) -> str:
    """`{"key": "k", "value": 5, "delayMs": 1000}` -> sends PyCounter/k/add(5) to run after the delay; returns at once."""
    ctx.object_send(add, key=str(request["key"]), arg=int(request["value"]), send_delay=timedelta(milliseconds=int(request["delayMs"])))
    return "sent"


# ---------------------------------------------------------------------------------------------------------------------
# PyToolkit: durable sleep, awakeables, cancellation and a saga, each leaving evidence in a log file.
# ---------------------------------------------------------------------------------------------------------------------

toolkit = restate.Service("PyToolkit")


@toolkit.handler()
async def sleep(ctx: Context, request: Dict[str, Any]) -> str:
    """`{"ms": 1500, "log": path}`: logs "before", sleeps durably, logs "after" (each once, through ctx.run)."""
    log = str(request["log"])
    await ctx.run_typed("before", lambda: _append_line(log, "before"), RunOptions(type_hint=type(None)))
    await ctx.sleep(timedelta(milliseconds=int(request["ms"])))
    await ctx.run_typed("after", lambda: _append_line(log, "after"), RunOptions(type_hint=type(None)))
    return "woke"


@toolkit.handler()
async def awake(ctx: Context, request: Dict[str, Any]) -> str:
    """`{"log": path}`: writes an awakeable id to the log (once), then waits for it; returns what it was resolved with."""
    log = str(request["log"])
    awakeable_id, promise = ctx.awakeable(type_hint=str)
    await ctx.run_typed("publish", lambda: _append_line(log, awakeable_id), RunOptions(type_hint=type(None)))
    return await promise


@toolkit.handler(name="awakeOrGiveUp")
async def awake_or_give_up(ctx: Context, request: Dict[str, Any]) -> str:
    """`{"ms": 500}`: races an awakeable nobody resolves against a durable sleep; the sleep wins."""
    _, promise = ctx.awakeable(type_hint=str)
    match await restate.select(answer=promise, timeout=ctx.sleep(timedelta(milliseconds=int(request["ms"])))):
        case ["answer", value]:
            return value
        case _:
            return "gave up"


@toolkit.handler()
async def resolver(ctx: Context, request: Dict[str, Any]) -> str:
    """`{"id": "sign_1...", "value": "v"}`: resolves another invocation's awakeable from a handler."""
    ctx.resolve_awakeable(str(request["id"]), str(request["value"]))
    return "resolved"


@toolkit.handler()
async def patient(ctx: Context, request: Dict[str, Any]) -> str:
    """`{"log": path}`: sleeps an hour; a cancellation reaches it as TerminalError(409), after which it compensates."""
    log = str(request["log"])
    try:
        await ctx.sleep(timedelta(hours=1))
    except TerminalError as error:
        await ctx.run_typed("compensate", lambda: _append_line(log, f"compensated {error.status_code}"), RunOptions(type_hint=type(None)))
        raise
    return "slept"


@toolkit.handler()
async def saga(ctx: Context, request: Dict[str, Any]) -> str:
    """`{"log": path, "failAt": 3}`: three steps, each registering its compensation first; step `failAt` fails
    terminally, and the compensations registered so far run in reverse order, each once."""
    log = str(request["log"])
    fail_at = int(request["failAt"])
    compensations = []
    try:
        for step in range(1, 4):
            compensations.append(step)

            def action(step: int = step) -> None:
                if step == fail_at:
                    raise TerminalError(f"step {step} failed", status_code=400)
                _append_line(log, f"step {step}")

            await ctx.run_typed(f"step-{step}", action, RunOptions(type_hint=type(None)))
    except TerminalError:
        for step in reversed(compensations):
            await ctx.run_typed(f"undo-{step}", lambda step=step: _append_line(log, f"undo {step}"), RunOptions(type_hint=type(None)))
        raise
    return "done"


@toolkit.handler(
    name="giveUp",
    invocation_retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=50), max_attempts=3, on_max_attempts="kill"
    ),
)
async def give_up(ctx: Context, request: Dict[str, Any]) -> str:
    """`{"log": path}`: always fails (retryable); its retry policy kills it after 3 attempts."""
    _append_line(str(request["log"]), "attempt")
    raise Exception("still broken")  # pylint: disable=broad-exception-raised


@toolkit.handler(
    name="pauseUntilFixed",
    invocation_retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=50), max_attempts=2, on_max_attempts="pause"
    ),
)
async def pause_until_fixed(ctx: Context, request: Dict[str, Any]) -> str:
    """`{"fix": path}`: fails until the file at `fix` exists; its retry policy pauses it after 2 attempts."""
    if not os.path.exists(str(request["fix"])):
        raise Exception("not fixed yet")  # pylint: disable=broad-exception-raised
    return "fixed"


# ---------------------------------------------------------------------------------------------------------------------
# PyApproval: a workflow whose run waits for a durable promise that a shared handler resolves.
# ---------------------------------------------------------------------------------------------------------------------

approval = restate.Workflow("PyApproval")


@approval.main(name="run")
async def approval_run(ctx: restate.WorkflowContext, request: Dict[str, Any]) -> str:
    """Sets state "status" to "waiting", waits for promise "decision", returns "approved: <decision>"."""
    ctx.set("status", "waiting")
    decision = await ctx.promise("decision", type_hint=str).value()
    ctx.set("status", "decided")
    return f"approved: {decision}"


@approval.handler()
async def decide(ctx: restate.WorkflowSharedContext, decision: str) -> str:
    await ctx.promise("decision", type_hint=str).resolve(decision)
    return "ok"


@approval.handler()
async def status(ctx: restate.WorkflowSharedContext) -> str:
    return await ctx.get("status", type_hint=str) or "unknown"


@approval.handler()
async def peek(ctx: restate.WorkflowSharedContext) -> str:
    return await ctx.promise("decision", type_hint=str).peek() or "pending"


# ---------------------------------------------------------------------------------------------------------------------
# PyStuck: the first attempt hangs in user code (it neither sends a command nor suspends), as an endpoint that stopped
# answering would; later attempts answer. `{"marker": "/path"}` -> "recovered".
# ---------------------------------------------------------------------------------------------------------------------

stuck = restate.Service("PyStuck")


@stuck.handler()
async def hang(ctx: Context, request: Dict[str, Any]) -> str:
    marker = str(request["marker"])
    if not os.path.exists(marker):
        _append_line(marker, "attempt 1 hangs")
        await asyncio.Event().wait()
    _append_line(marker, "attempt after the abort")
    return "recovered"


# ---------------------------------------------------------------------------------------------------------------------
# PyEvents: declares an event trigger in its handler metadata (`keel.triggers`, which Restate ignores); Keel creates
# the subscription when the endpoint is registered. `take` appends the event's label to the object's list.
# ---------------------------------------------------------------------------------------------------------------------

events = restate.VirtualObject("PyEvents")


@events.handler(kind="exclusive", metadata={"keel.triggers": '[{"event": "py:*", "key": "$.user"}]'})
async def take(ctx: ObjectContext, event: Dict[str, Any]) -> None:
    seen_so_far = await ctx.get("seen", type_hint=list) or []
    ctx.set("seen", seen_so_far + [event.get("label")])


@events.handler(kind="shared")
async def seen(ctx: ObjectSharedContext) -> list:
    return await ctx.get("seen", type_hint=list) or []


# ---------------------------------------------------------------------------------------------------------------------
# PyTrace: what trace context reaches the endpoint. `{"marker": "/path"}`: the first attempt fails (transiently), the
# second answers with the `traceparent` of its attempt's HTTP request and of the invocation's stored headers.
# ---------------------------------------------------------------------------------------------------------------------

tracing = restate.Service("PyTrace")


@tracing.handler()
async def headers(ctx: Context, request: Dict[str, Any]) -> Dict[str, str]:
    marker = str(request["marker"])
    if not os.path.exists(marker):
        _append_line(marker, "attempt 1 fails")
        raise RuntimeError("the first attempt fails")
    incoming = ctx.request()
    return {
        "attempt": incoming.attempt_headers.get("traceparent", ""),
        "input": incoming.headers.get("traceparent", ""),
    }


# KEEL_E2E_IDENTITY_KEYS (comma-separated publickeyv1_… keys): the SDK's own request identity check; requests that
# are not signed by one of them get 401.
_identity_keys = [key for key in os.environ.get("KEEL_E2E_IDENTITY_KEYS", "").split(",") if key]
app = restate.app(
    services=[steps, counter, flaky, terminal, caller, toolkit, approval, stuck, events, tracing],
    identity_keys=_identity_keys or None,
)
