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
import pandas as pd
from pydantic import ValidationError

from ..pipeline import DEFAULT_MODEL
from .jobs import AnalysisOptions, JobStore, QueueFull, Rejected, options_error

THEME_CSS = """
#verdict .fs-badge {display:inline-block;padding:.15em .6em;border-radius:.4em;color:#fff;font-weight:700;
  letter-spacing:.04em;margin-right:.5em}
#verdict .fs-fake {background:#c0392b} #verdict .fs-real {background:#1e8449}
#verdict .fs-inconclusive {background:#b7950b} #verdict .fs-muted {color:#777}
"""

_TRACK_COLUMNS = ["identity", "verdict", "faces", "span (s)", "mean p_fake", "max p_fake", "reason"]
_TRACK_WIDTHS = ["9%", "10%", "7%", "13%", "10%", "10%", "41%"]
DEFAULT_EXPLAIN = "gradcam"


def _choices() -> tuple[list[str], list[str], list[str]]:
    from ..models import list_models
    from ..rules import list_rules
    from .jobs import _explainer_names

    return list_models(), list_rules(), _explainer_names() or []


def _status_html(text: str) -> str:
    return f"<p class='fs-muted'>{html.escape(text)}</p>"


def _verdict_html(result: dict) -> str:
    v = result["verdict"]
    label = v["label"]
    score = "" if v.get("score") is None else f" · score {v['score']:.3f}"
    name = html.escape(result["input"].get("name") or "")
    return (
        f"<p><span class='fs-badge fs-{label}'>{label.upper()}</span><b>Verdict: {label}</b>{score}</p>"
        f"<p>{html.escape(v['reason'])}</p>"
        f"<p class='fs-muted'>{name} · {len(result['tracks'])} identit{'y' if len(result['tracks']) == 1 else 'ies'}"
        f" · {sum(len(f['faces']) for f in result['frames'])} faces in {len(result['frames'])} sampled frame(s)"
        f" · model {html.escape(result['settings']['model'])}</p>"
        + "".join(f"<p class='fs-muted'>⚠ {html.escape(w)}</p>" for w in result.get("warnings", []))
    )


def _tracks_frame(result: dict) -> pd.DataFrame:
    rows = [
        [
            f"#{t['id']}",
            t["label"],
            t["n_faces"],
            f"{t['first_time']:.2f}–{t['last_time']:.2f}",
            round(t["mean_p_fake"], 3),
            round(t["max_p_fake"], 3),
            t["reason"],
        ]
        for t in result["tracks"]
    ]
    return pd.DataFrame(rows, columns=_TRACK_COLUMNS)


def _timeline_frame(result: dict) -> pd.DataFrame:
    rows = [
        {"time": fr["time"], "p_fake": face["p_fake"], "identity": f"#{face['track_id']}"}
        for fr in result["frames"]
        for face in fr["faces"]
        if face["p_fake"] == face["p_fake"]  # drop NaN
    ]
    return pd.DataFrame(rows or [], columns=["time", "p_fake", "identity"])


def _gallery(folder: Path, result: dict, method: str | None) -> list[tuple[str, str]]:
    items = []
    for rec in result.get("explanations", []):
        if rec["method"] != method or not rec.get("overlay"):
            continue
        path = folder / rec["overlay"]
        if path.is_file():
            flags = ", ".join(f.replace("_", " ") for f in rec.get("flags") or [])
            faith = rec.get("faithfulness")
            extra = ("" if faith is None else f" · faithfulness {faith:+.2f}") + (f" · ⚑ {flags}" if flags else "")
            items.append((str(path), f"#{rec['track_id']} · t={rec['time']:.2f} s · p_fake={rec['p_fake']:.3f}{extra}"))
    return items


