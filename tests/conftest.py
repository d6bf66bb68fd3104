"""Shared test fixtures: paths into the repo and a twin factory for state-machine and e2e tests."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


def acting_as(account: str, region: str) -> Any:
    """A boto3 session acting in `account`, inside moto (which routes assumed-role credentials to the role's
    account): the twin tests that drive moto directly, without a Twin."""
    import boto3

    credentials = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/twin-test", RoleSessionName="twin-test"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


@pytest.fixture
def clock() -> Any:
    """A twin clock without workers: twin time stands still until a test jumps with advance()."""
    from ferry_cli.twin.clock import TwinClock

    return TwinClock()


def load_event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((REPO / "events" / name).read_text())
    return loaded


@contextmanager
def running_twin(
    world: str = "two-accounts.json",
    handler_overrides: dict[str, Callable[[Any, Any], Any]] | None = None,
    durations: dict[str, float] | None = None,
    enforce_iam: bool = True,
    member_templates: Path | None = None,
) -> Iterator[Any]:
    """A twin of a shipped world; `durations` overrides some of its Aurora operation times (twin seconds).

    The twin enforces IAM under the shipped templates; `member_templates` deploys the member stacks from
    another folder (a mutated copy), and `enforce_iam=False` only shows that a test fails without the IAM.
    """
    from ferry_cli.twin.runtime import Twin
    from ferry_cli.twin.world import load_world

    loaded = load_world(REPO / "worlds" / world)
    if durations:
        loaded = dataclasses.replace(loaded, durations=dataclasses.replace(loaded.durations, **durations))
    with Twin.started(
        loaded,
        REPO / "template.yaml",
        handler_overrides=handler_overrides,
        enforce_iam=enforce_iam,
        member_templates=member_templates,
    ) as twin:
        yield twin


def run_twin_until(
    twin: Any, condition: Callable[[], bool], step: float = 60.0, limit: float = 7 * 86400
) -> float:
    """Let twin time pass `step` seconds at a time until `condition()` holds; the twin seconds it took.

    Each step returns only once every worker of the twin waits, so `condition` sees a settled twin; the
    condition may call the twin's APIs (it runs between steps, not inside the clock).
    """
    started = twin.clock.elapsed()
    while not condition():
        if twin.clock.elapsed() - started >= limit:
            raise TimeoutError(f"not there after {limit:g} twin seconds")
        twin.clock.sleep(step)
    return float(twin.clock.elapsed() - started)


def someone_elses_snapshot(
    twin: Any,
    account: str,
    cluster: str = "scratch",
    snapshot: str = "scratch-snap",
    region: str | None = None,
) -> Any:
    """An available cluster and manual snapshot of it in `account` that the tool did not make (a twin's RDS
    client there is returned), for a test that needs the account to hold, or copy, something of its own."""
    rds = twin.client("rds", account, region=region) if region else twin.client("rds", account)
    rds.create_db_cluster(
        DBClusterIdentifier=cluster,
        Engine="aurora-postgresql",
        MasterUsername="someone",
        MasterUserPassword="not-a-real-password-1",
    )
    twin.rules.settle_all()
    rds.create_db_cluster_snapshot(DBClusterIdentifier=cluster, DBClusterSnapshotIdentifier=snapshot)
    twin.rules.settle_all()
    return rds


def fill_copy_queue(rds: Any, snapshot: str = "scratch-snap") -> None:
    """Five copies of `snapshot` in progress in the client's account and Region: Aurora's copy limit there."""
    for index in range(5):
        rds.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=snapshot,
            TargetDBClusterSnapshotIdentifier=f"someone-elses-copy-{index}",
        )


def static_change_after(
    logical_id: str, account: str, group: str, box: dict[str, Any]
) -> dict[str, Callable[[Any, Any], Any]]:
    """Handler overrides for running_twin: the function `logical_id` runs as deployed, then an operator changes
    a static parameter of the DB parameter group `group` in `account`, so the instances using it wait for a
    reboot (ferry_cli.twin.parameter_groups). The test puts the running twin in box["twin"]."""

    def run_then_change(event: Any, context: Any) -> Any:
        twin = box["twin"]
        spec = twin.template.functions[logical_id]
        result = getattr(twin._handler_module(spec), spec.handler_name)(event, context)
        twin.client("rds", account).modify_db_parameter_group(
            DBParameterGroupName=group,
            Parameters=[
                {"ParameterName": "max_connections", "ParameterValue": "900", "ApplyMethod": "pending-reboot"}
            ],
        )
        return result

    return {logical_id: run_then_change}


def mutated_member_templates(tmp_path: Path, template: str, sid: str) -> Path:
    """A copy of member-accounts/ in `tmp_path` with the statement `sid` taken out of the `template` member
    template ("source-account" or "target-account"), for running_twin's member_templates."""
    from ferry_cli.template import load_cfn_yaml
    from ferry_cli.twin.stacks import without_statements

    folder = tmp_path / "member-accounts"
    folder.mkdir()
    for path in sorted((REPO / "member-accounts").glob("*.yaml")):
        loaded = load_cfn_yaml(path)
        if path.stem == template:
            loaded = without_statements(loaded, [sid])
        # JSON is YAML: the long-form intrinsics load back unchanged.
        (folder / f"{path.stem}.yaml").write_text(json.dumps(loaded), encoding="utf-8")
    return folder
