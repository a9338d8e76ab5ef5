"""The Gradio web app: upload → progress → verdicts, timeline, annotated video, heatmap gallery, downloads.

It goes through the same :class:`~fakescope.server.jobs.JobStore` as ``POST /v1/analyses`` (same
checks, limits, queue and files), so the page, the API and the CLI share one library path.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from pydantic import ValidationError

from ..pipeline import DEFAULT_MODEL
from ..progress import UNITS, describe
from ..render.provenance import provenance_html
from ..rules import DEFAULT_BAND, DEFAULT_RULE, threshold_range
from .jobs import AnalysisOptions, JobStore, QueueFull, Rejected, options_error

THEME_CSS = """
#verdict .fs-badge {display:inline-block;padding:.15em .6em;border-radius:.4em;color:#fff;font-weight:700;
  letter-spacing:.04em;margin-right:.5em}
#verdict .fs-fake {background:#c0392b} #verdict .fs-real {background:#1e8449}
#verdict .fs-inconclusive {background:#7f8c8d} #verdict .fs-uncertain {background:#d68910}
#verdict .fs-muted {color:#777} #verdict .muted {color:#777;font-size:.85em}
#verdict .fs-headline {font-size:1.1em} #verdict .fs-caveat {border-left:4px solid #d68910;background:#fef5e7;
  padding:.3em .7em} #verdict .fs-next {border-left:4px solid #1f77b4;background:#eef5fb;padding:.3em .7em}
#verdict table.prov td, #verdict table.prov th {border:1px solid #ddd;padding:.2em .4em;text-align:left}
#tracks table.fs-tracks {border-collapse:collapse;width:100%;font-size:.9em}
#tracks table.fs-tracks th, #tracks table.fs-tracks td {border:1px solid #ddd;padding:.25em .45em;text-align:left;
  vertical-align:top;white-space:normal;overflow-wrap:break-word}
#tracks table.fs-tracks th {word-break:keep-all;overflow-wrap:normal;hyphens:none;vertical-align:bottom}
#tracks .fs-badge {display:inline-block;padding:.1em .5em;border-radius:.4em;color:#fff;font-weight:700}
#tracks .fs-fake {background:#c0392b} #tracks .fs-real {background:#1e8449}
#tracks .fs-inconclusive {background:#7f8c8d} #tracks .fs-uncertain {background:#d68910}
@media (max-width: 600px) {#tracks {overflow-x:auto} #tracks table.fs-tracks {font-size:.8em}}
#heatmaps .caption-label, #heatmaps figcaption, #heatmaps [class*="caption"] {white-space:normal !important;
  overflow:visible !important;text-overflow:clip !important;max-width:none !important}
"""

_TRACK_COLUMNS = ["identity", "verdict", "P(fake)", "90% interval", "faces", "span (s)", "quality flags",
                  "per model", "reason"]


def _measured_default(model: str | list[str] | None) -> list[str]:
    """The explanation methods chosen by measurement for the (first) model (``fakescope explainers --model``),
    never a hard-coded method that may be unmeasured for it."""
    names = model if isinstance(model, list) else (model or DEFAULT_MODEL).split(",")
    first = next((n.strip() for n in names if n.strip()), DEFAULT_MODEL.split(",")[0])
    try:
        from ..explainers.quality import default_methods

        return list(default_methods(first))
    except Exception:  # no explainers installed
        return []


def _rule_choices(rules: list[str]) -> list[tuple[str, str]]:
    """The default rule first; the seeds' two-outcome rules labelled as legacy (they never say uncertain)."""
    ordered = [DEFAULT_RULE] + [r for r in rules if r != DEFAULT_RULE]
    return [(f"{r} (default)" if r == DEFAULT_RULE else f"{r} — legacy, no uncertain band", r) for r in ordered]


