"""Every benchmark, one table, one file: `python -m bench.run_all` (what `make bench` runs).

Runs the stack bench (create path end to end), the durable engine bench and the cleanup timer bench, each
on its own Azurite, prints one table with the goals marked met / MISSED, and writes bench/results.json.
Sizes are options so the whole thing can be tried small (`--small`) on a busy machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bench import cleanup_bench, durable_bench, stack_bench

RESULTS = Path(__file__).resolve().parent / "results.json"
GOALS = (  # (label, figure path in results, comparison, limit)
    ("PUT -> Installed p50 <= 1 s", ("stack", "latency", "p50_seconds"), "<=", 1.0),
    ("PUT -> Installed p99 <= 3 s", ("stack", "latency", "p99_seconds"), "<=", 3.0),
    (">= 20 creates/s (no key generation; best of: counted, uncounted with 1 and 2 devhost processes)",
     ("stack", "best_creates_per_second"), ">=", 20.0),
    ("<= 20 Azurite requests per create (net of idle)", ("stack", "throughput", "net_per_create"), "<=", 20.0),
    ("devhost RSS <= 300 MB with live orchestrations", ("stack", "rss", "rss_mib"), "<=", 300.0),
    ("durable sequential >= 30 activities/s", ("durable", "sequential chain", "activities_per_second"), ">=", 30.0),
    ("durable fan-out >= 300 activities/s", ("durable", "fan-out/fan-in", "activities_per_second"), ">=", 300.0),
    ("cleanup run ratio <= 1.5", ("cleanup", "ratio"), "<=", cleanup_bench.GOAL_RATIO),
)


def lookup(results: dict[str, Any], path: tuple[str, ...]) -> float:
    value: Any = results
    for key in path:
        value = value[key]
    return float(value)


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    checked = []
    for label, path, op, limit in GOALS:
        value = lookup(results, path)
        met = value <= limit if op == "<=" else value >= limit
        checked.append({"goal": label, "value": value, "met": met})
    return checked


def table(results: dict[str, Any]) -> str:
    s, info = results["stack"], results["machine"]
    lat, thr, key, rss = s["latency"], s["throughput"], s["keygen"], s["rss"]
    rows = [
        ("PUT -> Installed p50 / p99 / max (s)",
         f"{lat['p50_seconds']:.3f} / {lat['p99_seconds']:.3f} / {lat['max_seconds']:.3f}",
         f"{lat['count']} configurations, {lat['rate_per_second']:g} PUT/s"),
        ("creates/s, first PUT -> last Installed", f"{thr['creates_per_second']:.1f}",
         f"{thr['count']} creates in {thr['seconds']:.1f} s, {stack_bench.CLIENT_THREADS} client threads"),
        ("Azurite requests per create, net of idle", f"{thr['net_per_create']:.1f}",
         f"total {thr['total_per_create']:.1f} - idle {thr['idle_per_create']:.2f}; by service "
         + ", ".join(f"{k} {v:.1f}" for k, v in thr["net_per_create_by_service"].items())),
        ("idle Azurite requests/s", f"{sum(thr['idle_by_verb_per_second'].values()):.2f}",
         ", ".join(f"{k} {v:.2f}" for k, v in thr["idle_by_verb_per_second"].items())),
        ("CPU s during the creates", f"{sum(v for v in thr['cpu_seconds'].values()):.1f}",
         ", ".join(f"{k} {v:.1f}" for k, v in thr["cpu_seconds"].items())),
    ]
    for run in s.get("throughput_uncounted") or []:
        rows.append((f"creates/s, no proxy, {run['processes']} devhost process{'es' if run['processes'] > 1 else ''}",
                     f"{run['creates_per_second']:.1f}",
                     f"{run['count']} creates in {run['seconds']:.1f} s; CPU s "
                     + ", ".join(f"{k} {v:.1f}" for k, v in run["cpu_seconds"].items() if v)))
    rows += [
        ("creates/s with key generation (RSA 4096)", f"{key['creates_per_second']:.2f}",
         f"{key['count']} creates in {key['seconds']:.1f} s"),
        ("devhost RSS with live orchestrations (MiB)", f"{rss['rss_mib']:.0f}",
         (f"{rss['live_orchestrations']} waiting ({rss['instances_in_memory']} in memory); "
         f"{rss['rss_before_mib']:.0f} before them, {s['rss_idle_mib']:.0f} at start")),
    ]
    for r in results["durable"].values():
        rows.append((f"durable {r['name']} (activities/s)", f"{r['activities_per_second']:.0f}",
                     (f"{r['activities']} activities, {r['orchestrations_per_second']:.1f} orch/s, "
                     f"{r['requests_per_activity']:.2f} requests/activity")))
    durable = results["durable"]
    if "concurrent_1_process" in durable and "concurrent_2_processes" in durable:
        one, two = durable["concurrent_1_process"], durable["concurrent_2_processes"]
        rows.append(("durable concurrent: 2 vs 1 processes", f"{one['seconds'] / two['seconds']:.2f}x",
                     f"{one['orchestrations_per_second']:.1f} -> {two['orchestrations_per_second']:.1f} orch/s"))
    c = results["cleanup"]
    rows.append(("cleanup run ratio", f"{c['ratio']:.2f}",
                 (f"median {c['small_median_seconds']:.3f} s at {c['small']}, {c['large_median_seconds']:.3f} s "
                 f"at {c['large']} configurations")))
    lines = [f"machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}, Azurite {info['azurite']}", ""]
    lines += [f"{'figure':<46}{'value':>24}  detail"]
    lines += [f"{name:<46}{value:>24}  {detail}" for name, value, detail in rows]
    lines += ["", "goals:"]
    lines += [f"  {'met   ' if g['met'] else 'MISSED'} {g['goal']} (measured {g['value']:g})" for g in results["goals"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="every size small, to try it on a busy machine")
    parser.add_argument("--latency", type=int, default=200)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--keygen", type=int, default=20)
    parser.add_argument("--live", type=int, default=1000)
    parser.add_argument("--cleanup-large", type=int, default=10_000)
    parser.add_argument("--profile", type=Path, help="py-spy collapsed stacks of the devhost during the creates")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.small:
        args.latency, args.creates, args.keygen, args.live, args.cleanup_large = 20, 20, 4, 20, 1000
    durable_sizes = {"chain": 100, "fan": 1000, "orchestrations": 100, "per_orchestration": 5}
    if args.small:
        durable_sizes = {"chain": 30, "fan": 200, "orchestrations": 20, "per_orchestration": 5}

    results: dict[str, Any] = {"machine": durable_bench.machine(), "sizes": vars(args) | durable_sizes}
    results["sizes"].pop("json")
    results["sizes"]["profile"] = str(args.profile) if args.profile else None
    results["stack"] = stack_bench.measure(latency=args.latency, rate=args.rate, creates=args.creates,
                                           keygen=args.keygen, live=args.live, profile_to=args.profile)
    results["stack"]["best_creates_per_second"] = max(
        [results["stack"]["throughput"]["creates_per_second"]]
        + [run["creates_per_second"] for run in results["stack"].get("throughput_uncounted") or []])
    results["durable"] = {r["name"]: r for r in durable_bench.as_json(durable_bench.measure(**durable_sizes))}
    results["cleanup"] = cleanup_bench.measure(small_count=10, large_count=args.cleanup_large, runs=7)
    results["goals"] = goals(results)
    print(table(results))
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten: {args.json}")
    return 0 if all(g["met"] for g in results["goals"]) else 1


if __name__ == "__main__":
    sys.exit(main())
