"""``fakescope batch-report DIR``: the results table as CSV (and Parquet when pyarrow is installed) and
three plots: verdict counts, a histogram of the verdict scores, the slowest inputs."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..schema import write_atomic
from ..textsafe import csv_row
from .store import COLUMNS, DB_NAME, ResultStore

log = logging.getLogger(__name__)

_VERDICT_COLOURS = {"fake": "#c0392b", "real": "#27ae60", "uncertain": "#e67e22", "inconclusive": "#d4ac0d",
                    "failed": "#7d3c98", "pending": "#95a5a6"}  # fmt: skip


@dataclass
class ReportFiles:
    rows: int
    counts: dict[str, int]
    files: list[Path] = field(default_factory=list)


def _label(row: dict) -> str:
    if row["status"] == "done":
        return row["verdict"] or "inconclusive"
    return "failed" if row["status"] == "failed" else "pending"


def with_duplicates(rows: list[dict], paths: dict[str, list[str]]) -> list[dict]:
    """One row per input *name*: a file whose content was already analysed under another name gets a copy of
    that result with its own path and name, and ``same_as`` = the analysed path (one shared result)."""
    out = []
    for r in rows:
        out.append({**r, "same_as": ""})
        for other in paths.get(r["sha256"], []):
            if other != r["path"]:
                out.append({**r, "path": other, "name": Path(other).name, "same_as": r["path"]})
    return out


def write_report(folder: str | Path, out: str | Path | None = None, settings: str | None = None,
                 slowest: int = 15) -> ReportFiles:  # fmt: skip
    """Export the store of batch folder ``folder`` into ``out`` (default ``folder/report``)."""
    folder = Path(folder)
    if not (folder / DB_NAME).is_file():
        raise FileNotFoundError(f"{folder}: no batch results here ({DB_NAME} not found)")
    out = Path(out) if out else folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    with ResultStore(folder) as store:
        rows = store.rows(settings=settings)
        listed = with_duplicates(rows, store.paths_by_sha256())  # every input name (the CSV and Parquet)
    counts: dict[str, int] = {}
    for r in rows:
        counts[_label(r)] = counts.get(_label(r), 0) + 1
    files = []

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[*COLUMNS, "same_as"], extrasaction="ignore")
    w.writeheader()
    w.writerows(csv_row(r) for r in listed)  # spreadsheet-safe: no cell starts a formula
    files.append(write_atomic(out / "results.csv", buf.getvalue()))

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        log.info("pyarrow is not installed: no Parquet export")
    else:
        table = pa.Table.from_pylist(listed) if listed else pa.table({c: [] for c in (*COLUMNS, "same_as")})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        files.append(write_atomic(out / "results.parquet", sink.getvalue().to_pybytes()))

    files += _plots(rows, counts, out, slowest)
    return ReportFiles(rows=len(rows), counts=counts, files=files)


def _plots(rows: list[dict], counts: dict[str, int], out: Path, slowest: int) -> list[Path]:
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
    ax.barh(names, secs, color=[_VERDICT_COLOURS[_label(r)] for r in timed][::-1])
    ax.set_xlabel("seconds")
    ax.set_title(f"slowest {len(timed)} inputs")
    save(fig, "slowest.png")
    return written
