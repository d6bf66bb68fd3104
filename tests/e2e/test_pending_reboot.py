"""Parameters waiting for a reboot (issue 11, README "Parameter groups"): once the target's instances are available,
an instance whose parameter group has a static change it has not rebooted for is rebooted, and waited for; an
instance in sync is left alone. The twin makes an instance "pending-reboot" when a static parameter of its group
changes while it runs (ferry_cli.twin.parameter_groups), as an operator's edit of the group would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_event, mutated_member_templates, running_twin, static_change_after

pytestmark = pytest.mark.e2e

WORLD = "parameter-groups.json"
SAMPLE = "migrate-parameter-groups.json"
DEV = "222222222222"
INSTANCES = ["orders-dev-1", "orders-dev-2"]


def _statuses(twin: Any) -> dict[str, tuple[str, str]]:
    """Each target instance's status and its DB parameter group's ParameterApplyStatus."""
    rds = twin.client("rds", DEV)
    found = {}
    for instance_id in INSTANCES:
        instance = rds.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"][0]
        (group,) = instance["DBParameterGroups"]
        found[instance_id] = (instance["DBInstanceStatus"], group["ParameterApplyStatus"])
    return found


def _step_output(twin: Any, execution_arn: str, state: str) -> dict[str, Any]:
    """The output of the last run of `state` in the execution's history."""
    outputs = [
        event["stateExitedEventDetails"]
        for event in twin.history(execution_arn)
        if event.get("stateExitedEventDetails", {}).get("name") == state
    ]
    result: dict[str, Any] = json.loads(outputs[-1]["output"])
    return result


def _run(
    *, edit_after_instances: bool, skip_reboots: bool = False, member_templates: Path | None = None
) -> tuple[dict[str, Any], dict[str, tuple[str, str]], dict[str, Any] | None]:
    """The sample, with an operator's static change to the target's instance parameter group right after the
    run creates its instances (`edit_after_instances`), and the reboot step made to do nothing (`skip_reboots`)."""
    box: dict[str, Any] = {}

    def no_reboots(event: dict[str, Any], context: Any) -> Any:
        return {"rebooting": False, "instanceIdentifiers": []}

    overrides = (
        static_change_after("CreateInstancesFunction", DEV, "orders-instances", box)
        if edit_after_instances
        else {}
    )
    if skip_reboots:
        overrides["ApplyPendingParametersFunction"] = no_reboots
    with running_twin(world=WORLD, handler_overrides=overrides, member_templates=member_templates) as twin:
        box["twin"] = twin
        execution = twin.start(load_event(SAMPLE))
        description = twin.wait(execution, timeout_real_seconds=300)
        statuses = _statuses(twin) if description["status"] == "SUCCEEDED" else {}
        step = (
            _step_output(twin, execution, "ApplyPendingParameters")
            if description["status"] == "SUCCEEDED"
            else None
        )
    return description, statuses, step


def test_instances_in_sync_are_not_rebooted() -> None:
    # Given the sample with nothing changed behind the run's back / When it runs
    description, statuses, step = _run(edit_after_instances=False)
    # Then no instance was rebooted, and each is available and in sync
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert step is not None and step["rebooted"] == {"rebooting": False, "instanceIdentifiers": []}
    assert statuses == {instance: ("available", "in-sync") for instance in INSTANCES}


def test_an_instance_waiting_for_a_reboot_is_rebooted_and_waited_for() -> None:
    # Given a static change to the instances' parameter group while they are being created
    # When the run goes on
    description, statuses, step = _run(edit_after_instances=True)
    # Then it rebooted both instances, waited until they were available, and they are in sync
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert step is not None and step["rebooted"] == {"rebooting": True, "instanceIdentifiers": INSTANCES}
    assert statuses == {instance: ("available", "in-sync") for instance in INSTANCES}


def test_without_the_reboot_step_the_instances_stay_pending() -> None:
    # Given the same change, with the reboot step doing nothing / When the run goes on
    description, statuses, _ = _run(edit_after_instances=True, skip_reboots=True)
    # Then the run ends with instances whose static parameters are not applied
    assert description["status"] == "SUCCEEDED", description.get("cause")
    assert statuses == {instance: ("available", "pending-reboot") for instance in INSTANCES}


def test_the_reboot_needs_the_target_templates_grant(tmp_path: Path) -> None:
    # Given the target template without RebootOnlyManagedInstances
    folder = mutated_member_templates(tmp_path, "target-account", "RebootOnlyManagedInstances")
    # When a run finds instances waiting for a reboot
    description, _, _ = _run(edit_after_instances=True, member_templates=folder)
    # Then the reboot is refused by the twin's IAM, naming the action (preflight only warned: the reboot is rare)
    assert description["status"] == "FAILED"
    assert "perform: rds:RebootDBInstance " in description.get("cause", ""), description.get("cause")
