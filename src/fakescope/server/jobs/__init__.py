"""Analysis jobs of the server: :mod:`.options` (what a job asks for, checked against the registries),
:mod:`.store` (SQLite rows, job folders, admission, recovery after a restart: :class:`JobStore`) and
:mod:`.runner` (the dispatcher threads that hand jobs to an executor of :mod:`fakescope.engine`
and store the results)."""

from ...engine.work import AnalyzerFactory, AnalyzerLike, AnalyzerPool
from .options import AnalysisOptions, one_line, options_error
from .runner import ARTIFACT_RE, JobRunner
from .store import JOB_ID_RE, MAX_ATTEMPTS, RESTART_REASON, Job, JobStore, QueueFull, Rejected, Ticket, safe_filename

__all__ = [
    "ARTIFACT_RE",
    "JOB_ID_RE",
    "MAX_ATTEMPTS",
    "RESTART_REASON",
    "AnalysisOptions",
    "AnalyzerFactory",
    "AnalyzerLike",
    "AnalyzerPool",
    "Job",
    "JobRunner",
    "JobStore",
    "QueueFull",
    "Rejected",
    "Ticket",
    "one_line",
    "options_error",
    "safe_filename",
]
