"""The results store of a batch: one SQLite file, ``DIR/batch.sqlite3``, one row per input and settings.

SQLite was chosen over Parquet by measurement (``bench/batch.py``, "store" in bench/RESULTS.md): a
batch records each input as it finishes, so what matters is a durable small update (a committed
row, safe against SIGKILL at any moment) and reading "what is done" on resume; SQLite in WAL mode
does both in well under a millisecond, while Parquet files are immutable (every update rewrites the
file, or one file per row). ``fakescope batch-report`` exports the table to CSV and Parquet.

Tables:

* ``results`` — key ``(sha256, settings)``: the input's content hash and the settings hash
  (:func:`settings_hash`); ``status`` pending → running → done | failed, verdict and scores, timings,
  the error, the path of its ``result.json``, attempts, worker. Inputs that cannot be hashed (missing,
  not a regular file) are keyed ``path:<absolute path>``.
* ``settings`` — each settings hash with the full configuration (JSON).
* ``files`` — a hash cache: path, size, mtime → sha256, so a re-run does not re-read unchanged files.
* ``runs`` — each invocation: sources, settings, engine, start/end (``--resume`` continues the last).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

from ..engine import Outcome
from ..errors import FakescopeError
from ..pipeline import AnalyzeConfig, config_dict

DB_NAME = "batch.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (hash TEXT PRIMARY KEY, config TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    sha256 TEXT NOT NULL,
    settings TEXT NOT NULL,
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    size_bytes INTEGER,
    status TEXT NOT NULL,
    verdict TEXT,
    score REAL,
    reason TEXT,
    headline TEXT,
    n_faces INTEGER,
    n_tracks INTEGER,
    max_p_fake REAL,
    mean_p_fake REAL,
    kind TEXT,
    duration REAL,
    seconds REAL,
    t_decode REAL,
    t_detect REAL,
    t_classify REAL,
    timings TEXT,
    error TEXT,
    result_path TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    engine TEXT,
    queued TEXT NOT NULL,
    started TEXT,
    finished TEXT,
    PRIMARY KEY (sha256, settings)
);
CREATE INDEX IF NOT EXISTS results_status ON results(settings, status);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started TEXT NOT NULL,
    finished TEXT,
    settings TEXT NOT NULL,
    sources TEXT NOT NULL,
    options TEXT NOT NULL
);
"""

COLUMNS = ("sha256", "settings", "path", "name", "size_bytes", "status", "verdict", "score", "headline", "reason",
           "n_faces", "n_tracks", "max_p_fake", "mean_p_fake", "kind", "duration", "seconds", "t_decode", "t_detect",
           "t_classify", "timings", "error", "result_path", "attempts", "worker", "engine", "queued", "started",
           "finished")  # fmt: skip

# settings that change how fast, not what, an analysis computes
_NOT_IN_HASH = ("batch_size",)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def settings_hash(cfg: AnalyzeConfig) -> tuple[str, dict]:
    """16 hex digits of the sha256 of the settings that decide a result, and those settings."""
    d = {k: v for k, v in config_dict(cfg).items() if k not in _NOT_IN_HASH}
    text = json.dumps(d, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16], d


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def config_from_dict(d: dict) -> AnalyzeConfig:
    """Inverse of :func:`fakescope.pipeline.config_dict` (for ``--resume``): nested dataclasses (e.g.
    the quality gate) are rebuilt from their dicts, JSON lists become the tuples the config holds."""
    from ..media import Sampling

    def build(cls, data: dict):
        out = {}
        for f in dataclasses.fields(cls):
            if f.name not in data:
                continue
            v = data[f.name]
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if isinstance(v, dict) and dataclasses.is_dataclass(default):
                v = build(type(default), v)
            elif isinstance(v, list) and (isinstance(default, tuple) or f.name == "band"):
                v = tuple(v)
            out[f.name] = v
        return cls(**out)

    d = dict(d)
    d["sampling"] = Sampling.parse(d.get("sampling", "even:32"))
    return build(AnalyzeConfig, d)


class StoreError(FakescopeError):
    """The results store cannot be used (damaged, locked, not a folder): a one-line message says how to recover."""


