"""A throw-away stand-in for the engine, to check services.py without Keel (not used by the Swift tests).

    python mini_runtime.py http://127.0.0.1:9080 [--h2] [--trace]

It speaks the service invocation protocol V6 in request/response mode: every attempt is one
`POST /invoke/{service}/{handler}` whose body (StartMessage + the stored journal) is complete before the SDK
answers, so the SDK suspends whenever it needs something new; the journal lives in memory here. `--h2` sends the
same requests over h2c with prior knowledge (through curl), `--trace` prints every frame in both directions.
Protobuf is encoded by hand (field numbers from Sources/KeelProtocol/Proto/protocol.proto), so no dependency.
"""

import http.client
import json
import os
import subprocess
import sys
import tempfile
import uuid
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlparse

PROTOCOL = "application/vnd.restate.invocation.v6"
NAMES = {
    0x0000: "Start", 0x0001: "Suspension", 0x0002: "Error", 0x0003: "End", 0x0005: "ProposeRunCompletion",
    0x0400: "InputCommand", 0x0401: "OutputCommand", 0x0403: "SetStateCommand", 0x0404: "ClearStateCommand",
    0x0405: "ClearAllStateCommand", 0x0407: "GetEagerStateCommand", 0x0408: "GetEagerStateKeysCommand",
    0x040D: "CallCommand", 0x040E: "OneWayCallCommand", 0x0411: "RunCommand",
    0x800D: "CallCompletionNotification", 0x800E: "CallInvocationIdCompletionNotification",
    0x8011: "RunCompletionNotification",
}
TRACE = False


# --- protobuf, by hand ------------------------------------------------------------------------------------------------

def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def f_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value) if value else b""


