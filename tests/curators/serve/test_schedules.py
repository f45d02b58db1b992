"""Late runs after a crash: one catch-up run per deployment, never a burst; the config's schedule rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from curators.serve.config import DeploymentConfig, ServeConfig
from curators.serve.schedules import late_runs_to_drop

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_all_late_runs_but_the_newest_are_dropped_and_future_runs_kept() -> None:
    runs = [(f"late{k}", NOW - timedelta(minutes=k)) for k in range(1, 35)]  # 34 missed while nothing served
    runs += [("soon", NOW + timedelta(seconds=30)), ("due-now", NOW - timedelta(seconds=2))]
    dropped = late_runs_to_drop(runs, NOW)
    assert sorted(dropped) == sorted(f"late{k}" for k in range(2, 35))  # late1 is the catch-up run
    assert late_runs_to_drop([("one", NOW - timedelta(hours=1))], NOW) == []
    assert late_runs_to_drop([], NOW) == []


def test_a_deployment_has_exactly_one_schedule_and_known_synth_steps() -> None:
    with pytest.raises(ValidationError, match="exactly one of cron or interval_s"):
        DeploymentConfig(job="curate")
    with pytest.raises(ValidationError, match="exactly one of cron or interval_s"):
        DeploymentConfig(job="curate", cron="0 2 * * *", interval_s=60)
    with pytest.raises(ValidationError, match="unknown synth steps"):
        DeploymentConfig(job="synth", cron="0 2 * * *", stages=["textbooks", "poems"])
    serve = ServeConfig.model_validate({"deployments": {"a": {"job": "curate", "interval_s": 5, "active": False}}})
    assert serve.active() == {}
    assert set(ServeConfig().active()) == {"curate-nightly", "synth-weekly"}
