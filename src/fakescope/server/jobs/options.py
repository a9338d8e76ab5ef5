"""The options of one analysis job (the form fields of ``POST /v1/analyses`` and the web app),
checked against the registries, and the one-line reasons the API gives for a refusal."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ...errors import FakescopeError
from ...media import Sampling
from ...pipeline import DEFAULT_MODEL, AnalyzeConfig
from ...rules import DEFAULT_RULE


def one_line(text: str, limit: int = 500) -> str:
    """Collapse whitespace (newlines included) and cut to ``limit`` characters."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _explainer_names() -> list[str] | None:
    """Registered explanation methods, or None when the explainers package is not importable."""
    try:
        from ...explainers import list_explainers
    except ImportError:
        return None
    return list(list_explainers())


class AnalysisOptions(BaseModel):
    """Options of one analysis (the form fields of ``POST /v1/analyses``); validated against the registries."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), str_strip_whitespace=True)

    model: str = Field(DEFAULT_MODEL, description="detector model, or an ensemble 'a,b:TAG' (GET /v1/models)")
    weights: str = Field("default", description="weight tag of the model; 'default' for the model's default")
    detector: str | None = Field(None, description="face detector (default: the library's default)")
    frames: str | None = Field(None, description="frame sampling: even:N, every:K, all, or N")
    rule: str = Field(DEFAULT_RULE, description="verdict rule")
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="calibrated P(fake) above which a face counts as fake")
    min_faces: int | None = Field(None, ge=1, le=100_000, description="fewest faces a track needs")
    explain: list[str] = Field(default_factory=list, description="explanation methods (comma list)")
    explain_per_track: int = Field(4, ge=1, le=32, description="faces explained per identity")
    annotate: bool | None = Field(None, description="write the annotated video/image (default: server setting)")
    mode: Literal["standard", "thorough"] = Field(
        "standard", description="'thorough': the strongest installed published detector (GenD, Effort) on fewer "
        "sampled faces, unless a model other than the default is named")

    @field_validator("explain", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, str):
            v = [v]
        if isinstance(v, (list, tuple)):
            out: list[str] = []
            for item in v:
                out += [m.strip() for m in str(item).split(",") if m.strip()]
            return list(dict.fromkeys(out))
        return v

    @field_validator("frames")
    @classmethod
    def _frames(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        try:
            s = Sampling.parse(v)
        except (ValueError, FakescopeError) as e:
            raise ValueError(one_line(str(e))) from None
        if s.mode == "even" and s.n > 10_000:
            raise ValueError("even:N allows at most 10000 frames")
        return s.describe()

    @model_validator(mode="after")
    def _registries(self) -> AnalysisOptions:
        from ...faces import list_face_detectors
        from ...models import (
            get_model_info,
            has_usable_weights,
            list_installed_models,
            list_models,
            list_runnable_models,
        )
        from ...rules import list_rules

        def known(kind: str, name: str, names: list[str]) -> None:
            if name not in names:
                raise ValueError(f"unknown {kind} {name!r} (known: {', '.join(names) or 'none'})")

        from ...pipeline import parse_models

        if self.mode == "thorough" and self.model == DEFAULT_MODEL and self.weights == "default":
            from ...thorough import strongest_installed

            try:
                self.model = strongest_installed().name
            except FakescopeError as e:
                raise ValueError(str(e)) from None
        members = parse_models(self.model, self.weights)
        for name, tag in members:
            known("model", name, list_models() + list_installed_models())
            if tag not in ("default", "none"):
                known(f"weights tag of {name}", tag, list(get_model_info(name).weights))
            elif tag == "default" and not has_usable_weights(name):
                raise ValueError(f"model {name!r} ships no trained weights (runnable models: "
                                 f"{', '.join(list_runnable_models())})")
        if self.detector is not None:
            known("face detector", self.detector, list_face_detectors())
        known("rule", self.rule, list_rules())
        if self.explain:
            names = _explainer_names()
            if names is None:
                raise ValueError("explanations are not available in this installation")
            for m in self.explain:
                known("explainer", m, names)
            from ...explainers import explainer_class
            from ...explainers.compat import unsupported_methods

            explained_model = members[0][0]  # the explanations are of the first model
            bad = unsupported_methods(explained_model)
            for m in self.explain:
                reason = bad.get(explainer_class(m).name)
                if reason:
                    raise ValueError(f"explainer {m!r} cannot explain model {explained_model!r}: {reason}")
        from ...pipeline import check_analysis_options

        check_analysis_options(self.to_config())  # the threshold lies in the band in force (one definition)
        return self

    def to_config(self, default_frames: str = "even:32", trust_anchors: str | None = None) -> AnalyzeConfig:
        """The analysis settings; ``trust_anchors`` is the server's (a setting, never a request's)."""
        from ...faces import DEFAULT_FACE_DETECTOR
        from ...thorough import THOROUGH_FRAMES

        if self.mode == "thorough":
            default_frames = THOROUGH_FRAMES
        return AnalyzeConfig(
            model=self.model,
            weights=None if self.weights == "none" else self.weights,
            detector=self.detector or DEFAULT_FACE_DETECTOR,
            sampling=Sampling.parse(self.frames or default_frames),
            mode=self.mode,
            rule=self.rule,
            threshold=self.threshold,
            min_faces=self.min_faces,
            explain=tuple(self.explain),
            explain_per_track=self.explain_per_track,
            trust_anchors=trust_anchors,
        )


def options_error(e: ValidationError) -> str:
    """One line naming each invalid field and why."""
    parts = []
    for err in e.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "__root__")
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return one_line("; ".join(parts))
