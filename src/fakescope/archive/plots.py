"""The pictures of ``fakescope batch-report``: verdict counts, a histogram of the verdict scores, the slowest
inputs (matplotlib, written atomically). Kept apart from the data export (report.py), which is decision code
under mutation testing; these are drawings."""

from __future__ import annotations

import io
from pathlib import Path

from ..schema import write_atomic

_VERDICT_COLOURS = {"fake": "#c0392b", "real": "#27ae60", "uncertain": "#e67e22", "inconclusive": "#d4ac0d",
                    "failed": "#7d3c98", "pending": "#95a5a6"}  # fmt: skip


def label_of(row: dict) -> str:
    """A results row's label in the report: its verdict when done, else failed / pending."""
    if row["status"] == "done":
        return row["verdict"] or "inconclusive"
    return "failed" if row["status"] == "failed" else "pending"


def write_plots(rows: list[dict], counts: dict[str, int], out: Path, slowest: int) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []

    def save(fig, name: str) -> None:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=110)
        plt.close(fig)
        written.append(write_atomic(out / name, buf.getvalue()))

    labels = [k for k in _VERDICT_COLOURS if counts.get(k)]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bars = ax.bar(labels, [counts[k] for k in labels], color=[_VERDICT_COLOURS[k] for k in labels])
    ax.bar_label(bars)
    ax.set_ylabel("inputs")
    ax.set_title(f"verdicts ({len(rows)} inputs)")
    save(fig, "verdicts.png")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label in ("fake", "real", "uncertain", "inconclusive"):
        scores = [r["score"] for r in rows
                  if r["status"] == "done" and r["verdict"] == label and r["score"] is not None]  # fmt: skip
        if scores:
            ax.hist(scores, bins=20, range=(0, 1), alpha=0.7, label=label, color=_VERDICT_COLOURS[label])
    ax.set_xlabel("verdict score (the rule's p_fake statistic)")
    ax.set_ylabel("inputs")
    ax.set_xlim(0, 1)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    ax.set_title("score histogram")
    save(fig, "scores.png")

    timed = sorted((r for r in rows if r["seconds"] is not None), key=lambda r: r["seconds"], reverse=True)[:slowest]
    fig, ax = plt.subplots(figsize=(7, 0.35 * max(3, len(timed)) + 1))
    names = [r["name"][:40] for r in timed][::-1]
    secs = [r["seconds"] for r in timed][::-1]
    ax.barh(names, secs, color=[_VERDICT_COLOURS[label_of(r)] for r in timed][::-1])
    ax.set_xlabel("seconds")
    ax.set_title(f"slowest {len(timed)} inputs")
    save(fig, "slowest.png")
    return written