def _choices() -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """(runnable models — shipped or installed weights — as (label, name) with a one-line description, rules,
    explainers for the default model)."""
    from ..models import list_runnable_models, model_summary
    from ..rules import list_rules
    from .jobs.options import _explainer_names

    models = [(f"{n} — {_short(model_summary(n))}", n) for n in list_runnable_models()]
    return models, list_rules(), _explainers_for(DEFAULT_MODEL) if _explainer_names() else []


def _short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _explainers_for(model: str | list[str] | None) -> list[str]:
    """Methods that can explain the (first) model of ``model`` (an attention method is not offered for a CNN)."""
    names = model if isinstance(model, list) else (model or DEFAULT_MODEL).split(",")
    first = next((n.strip().partition(":")[0] for n in names if n.strip()), DEFAULT_MODEL.split(",")[0])
    try:
        from ..explainers.compat import supported_methods

        return supported_methods(first)
    except Exception:  # no explainers installed, or a model the check cannot build: offer none
        return []


def _status_html(text: str) -> str:
    return f"<p class='fs-muted'>{html.escape(text)}</p>"


def _wording(result: dict) -> dict:
    """The verdict's plain sentences (recomputed for results stored before they were recorded)."""
    v = result["verdict"]
    if v.get("headline"):
        return {"headline": v["headline"], "next_step": v.get("next_step") or "", "caveat": v.get("caveat")}
    from ..schema import AnalysisResult
    from ..wording import caveat, headline, next_step

    try:
        r = AnalysisResult.model_validate(result)
    except Exception:  # an unreadable old result: its reason is all there is
        return {"headline": v.get("reason", ""), "next_step": "", "caveat": None}
    return {"headline": headline(r), "next_step": next_step(r), "caveat": caveat(r)}


def _verdict_html(result: dict) -> str:
    v = result["verdict"]
    label = v["label"]
    iv = v.get("interval")
    score = "" if v.get("score") is None else f" · P(fake) {v['score']:.2f}" + (
        f" (90 % interval {iv[0]:.2f}–{iv[1]:.2f})" if iv else "")
    band = result["settings"].get("band")
    band_note = (f"<p class='fs-muted'>P(fake) is calibrated; identities between {band[0]:g} and {band[1]:g} are "
                 "reported uncertain. See “How reliable is this detector?” below.</p>") if band else ""
    name = html.escape(result["input"].get("name") or "")
    words = _wording(result)
    caveat = (f"<p class='fs-caveat' id='caveat'>⚠ {html.escape(words['caveat'])}</p>" if words["caveat"] else "")
    return (
        f"<p class='fs-headline'><span class='fs-badge fs-{label}'>{label.upper()}</span> "
        f"<b>{html.escape(words['headline'])}</b></p>{caveat}"
        f"<p>Verdict: {label}{' (by declaration)' if v.get('basis') == 'declaration' else ''}{score} · "
        f"{html.escape(v['reason'])}</p>"
        f"<p class='fs-next' id='next-step'>{html.escape(words['next_step'])}</p>{band_note}"
        f"<p class='fs-muted'>{name} · {len(result['tracks'])} identit{'y' if len(result['tracks']) == 1 else 'ies'}"
        f" · {sum(len(f['faces']) for f in result['frames'])} faces in {len(result['frames'])} sampled frame(s)"
        f" · model {html.escape(result['settings']['model'])}</p>"
        + "".join(f"<p class='fs-muted'>⚠ {html.escape(w)}</p>" for w in result.get("warnings", []))
        + provenance_html(result.get("provenance"), heading="h3")
    )


