"""
fileshare-bench: load through a site's VIP, recorded, for benchmarks.

  fileshare-bench load --lab NAME [--seconds 60] [--rate 30] [--workers 6] [--out FILE]
  fileshare-bench rolling ...   (tools/fileshare_bench/rolling.py)
  fileshare-bench faults ...    (tools/fileshare_bench/faults/)

Arguments are checked before anything is sent or changed: a bad one gives one message naming it, exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
from pathlib import Path

from fileshare_bench.target import BenchError

REPO = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO / "build" / "bench"
# Modules of this package that add subcommands with register().
PLUGINS = ("rolling", "faults", "failover", "backup")
_COMMANDS: dict[str, tuple] = {}


def register(name: str, help_text: str, add_arguments, run) -> None:
    """Add subcommand NAME: add_arguments(parser) declares its arguments, run(args) -> exit code."""
    _COMMANDS[name] = (help_text, add_arguments, run)


# ---- argument types: each names the argument and the reason ----------------------------------------


def number(low: float, high: float, kind=float):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return parse


def lab_name(text: str) -> str:
    from fileshare_lab import logic

    try:
        return logic.check_lab_name(text)
    except Exception as exc:  # noqa: BLE001 - LabError; its message names the problem
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lab", type=lab_name, default="fileshare", help="lab whose VIP takes the load")
    parser.add_argument("--rate", type=number(0.1, 1000), default=30.0, help="requests/second")
    parser.add_argument("--workers", type=number(1, 64, int), default=12, help="client threads")
    parser.add_argument("--user", default="alice", help="WebDAV user of the site")


def _cmd_load(args) -> int:
    from fileshare_bench.loadgen import LoadGenerator
    from fileshare_bench.target import Target

    target = Target.from_lab(args.lab, args.user)
    with LoadGenerator(target, rate=args.rate, workers=args.workers, name="load", prefill=True) as lg:
        try:
            lg._stop.wait(args.seconds)
        except KeyboardInterrupt:
            pass
    summary = lg.run.summary()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(lg.run.to_dict()) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"records: {out}")
    return 0


def _add_load(parser):
    add_load_arguments(parser)
    parser.add_argument("--seconds", type=number(1, 86400), default=60.0)
    parser.add_argument("--out", default=str(BENCH_DIR / "load.json"))


register("load", "constant load through the VIP for --seconds, then the summary", _add_load, _cmd_load)


def parser() -> argparse.ArgumentParser:
    for plugin in PLUGINS:
        if importlib.util.find_spec(f"fileshare_bench.{plugin}"):
            importlib.import_module(f"fileshare_bench.{plugin}")
    top = argparse.ArgumentParser(prog="fileshare-bench", description=__doc__.split("\n")[1])
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, add_arguments, run) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(run=run)
    return top


def main(argv: list[str] | None = None) -> int:
    from fileshare_lab.host import closed_pipe

    try:
        args = parser().parse_args(argv)
        return args.run(args)
    except BenchError as exc:
        print(f"fileshare-bench: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return closed_pipe()


if __name__ == "__main__":
    sys.exit(main())
