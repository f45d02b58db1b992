"""Configuration of scheduled deployments (section `serve:` of curate.yaml): which jobs run on what schedule
when `curate serve` runs them, and how a scheduled run behaves when the warehouse is busy."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from curators.settings import StrictModel

# The steps of the `synth` job, in order: textbooks, then exercises from them; instructions, then responses
# to them, their ratings and the preference pairs.
SYNTH_STEPS = ("textbooks", "exercises", "instructions", "responses", "judge", "preferences")


class DeploymentConfig(StrictModel):
    """One scheduled deployment: a job, its stages, and a cron or an interval."""

    job: Literal["curate", "synth"] = Field(
        description="curate: the pipeline of `curate run`; synth: textbooks, exercises, instructions, responses, "
        "judge, preferences."
    )
    stages: list[str] | None = Field(
        default=None,
        description="Stages of the job, in its order (curate: those of `curate run`; synth: "
        f"{', '.join(SYNTH_STEPS)}). Default: all.",
    )
    cron: str | None = Field(default=None, description="Cron schedule (minute granularity), e.g. '0 2 * * *'.")
    interval_s: float | None = Field(default=None, ge=1, description="Or: every this many seconds.")
    timezone: str = Field(default="UTC", description="Time zone of the cron schedule.")
    active: bool = Field(default=True, description="Served by `curate serve` (false: left out).")
    description: str | None = None

    @model_validator(mode="after")
    def _one_schedule(self) -> DeploymentConfig:
        if (self.cron is None) == (self.interval_s is None):
            raise ValueError("give exactly one of cron or interval_s")
        known = SYNTH_STEPS if self.job == "synth" else None
        if known is not None and self.stages:
            unknown = [s for s in self.stages if s not in known]
            if unknown:
                raise ValueError(f"unknown synth steps {unknown}; the steps: {', '.join(known)}")
        return self


def _default_deployments() -> dict[str, DeploymentConfig]:
    return {
        "curate-nightly": DeploymentConfig(
            job="curate",
            stages=["ingest", "quality", "label", "train", "score", "dedup", "decontam", "report"],
            cron="0 2 * * *",
            description="Ingest new data of the configured sources, filter, deduplicate, decontaminate, report.",
        ),
        "synth-weekly": DeploymentConfig(
            job="synth",
            cron="0 3 * * 0",
            description="Textbooks and exercises, instructions, responses, ratings and preference pairs.",
        ),
    }


class ServeConfig(StrictModel):
    """`curate serve`: the deployments it registers and runs, and its Prefect server."""

    deployments: dict[str, DeploymentConfig] = Field(
        default_factory=_default_deployments,
        description="Name -> deployment. The defaults: curate-nightly (02:00 UTC) and synth-weekly (Sunday 03:00).",
    )
    lock_wait_s: float = Field(
        default=600.0,
        ge=0,
        description="A scheduled run that finds the warehouse being written waits this long, then ends Cancelled "
        "naming the writer.",
    )
    port: int = Field(default=4200, ge=1, le=65535, description="Port of the Prefect server `curate serve` starts.")
    ui: bool = Field(default=False, description="Serve Prefect's UI too (http://127.0.0.1:<port>).")
    server_start_s: float = Field(default=90.0, gt=0, description="Seconds to wait for the server to be healthy.")

    def active(self) -> dict[str, DeploymentConfig]:
        return {name: d for name, d in self.deployments.items() if d.active}