def _tracks_html(result: dict) -> str:
    """The identities as an HTML table whose headers wrap instead of being cut (a Dataframe's were)."""
    e = html.escape
    image = result["input"]["kind"] == "image"
    ensemble = len(result["settings"].get("models") or []) > 1
    cols = [c for c in _TRACK_COLUMNS if not (image and c == "span (s)") and (ensemble or c != "per model")]
    head = "".join(f"<th>{e(c)}</th>" for c in cols)
    rows = []
    for t in result["tracks"]:
        cells = {
            "identity": f"#{t['id']}",
            "verdict": f"<span class='fs-badge fs-{e(t['label'])}'>{e(t['label'])}</span>",
            "P(fake)": "–" if t.get("score") is None else f"{t['score']:.2f}",
            "90% interval": "–" if not t.get("interval") else f"{t['interval'][0]:.2f}–{t['interval'][1]:.2f}",
            "faces": str(t["n_faces"]),
            "span (s)": f"{t['first_time']:.2f}–{t['last_time']:.2f}",
            "quality flags": e(", ".join(f"{k} {v}" for k, v in sorted((t.get("flag_counts") or {}).items()))
                               or "none"),
            "per model": e(", ".join(f"{k} {v:.2f}" for k, v in (t.get("model_scores") or {}).items()) or "–"),
            "reason": e(t["reason"]),
        }
        rows.append("<tr>" + "".join(f"<td>{cells[c]}</td>" for c in cols) + "</tr>")
    if not rows:
        return "<p class='fs-muted'>No identity: no face was found.</p>"
    return f"<table class='fs-tracks'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _timeline_html(result: dict) -> str:
    """The report's timeline (P(fake) per identity with the smoothed line, threshold and uncertain band)."""
    from ..render.report import timeline_svg
    from ..schema import AnalysisResult

    if result["input"]["kind"] == "image" or not result.get("frames"):
        return ""
    try:
        svg = timeline_svg(AnalysisResult.model_validate(result))
    except Exception:  # an unreadable old result: no timeline
        return ""
    svg = svg.replace("<svg ", '<svg style="max-width:100%;height:auto" ', 1)
    return f"<div class='fs-timeline'>{svg}</div>"


def _hidden_maps(result: dict, method: str | None) -> int:
    """How many of ``method``'s maps the measurement flags as not evidence (kept out of the gallery)."""
    from ..render.report import not_evidence

    return sum(1 for rec in result.get("explanations", []) if rec["method"] == method
               and not_evidence({"flags": rec.get("flags") or []}))  # fmt: skip


def _gallery(folder: Path, result: dict, method: str | None) -> list[tuple[str, str]]:
    """The heatmaps of ``method`` that are evidence; maps flagged no better than random, empty or failing the
    sanity check are not shown as evidence (their count is said beside the gallery; the zip has them)."""
    from ..render.report import not_evidence

    items = []
    models = result["settings"].get("models") or [result["settings"]["model"]]
    for rec in result.get("explanations", []):
        if rec["method"] != method or not rec.get("overlay"):
            continue
        if not_evidence({"flags": rec.get("flags") or []}):
            continue
        path = folder / rec["overlay"]
        if path.is_file():
            why = f" · {rec['why']}" if rec.get("why") else ""
            when = "" if result["input"]["kind"] == "image" else f" · t={rec['time']:.2f} s"
            flags = ", ".join(f.replace("_", " ") for f in rec.get("flags") or [])
            faith = rec.get("faithfulness")
            extra = ("" if faith is None else f" · faithfulness {faith:+.2f}") + (f" · ⚑ {flags}" if flags else "")
            if rec.get("why") == "typical":
                why = " · typical face of a real-judged identity (not evidence)"
            model = f" · map of {rec['model']}" if len(models) > 1 and rec.get("model") else ""
            items.append((str(path), f"#{rec['track_id']}{when} · P(fake)={rec['p_fake']:.2f}{why}{extra}{model}"))
    return items


def _gallery_update(folder: Path, result: dict, method: str | None) -> dict:
    """The gallery's maps and a label that says how many were held back as not evidence, and of which model."""
    hidden = _hidden_maps(result, method)
    from ..render.report import explained_model_note
    from ..schema import AnalysisResult

    try:
        note = explained_model_note(AnalysisResult.model_validate(result))
    except Exception:  # an old result: no note
        note = ""
    label = "Face heatmaps" + (f" — {note}" if note else "") + (
        f" ⚑ {hidden} map(s) hidden: flagged no better than random, empty or failing the sanity check, so not "
        "evidence (they are in the zip)" if hidden else "")
    return gr.update(value=_gallery(folder, result, method), label=label)


