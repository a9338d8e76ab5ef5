"""The batch results store and the batch driver's keys and resume, without models (fast; mutation group "store").

`run_archive` is driven through a scripted executor: each input's text says what the "analysis" does
(``ok <verdict>``, ``fail``), so a test asserts what a user sees — which inputs were analysed again, which
were skipped, what the results table and `results.csv` say — in milliseconds.
"""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest

from fakescope.archive import run as run_mod
from fakescope.archive.report import with_duplicates, write_report
from fakescope.archive.run import BatchOptions, run_archive
from fakescope.archive.store import (
    DB_NAME,
    BatchLock,
    ResultStore,
    StoreError,
    config_from_dict,
    result_dir,
    settings_hash,
    sha256_of,
)
from fakescope.engine import Outcome
from fakescope.engine.base import Executor
from fakescope.media import Sampling
from fakescope.pipeline import AnalyzeConfig, config_dict


class ScriptedExecutor(Executor):
    """Resolves each task from its input's text: ``ok <verdict>`` or ``fail``; counts what it analysed."""

    name = "scripted"
    workers = 1
    analysed: list[str] = []
    interrupt_after: int | None = None

    def __init__(self, *a, **k) -> None:
        pass

    def submit(self, task):
        cls = ScriptedExecutor
        if cls.interrupt_after is not None and len(cls.analysed) >= cls.interrupt_after:
            raise KeyboardInterrupt
        cls.analysed.append(Path(task.path).name)
        text = Path(task.path).read_text().split()
        fut: Future = Future()
        if text[0] == "ok":
            res = json.dumps({"input": Path(task.path).name, "verdict": text[1]})
            fut.set_result(Outcome(task.key, ok=True, result_json=res, seconds=0.01, worker="w",
                                   summary={"verdict": text[1], "score": 0.5, "n_faces": 3,
                                            "headline": f"plain words for {text[1]}",
                                            "timings": {"decode": 0.1}}))
        else:
            fut.set_result(Outcome(task.key, ok=False, error=f"{Path(task.path).name}: cannot decode", attempts=2))
        return fut

    def close(self, cancel: bool = False) -> None:
        pass


@pytest.fixture
def scripted(monkeypatch):
    ScriptedExecutor.analysed = []
    ScriptedExecutor.interrupt_after = None
    monkeypatch.setattr(run_mod, "create_executor", lambda *a, **k: ScriptedExecutor())
    return ScriptedExecutor


def _inputs(folder: Path, **texts: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / f"{name}.mp4").write_text(text)
    return folder


def _status(out: Path) -> dict[str, str]:
    with ResultStore(out) as s:
        return {r["name"]: r["status"] for r in s.rows()}


CFG = AnalyzeConfig()


def test_batch_records_each_input_and_a_rerun_analyses_nothing_again(tmp_path, scripted):
    src = _inputs(tmp_path / "in", a="ok fake", b="ok real", c="fail")
    out = tmp_path / "out"
    s = run_archive([src], out, CFG, BatchOptions(engine="thread"))
    assert (s.inputs, s.analysed, s.failed, s.already_done, s.already_failed) == (3, 2, 1, 0, 0)
    assert sorted(scripted.analysed) == ["a.mp4", "b.mp4", "c.mp4"]
    assert s.failures == [(str(src / "c.mp4"), "c.mp4: cannot decode")]
    rows = {r["name"]: r for r in ResultStore(out).rows()}
    assert rows["a.mp4"]["verdict"] == "fake" and rows["b.mp4"]["verdict"] == "real"
    assert rows["c.mp4"]["error"] == "c.mp4: cannot decode" and rows["c.mp4"]["attempts"] == 2
    assert rows["a.mp4"]["n_faces"] == 3 and rows["a.mp4"]["t_decode"] == 0.1
    # result.json written where the row says, atomically, before the row says done
    res = out / rows["a.mp4"]["result_path"]
    assert json.loads(res.read_text())["verdict"] == "fake"
    assert rows["c.mp4"]["result_path"] is None

    scripted.analysed = []
    s2 = run_archive([src], out, CFG, BatchOptions(engine="thread"))
    assert scripted.analysed == []
    assert (s2.inputs, s2.analysed, s2.failed, s2.already_done, s2.already_failed) == (3, 0, 0, 2, 1)

    s3 = run_archive([src], out, CFG, BatchOptions(engine="thread", retry_failed=True))
    assert scripted.analysed == ["c.mp4"] and (s3.already_done, s3.already_failed, s3.failed) == (2, 0, 1)


