"""
fileshare-bench faults: the fault scenarios of issue 6 on a full_ha lab, each under constant client load
through the VIP, each healed before the next starts.

  fileshare-bench faults --lab NAME [--only 1,3] [--rate 15] [--out-dir build/bench]

Writes OUT_DIR/faults.json (every scenario's summary, checks and observations) and OUT_DIR/faults.md
(scenario, requests, failed, error window, data lost). tests/lab/test_faults.py runs the same scenarios
and asserts their checks. Requests to internal ports (database, Redis, HAProxy's runtime API) are made
from inside cluster nodes; the host is only a user of the VIP's HTTPS front.

 1 kill the MASTER load node: the VIP moves (error window < 3 s)
 2 kill the database writer: HAProxy moves writes to the next node, no committed row lost
 3 partition one database node: non-Primary, refuses writes, the others serve; heal: IST
 4 partition the three database nodes from each other: no Primary anywhere; heal: Primary returns
 5 full database outage: `state.orchestrate fileshare.galera_recover`, no committed row lost
 6 kill an app node, kill the Redis master (Sentinel, HAProxy follows), stop a storage node
 7 flood from one client: 429 for it, no failure for a normal client

The package: probes.py (the cluster seen from the host, asked through the suite's own modules),
scenarios.py (the scenarios and run_scenario), report.py (faults.json, faults.md); this file is the
`fileshare-bench faults` command.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fileshare_bench import cli
from fileshare_bench.faults.probes import Cluster, FaultError, Writer
from fileshare_bench.faults.report import note, write_report
from fileshare_bench.faults.scenarios import ORDER, SCENARIOS, run_scenario
from fileshare_bench.target import Target

__all__ = ["ORDER", "SCENARIOS", "Cluster", "FaultError", "Writer", "run_scenario", "write_report"]


def _numbers(text: str) -> list[int]:
    try:
        wanted = {int(x) for x in text.split(",") if x.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of scenario numbers"
        ) from None
    if not wanted or not wanted <= set(ORDER):
        raise argparse.ArgumentTypeError(f"{text!r}: scenarios are {min(ORDER)}..{max(ORDER)}")
    return [n for n in ORDER if n in wanted]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lab", type=cli.lab_name, default="fileshare", help="a converged full_ha lab")
    parser.add_argument(
        "--only",
        type=_numbers,
        default=list(ORDER),
        help="comma-separated scenario numbers (default: all; the outage, 5, runs last)",
    )
    parser.add_argument("--rate", type=cli.number(1, 200), default=15.0, help="client requests/second")
    parser.add_argument("--out-dir", default=str(cli.BENCH_DIR), help="where faults.json and faults.md go")


def _run(args) -> int:
    cluster = Cluster(args.lab)
    target = Target.from_lab(args.lab)
    command = (
        "fileshare-bench faults --lab "
        + args.lab
        + ("" if len(args.only) == len(SCENARIOS) else " --only " + ",".join(map(str, args.only)))
    )
    results = []
    for number in args.only:
        print(f"[faults] scenario {number} ...", flush=True)
        result = run_scenario(cluster, target, number, args.rate)
        results.append(result)
        print(
            f"[faults] {result['scenario']}: {result['requests']} requests, {result['failed']} failed, "
            f"window {result['error_window_seconds']} s, lost {result['data_lost']}; {note(result)}",
            flush=True,
        )
        write_report(results, Path(args.out_dir), command)
    js, md = write_report(results, Path(args.out_dir), command)
    print(md.read_text())
    print(f"written: {js} {md}")
    return 0 if all(all(r["checks"].values()) and not r["error"] for r in results) else 1


cli.register(
    "faults", "the fault scenarios of issue 6 under load; build/bench/faults.{json,md}", _add_arguments, _run
)