class SessionJobs:
    """The unfinished jobs each browser session started, so they are cancelled when it goes away."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self._jobs: dict[str, set[str]] = {}

    def add(self, session: str | None, job_id: str) -> None:
        if session:
            self._jobs.setdefault(session, set()).add(job_id)

    def cancel(self, job_id: str | None) -> bool:
        """Cancel (and delete) a queued or running job; finished ones are kept."""
        job = self.store.get(job_id) if job_id else None
        if job is None or job.status not in ("queued", "running"):
            return False
        return self.store.delete(job.id)

    def close(self, session: str | None) -> int:
        """The session is gone: cancel its unfinished jobs; returns how many."""
        return sum(self.cancel(j) for j in self._jobs.pop(session or "", set()))


def _cards_html(models: str) -> str:
    """Model cards of every model of ``models`` ("a,b:tag"), as HTML for the web app's panel."""
    from ..cards import card_html, load_card

    parts = []
    for spec in models.split(","):
        name, _, tag = spec.strip().rstrip("'").partition(":")
        try:
            card = load_card(name, tag or None)
        except Exception:  # unknown model: say so instead of failing the page
            card = None
        parts.append(card_html(card) if card else f"<p>No model card for {html.escape(spec)}.</p>")
    return "".join(parts)


def build_demo(store: JobStore) -> gr.Blocks:
    """The page, bound to ``store`` (call once per app)."""
    settings = store.settings
    models, rules, explainers = _choices()
    default_explain = [m for m in _measured_default(DEFAULT_MODEL) if m in explainers]

    with gr.Blocks(title="fakescope", analytics_enabled=False, delete_cache=(3600, 24 * 3600)) as demo:
        gr.Markdown(
            "# fakescope\nExplainable deepfake detection, offline. Upload a video or an image: every face is "
            "found, followed per identity, scored, and explained with heatmaps. *No face found is "
            "inconclusive, never real.*"
        )
        job_state = gr.State(None)
        with gr.Tab("Analyse a file", id="analyse", elem_id="tab-analyse"):
            with gr.Row():
                with gr.Column(scale=1, min_width=300):
                    media = gr.File(label="Video or image", file_count="single", type="filepath", elem_id="media")
                    with gr.Accordion("Options", open=False, elem_id="options"):
                        model = gr.Dropdown(models, value=DEFAULT_MODEL.split(","), multiselect=True,
                                            label="Detector model(s) — several make an ensemble", elem_id="model",
                                            info="models whose trained weights are installed")
                        explain = gr.Dropdown(
                            explainers, value=default_explain, multiselect=True, label="Explanation methods",
                            elem_id="explain",
                        )
                        mode = gr.Radio(["standard", "thorough"], value="standard", label="Mode", elem_id="mode",
                                        info="thorough: the strongest installed published detector (GenD, Effort; "
                                             "`fakescope weights pull gend-clip-l14`) on fewer sampled faces")
                        frames = gr.Textbox(settings.default_frames, label="Frames (even:N, every:K, all)")
                        with gr.Accordion("Advanced: verdict rule (for research)", open=False, elem_id="advanced"):
                            rule = gr.Dropdown(_rule_choices(rules), value=DEFAULT_RULE, label="Verdict rule",
                                               elem_id="rule",
                                               info="the seeds' rules have no uncertain band: for comparison only")
                        # the slider spans exactly the range the API accepts for the chosen rule (rules.threshold_range)
                        threshold = gr.Slider(*threshold_range(DEFAULT_RULE, DEFAULT_BAND), value=0.5, step=0.01,
                                              label="P(fake) threshold", elem_id="threshold",
                                              info="rule 'calibrated': inside the uncertain band; it sets which faces "
                                                   "count as above it — the band decides the verdict")
                    with gr.Row():
                        run = gr.Button("Analyse", variant="primary", elem_id="analyse")
                        stop = gr.Button("Cancel", variant="stop", elem_id="cancel")
                with gr.Column(scale=2):
                    verdict = gr.HTML(_status_html("Upload a file and press Analyse."), elem_id="verdict")
                    tracks = gr.HTML("", label="Identities", elem_id="tracks")
            with gr.Row():
                timeline = gr.HTML("", label="Timeline", elem_id="timeline")
                annotated_video = gr.Video(label="Annotated video", interactive=False, elem_id="annotated-video")
                annotated_image = gr.Image(label="Annotated image", interactive=False, visible=False, type="filepath")
            with gr.Row():
                with gr.Column(scale=3):
                    method = gr.Dropdown([], label="Heatmap method", interactive=True, elem_id="method")
                    gallery = gr.Gallery(label="Face heatmaps", columns=6, height=420, object_fit="contain",
                                         elem_id="heatmaps")
                downloads = gr.File(label="Downloads (everything as a zip, report as PDF and HTML, annotated video, "
                                          "JSON)",
                                    file_count="multiple",
                                    interactive=False, elem_id="downloads")
            with gr.Accordion("How reliable is this detector?", open=False, elem_id="model-card"):
                card = gr.HTML(_cards_html(DEFAULT_MODEL))
            with gr.Accordion("Earlier analyses (also those sent through the HTTP API)", open=False, elem_id="history"):
                with gr.Row():
                    history = gr.Dropdown([], label="Finished analyses, newest first", interactive=True,
                                          elem_id="history-list")
                    with gr.Column(scale=0, min_width=120):
                        refresh = gr.Button("Refresh", elem_id="history-refresh")
                        reopen = gr.Button("Open", variant="primary", elem_id="history-open")
        with gr.Tab("Live", id="live", elem_id="tab-live"):  # camera or shared screen: the /live page
            gr.HTML('<iframe src="/live" title="Live analysis" allow="camera; display-capture" '
                    'style="width:100%;height:860px;border:0"></iframe>', elem_id="live")

        outputs = [job_state, verdict, tracks, timeline, annotated_video, annotated_image, method, gallery, downloads,
                   card]
        keep = [gr.skip()] * (len(outputs) - 2)

        sessions = SessionJobs(store)

        def analyse(
            file, model_name, methods, frames_text, rule_name, thr, mode_name, request: gr.Request,
            progress=gr.Progress(),
        ) -> Iterator:
            if not file:
                raise gr.Error("Choose a video or an image first.")
            thorough = mode_name == "thorough"
            frames_text = (frames_text or "").strip()
            try:
                options = AnalysisOptions(
                    model=(",".join(model_name) if isinstance(model_name, list) else model_name) or DEFAULT_MODEL,
                    explain=list(methods or []),
                    # thorough mode samples its own number of frames unless the field was changed
                    frames=None if thorough and frames_text == settings.default_frames else (frames_text or None),
                    rule=rule_name or DEFAULT_RULE,
                    threshold=float(thr),
                    mode="thorough" if thorough else "standard",
                )
            except ValidationError as e:
                raise gr.Error(options_error(e)) from None
            try:
                job = store.submit_file(file, Path(file).name, options)
            except (Rejected, QueueFull) as e:
                raise gr.Error(str(getattr(e, "detail", e))) from None
            sessions.add(getattr(request, "session_hash", None), job.id)
            yield [job.id, _status_html("Queued…"), *keep]
            deadline = time.monotonic() + settings.job_timeout_s + 120
            last = None
            while time.monotonic() < deadline:
                job = store.get(job.id)
                if job is None:
                    raise gr.Error("The analysis was deleted.")
                if job.status in ("done", "failed"):
                    break
                if job.status == "running" and job.progress:
                    stage, done, total = job.progress
                    text = describe(stage, done, total)
                    progress((done, total) if total else None, desc=text, unit=UNITS.get(stage) or "steps")
                elif job.status == "queued":
                    text = f"Queued (position {job.queue_position or 1})…"
                    progress(None, desc=text)
                else:
                    text = "Loading the model…"
                    progress(None, desc=text)
                if text != last:
                    last = text
                    yield [job.id, _status_html(text), *keep]
                time.sleep(0.25)
            if job.status == "failed":
                raise gr.Error(job.error or "The analysis failed.")
            if job.status != "done":
                raise gr.Error("The analysis is taking too long; try again later.")
            yield [job.id, *_render(job.id)]

        def _render(job_id: str) -> list[Any]:
            job = store.get(job_id)
            result = store.load_result(job) if job else None
            if result is None:
                raise gr.Error("The result is missing.")
            folder = store.folder(job_id)
            names = set(job.artifacts)
            methods_done = list(dict.fromkeys(r["method"] for r in result.get("explanations", []) if r.get("overlay")))
            first = methods_done[0] if methods_done else None
            video = str(folder / "annotated.mp4") if "annotated.mp4" in names else None
            image = str(folder / "annotated.png") if "annotated.png" in names else None
            shared = ("result.zip", "report.pdf", "report.html", "annotated.mp4", "annotated.png", "result.json")
            files = [str(folder / n) for n in shared if n in names]
            return [
                _verdict_html(result),
                _tracks_html(result),
                gr.update(value=_timeline_html(result), visible=result["input"]["kind"] == "video"),
                gr.update(value=video, visible=image is None),
                gr.update(value=image, visible=image is not None),
                gr.update(choices=methods_done, value=first),
                _gallery_update(folder, result, first),
                files,
                _cards_html(",".join(result["settings"].get("models") or [result["settings"]["model"]])),
            ]

        def switch(job_id: str | None, chosen: str | None) -> list[tuple[str, str]]:
            job = store.get(job_id) if job_id else None
            result = store.load_result(job) if job else None
            return _gallery_update(store.folder(job_id), result, chosen) if result else gr.update(value=[])

        running = run.click(
            analyse,
            [media, model, explain, frames, rule, threshold, mode],
            outputs,
            concurrency_limit=store.capacity,
            api_name="analyse",
            show_progress_on=[verdict],  # one progress bar, where the status is written
        )

        def history_choices() -> dict:
            done = [j for j in store.list(100) if j.status == "done"]
            return gr.update(choices=[(f"{j.filename or j.id} · {j.created[:19].replace('T', ' ')} · {j.id[:8]}", j.id)
                                      for j in done])  # fmt: skip

        def open_job(job_id: str | None) -> list[Any]:
            if not job_id:
                raise gr.Error("Choose an analysis first.")
            return [job_id, *_render(job_id)]

        refresh.click(history_choices, None, history, api_name=False)
        reopen.click(open_job, [history], outputs, api_name=False, show_progress_on=[verdict])
        demo.load(history_choices, None, history, api_name=False)

        def cancel(job_id: str | None) -> str:
            return _status_html("Cancelled." if sessions.cancel(job_id) else "Nothing to cancel.")

        stop.click(cancel, [job_state], [verdict], cancels=[running], api_name=False)

        def model_changed(name: str | list[str] | None, chosen: list[str] | None) -> dict:
            offered = _explainers_for(name)
            kept = [m for m in (chosen or []) if m in offered] or [m for m in _measured_default(name) if m in offered]
            return gr.update(choices=offered, value=kept)

        model.change(model_changed, [model, explain], explain, api_name=False)

        def rule_changed(name: str | None, value: float | None) -> dict:
            lo, hi = threshold_range(name or DEFAULT_RULE, DEFAULT_BAND)
            return gr.update(minimum=lo, maximum=hi, value=min(max(float(value or 0.5), lo), hi))

        rule.change(rule_changed, [rule, threshold], threshold, api_name=False)

        def session_gone(request: gr.Request) -> None:  # the tab was closed or reloaded
            sessions.close(getattr(request, "session_hash", None))

        demo.unload(session_gone)
        demo.fakescope_sessions = sessions  # for tests
        method.change(switch, [job_state, method], gallery, api_name=False)
    return demo