def test_changed_content_or_changed_settings_analyse_again(tmp_path, scripted):
    src = _inputs(tmp_path / "in", a="ok fake", b="ok real")
    out = tmp_path / "out"
    run_archive([src], out, CFG, BatchOptions(engine="thread"))
    (src / "b.mp4").write_text("ok uncertain")  # new bytes: a new key
    scripted.analysed = []
    s = run_archive([src], out, CFG, BatchOptions(engine="thread"))
    assert scripted.analysed == ["b.mp4"] and s.already_done == 1
    scripted.analysed = []
    s = run_archive([src], out, replace(CFG, threshold=0.7), BatchOptions(engine="thread"))
    assert sorted(scripted.analysed) == ["a.mp4", "b.mp4"] and s.already_done == 0
    scripted.analysed = []
    s = run_archive([src], out, replace(CFG, batch_size=3), BatchOptions(engine="thread"))
    assert scripted.analysed == [] and s.already_done == 2  # how fast, not what: same results


def test_identical_files_are_analysed_once_and_listed_under_every_name(tmp_path, scripted):
    src = _inputs(tmp_path / "in", a="ok fake", copy_of_a="ok fake", b="ok real")
    out = tmp_path / "out"
    s = run_archive([src], out, CFG, BatchOptions(engine="thread"))
    assert s.inputs == 2 and len(scripted.analysed) == 2
    files = write_report(out)
    rows = list(csv.DictReader((out / "report" / "results.csv").open()))
    names = {r["name"]: r for r in rows}
    assert set(names) == {"a.mp4", "copy_of_a.mp4", "b.mp4"}
    assert names["b.mp4"]["headline"] == "plain words for real"  # every verdict with its sentence
    shared = [r for r in rows if r["same_as"]]
    assert len(shared) == 1 and shared[0]["verdict"] == "fake"
    assert shared[0]["same_as"] != shared[0]["path"]
    assert files.rows == 2 and files.counts == {"fake": 1, "real": 1}


def test_missing_and_odd_inputs_fail_early_without_stopping_the_others(tmp_path, scripted):
    src = _inputs(tmp_path / "in", a="ok fake")
    fifo = tmp_path / "in" / "pipe.mp4"
    import os

    os.mkfifo(fifo)
    lst = tmp_path / "list.txt"
    lst.write_text(f"{src / 'a.mp4'}\n{tmp_path / 'gone.mp4'}\n{fifo}\n")
    out = tmp_path / "out"
    s = run_archive([lst], out, CFG, BatchOptions(engine="thread"))
    assert s.analysed == 1 and s.failed == 2 and scripted.analysed == ["a.mp4"]
    errors = dict(s.failures)
    assert "no such file" in errors[str(tmp_path / "gone.mp4")]
    assert "not a regular file" in errors[str(fifo)]
    st = _status(out)
    assert st == {"a.mp4": "done", "gone.mp4": "failed", "pipe.mp4": "failed"}
    with ResultStore(out) as store:  # the reason is in the table too (batch-report's results.csv)
        recorded = {r["name"]: r["error"] for r in store.rows()}
    assert recorded["gone.mp4"] == errors[str(tmp_path / "gone.mp4")] and "not a regular file" in recorded["pipe.mp4"]


def test_an_interrupted_batch_resumes_where_it_stopped(tmp_path, scripted):
    src = _inputs(tmp_path / "in", a="ok fake 1", b="ok real 2", c="ok real 3", d="ok fake 4")
    out = tmp_path / "out"
    scripted.interrupt_after = 2
    s = run_archive([src], out, CFG, BatchOptions(engine="thread"))
    assert s.interrupted and s.analysed == 2
    st = _status(out)
    assert sorted(st.values()) == ["done", "done", "pending", "pending"]  # nothing left "running"
    first = set(scripted.analysed)
    scripted.interrupt_after = None
    scripted.analysed = []
    s = run_archive([src], out, CFG, BatchOptions(engine="thread"))
    assert not s.interrupted and s.already_done == 2 and s.analysed == 2
    assert first.isdisjoint(scripted.analysed) and len(scripted.analysed) == 2
    assert set(_status(out).values()) == {"done"}


def test_rows_left_running_by_a_killed_run_go_back_to_pending(tmp_path):
    with ResultStore(tmp_path) as s:
        key = s.register_settings(CFG)
        other = s.register_settings(replace(CFG, threshold=0.6))
        s.add("a" * 64, key, "/x/a.mp4", "a.mp4", 1)
        s.add("b" * 64, other, "/x/b.mp4", "b.mp4", 1)
        s.add("c" * 64, key, "/x/c.mp4", "c.mp4", 1)
        s.mark_running("a" * 64, key, "process")
        s.mark_running("b" * 64, other, "process")
        assert s.rows(key, "running")[0]["engine"] == "process"
        assert s.requeue(key) == 1  # only this settings' rows
        assert s.counts(key) == {"pending": 2} and s.counts(other) == {"running": 1}
        assert s.counts() == {"pending": 2, "running": 1}
        assert s.requeue() == 1 and s.counts() == {"pending": 3}
        assert s.rows(key, "pending")[0]["started"] is None


