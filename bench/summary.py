"""Medians and spread of several ``bench.run`` results (the machine is shared and noisy).

    python -m bench.summary bench/results/A.json bench/results/B.json bench/results/C.json
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

FIGURES = {
    "appeals_per_s (AMQP, full speed)": ("full_speed_amqp", "appeals_per_s"),
    "appeals_per_s (HTTP, full speed)": ("full_speed_http", "appeals_per_s"),
    "cpu_ms_per_appeal total (AMQP)": ("full_speed_amqp", "cpu_ms_per_appeal", "total"),
    "unavoidable ms per appeal": ("unavoidable_ms_per_appeal",),
    "ratio mesh / unavoidable": ("ratio_to_unavoidable",),
    "transactions per appeal (AMQP)": ("full_speed_amqp", "database_per_appeal", "transactions", "total"),
    "statements per appeal (AMQP)": ("full_speed_amqp", "database_per_appeal", "statements", "total"),
    "load average (AMQP full speed, mean)": ("full_speed_amqp", "loadavg", "mean"),
}
AT_RATE = {"p50_ms": ("p50_ms",), "p99_ms": ("p99_ms",), "warm-up p99_ms": ("warmup_p99_ms",),
           "cpu_ms_per_appeal total": ("cpu_ms_per_appeal", "total"),
           "transactions per appeal": ("database_per_appeal", "transactions", "total"),
           "statements per appeal": ("database_per_appeal", "statements", "total")}
PARTS = ("intake", "dispatch", "supervision", "assessment", "notify", "rabbitmq", "postgresql")


def dig(result: dict, path: tuple[str, ...]):
    for key in path:
        if not isinstance(result, dict) or key not in result:
            return None
        result = result[key]
    return result


def summary(results: list[dict]) -> dict[str, dict]:
    rows = dict(FIGURES)
    rates = sorted({rate for r in results for rate in r.get("fixed_rate", {})}, key=float)
    rows.update({f"{label} at {rate}/s": ("fixed_rate", rate, *path)
                 for rate in rates for label, path in AT_RATE.items()})
    rows.update({f"cpu_ms_per_appeal {part} (AMQP)": ("full_speed_amqp", "cpu_ms_per_appeal", part)
                 for part in PARTS})
    table = {}
    for label, path in rows.items():
        values = [v for v in (dig(r, path) for r in results) if isinstance(v, (int, float))]
        if values:
            table[label] = {"median": round(statistics.median(values), 2), "min": min(values), "max": max(values),
                            "runs": len(values)}
    return table


def main(argv: list[str] | None = None) -> None:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    if not paths:
        sys.exit("name the result files")
    table = summary([json.loads(p.read_text()) for p in paths])
    print(f"{'figure':44s} {'median':>9s} {'min':>9s} {'max':>9s}")
    for label, row in table.items():
        print(f"{label:44s} {row['median']:9} {row['min']:9} {row['max']:9}")


if __name__ == "__main__":
    main()
