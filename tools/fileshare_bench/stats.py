"""Pure arithmetic over recorded requests: which failed, percentiles, the error window."""

from __future__ import annotations

import math
from typing import NamedTuple


class Record(NamedTuple):
    """One client request: t = seconds since the run started (when it was sent)."""

    t: float
    op: str
    status: int | None  # None: no HTTP answer (connection refused/reset, timeout, TLS failure)
    latency: float  # seconds
    error: str = ""  # why it failed, when it did


def failed(record: Record) -> bool:
    return bool(record.error)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of VALUES; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def window(records: list[Record], start: float | None = None, end: float | None = None) -> list[Record]:
    """The records sent in [start, end)."""
    return [r for r in records if (start is None or r.t >= start) and (end is None or r.t < end)]


def summarize(records: list[Record], start: float | None = None, end: float | None = None) -> dict:
    """
    Requests, failures and latency of the records sent in [start, end). The error window runs from
    the first failed request's send time to the end of the last failed one (0 when none failed).
    """
    chosen = window(records, start, end)
    bad = [r for r in chosen if failed(r)]
    latencies = [r.latency for r in chosen if not failed(r)]
    by_op: dict[str, int] = {}
    for r in bad:
        by_op[r.op] = by_op.get(r.op, 0) + 1
    if chosen:
        first_t = start if start is not None else chosen[0].t
        last_t = end if end is not None else max(r.t + r.latency for r in chosen)
        duration = max(last_t - first_t, 0.0)
    else:
        duration = 0.0
    first_fail = min((r.t for r in bad), default=None)
    last_fail = max((r.t + r.latency for r in bad), default=None)
    return {
        "requests": len(chosen),
        "failed": len(bad),
        "failed_by_op": dict(sorted(by_op.items())),
        "errors": sorted({r.error for r in bad})[:10],
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies, default=0.0) * 1000, 1),
        "rps": round(len(chosen) / duration, 1) if duration else 0.0,
        "duration_seconds": round(duration, 1),
        "error_window_seconds": round(last_fail - first_fail, 2) if bad else 0.0,
        "first_failure": round(first_fail, 2) if bad else None,
        "last_failure": round(last_fail, 2) if bad else None,
    }


def markdown_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """A markdown table of ROWS; COLUMNS = [(key, heading)]."""
    out = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        out.append("| " + " | ".join(_cell(row.get(k)) for k, _ in columns) + " |")
    return "\n".join(out) + "\n"


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