def test_add_keeps_the_first_row_of_a_key_and_records_outcomes(tmp_path):
    with ResultStore(tmp_path) as s:
        key = s.register_settings(CFG)
        row = s.add("d" * 64, key, "/x/one.mp4", "one.mp4", 10)
        assert row["status"] == "pending" and row["size_bytes"] == 10 and row["attempts"] == 0
        s.record("d" * 64, key, Outcome("k", ok=True, seconds=1.23456, summary={"verdict": "real"}), "r/x.json", "ray")
        again = s.add("d" * 64, key, "/x/two.mp4", "two.mp4", 10)
        assert again["status"] == "done" and again["name"] == "one.mp4" and again["verdict"] == "real"
        assert again["seconds"] == 1.2346 and again["engine"] == "ray" and again["result_path"] == "r/x.json"
        s.fail_now("d" * 64, key, "gone")
        r = s.rows(key)[0]
        assert (r["status"], r["error"], r["attempts"]) == ("failed", "gone", 0)
        assert s.rows(status="done") == [] and len(s.rows(status="failed")) == 1


def test_runs_and_settings_are_kept_for_resume(tmp_path):
    cfg = replace(CFG, sampling=Sampling.parse("every:5"), threshold=0.6, band=(0.3, 0.7))
    with ResultStore(tmp_path) as s:
        assert s.last_run() is None
        key = s.register_settings(cfg)
        assert s.register_settings(cfg) == key
        r1 = s.start_run(key, ["a"], {"engine": "thread"})
        r2 = s.start_run(key, ["b", "c"], {"engine": "process"})
        assert r2 > r1
        last = s.last_run()
        assert last["id"] == r2 and last["sources"] == ["b", "c"] and last["options"] == {"engine": "process"}
        assert last["finished"] is None and last["settings"] == key
        s.finish_run(r2)
        assert s.last_run()["finished"]
        back = s.settings_config(key)
        assert s.settings_config("nope") is None
    assert back == cfg and config_dict(back) == config_dict(cfg)


def test_settings_hash_ignores_speed_only_options_and_round_trips():
    k1, d1 = settings_hash(CFG)
    assert len(k1) == 16 and "batch_size" not in d1
    assert settings_hash(replace(CFG, batch_size=CFG.batch_size + 5))[0] == k1
    assert settings_hash(replace(CFG, threshold=0.61))[0] != k1
    assert settings_hash(replace(CFG, sampling=Sampling.parse("even:8")))[0] != k1
    assert config_from_dict(config_dict(CFG)) == CFG
    assert config_from_dict({"sampling": "every:3"}).sampling == Sampling.parse("every:3")


def test_file_hash_is_cached_by_size_and_mtime(tmp_path):
    f = tmp_path / "v.mp4"
    f.write_bytes(b"x" * 3000)
    with ResultStore(tmp_path / "out") as s:
        h = s.file_hash(f)
        assert h == sha256_of(f) == sha256_of(f, chunk=7)
        import os

        st = f.stat()
        f.write_bytes(b"y" * 3000)  # same size; pretend the mtime did not move: the cache answers
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert s.file_hash(f) == h
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        assert s.file_hash(f) == sha256_of(f) != h
        f.write_bytes(b"y" * 3001)
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        assert s.file_hash(f) == sha256_of(f)
        g = tmp_path / "w.mp4"
        g.write_bytes(b"y" * 3001)
        s.file_hash(g)
        assert s.paths_by_sha256()[sha256_of(g)] == sorted([str(f.resolve()), str(g.resolve())])


def test_result_folders_are_stable_unique_and_safe(tmp_path):
    a = result_dir(tmp_path, "clip one.mp4", "ab" * 32, "0123456789abcdef")
    assert a == tmp_path / "results" / "clip_one-abababababab-01234567"
    assert result_dir(tmp_path, "clip one.mp4", "ab" * 32, "0123456789abcdef") == a
    assert result_dir(tmp_path, "clip one.mp4", "cd" * 32, "0123456789abcdef") != a
    assert result_dir(tmp_path, "clip one.mp4", "ab" * 32, "fedcba9876543210") != a
    odd = result_dir(tmp_path, "../../etc/passwd", "path:/etc/../x", "0123456789abcdef")
    assert odd.parent == tmp_path / "results" and odd.name.startswith("passwd-")
    digest = odd.name.split("-")[1]
    assert len(digest) == 12 and all(c in "0123456789abcdef" for c in digest)
    long = result_dir(tmp_path, "n" * 300 + ".mp4", "ab" * 32, "0123456789abcdef")
    assert long.name == "n" * 60 + "-abababababab-01234567"
    assert result_dir(tmp_path, "....mp4", "ab" * 32, "01234567").name.startswith("...-")
    assert result_dir(tmp_path, ".mp4", "ab" * 32, "01234567").name.startswith(".mp4-")


def test_store_errors_say_how_to_recover(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StoreError, match="exists and is not a folder"):
        ResultStore(f)
    with pytest.raises(StoreError, match="cannot create"):
        ResultStore(f / "sub")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="damaged .* move it away"):
        ResultStore(bad)
    with pytest.raises(FileNotFoundError, match="no batch results here"):
        write_report(tmp_path / "empty")


def _hold_lock(folder, ready, release):
    with BatchLock(folder):
        ready.set()
        release.wait(20)