def build_demo(store: JobStore) -> gr.Blocks:
    """The page, bound to ``store`` (call once per app)."""
    settings = store.settings
    models, rules, explainers = _choices()
    default_explain = [DEFAULT_EXPLAIN] if DEFAULT_EXPLAIN in explainers else []

    with gr.Blocks(title="fakescope", analytics_enabled=False, delete_cache=(3600, 24 * 3600)) as demo:
        gr.Markdown(
            "# fakescope\nExplainable deepfake detection, offline. Upload a video or an image: every face is "
            "found, followed per identity, scored, and explained with heatmaps. *No face found is "
            "inconclusive, never real.*"
        )
        job_state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                media = gr.File(label="Video or image", file_count="single", type="filepath", elem_id="media")
                with gr.Accordion("Options", open=False, elem_id="options"):
                    model = gr.Dropdown(models, value=DEFAULT_MODEL, label="Detector model")
                    explain = gr.Dropdown(
                        explainers, value=default_explain, multiselect=True, label="Explanation methods",
                        elem_id="explain",
                    )
                    frames = gr.Textbox(settings.default_frames, label="Frames (even:N, every:K, all)")
                    rule = gr.Dropdown(rules, value="share", label="Verdict rule")
                    threshold = gr.Slider(0.0, 1.0, value=0.5, step=0.01, label="p_fake threshold")
                run = gr.Button("Analyse", variant="primary", elem_id="analyse")
            with gr.Column(scale=2):
                verdict = gr.HTML(_status_html("Upload a file and press Analyse."), elem_id="verdict")
                tracks = gr.Dataframe(
                    headers=_TRACK_COLUMNS, label="Identities", interactive=False, wrap=True, elem_id="tracks",
                    column_widths=_TRACK_WIDTHS,
                )
        with gr.Row():
            timeline = gr.LinePlot(
                x="time", y="p_fake", color="identity", y_lim=[0, 1], title="p_fake over time",
                x_title="time (s)", y_title="p_fake", label="Timeline", elem_id="timeline",
            )
            annotated_video = gr.Video(label="Annotated video", interactive=False, elem_id="annotated-video")
            annotated_image = gr.Image(label="Annotated image", interactive=False, visible=False, type="filepath")
        with gr.Row():
            with gr.Column(scale=3):
                method = gr.Dropdown([], label="Heatmap method", interactive=True, elem_id="method")
                gallery = gr.Gallery(label="Face heatmaps", columns=6, height=420, object_fit="contain",
                                     elem_id="heatmaps")
            downloads = gr.File(label="Downloads (result.json, report.html)", file_count="multiple",
                                interactive=False, elem_id="downloads")

        outputs = [job_state, verdict, tracks, timeline, annotated_video, annotated_image, method, gallery, downloads]
        keep = [gr.skip()] * (len(outputs) - 2)

        def analyse(file, model_name, methods, frames_text, rule_name, thr, progress=gr.Progress()) -> Iterator:
            if not file:
                raise gr.Error("Choose a video or an image first.")
            try:
                options = AnalysisOptions(
                    model=model_name or DEFAULT_MODEL,
                    explain=list(methods or []),
                    frames=(frames_text or "").strip() or None,
                    rule=rule_name or "share",
                    threshold=float(thr),
                )
            except ValidationError as e:
                raise gr.Error(options_error(e)) from None
            try:
                job = store.submit_file(file, Path(file).name, options)
            except (Rejected, QueueFull) as e:
                raise gr.Error(str(getattr(e, "detail", e))) from None
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
                    done, total = job.progress
                    progress((done, total), desc="Analysing frames", unit="frames")
                    text = f"Analysing… frame {done}" + (f" of {total}" if total else "")
                else:
                    progress(None, desc="Queued" if job.status == "queued" else "Loading the model")
                    text = "Queued…" if job.status == "queued" else "Analysing…"
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
            files = [str(folder / n) for n in ("result.json", "report.html") if n in names]
            return [
                _verdict_html(result),
                _tracks_frame(result),
                _timeline_frame(result),
                gr.update(value=video, visible=image is None),
                gr.update(value=image, visible=image is not None),
                gr.update(choices=methods_done, value=first),
                _gallery(folder, result, first),
                files,
            ]

        def switch(job_id: str | None, chosen: str | None) -> list[tuple[str, str]]:
            job = store.get(job_id) if job_id else None
            result = store.load_result(job) if job else None
            return _gallery(store.folder(job_id), result, chosen) if result else []

        run.click(
            analyse,
            [media, model, explain, frames, rule, threshold],
            outputs,
            concurrency_limit=store.capacity,
            api_name="analyse",
        )
        method.change(switch, [job_state, method], gallery, api_name=False)
    return demo
