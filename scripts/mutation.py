"""Mutation testing with mutmut, one group of modules at a time (``make mutation``; tests/MUTATION.md).

Groups come from ``tests/mutation.toml``: each names the source files to mutate and the (fast) test
files whose tests may kill them. For each group the repository's ``src``, ``tests`` and ``scripts`` are
copied into ``build/mutation/<group>``, a ``[tool.mutmut]`` table is written into that copy's
pyproject.toml, and ``mutmut run`` runs there (so runs of different groups never share state and the
working tree is never touched). Afterwards the kill rate per module is printed as a markdown table and
written to ``build/mutation/summary.md``, and the survivors' diffs to ``build/mutation/survivors.md``.

    python scripts/mutation.py                 # every group
    python scripts/mutation.py decisions       # one group
    python scripts/mutation.py --report-only   # tables from the last runs

Not part of ``make test`` or CI: a full run takes tens of minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "mutation"
KILLED = {1, 3, 37}  # mutmut exit codes: test failure, pytest internal error, type check
SURVIVED = {0}
NO_TESTS = {5, 33}
TIMEOUT = {36, 24, -24, 152, 255}
PYTEST_ARGS = ["-q", "-p", "no:cacheprovider", "-W", "ignore", "-x"]


def _toml_list(values: list[str]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def prepare(name: str, group: dict) -> Path:
    work = BUILD / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for sub in ("src", "tests", "scripts"):
        shutil.copytree(ROOT / sub, work / sub, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    text = (ROOT / "pyproject.toml").read_text()
    text += (
        "\n[tool.mutmut]\n"
        f"only_mutate = {_toml_list(group['mutate'])}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(group['tests'])}\n"
        f"pytest_add_cli_args = {_toml_list(PYTEST_ARGS + group.get('pytest_args', []))}\n"
        'also_copy = ["scripts/"]\n'
        'process_isolation = "forkserver"\n'
    )
    (work / "pyproject.toml").write_text(text)
    for spec in group.get("skip_functions", []):  # "path:function": left out of this group, in the copy only
        _skip_function(work / spec.split(":")[0], spec.split(":")[1])
    return work


def _skip_function(path: Path, name: str) -> None:
    """Mark function ``name`` of the scratch copy ``path`` ``# pragma: no mutate block`` (its header line)."""
    lines = path.read_text().split("\n")
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith(f"def {name}("))
    end = next(i for i in range(start, len(lines)) if lines[i].split("#")[0].rstrip().endswith(":"))
    code = lines[end].split("  #")[0]
    lines[end] = code + "  # pragma: no mutate block"
    path.write_text("\n".join(lines))


def run(name: str, group: dict, jobs: int) -> int:
    work = prepare(name, group)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # mutmut puts mutants/src first
    env.setdefault("FAKESCOPE_SAMPLES", str(ROOT / ".cache" / "samples"))
    env.setdefault("OMP_NUM_THREADS", "1")
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or "mutmut"
    log = (BUILD / f"{name}.log").open("w")
    print(f"[{name}] mutmut run in {work} (log: {log.name})", flush=True)
    return subprocess.call([mutmut, "run", "--max-children", str(jobs)], cwd=work, env=env, stdout=log,
                           stderr=subprocess.STDOUT)


def module_of(key: str) -> str:
    return key.split(".x_")[0].split(".xǁ")[0]


def collect(name: str) -> dict[str, Counter]:
    per: dict[str, Counter] = defaultdict(Counter)
    for meta in (BUILD / name / "mutants").rglob("*.py.meta"):
        codes = json.loads(meta.read_text()).get("exit_code_by_key", {})
        for key, code in codes.items():
            mod = module_of(key)
            if code in KILLED:
                per[mod]["killed"] += 1
            elif code in SURVIVED:
                per[mod]["survived"] += 1
            elif code in NO_TESTS:
                per[mod]["no tests"] += 1
            elif code in TIMEOUT:
                per[mod]["timeout"] += 1  # an endless loop caught by the timeout counts as killed
            elif code is None:
                per[mod]["not checked"] += 1
            else:
                per[mod]["other"] += 1
    return per