def test_one_batch_writer_per_folder_across_processes(tmp_path):
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    p = ctx.Process(target=_hold_lock, args=(tmp_path, ready, release))
    p.start()
    try:
        assert ready.wait(30)
        with pytest.raises(StoreError, match=rf"another batch is writing to .* \(pid {p.pid}\)"):
            with BatchLock(tmp_path):
                pass
    finally:
        release.set()
        p.join(20)
    with BatchLock(tmp_path) as lock:  # released when its holder ended
        assert lock._fd is not None
        with pytest.raises(StoreError, match="another batch"):
            with BatchLock(tmp_path):
                pass
    with BatchLock(tmp_path):  # and released on exit in this process too
        pass


def test_with_duplicates_gives_every_name_one_row():
    rows = [{"sha256": "s1", "path": "/a", "name": "a"}, {"sha256": "s2", "path": "/b", "name": "b"}]
    out = with_duplicates(rows, {"s1": ["/a", "/z/c"], "s2": ["/b"]})
    assert [(r["path"], r["name"], r["same_as"]) for r in out] == [("/a", "a", ""), ("/z/c", "c", "/a"),
                                                                    ("/b", "b", "")]


def test_batch_cli_sums_up_verdicts_and_names_what_it_skipped(tmp_path, scripted):
    from typer.testing import CliRunner

    from fakescope.cli import app

    src = _inputs(tmp_path / "in", a="ok fake", b="ok real", c="fail", d="ok uncertain")
    (src / "notes.txt.bak").write_text("not media")
    (src / ".hidden.doc").write_text("hidden: not counted")
    r = CliRunner().invoke(app, ["batch", str(src), "--out", str(tmp_path / "out"), "--engine", "thread"])
    assert r.exit_code == 1, r.output  # one input failed
    assert "verdicts: 1 fake, 1 uncertain, 1 real, 1 failed" in r.output, r.output
    assert "note: 1 file(s) in the folders were skipped: not media by their extension" in r.output, r.output


def test_a_store_from_before_headlines_gains_the_column(tmp_path):
    import sqlite3

    db = tmp_path / DB_NAME
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE results (sha256 TEXT NOT NULL, settings TEXT NOT NULL, path TEXT NOT NULL, "
                "name TEXT NOT NULL, size_bytes INTEGER, status TEXT NOT NULL, verdict TEXT, score REAL, reason TEXT, "
                "n_faces INTEGER, n_tracks INTEGER, max_p_fake REAL, mean_p_fake REAL, kind TEXT, duration REAL, "
                "seconds REAL, t_decode REAL, t_detect REAL, t_classify REAL, timings TEXT, error TEXT, "
                "result_path TEXT, attempts INTEGER NOT NULL DEFAULT 0, worker TEXT, engine TEXT, "
                "queued TEXT NOT NULL, started TEXT, finished TEXT, PRIMARY KEY (sha256, settings))")
    con.execute("INSERT INTO results (sha256, settings, path, name, status, verdict, queued) "
                "VALUES ('a', 's', '/a', 'a', 'done', 'real', 'now')")
    con.commit()
    con.close()
    with ResultStore(tmp_path) as s:
        row = s.rows()[0]
        assert row["verdict"] == "real" and row["headline"] is None
        s.record("a", "s", Outcome("k", ok=True, summary={"verdict": "fake", "headline": "Likely"}), None, "x")
        assert s.rows()[0]["headline"] == "Likely"


# ------------------------------------------------------------------------------------ list files


def _list(tmp_path, name: str, text: str | bytes) -> Path:
    p = tmp_path / "lists" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return p


def test_text_lists_resolve_relative_to_their_folder_and_skip_comments(tmp_path):
    from fakescope.archive.sources import _read_list, expand_sources

    lst = _list(tmp_path, "a.txt",
                "\ufeff# a comment\n\n  one.mp4  \nsub/two.mp4\n/abs/three.mp4\n#also\n~nosuchuser9/x.mp4\n")
    paths, skipped = _read_list(lst)
    base = lst.parent
    assert paths == [base / "one.mp4", base / "sub/two.mp4", Path("/abs/three.mp4"), base / "~nosuchuser9/x.mp4"]
    assert skipped == []
    lst2 = _list(tmp_path, "b.LST", "x.mp4\n" + "y" * 5000 + "\nz\0.mp4\nw.mp4\n")
    paths, skipped = _read_list(lst2)
    assert paths == [base / "x.mp4", base / "w.mp4"]
    assert skipped == [f"{lst2}: item 2 skipped (not a path: 5000 characters)",
                       f"{lst2}: item 3 skipped (not a path: 6 characters)"]
    got, errors = expand_sources([lst2])
    assert got == [base / "x.mp4", base / "w.mp4"] and [m for _, m in errors] == skipped
    assert _read_list(_list(tmp_path, "bad.txt", b"caf\xe9.mp4\n"))[0] == [base / "caf\ufffd.mp4"]