def f_bytes(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def decode(payload: bytes) -> Dict[int, list]:
    fields: Dict[int, list] = {}
    i = 0
    while i < len(payload):
        key, i = _read_varint(payload, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(payload, i)
        elif wire == 2:
            length, i = _read_varint(payload, i)
            value, i = payload[i:i + length], i + length
        elif wire == 1:
            value, i = payload[i:i + 8], i + 8
        elif wire == 5:
            value, i = payload[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _read_varint(data: bytes, i: int) -> Tuple[int, int]:
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, i


def first(fields: Dict[int, list], number: int, default=None):
    return fields.get(number, [default])[0]


def frame(kind: int, payload: bytes) -> bytes:
    return ((kind << 48) | len(payload)).to_bytes(8, "big") + payload


def frames(body: bytes) -> List[Tuple[int, int, bytes]]:
    out, i = [], 0
    while i < len(body):
        header = int.from_bytes(body[i:i + 8], "big")
        kind, flags, length = header >> 48, (header >> 32) & 0xFFFF, header & 0xFFFFFFFF
        out.append((kind, flags, body[i + 8:i + 8 + length]))
        i += 8 + length
    return out


def describe(payload: bytes) -> str:
    try:
        fields = decode(payload)
    except (ValueError, IndexError):
        return payload.hex()
    parts = []
    for number, values in fields.items():
        for value in values:
            if isinstance(value, bytes):
                try:
                    text = value.decode()
                    value = text if text.isprintable() else value.hex()
                except UnicodeDecodeError:
                    value = value.hex()
            parts.append(f"{number}={value!r}")
    return " ".join(parts)


# --- transport --------------------------------------------------------------------------------------------------------

def post(base: str, path: str, headers: Dict[str, str], body: bytes, h2: bool) -> Tuple[int, Dict[str, str], bytes]:
    if h2:
        with tempfile.TemporaryDirectory() as tmp:
            request, response, head = (os.path.join(tmp, n) for n in ("req", "resp", "head"))
            with open(request, "wb") as file:
                file.write(body)
            args = ["curl", "-sS", "--http2-prior-knowledge", "-X", "POST", base + path, "--data-binary", "@" + request,
                    "-o", response, "-D", head]
            for name, value in headers.items():
                args += ["-H", f"{name}: {value}"]
            subprocess.run(args, check=True)
            lines = open(head, encoding="latin-1").read().splitlines()
            status = int(lines[0].split()[1])
            parsed = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if ":" in l)}
            return status, parsed, open(response, "rb").read()
    url = urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


# --- the runtime ------------------------------------------------------------------------------------------------------

class Runtime:
    def __init__(self, base: str, h2: bool):
        self.base, self.h2 = base, h2
        self.state: Dict[Tuple[str, str], Dict[bytes, bytes]] = {}
        self.attempts = 0

    def invoke(self, service: str, handler: str, argument: bytes, key: Optional[str] = None,
               max_attempts: int = 10) -> Tuple[str, object]:
        """Runs one invocation to its end; returns ("value", bytes) or ("failure", (code, message))."""
        invocation_id = os.urandom(24)
        debug_id = "inv_1" + uuid.uuid4().hex[:33]
        journal: List[Tuple[int, bytes]] = [(0x0400, f_bytes(14, f_bytes(1, argument)))]
        retry_count = 0
        for _ in range(max_attempts):
            self.attempts += 1
            state = self.state.setdefault((service, key), {}) if key is not None else None
            start = (f_bytes(1, invocation_id) + f_bytes(2, debug_id.encode()) + f_varint(3, len(journal))
                     + b"".join(f_bytes(4, f_bytes(1, k) + f_bytes(2, v)) for k, v in (state or {}).items())
                     + f_varint(5, 1 if state is None else 0) + (f_bytes(6, key.encode()) if key else b"")
                     + f_varint(7, retry_count) + f_varint(9, 42))
            body = frame(0x0000, start) + b"".join(frame(kind, payload) for kind, payload in journal)
            if TRACE:
                print(f"  -> POST /invoke/{service}/{handler} start(known_entries={len(journal)}, retry={retry_count})")
            headers = {"content-type": PROTOCOL, "accept": PROTOCOL, "x-restate-invocation-id": debug_id}
            status, response_headers, data = post(self.base, f"/invoke/{service}/{handler}", headers, body, self.h2)
            assert status == 200, f"status {status}: {data!r}"
            assert response_headers.get("content-type") == PROTOCOL, response_headers
            ended = suspended = failed = False
            for kind, flags, payload in frames(data):
                if TRACE:
                    print(f"  <- {NAMES.get(kind, hex(kind))} flags={flags:#x} {describe(payload)}")
                fields = decode(payload)
                if kind == 0x0005:  # ProposeRunCompletion -> RunCompletionNotification
                    result = (f_bytes(5, f_bytes(1, first(fields, 14, b""))) if 14 in fields
                              else f_bytes(6, first(fields, 15)))
                    journal.append((0x8011, f_varint(1, first(fields, 1)) + result))
                    retry_count = 0
                elif kind == 0x0001:
                    suspended = True
                elif kind == 0x0002:
                    failed = True
                    print(f"  attempt failed: code {first(fields, 1)} {first(fields, 2, b'').decode()}")
                elif kind == 0x0003:
                    ended = True
                elif 0x0400 <= kind < 0x8000:  # a command: store it, perform its effect
                    journal.append((kind, payload))
                    retry_count = 0
                    if kind == 0x0403:
                        state[first(fields, 1)] = first(decode(first(fields, 3, b"")), 1, b"")
                    elif kind == 0x0404:
                        state.pop(first(fields, 1), None)
                    elif kind == 0x0405:
                        state.clear()
                    elif kind == 0x040D:
                        callee_key = first(fields, 5, b"").decode() or None
                        outcome, result = self.invoke(first(fields, 1).decode(), first(fields, 2).decode(),
                                                      first(fields, 3, b""), callee_key)
                        journal.append((0x800E, f_varint(1, first(fields, 10))
                                        + f_bytes(16, ("inv_1" + uuid.uuid4().hex[:33]).encode())))
                        encoded = (f_bytes(5, f_bytes(1, result)) if outcome == "value"
                                   else f_bytes(6, f_varint(1, result[0]) + f_bytes(2, result[1].encode())))
                        journal.append((0x800D, f_varint(1, first(fields, 11)) + encoded))
            if ended:
                output = decode(next(p for k, p in reversed(journal) if k == 0x0401))
                if 14 in output:
                    return "value", first(decode(output[14][0]), 1, b"")
                failure = decode(output[15][0])
                return "failure", (first(failure, 1), first(failure, 2, b"").decode())
            if failed:
                retry_count += 1
            elif not suspended:
                raise AssertionError("stream ended without End, Suspension or Error")
        raise AssertionError(f"{service}/{handler} did not finish in {max_attempts} attempts")


def main() -> None:
    global TRACE  # pylint: disable=global-statement
    base = sys.argv[1].rstrip("/")
    h2 = "--h2" in sys.argv
    TRACE = "--trace" in sys.argv
    runtime = Runtime(base, h2)
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "steps.log")
        outcome = runtime.invoke("PySteps", "run", json.dumps({"steps": 3, "log": log, "label": "probe"}).encode())
        lines = open(log, encoding="utf-8").read().splitlines()
        print("PySteps.run(3) ->", outcome, "log:", lines)
        assert outcome == ("value", b"3") and lines == ["probe 0", "probe 1", "probe 2"], (outcome, lines)

        results = [runtime.invoke("PyCounter", "add", b"5", key="k") for _ in range(2)]
        got = runtime.invoke("PyCounter", "get", b"", key="k")
        print("PyCounter add 5, add 5, get ->", results, got)
        assert results == [("value", b"5"), ("value", b"10")] and got == ("value", b"10")

        attempts = os.path.join(tmp, "flaky.log")
        outcome = runtime.invoke("PyFlaky", "run", json.dumps({"key": "a", "log": attempts}).encode())
        lines = open(attempts, encoding="utf-8").read().splitlines()
        print("PyFlaky.run ->", outcome, "attempts:", lines)
        assert outcome == ("value", b'"ok"') and len(lines) == 3, (outcome, lines)

        outcome = runtime.invoke("PyTerminal", "run", b"{}")
        print("PyTerminal.run ->", outcome)
        assert outcome == ("failure", (402, "card declined")), outcome

        outcome = runtime.invoke("PyCaller", "call", json.dumps({"key": "c", "value": 7}).encode())
        generic = runtime.invoke("PyCaller", "callGeneric", json.dumps({"key": "c", "value": 3}).encode())
        print("PyCaller.call(c, 7), callGeneric(c, 3) ->", outcome, generic)
        assert outcome == ("value", b"7") and generic == ("value", b"10"), (outcome, generic)
    print(f"all good over {'h2c' if h2 else 'HTTP/1.1'} ({runtime.attempts} attempts)")


if __name__ == "__main__":
    main()
