"""Machines started for one training job: `cauce launch-runner` and `cauce stop-runner`.

machines.yaml names the machines a team may start (cloud, type, GPU, spot, disk). train.yml
launches one per run through CML's `cml runner launch --cloud …`, which starts the
instance and registers it as a self-hosted runner with a label of that run alone; the
training job asks for that label, so it lands there and nothing else does. `--single`
makes the runner shut down after that one job, passed or failed; `--idle-timeout` shuts
down one that never gets it. `stop-runner` is the teardown that does not rely on either:
it removes any runner of the run still registered, and CML destroys the instance of a
runner whose registration is gone.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    StringConstraints,
    model_validator,
)

from cauce import ConfigError, tools
from cauce.config import parse_yaml
from cauce.layout import MACHINES

Cloud = Literal["aws", "azure", "gcp", "kubernetes"]
MachineName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
RUN = re.compile(r"[0-9]+(?:-[0-9]+)?")  # $GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT

# What `cml runner launch` needs from the environment (train.yml's secrets): a token that
# may register runners, and the chosen cloud's credentials (CML's names).
RUNNER_TOKEN = "REPO_TOKEN"  # noqa: S105 (the variable's name, not a token)
CREDENTIALS: dict[str, tuple[str, ...]] = {
    "aws": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "azure": ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_SUBSCRIPTION_ID", "AZURE_TENANT_ID"),
    "gcp": ("GOOGLE_APPLICATION_CREDENTIALS_DATA",),
    "kubernetes": ("KUBERNETES_CONFIGURATION",),
}
OPTIONAL_CREDENTIALS = ("AWS_SESSION_TOKEN",)


class Machine(BaseModel):
    """One machine of machines.yaml, in CML's terms (cml runner launch --cloud-…)."""

    model_config = ConfigDict(extra="forbid")
    cloud: Cloud
    type: str  # CML's m, l, xl (m+k80, …) or the cloud's own, e.g. m5.4xlarge
    region: str = "us-west"  # CML's us-west, us-east, eu-west, eu-north or the cloud's own
    gpu: str | None = None  # CML's k80, v100, or the cloud's own, e.g. nvidia-tesla-t4
    spot: bool = False  # a preemptible instance: cheaper, may be taken back
    spot_price: PositiveFloat | None = None  # the most to pay per hour, in USD
    hdd_size: PositiveInt | None = None  # GB
    idle_timeout: PositiveInt = 600  # seconds without a job before it shuts down

    @model_validator(mode="after")
    def _spot_as_the_cloud_sells_it(self) -> Self:
        # What CML's Terraform provider refuses at launch, or ignores, refused here first.
        if self.spot and self.cloud == "kubernetes":
            raise ValueError("spot: a kubernetes runner is a pod on the cluster's own nodes")
        if self.spot_price is not None and not self.spot:
            raise ValueError("spot_price: a bid for a spot machine; set spot: true too")
        if self.spot_price is not None and self.cloud == "gcp":
            raise ValueError("spot_price: gcp's spot machines have a fixed price, not a bid")
        return self


class Machines(BaseModel):
    model_config = ConfigDict(extra="forbid")
    machines: Annotated[dict[MachineName, Machine], Field(min_length=1)]


def load(path: Path = MACHINES) -> dict[str, Machine]:
    return parse_yaml(Machines, path).machines


def label_of(machine: str, run: str) -> str:
    """The runner's label and name: this run's alone, so only its training job lands there."""
    return f"cauce-{machine}-{run}"


def launch_arguments(machine: Machine, label: str) -> list[str]:
    """The `cml runner launch` command for `machine`, one job, labelled `label`."""
    chosen: list[tuple[str, object]] = [
        ("--cloud-gpu", machine.gpu),
        ("--cloud-spot-price", machine.spot_price),
        ("--cloud-hdd-size", machine.hdd_size),
    ]
    return [
        "runner",
        "launch",
        f"--cloud={machine.cloud}",
        f"--cloud-region={machine.region}",
        f"--cloud-type={machine.type}",
        *(f"{flag}={value}" for flag, value in chosen if value is not None),
        *(["--cloud-spot"] if machine.spot else []),
        # The instance carries the label as a tag too, to find a leftover in the console.
        f"--cloud-metadata=cauce-runner={label}",
        f"--labels={label}",
        f"--name={label}",
        "--single",
        f"--idle-timeout={machine.idle_timeout}",
    ]


@dataclass(frozen=True)
class Launched:
    label: str
    machine: str
    described: str  # e.g. aws m5.4xlarge, spot

    def line(self) -> str:
        return (
            f"launched {self.machine} ({self.described}) as runner {self.label}: it takes "
            "this run's training job, then shuts down"
        )


def launch(name: str, run: str, path: Path = MACHINES) -> Launched:
    """Start machine `name` of machines.yaml for run `run`. A ConfigError names what is
    missing before anything is started: an unknown machine, a secret not set."""
    if not RUN.fullmatch(run):
        raise ConfigError(f"--run {run!r}: expected the run's id, e.g. 123456-1")
    machines = load(path)
    if name not in machines:
        raise ConfigError(
            f"{path}: machines.{name}: no such machine; one of {', '.join(sorted(machines))}"
        )
    machine = machines[name]
    missing = [
        variable
        for variable in (RUNNER_TOKEN, *CREDENTIALS[machine.cloud])
        if not os.environ.get(variable)
    ]
    if missing:
        raise ConfigError(
            f"{path}: machines.{name} runs on {machine.cloud}, which needs the secret"
            f"{'s' * (len(missing) > 1)} {', '.join(missing)}: not set (docs/cloud-runners.md)"
        )
    label = label_of(name, run)
    tools.run("cml", *launch_arguments(machine, label), echo=True)
    described = ", ".join(
        [f"{machine.cloud} {machine.type}"]
        + ([f"gpu {machine.gpu}"] if machine.gpu else [])
        + (["spot"] if machine.spot else [])
    )
    return Launched(label, name, described)


@dataclass(frozen=True)
class Stopped:
    label: str
    removed: list[str]  # the runners still registered, now removed

    def line(self) -> str:
        if not self.removed:
            return f"no runner labelled {self.label} is left: it shut down after its job"
        return (
            f"removed runner {', '.join(self.removed)} (labelled {self.label}): "
            "its machine shuts down"
        )


def stop(label: str) -> Stopped:
    """Remove every self-hosted runner labelled `label` from the repository (gh reads
    GH_TOKEN and GH_REPO). Up to 100 runners are listed: the repository's own, not an
    organisation's."""
    listed = tools.run("gh", "api", "repos/{owner}/{repo}/actions/runners?per_page=100")
    runners = json.loads(listed.stdout)["runners"]
    removed = []
    for runner in runners:
        if label in {tag["name"] for tag in runner["labels"]}:
            address = f"repos/{{owner}}/{{repo}}/actions/runners/{runner['id']}"
            tools.run("gh", "api", "--method", "DELETE", address)
            removed.append(runner["name"])
    return Stopped(label, removed)