def test_csv_lists_use_the_path_column_or_the_first(tmp_path):
    from fakescope.archive.sources import _read_list

    base = tmp_path / "lists"
    p, _ = _read_list(_list(tmp_path, "h.csv", "label,PATH \nfake,a.mp4\nreal,\nreal,b.mp4\nshort\n"))
    assert p == [base / "a.mp4", base / "b.mp4"]
    p, _ = _read_list(_list(tmp_path, "n.CSV", "file,label\nc.mp4,fake\n#d.mp4,x\n"))
    assert p == [base / "c.mp4"]  # a first row that names no existing file is a header
    (base / "e.mp4").write_bytes(b"x")
    p, _ = _read_list(_list(tmp_path, "noheader.csv", "e.mp4,fake\nf.mp4,real\n"))
    assert p == [base / "e.mp4", base / "f.mp4"]  # an existing path in the first row: no header
    assert _read_list(_list(tmp_path, "empty.csv", "")) == ([], [])
    huge = "path\n" + "g" * 200_000 + "\nh.mp4\n"
    p, skipped = _read_list(_list(tmp_path, "huge.csv", huge))
    assert p == [base / "h.mp4"] and len(skipped) == 1 and "200000 characters" in skipped[0]
    import csv as _csv

    assert _csv.field_size_limit() == 131072  # the csv module's limit is restored


def test_a_batch_records_its_run_and_reports_requeued_inputs(tmp_path, scripted, caplog):
    import logging

    src = _inputs(tmp_path / "in", a="ok fake 9")
    out = tmp_path / "out"
    with ResultStore(out) as s:
        key = s.register_settings(CFG)
        digest = sha256_of(src / "a.mp4")
        s.add(digest, key, str(src / "a.mp4"), "a.mp4", 9)
        s.mark_running(digest, key, "process")
    caplog.set_level(logging.INFO, logger="fakescope.archive.run")
    s1 = run_archive([src], out, CFG, BatchOptions(engine="thread"))
    assert s1.analysed == 1 and s1.settings == key and s1.engine == "thread"
    assert "1 input(s) left running by an earlier run will run again" in caplog.text
    last = ResultStore(out).last_run()
    assert last["sources"] == [str(src)] and last["settings"] == key and last["finished"]
    assert last["options"]["engine"] == "thread"


def test_annotation_follows_explanations_unless_asked(tmp_path, monkeypatch):
    seen = []

    class Capture(ScriptedExecutor):
        def submit(self, task):
            seen.append(task.annotate)
            return super().submit(task)

    ScriptedExecutor.analysed, ScriptedExecutor.interrupt_after = [], None
    monkeypatch.setattr(run_mod, "create_executor", lambda *a, **k: Capture())
    src = _inputs(tmp_path / "in", a="ok real 1")
    run_archive([src], tmp_path / "o1", CFG, BatchOptions(engine="thread"))
    run_archive([src], tmp_path / "o2", replace(CFG, explain=("saliency",)), BatchOptions(engine="thread"))
    run_archive([src], tmp_path / "o3", replace(CFG, explain=("saliency",)), BatchOptions(engine="thread",
                                                                                         annotate=False))
    run_archive([src], tmp_path / "o4", CFG, BatchOptions(engine="thread", annotate=True))
    assert seen == [False, True, False, True]


def test_batch_report_files_counts_and_settings_filter(tmp_path, scripted):
    src = _inputs(tmp_path / "in", a="ok fake 1", b="ok real 2", c="fail 3")
    out = tmp_path / "out"
    run_archive([src], out, CFG, BatchOptions(engine="thread"))
    run_archive([src / "a.mp4"], out, replace(CFG, threshold=0.6), BatchOptions(engine="thread"))
    rep = write_report(out, tmp_path / "rep", slowest=2)
    assert rep.rows == 4 and rep.counts == {"fake": 2, "real": 1, "failed": 1}
    names = sorted(p.name for p in rep.files)
    assert "results.csv" in names and {"verdicts.png", "scores.png", "slowest.png"} <= set(names)
    assert all(p.parent == tmp_path / "rep" for p in rep.files)
    other = settings_hash(replace(CFG, threshold=0.6))[0]
    only = write_report(out, tmp_path / "rep2", settings=other)
    assert only.rows == 1 and only.counts == {"fake": 1}
    rows = list(csv.DictReader((tmp_path / "rep2" / "results.csv").open()))
    assert [r["name"] for r in rows] == ["a.mp4"] and rows[0]["settings"] == other
    pq = pytest.importorskip("pyarrow.parquet")
    table = pq.read_table(tmp_path / "rep" / "results.parquet")
    assert table.num_rows == 4 and "same_as" in table.column_names and "headline" in table.column_names
    write_report(out)  # default: OUT/report
    assert (out / "report" / "results.csv").is_file()
    with ResultStore(tmp_path / "blank") as s:
        s.register_settings(CFG)
    empty = write_report(tmp_path / "blank")
    assert empty.rows == 0 and empty.counts == {}
    assert pq.read_table(tmp_path / "blank" / "report" / "results.parquet").num_rows == 0


