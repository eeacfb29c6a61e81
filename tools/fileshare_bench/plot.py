"""The picture of a run: latency of every request over time, failures marked, steps annotated."""

from __future__ import annotations

from pathlib import Path

from fileshare_bench.stats import failed


def timeline(runs: dict, path: str | Path, title: str = "") -> Path:
    """One panel per run (name -> Run): latency (log scale) of each request, failed requests as red
    crosses on the top edge, every mark as a labelled vertical line. Writes a PNG to PATH."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(runs)
    fig, axes = plt.subplots(len(names), 1, figsize=(13, 3.6 * len(names)), squeeze=False, sharex=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        run = runs[name]
        ok = [r for r in run.records if not failed(r)]
        bad = [r for r in run.records if failed(r)]
        ax.scatter([r.t for r in ok], [r.latency * 1000 for r in ok], s=2, alpha=0.35, label="ok")
        top = max((r.latency * 1000 for r in ok), default=100.0) * 1.5
        if bad:
            ax.scatter(
                [r.t for r in bad],
                [top] * len(bad),
                marker="x",
                color="red",
                s=14,
                label=f"failed ({len(bad)})",
            )
        for t, label in run.marks:
            ax.axvline(t, color="grey", linewidth=0.6, linestyle="--")
            ax.text(t, top * 1.15, label, rotation=90, fontsize=6, va="bottom", ha="right", color="dimgrey")
        s = run.summary()
        ax.set_yscale("log")
        ax.set_ylabel("latency (ms)")
        ax.set_xlabel("seconds since start")
        ax.set_title(
            f"{name}: {s['requests']} requests, {s['failed']} failed, "
            f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms",
            fontsize=10,
        )
        ax.legend(loc="lower right", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
