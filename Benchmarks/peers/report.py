"""Helpers for scripts/bench/peers.sh: turn a keel-load report into the peers' JSON line, and tabulate the lines.

    python report.py keel-line --system S --config C --callers N --cpu-before F --cpu-after F < keel-load.json
    python report.py failure --system S --config C --callers N --reason TEXT
    python report.py table results.jsonl

Every line has the fields that harness.result() writes: system, config, callers, ok, succeeded, failed, errors,
seconds, throughput (workflows/s), p50_ms, p90_ms, p99_ms, max_ms, mean_ms, machine_cpu_cores, facts, command;
peers.sh adds round and order.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from typing import Any, Dict, List, Optional, Tuple

KEEL_EMBEDDED = ("Keel", "embedded Swift handler")


def read_stat(path: str) -> Optional[Tuple[int, int]]:
    try:
        with open(path, encoding="ascii") as file:
            fields = [int(x) for x in file.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    fields += [0] * (8 - len(fields))
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    busy = user + nice + system + irq + softirq + steal
    return (busy, busy + idle + iowait)


def keel_line(args: argparse.Namespace) -> Dict[str, Any]:
    text = sys.stdin.read().strip()
    lines = [line for line in text.splitlines() if line.startswith("{")]
    if not lines:
        return failure_line(args.system, args.config, args.callers, f"keel-load printed no JSON: {text[-300:]}")
    report = json.loads(lines[-1])
    latency = report.get("latencyMicroseconds", {})
    requests = report.get("requests", {})
    succeeded = int(requests.get("succeeded", 0))
    failed = int(requests.get("failed", 0))

    def ms(key: str) -> Optional[float]:
        value = latency.get(key)
        return value / 1000.0 if succeeded and value is not None else None

    cpu = None
    before, after = read_stat(args.cpu_before), read_stat(args.cpu_after)
    if before and after and after[1] > before[1]:
        cpu = (after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1)
    resources = report.get("resources", {})
    server = resources.get("server") or {}
    reason = None
    if succeeded == 0:
        reason = (f"no workflow completed in the measured window ({report.get('elapsedSeconds', 0):.0f} s; "
                  f"{failed} failed: {'; '.join(str(e) for e in report.get('errors', [])[:2]) or 'none'})")
    return {
        "system": args.system,
        "config": args.config,
        "callers": args.callers,
        "ok": succeeded > 0 and failed == 0,
        "reason": reason,
        "succeeded": succeeded,
        "failed": failed,
        # keel-load lists distinct messages without counts: give a lone message every failure.
        "errors": ([[report["errors"][0], failed]] if len(report.get("errors") or []) == 1 and isinstance(report["errors"][0], str)
                   else [[e, 1] if isinstance(e, str) else e for e in report.get("errors", [])][:5]),
        "seconds": report.get("elapsedSeconds"),
        "throughput": requests.get("perSecond"),
        "p50_ms": ms("p50"),
        "p90_ms": ms("p90"),
        "p99_ms": ms("p99"),
        "max_ms": ms("max"),
        "mean_ms": ms("mean"),
        "machine_cpu_cores": cpu,
        "facts": {"keel_server_cores": server.get("cores"), "keel_load_cores": resources.get("loadGeneratorCores"),
                  "keel_server_peak_rss_bytes": server.get("peakResidentBytes"),
                  "load_average": report.get("machine", {}).get("loadAverage")},
        "command": report.get("command"),
    }


def failure_line(system: str, config: str, callers: int, reason: str) -> Dict[str, Any]:
    return {"system": system, "config": config, "callers": callers, "ok": False, "succeeded": 0, "failed": 0,
            "errors": [[reason[:500], 1]], "throughput": None, "p50_ms": None, "p99_ms": None,
            "reason": reason[:500], "facts": {}, "command": None}


def fmt_rate(value: Optional[float]) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def fmt_ms(value: Optional[float]) -> str:
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:,.0f} ms"
    if value >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def fmt_ratio(value: Optional[float]) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}×" if value >= 100 else (f"{value:.1f}×" if value >= 10 else f"{value:.2f}×")


def median(values: List[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def table(path: str) -> None:
    with open(path, encoding="utf-8") as file:
        lines = [json.loads(line) for line in file if line.strip().startswith("{")]
    groups: Dict[Tuple[str, str, int], List[Dict[str, Any]]] = {}
    order: List[Tuple[str, str, int]] = []
    for line in lines:
        key = (line["system"], line["config"], int(line["callers"]))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(line)

    def summary(key: Tuple[str, str, int]) -> Dict[str, Any]:
        runs = groups.get(key, [])
        good = [r for r in runs if r.get("ok")]
        return {
            "runs": runs,
            "good": good,
            "throughput": median([r["throughput"] for r in good]),
            "p50": median([r["p50_ms"] for r in good if r.get("p50_ms") is not None]),
            "p99": median([r["p99_ms"] for r in good if r.get("p99_ms") is not None]),
            "cpu": median([r["machine_cpu_cores"] for r in good if r.get("machine_cpu_cores") is not None]),
        }

    callers_values = sorted({key[2] for key in order})
    systems_order: List[Tuple[str, str]] = []
    for key in order:
        if (key[0], key[1]) not in systems_order:
            systems_order.append((key[0], key[1]))
    if KEEL_EMBEDDED in systems_order:
        systems_order.remove(KEEL_EMBEDDED)
        systems_order.insert(0, KEEL_EMBEDDED)

    print("| system | configuration | callers | workflows/s (median) | each round | p50 | p99 | machine CPU "
          "| Keel embedded ÷ this, workflows/s | this ÷ Keel embedded, p50 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for callers in callers_values:
        keel = summary((*KEEL_EMBEDDED, callers))
        for system, config in systems_order:
            key = (system, config, callers)
            if key not in groups:
                continue
            s = summary(key)
            rounds = " / ".join(fmt_rate(r["throughput"]) if r.get("ok") else "failed" for r in s["runs"])
            if not s["good"]:
                reasons = sorted({(r.get("reason") or (r.get("errors") or [["?"]])[0][0])[:160] for r in s["runs"]})
                print(f"| {system} | {config} | {callers} | failed | {rounds} | – | – | – | – | "
                      f"{'; '.join(reasons).replace('|', '/')} |")
                continue
            partial = "" if len(s["good"]) == len(s["runs"]) else f" ({len(s['runs']) - len(s['good'])} failed)"
            cpu = f"{s['cpu']:.2f} cores" if s["cpu"] is not None else "–"
            ratio = keel["throughput"] / s["throughput"] if keel["throughput"] and s["throughput"] else None
            latency_ratio = s["p50"] / keel["p50"] if keel["p50"] and s["p50"] else None
            print(f"| {system} | {config} | {callers} | {fmt_rate(s['throughput'])}{partial} | {rounds} | "
                  f"{fmt_ms(s['p50'])} | {fmt_ms(s['p99'])} | {cpu} | {fmt_ratio(ratio)} | {fmt_ratio(latency_ratio)} |")

    failures = [line for line in lines if not line.get("ok")]
    if failures:
        print()
        print("Failed or partial runs:")
        for line in failures:
            errors = "; ".join(f"{count}× {message}" for message, count in (line.get("errors") or [])[:3])
            print(f"- round {line.get('round', '?')}: {line['system']}, {line['config']}, {line['callers']} callers: "
                  f"{line.get('succeeded', 0)} succeeded, {line.get('failed', 0)} failed; {errors or line.get('reason', '')}")


def append(args: argparse.Namespace) -> None:
    """A JSON line on stdin -> the results file, with round and order added; prints a one-line summary."""
    line = json.loads(sys.stdin.read())
    line["round"], line["order"] = args.round, args.order
    with open(args.path, "a", encoding="utf-8") as file:
        file.write(json.dumps(line) + "\n")
    if line.get("ok"):
        cpu = line.get("machine_cpu_cores")
        print(f"  -> {line['throughput']:,.1f} workflows/s, p50 {line['p50_ms']:.2f} ms, p99 {line['p99_ms']:.2f} ms"
              + (f", machine CPU {cpu:.2f} cores" if cpu is not None else ""))
    else:
        print(f"  -> failed: {line.get('reason') or line.get('errors')} "
              f"({line.get('succeeded', 0)} succeeded, {line.get('failed', 0)} failed)")


def commands(path: str) -> None:
    """The command of each system, configuration and caller count, from round 1."""
    seen = set()
    with open(path, encoding="utf-8") as file:
        for raw in file:
            line = json.loads(raw)
            key = (line["system"], line["config"], line["callers"])
            if line.get("round") == 1 and line.get("command") and key not in seen:
                seen.add(key)
                print(f"  {line['system']}, {line['config']}, {line['callers']} caller(s):\n    {line['command']}")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("keel-line")
    k.add_argument("--system", required=True)
    k.add_argument("--config", required=True)
    k.add_argument("--callers", type=int, required=True)
    k.add_argument("--cpu-before", required=True)
    k.add_argument("--cpu-after", required=True)
    f = sub.add_parser("failure")
    f.add_argument("--system", required=True)
    f.add_argument("--config", required=True)
    f.add_argument("--callers", type=int, required=True)
    f.add_argument("--reason", required=True)
    t = sub.add_parser("table")
    t.add_argument("path")
    a = sub.add_parser("append")
    a.add_argument("--round", type=int, required=True)
    a.add_argument("--order", type=int, required=True)
    a.add_argument("path")
    c = sub.add_parser("commands")
    c.add_argument("path")
    args = parser.parse_args()
    if args.command == "keel-line":
        print(json.dumps(keel_line(args)))
    elif args.command == "failure":
        print(json.dumps(failure_line(args.system, args.config, args.callers, args.reason)))
    elif args.command == "append":
        append(args)
    elif args.command == "commands":
        commands(args.path)
    else:
        table(args.path)


if __name__ == "__main__":
    main()