def test_every_recorded_field_reaches_the_table(tmp_path):
    summary = {"verdict": "fake", "score": 0.81, "reason": "why", "headline": "Likely", "n_faces": 7, "n_tracks": 2,
               "max_p_fake": 0.9, "mean_p_fake": 0.6, "kind": "video", "duration": 12.5,
               "timings": {"decode": 1.0, "detect": 2.0, "classify": 3.0}}  # fmt: skip
    with ResultStore(tmp_path) as s:
        key = s.register_settings(CFG)
        s.add("e" * 64, key, "/x/e.mp4", "e.mp4", 5)
        s.record("e" * 64, key, Outcome("k", ok=False, error="boom", seconds=2.0, worker="pid 7", attempts=3,
                                        summary=summary), None, "process")  # fmt: skip
        r = s.rows()[0]
    assert (r["status"], r["verdict"], r["score"]) == ("failed", "fake", 0.81)
    assert (r["reason"], r["headline"]) == ("why", "Likely")
    assert (r["n_faces"], r["n_tracks"], r["max_p_fake"], r["mean_p_fake"]) == (7, 2, 0.9, 0.6)
    assert (r["kind"], r["duration"], r["t_decode"], r["t_detect"], r["t_classify"]) == ("video", 12.5, 1.0, 2.0, 3.0)
    assert json.loads(r["timings"]) == summary["timings"] and r["error"] == "boom"
    assert (r["attempts"], r["worker"], r["engine"], r["seconds"]) == (3, "pid 7", "process", 2.0)
    assert r["finished"] and r["result_path"] is None
    with ResultStore(tmp_path) as s:
        s.add("f" * 64, key, "/x/f.mp4", "f.mp4", 5)
        s.record("f" * 64, key, Outcome("k", ok=True), "r.json", "thread")
        assert s.rows(status="done")[0]["timings"] is None


def test_batch_events_and_tasks_carry_what_the_progress_display_needs(tmp_path, monkeypatch):
    tasks, events = [], []

    class Capture(ScriptedExecutor):
        name, workers = "captured", 3

        def submit(self, task):
            tasks.append(task)
            return super().submit(task)

    ScriptedExecutor.analysed, ScriptedExecutor.interrupt_after = [], None
    monkeypatch.setattr(run_mod, "create_executor", lambda *a, **k: Capture())
    src = _inputs(tmp_path / "in", a="ok fake 1", b="fail 2")
    out = tmp_path / "out"
    s = run_archive([src, tmp_path / "gone.mp4"], out, CFG,
                    BatchOptions(engine="thread", timeout=42.0, report=False),
                    on_event=lambda kind, **info: events.append((kind, info)))  # fmt: skip
    assert s.workers == 3 and s.failures[1] == (str(src / "b.mp4"), "b.mp4: cannot decode")
    kinds = [k for k, _ in events]
    assert kinds.count("hashed") == 3 and kinds.count("started") == 2 and kinds.count("finished") == 2
    assert kinds.index("planned") < kinds.index("started") and "failed_early" in kinds
    hashed = [i for k, i in events if k == "hashed"]
    assert [h["done"] for h in hashed] == [0, 1, 2] and all(h["total"] == 3 for h in hashed)
    assert hashed[0]["path"] == str(src / "a.mp4")
    planned = next(i for k, i in events if k == "planned")
    assert planned == {"todo": 2, "skipped": 0}
    early = next(i for k, i in events if k == "failed_early")
    assert early["path"] == str(tmp_path / "gone.mp4") and "no such file" in early["error"]
    done = {i["path"]: i for k, i in events if k == "finished"}
    assert done[str(src / "a.mp4")]["ok"] is True and done[str(src / "a.mp4")]["verdict"] == "fake"
    assert done[str(src / "b.mp4")]["ok"] is False and done[str(src / "b.mp4")]["error"] == "b.mp4: cannot decode"
    assert done[str(src / "a.mp4")]["seconds"] == 0.01
    started = [i["path"] for k, i in events if k == "started"]
    assert started == [str(src / "a.mp4"), str(src / "b.mp4")]
    t = tasks[0]
    assert (t.timeout, t.report, t.annotate, t.config) == (42.0, False, False, CFG)
    assert t.key == sha256_of(src / "a.mp4") and t.path == str(src / "a.mp4")
    assert t.out_dir == str(result_dir(out, "a.mp4", t.key, s.settings))
    rows = {r["name"]: r for r in ResultStore(out).rows()}
    assert rows["a.mp4"]["engine"] == "captured" and rows["a.mp4"]["started"]


