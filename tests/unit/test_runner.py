"""machines.yaml read and checked, the exact `cml runner launch` of a machine, and the
teardown's choice of runners, against the recording stand-ins `cml` and `gh`
(tests/workflows/bin). train.yml itself is rehearsed in tests/workflows/test_train_workflow.py."""

from __future__ import annotations

import os

import pytest
from tests.conftest import ROOT

from cauce import ConfigError
from cauce.ops import runner
from cauce.ops.runner import Machine

STAND_INS = ROOT / "tests/workflows/bin"


@pytest.fixture
def stand_ins(tmp_path, monkeypatch):
    """cml and gh first on PATH, recording into tmp_path/record; the clouds' credentials
    unset, whatever this machine has."""
    record = tmp_path / "record"
    record.mkdir()
    monkeypatch.setenv("PATH", f"{STAND_INS}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CAUCE_RECORD", str(record))
    monkeypatch.setenv("CAUCE_GH_STATE", str(tmp_path / "state"))
    for name in {runner.RUNNER_TOKEN, *sum(runner.CREDENTIALS.values(), ())}:
        monkeypatch.delenv(name, raising=False)
    return record


def test_the_shipped_machines_are_a_spot_cpu_machine_and_a_gpu_machine():
    machines = runner.load(ROOT / "machines.yaml")
    assert machines["cpu-large"].spot
    assert machines["gpu"].gpu == "nvidia-tesla-t4"


def test_a_machine_launches_for_one_job_with_only_the_options_it_sets():
    plain = Machine(cloud="azure", type="Standard_D8s_v5")
    assert runner.launch_arguments(plain, "cauce-big-7-1") == [
        "runner",
        "launch",
        "--cloud=azure",
        "--cloud-region=us-west",
        "--cloud-type=Standard_D8s_v5",
        "--cloud-metadata=cauce-runner=cauce-big-7-1",
        "--labels=cauce-big-7-1",
        "--name=cauce-big-7-1",
        "--single",
        "--idle-timeout=600",
    ]
    bidding = Machine(cloud="aws", type="m+v100", spot=True, spot_price=0.9, idle_timeout=120)
    arguments = runner.launch_arguments(bidding, "x")
    assert "--cloud-spot" in arguments
    assert "--cloud-spot-price=0.9" in arguments
    assert arguments[-1] == "--idle-timeout=120"


def test_a_bad_machines_yaml_names_the_field_and_the_rule(tmp_path):
    path = tmp_path / "machines.yaml"
    path.write_text("machines:\n  big:\n    cloud: ovh\n    type: m\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"machines.yaml: machines.big.cloud = 'ovh': must be one of 'aws'"
    ):
        runner.load(path)
    path.write_text("machines:\n  Big Box:\n    cloud: aws\n    type: m\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Big Box"):
        runner.load(path)
    for machine, rule in [
        ("cloud: gcp, spot: true, spot_price: 0.5", "spot_price: gcp's spot machines have a fixed"),
        ("cloud: aws, spot_price: 0.5", "spot_price: a bid for a spot machine; set spot: true"),
        ("cloud: kubernetes, spot: true", "spot: a kubernetes runner is a pod on the cluster"),
    ]:
        path.write_text(f"machines:\n  big: {{{machine}, type: m}}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=rf"machines.yaml: machines.big.{rule}"):
            runner.load(path)


def test_nothing_starts_without_the_clouds_secrets_or_for_an_unknown_machine(stand_ins):
    machines = ROOT / "machines.yaml"
    with pytest.raises(
        ConfigError, match=r"machines\.huge: no such machine; one of cpu-large, gpu"
    ):
        runner.launch("huge", "7-1", machines)
    with pytest.raises(
        ConfigError,
        match="runs on aws, which needs the secrets REPO_TOKEN, AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY: not set",
    ):
        runner.launch("cpu-large", "7-1", machines)
    with pytest.raises(ConfigError, match="--run 'main'"):
        runner.launch("cpu-large", "main", machines)
    assert not list(stand_ins.glob("cml-*")), "nothing may be launched"


def test_the_teardown_removes_the_runs_runner_and_no_other(stand_ins, monkeypatch):
    monkeypatch.setenv("REPO_TOKEN", "token")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS_DATA", "{}")
    machines = ROOT / "machines.yaml"
    first = runner.launch("gpu", "7-1", machines)
    second = runner.launch("gpu", "8-1", machines)
    assert first.line().startswith("launched gpu (gcp n1-standard-8, gpu nvidia-tesla-t4) as")
    assert runner.stop(first.label).removed == ["cauce-gpu-7-1"]
    assert runner.stop(first.label).line() == (
        "no runner labelled cauce-gpu-7-1 is left: it shut down after its job"
    )
    assert (stand_ins / "gh-deleted").read_text().split() == ["cauce-gpu-7-1"]
    assert runner.stop(second.label).removed == ["cauce-gpu-8-1"]