_DIFFS = """
import json, sys
from mutmut.__main__ import SourceFileMutationData, walk_mutatable_files
from mutmut.mutation.diff_apply import get_diff_for_mutant
out = []
for path in walk_mutatable_files():
    m = SourceFileMutationData(path=path)
    m.load()
    for key, code in m.exit_code_by_key.items():
        if code == 0:
            out.append((key, get_diff_for_mutant(key, path=m.path)))
json.dump(out, sys.stdout)
"""


def survivors(name: str) -> list[tuple[str, str]]:
    """(mutant, diff) of every survivor, from one process in the group's folder (``mutmut show`` per mutant
    takes a second each)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    work = BUILD / name
    if not (work / "mutants").is_dir():
        return []
    res = subprocess.run([sys.executable, "-c", _DIFFS], cwd=work, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        print(f"[{name}] could not list the survivors' diffs: {res.stderr.strip()[-300:]}", file=sys.stderr)
        return []
    found = []
    for key, diff in json.loads(res.stdout):
        lines = [x for x in diff.splitlines() if x[:1] in "+-" and x[:3] not in ("+++", "---")]
        found.append((key, "\n".join(lines)))
    return sorted(found)


#: modules whose SQL text and sqlite3.Row keys a mutant may change only in letter case: SQLite reads keywords,
#: table and column names case-insensitively and sqlite3.Row looks keys up case-insensitively, so such a
#: mutant cannot change behaviour (reported apart, never hidden)
SQL_MODULES = ("fakescope.archive.store",)


def case_only(key: str, diff: str) -> bool:
    """A survivor of :data:`SQL_MODULES` whose removed and added lines differ only in letter case."""
    if module_of(key) not in SQL_MODULES:
        return False
    minus = [x[1:] for x in diff.splitlines() if x.startswith("-")]
    plus = [x[1:] for x in diff.splitlines() if x.startswith("+")]
    return bool(minus) and len(minus) == len(plus) and all(
        a != b and a.lower() == b.lower() for a, b in zip(minus, plus, strict=True))


def report(names: list[str]) -> str:
    rows = ["| group | module | mutants | killed | survived | of them case-only SQL | no tests | timeout | kill rate "
            "| kill rate without case-only SQL |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    surv = ["# Surviving mutants", ""]
    for name in names:
        found = survivors(name)
        sql = defaultdict(int)
        for key, diff in found:
            if case_only(key, diff):
                sql[module_of(key)] += 1
        for mod, c in sorted(collect(name).items()):
            total = sum(c.values())
            dead = c["killed"] + c["timeout"]
            checked = total - c["not checked"]
            rate = f"{100 * dead / checked:.1f} %" if checked else "-"
            rest = checked - sql[mod]
            rate2 = f"{100 * dead / rest:.1f} %" if rest else "-"
            rows.append(f"| {name} | {mod} | {total} | {c['killed']} | {c['survived']} | {sql[mod]} | "
                        f"{c['no tests']} | {c['timeout']} | {rate} | {rate2} |")
        for key, diff in found:
            if not case_only(key, diff):
                surv += [f"## {key}", "", "```diff", diff, "```", ""]
    BUILD.mkdir(parents=True, exist_ok=True)
    table = "\n".join(rows) + "\n"
    (BUILD / "summary.md").write_text(table)
    (BUILD / "survivors.md").write_text("\n".join(surv) + "\n")
    return table


def main() -> int:
    groups = tomllib.loads((ROOT / "tests" / "mutation.toml").read_text())
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("groups", nargs="*", help=f"groups to run (default: all of {', '.join(groups)})")
    ap.add_argument("--jobs", type=int, default=2, help="mutants tested at once")
    ap.add_argument("--report-only", action="store_true", help="only print the tables of the last runs")
    args = ap.parse_args()
    names = args.groups or list(groups)
    unknown = [n for n in names if n not in groups]
    if unknown:
        ap.error(f"unknown group(s) {unknown}; known: {', '.join(groups)}")
    rc = 0
    if not args.report_only:
        for name in names:
            rc |= run(name, groups[name], args.jobs)
    print(report(names))
    print(f"survivors' diffs: {BUILD / 'survivors.md'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