def test_store_folder_lock_file_and_connection_details(tmp_path, monkeypatch):
    import os
    import sqlite3
    import threading as th

    deep = tmp_path / "a" / "b" / "c"
    with ResultStore(deep) as s:  # nested folders are made
        key = s.register_settings(CFG)
        row = s.add("g" * 64, key, "/g.mp4", "g.mp4", 1)
        assert row["queued"].endswith("+00:00")  # UTC timestamps
        with ResultStore(deep) as other:  # every write is committed at once: another reader sees it
            assert [r["name"] for r in other.rows()] == ["g.mp4"]
        seen = []
        t = th.Thread(target=lambda: seen.append(s.counts()))  # usable from the batch's other threads
        t.start()
        t.join()
        assert seen == [{"pending": 1}]
    old = os.umask(0o022)
    try:
        lock = BatchLock(tmp_path / "locked")
        lock.__exit__(None, None, None)  # never entered: nothing to release
        with lock:
            assert (tmp_path / "locked" / BatchLock.NAME).read_text() == str(os.getpid())
        lock.__exit__(None, None, None)  # released twice: still fine
        assert ((tmp_path / "locked" / BatchLock.NAME).stat().st_mode & 0o777) == 0o644
    finally:
        os.umask(old)

    def locked(*a, **k):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(sqlite3, "connect", locked)
    with pytest.raises(StoreError, match=r"locked by another process for 30 s .* or use another --out"):
        ResultStore(tmp_path / "x")
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: (_ for _ in ()).throw(
        sqlite3.OperationalError("database is busy")))
    with pytest.raises(StoreError, match="locked by another process"):
        ResultStore(tmp_path / "x")
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: (_ for _ in ()).throw(
        sqlite3.OperationalError("unable to open database file")))
    with pytest.raises(StoreError, match=r"cannot open the results store \(unable to open database file\)$"):
        ResultStore(tmp_path / "x")


def test_resume_defaults_and_nameless_inputs(tmp_path):
    assert config_from_dict({}).sampling == Sampling.parse("even:32")
    assert result_dir(tmp_path, "", "ab" * 32, "0123456789abcdef").name == "input-abababababab-01234567"
    with pytest.raises(StoreError, match=r"or use another --out\)?"):
        with BatchLock(tmp_path):
            with BatchLock(tmp_path):
                pass


def test_sources_lists_of_folders_and_every_error_kept(tmp_path):
    import os

    from fakescope.archive.sources import expand_sources, skipped_in_folders

    a = _inputs(tmp_path / "a", x="1", y="2")
    b = _inputs(tmp_path / "b", z="3")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt.bak").write_text("no media")
    (a / "notes.doc").write_text("x")
    (a / "more.doc").write_text("y")
    (a / ".hidden").mkdir()
    (a / ".hidden" / "skip.doc").write_text("z")
    lst = tmp_path / "l.txt"
    lst.write_text(f"{b}\n{tmp_path / 'gone.mp4'}\n{empty}\n" + "w" * 5000 + "\n")
    unreadable = tmp_path / "locked.csv"
    unreadable.write_text("path\nq.mp4\n")
    os.chmod(unreadable, 0)
    try:
        paths, errors = expand_sources([a, lst, unreadable, empty, a / "x.mp4"])
    finally:
        os.chmod(unreadable, 0o644)
    readable = [tmp_path / "q.mp4"] if os.geteuid() == 0 else []  # root reads any file
    assert paths == [a / "x.mp4", a / "y.mp4", b / "z.mp4", tmp_path / "gone.mp4", *readable]  # duplicates once
    msgs = [m for _, m in errors]
    sources = [s for s, _ in errors]
    if not readable:
        assert any("cannot read list" in m for m in msgs) and str(unreadable) in sources
    no_media = [m for m in msgs if str(empty) in m]
    assert len(no_media) >= 2  # through the list and named directly
    assert any("item 4 skipped" in m for m in msgs) and str(lst) in sources
    assert skipped_in_folders([a, empty, lst]) == 3  # two .doc files and the .bak; hidden folders and lists not


def test_failures_and_earlier_failures_are_counted_one_by_one(tmp_path, scripted, monkeypatch):
    seen = {}

    def make(engine, workers=None, warm=None, **kw):
        seen.update(engine=engine, workers=workers, threads=kw.get("threads"), warm=warm)
        return ScriptedExecutor()

    monkeypatch.setattr(run_mod, "create_executor", make)
    src = _inputs(tmp_path / "in", a="fail 1", b="fail 2", c="ok fake 3")
    out = tmp_path / "out"
    s = run_archive([src], out, CFG, BatchOptions(engine="thread", workers=3, threads=2))
    assert (s.failed, s.analysed) == (2, 1) and len(s.failures) == 2 and s.seconds > 0
    assert seen == {"engine": "thread", "workers": 3, "threads": 2, "warm": CFG}
    s2 = run_archive([src], out, CFG, BatchOptions(engine="thread"))
    assert (s2.already_failed, s2.already_done) == (2, 1)
    ok_without_json = Outcome("k", ok=True, result_json=None)

    class NoJson(ScriptedExecutor):
        def submit(self, task):
            from concurrent.futures import Future

            f: Future = Future()
            f.set_result(ok_without_json)
            return f

    monkeypatch.setattr(run_mod, "create_executor", lambda *a, **k: NoJson())
    s3 = run_archive([_inputs(tmp_path / "in2", d="x 4")], tmp_path / "out2", CFG, BatchOptions(engine="thread"))
    assert s3.analysed == 0 and s3.failed == 1 and s3.failures[0][1] == "failed"  # no result: never "done"
    assert not list((tmp_path / "out2").rglob("result.json"))