def _results_folder(folder: str | Path) -> Path:
    """``folder`` as a batch results folder, created if needed (StoreError if it is a file or cannot be made)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"{folder}: exists and is not a folder; give --out a folder (new or earlier)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"{folder}: cannot create the results folder ({e.strerror or e})") from None
    return folder


class BatchLock:
    """Exclusive writer lock of a batch folder (``OUT/.batch.lock``, ``fcntl.flock``): a second ``batch`` on
    the same ``--out`` stops at once with "another batch is writing to OUT (pid N)". The kernel drops the
    lock when its process ends, so a killed run never leaves a stale lock."""

    NAME = ".batch.lock"

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._fd: int | None = None

    def __enter__(self) -> BatchLock:
        import fcntl
        import os

        path = _results_folder(self.folder) / self.NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            finally:
                os.close(fd)
            raise StoreError(f"another batch is writing to {self.folder} (pid {pid}); wait for it to end, or use "
                             "another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        import os

        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None


class ResultStore:
    """The SQLite results table of one batch folder (safe to use from one thread at a time per call)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = _results_folder(folder)
        self.path = self.folder / DB_NAME
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at each checkpoint, never corrupt
            self._db.executescript(_SCHEMA)
            have = {r[1] for r in self._db.execute("PRAGMA table_info(results)").fetchall()}
            if "headline" not in have:  # a store made before verdicts had plain sentences (issue 22)
                self._db.execute("ALTER TABLE results ADD COLUMN headline TEXT")
        except sqlite3.OperationalError as e:
            if "locked" in str(e) or "busy" in str(e):
                raise StoreError(f"{self.path}: locked by another process for 30 s (another batch writing to "
                                 f"{self.folder}?): wait for it to end, or use another --out") from None
            raise StoreError(f"{self.path}: cannot open the results store ({e})") from None
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.path}: damaged or not a fakescope results store ({e}): move it away to start "
                             f"over (results already exported under {self.folder}/report stay)") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- settings, runs, hash cache -----------------------------------------------------------------

    def register_settings(self, cfg: AnalyzeConfig) -> str:
        key, d = settings_hash(cfg)
        full = config_dict(cfg)
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO settings (hash, config, created) VALUES (?,?,?)",
                             (key, json.dumps(full, sort_keys=True, default=str), now()))  # fmt: skip
        return key

    def settings_config(self, key: str) -> AnalyzeConfig | None:
        with self._lock:
            row = self._db.execute("SELECT config FROM settings WHERE hash=?", (key,)).fetchone()
        return config_from_dict(json.loads(row[0])) if row else None

    def start_run(self, settings: str, sources: list[str], options: dict) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO runs (started, settings, sources, options) VALUES (?,?,?,?)",
                (now(), settings, json.dumps(sources), json.dumps(options, default=str)),
            )
            return int(cur.lastrowid)

    def finish_run(self, run_id: int) -> None:
        with self._lock:
            self._db.execute("UPDATE runs SET finished=? WHERE id=?", (now(), run_id))

    def last_run(self) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return {"id": row["id"], "settings": row["settings"], "sources": json.loads(row["sources"]),
                "options": json.loads(row["options"]), "finished": row["finished"]}  # fmt: skip

    def file_hash(self, path: Path) -> str:
        """sha256 of a regular file, from the cache when its size and mtime are unchanged."""
        st = path.stat()
        key = str(path.resolve())
        with self._lock:
            row = self._db.execute("SELECT size, mtime_ns, sha256 FROM files WHERE path=?", (key,)).fetchone()
        if row and row[0] == st.st_size and row[1] == st.st_mtime_ns:
            return row[2]
        digest = sha256_of(path)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO files (path, size, mtime_ns, sha256) VALUES (?,?,?,?)",
                             (key, st.st_size, st.st_mtime_ns, digest))  # fmt: skip
        return digest

    # -- rows ---------------------------------------------------------------------------------------

    def add(self, sha256: str, settings: str, path: str, name: str, size: int | None) -> dict:
        """Insert a pending row unless one exists for this key; return the row."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO results (sha256, settings, path, name, size_bytes, status, queued) "
                "VALUES (?,?,?,?,?,?,?)",
                (sha256, settings, path, name, size, "pending", now()),
            )
            return dict(self._db.execute("SELECT * FROM results WHERE sha256=? AND settings=?",
                                         (sha256, settings)).fetchone())  # fmt: skip

    def fail_now(self, sha256: str, settings: str, error: str) -> None:
        """Record an input that fails before analysis (missing, unreadable)."""
        with self._lock:
            self._db.execute("UPDATE results SET status='failed', error=?, finished=?, attempts=0 "
                             "WHERE sha256=? AND settings=?", (error, now(), sha256, settings))  # fmt: skip

    def mark_running(self, sha256: str, settings: str, engine: str) -> None:
        with self._lock:
            self._db.execute("UPDATE results SET status='running', started=?, engine=? WHERE sha256=? AND settings=?",
                             (now(), engine, sha256, settings))  # fmt: skip

    def requeue(self, settings: str | None = None) -> int:
        """Rows left running (a crash, Ctrl-C) go back to pending."""
        with self._lock:
            q = "UPDATE results SET status='pending', started=NULL WHERE status='running'"
            cur = self._db.execute(q + (" AND settings=?" if settings else ""), (settings,) if settings else ())
            return cur.rowcount

    def record(self, sha256: str, settings: str, outcome: Outcome, result_path: str | None, engine: str) -> None:
        """Store a finished task (one committed transaction)."""
        s = outcome.summary or {}
        t = s.get("timings", {})
        cols = {
            "status": "done" if outcome.ok else "failed",
            "verdict": s.get("verdict"),
            "score": s.get("score"),
            "reason": s.get("reason"),
            "headline": s.get("headline"),
            "n_faces": s.get("n_faces"),
            "n_tracks": s.get("n_tracks"),
            "max_p_fake": s.get("max_p_fake"),
            "mean_p_fake": s.get("mean_p_fake"),
            "kind": s.get("kind"),
            "duration": s.get("duration"),
            "seconds": round(outcome.seconds, 4),
            "t_decode": t.get("decode"),
            "t_detect": t.get("detect"),
            "t_classify": t.get("classify"),
            "timings": json.dumps(t) if t else None,
            "error": outcome.error,
            "result_path": result_path,
            "attempts": outcome.attempts,
            "worker": outcome.worker,
            "engine": engine,
            "finished": now(),
        }
        names = ", ".join(f"{k}=?" for k in cols)
        with self._lock:
            self._db.execute(f"UPDATE results SET {names} WHERE sha256=? AND settings=?",
                             (*cols.values(), sha256, settings))  # fmt: skip

    def rows(self, settings: str | None = None, status: str | None = None) -> list[dict]:
        where, args = [], []
        if settings:
            where.append("settings=?")
            args.append(settings)
        if status:
            where.append("status=?")
            args.append(status)
        q = "SELECT * FROM results" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY queued, path"
        with self._lock:
            return [dict(r) for r in self._db.execute(q, args).fetchall()]

    def paths_by_sha256(self) -> dict[str, list[str]]:
        """Every hashed input path, grouped by content (identical files under several names)."""
        out: dict[str, list[str]] = {}
        with self._lock:
            for r in self._db.execute("SELECT path, sha256 FROM files ORDER BY path").fetchall():
                out.setdefault(r[1], []).append(r[0])
        return out

    def counts(self, settings: str | None = None) -> dict[str, int]:
        q = "SELECT status, COUNT(*) FROM results" + (" WHERE settings=?" if settings else "") + " GROUP BY status"
        with self._lock:
            return {r[0]: r[1] for r in self._db.execute(q, (settings,) if settings else ()).fetchall()}


def result_dir(out: Path, name: str, sha256: str, settings: str) -> Path:
    """``OUT/results/<stem>-<sha256[:12]>-<settings[:8]>``: stable across re-runs, unique per key."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(name).stem)[:60] or "input"
    digest = sha256.removeprefix("path:")
    if not all(c in "0123456789abcdef" for c in digest):
        digest = hashlib.sha256(sha256.encode()).hexdigest()
    return out / "results" / f"{stem}-{digest[:12]}-{settings[:8]}"


__all__ = ["COLUMNS", "DB_NAME", "ResultStore", "config_from_dict", "now", "result_dir", "settings_hash", "sha256_of"]
