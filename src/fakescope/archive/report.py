"""``fakescope batch-report DIR``: the results table as CSV (and Parquet when pyarrow is installed) and
three plots (:mod:`.plots`): verdict counts, a histogram of the verdict scores, the slowest inputs."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..schema import write_atomic
from ..textsafe import csv_row
from .plots import label_of, write_plots
from .store import COLUMNS, DB_NAME, ResultStore

log = logging.getLogger(__name__)


@dataclass
class ReportFiles:
    rows: int
    counts: dict[str, int]
    files: list[Path] = field(default_factory=list)


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
        counts[label_of(r)] = counts.get(label_of(r), 0) + 1
    files = []

    buf = io.StringIO()
    # no mutation testing: the rows hold exactly these columns, so "ignore" and "raise" behave alike
    w = csv.DictWriter(buf, fieldnames=[*COLUMNS, "same_as"], extrasaction="ignore")  # pragma: no mutate
    w.writeheader()
    w.writerows(csv_row(r) for r in listed)  # spreadsheet-safe: no cell starts a formula
    files.append(write_atomic(out / "results.csv", buf.getvalue()))

    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        log.info("pyarrow is not installed: no Parquet export")  # pragma: no mutate (log text)
    else:
        table = pa.Table.from_pylist(listed) if listed else pa.table({c: [] for c in (*COLUMNS, "same_as")})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        files.append(write_atomic(out / "results.parquet", sink.getvalue().to_pybytes()))

    files += write_plots(rows, counts, out, slowest)
    return ReportFiles(rows=len(rows), counts=counts, files=files)
