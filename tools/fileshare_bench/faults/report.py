"""The fault scenarios' report: faults.json (every result) and faults.md (one row per scenario)."""

from __future__ import annotations

import json
from pathlib import Path

from fileshare_bench.stats import markdown_table

COLUMNS = [
    ("scenario", "scenario"),
    ("requests", "requests"),
    ("failed", "failed"),
    ("error_window_seconds", "error window (s)"),
    ("file_ops_failed", "file ops failed"),
    ("file_ops_window", "file ops window (s)"),
    ("data_lost", "rows lost"),
    ("content_mismatches", "stale/wrong reads"),
    ("note", "observed"),
]


def note(result: dict) -> str:
    o = dict(result["observed"])
    for part, summary in result["parts"].items():
        o[f"{part}_error_window_seconds"] = summary["error_window_seconds"]
    keys = [
        "vip_moved_after_seconds",
        "failover_error_window_seconds",
        "failover_webdav_error_window_seconds",
        "failback_error_window_seconds",
        "writer_marked_down_after_seconds",
        "db_error_window_seconds",
        "db_longest_outage_seconds",
        "primary_returned_by_itself_after_seconds",
        "power_cut_galera_recover_seconds",
        "power_cut_galera_recover_path",
        "staggered_galera_recover_seconds",
        "staggered_galera_recover_path",
        "staggered_positions",
        "vip_back_after_heal_seconds",
        "sentinel_failover_seconds",
        "app_down_webdav_error_window_seconds",
        "redis_failover_webdav_error_window_seconds",
        "haproxy_follows_seconds",
        "storage_down_puts_ok",
        "storage_down_puts_failed",
        "gluster_heal_seconds",
        "flood_statuses",
    ]
    parts = [f"{k}={json.dumps(o[k]) if isinstance(o[k], dict) else o[k]}" for k in keys if k in o]
    failed = [k for k, v in result["checks"].items() if not v]
    if failed:
        parts.append("FAILED: " + "; ".join(failed))
    if result.get("error"):
        parts.append("ERROR: " + result["error"][:200])
    return ", ".join(parts).replace("|", "/")


def write_report(results: list[dict], out_dir: Path, command: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "faults.json", out_dir / "faults.md"
    js.write_text(json.dumps({"command": command, "scenarios": results}, indent=1, default=str) + "\n")
    rows = [
        dict(
            r,
            note=note(r),
            file_ops_failed=r["file_ops"]["failed"],
            file_ops_window=r["file_ops"]["error_window_seconds"],
            data_lost="-" if r["data_lost"] is None else r["data_lost"],
        )
        for r in results
    ]
    md.write_text(
        f"Fault scenarios under client load through the VIP (`{command}`)\n\n" + markdown_table(rows, COLUMNS)
    )
    return js, md