def test_report_into_a_new_nested_folder(tmp_path, scripted):
    src = _inputs(tmp_path / "in", a="ok real 1")
    run_archive([src], tmp_path / "out", CFG, BatchOptions(engine="thread"))
    rep = write_report(tmp_path / "out", tmp_path / "deep" / "er" / "rep")
    assert (tmp_path / "deep" / "er" / "rep" / "results.csv").is_file() and rep.rows == 1
    write_report(tmp_path / "out", tmp_path / "deep" / "er" / "rep")  # again into the same folder: fine


# ------------------------------------------------------------------ mutation testing, 2026-12-07 (issue 21)


def test_a_result_without_a_recorded_path_keeps_its_own_row():
    rows = [{"sha256": "abc", "path": "/in/a.mp4", "name": "a.mp4"}]
    assert with_duplicates(rows, {}) == [{**rows[0], "same_as": ""}]


def test_an_empty_batch_exports_a_parquet_table_with_every_column(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    from fakescope.archive.store import COLUMNS

    with ResultStore(tmp_path / "b"):
        pass
    rep = write_report(tmp_path / "b")
    assert rep.rows == 0
    assert pq.read_table(tmp_path / "b" / "report" / "results.parquet").column_names == [*COLUMNS, "same_as"]


def test_list_cells_of_any_length_and_a_file_named_path(tmp_path):
    from fakescope.archive.sources import MAX_LIST_CELL, _read_list, expand_sources, skipped_in_folders

    # a cell as long as the whole file, past csv's default limit: read (a lone header row here), no crash
    big = tmp_path / "big.csv"
    big.write_text("x" * 200_000)
    assert _read_list(big) == ([], [])
    big.write_text("path\n" + "x" * 200_000 + "\n")  # under a header: an item, too long to be a path
    assert _read_list(big) == ([], [f"{big}: item 1 skipped (not a path: 200000 characters)"])
    # a cell of exactly MAX_LIST_CELL characters is still a path (a failed row later, not skipped)
    edge = tmp_path / "edge.txt"
    edge.write_text("y" * MAX_LIST_CELL + "\n")
    items, skipped = _read_list(edge)
    assert items == [tmp_path / ("y" * MAX_LIST_CELL)] and skipped == []
    # a header "path" is a header even when a file of that name sits beside the list
    (tmp_path / "path").write_text("not media")
    (tmp_path / "clip.mp4").write_bytes(b"")
    lst = tmp_path / "l.csv"
    lst.write_text("path\nclip.mp4\n")
    assert _read_list(lst) == ([tmp_path / "clip.mp4"], [])
    # files in folders that are not media are counted, whatever comes before the folder
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "notes.txt").write_text("n")
    (folder / ".hidden").write_text("h")
    assert skipped_in_folders([tmp_path / "clip.mp4", folder]) == 1
    paths, errors = expand_sources([lst])
    assert paths == [tmp_path / "clip.mp4"] and errors == []


def test_a_duplicate_does_not_end_the_plan_and_a_rerun_counts_all_it_skips(tmp_path, scripted):
    src = _inputs(tmp_path / "in", a="ok fake", a2="ok fake", b="fail", c="ok real")
    lst = tmp_path / "order.txt"  # the copy of a comes before the others
    lst.write_text("\n".join(str(src / n) for n in ("a.mp4", "a2.mp4", "b.mp4", "c.mp4")) + "\n")
    out = tmp_path / "out"
    s = run_archive([lst], out, CFG, BatchOptions(engine="thread"))
    assert sorted(scripted.analysed) == ["a.mp4", "b.mp4", "c.mp4"] and (s.analysed, s.failed) == (2, 1)
    rows = {r["name"]: r for r in ResultStore(out).rows()}
    assert {n: r["size_bytes"] for n, r in rows.items()} == {n: (src / n).stat().st_size for n in rows}
    events = []
    s = run_archive([lst], out, CFG, BatchOptions(engine="thread"), on_event=lambda kind, **i: events.append((kind, i)))
    assert (s.already_done, s.already_failed) == (2, 1)
    assert next(i for k, i in events if k == "planned") == {"todo": 0, "skipped": 3}


def test_each_missing_input_keeps_its_row_and_a_link_is_its_target(tmp_path):
    from fakescope.archive.sources import expand_sources

    real = tmp_path / "a.mp4"
    real.write_bytes(b"x")
    link = tmp_path / "link.mp4"
    link.symlink_to(real)
    paths, errors = expand_sources([tmp_path / "gone1.mp4", tmp_path / "gone2.mp4", real, link])
    assert paths == [tmp_path / "gone1.mp4", tmp_path / "gone2.mp4", real] and errors == []
