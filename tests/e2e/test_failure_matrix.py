"""Nothing left behind, however a run ends: every task state of both state machines fails once with a domain
error and once with a Lambda timeout, and a run is stopped in every wait.

The states come from the generated ASL, so a new state is in the matrix without a change here. Each case runs
in a fresh twin in the first scenario whose successful run reaches the state (a state only a failure reaches,
such as the failure path's cleanup, is reached by also failing an earlier step: with a domain error for the
failure path, with a Lambda timeout for the migration's park path). Every case must end with no snapshot
shared, none of the run's intermediates left unless recorded for the scheduled retry (a parked run's are, for
its redrive), the source untouched, and, when the run failed, a cause that names the step and the account it
acted in. The states a parked run reaches only once it is redriven are tested with a redrive in test_redrive.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import REPO, load_event, running_twin, static_change_after

pytestmark = pytest.mark.e2e

PROD = "111111111111"


@dataclass(frozen=True)
class Machine:
    logical_id: str
    asl: str
    # A failure late in the run, which sends it down its failure path (so that path's own states are reached).
    late_failure: str
    # Inputs whose successful runs, together, reach every state; each with the inputs run to success first.
    scenarios: tuple[Scenario, ...]


@dataclass(frozen=True)
class Scenario:
    world: str
    sample: str
    before: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    # (function, account, DB parameter group): once that function has run, an operator makes a static change to
    # the group, so the run's instances wait for a reboot (tests.conftest.static_change_after).
    edit: tuple[str, str, str] | None = None

    def event(self, sample: str | None = None) -> dict[str, Any]:
        event = copy.deepcopy(load_event(sample or self.sample))
        if sample is None:
            event.setdefault("options", {}).update(self.options)
        return event


MACHINES = {
    "migrate": Machine(
        "MigrationStateMachine",
        "statemachine/migrate.asl.json",
        "CreateInstances",
        (
            Scenario("two-accounts.json", "migrate-cmk.json"),
            # The target copy and its wait are reached by a target in another Region (one in the source's restores
            # straight from the share), whose copy the default cleanup deletes.
            Scenario("two-regions.json", "migrate-cross-region.json"),
            # The source account's copy into a target's Region, its wait and its share there are reached by a copy in
            # two steps (options.crossRegionCopy "two-step").
            Scenario("two-step-regions.json", "migrate-cross-region-two-step.json"),
            # The poll loops of the waits that RDS events announce are reached when the run polls.
            Scenario("two-accounts.json", "migrate-cmk.json", options={"waitStrategy": "polling"}),
            # The wait for a cluster the run configured after its restore is reached by a source with a setting a
            # restore does not take (its maintenance window).
            Scenario("carried-settings.json", "migrate-cmk.json"),
            # The reboot of instances whose parameter group waits for one, and its wait, are reached by an
            # operator's static change to the replicated group while the run creates the instances.
            Scenario(
                "parameter-groups.json",
                "migrate-parameter-groups.json",
                edit=("CreateInstancesFunction", "222222222222", "orders-instances"),
            ),
            # A refresh in place swaps the cluster its first run made.
            Scenario(
                "two-accounts.json",
                "migrate-refresh-in-place.json",
                before=("migrate-refresh-in-place.json",),
            ),
        ),
    ),
    "clone": Machine(
        "CloneStateMachine",
        "statemachine/clone.asl.json",
        "VerifyClone",
        (
            Scenario("clones.json", "clone-cross-account.json"),
            # A refresh retires the dev clone an earlier refresh made.
            Scenario("clones.json", "clone-refresh.json", before=("clone-refresh.json",)),
            # A refresh that keeps the name renames its clone into it.
            Scenario("clones.json", "clone-refresh-keep-name.json"),
            # The wait for a clone the run configured is reached by an override of a setting only ModifyDBCluster
            # takes (the maintenance window).
            Scenario("clones.json", "clone-with-settings.json"),
            # The clone's reboot for a static change to its replicated instance group, and its wait.
            Scenario(
                "parameter-groups.json",
                "clone-cross-account.json",
                edit=("CreateCloneInstancesFunction", "222222222222", "orders-instances"),
            ),
        ),
    ),
}


def _states(machine: Machine) -> dict[str, dict[str, Any]]:
    """Every state of the machine by name, those of its Map iterators included."""
    found: dict[str, dict[str, Any]] = {}

    def collect(states: dict[str, Any]) -> None:
        for name, state in states.items():
            found[name] = state
            if "ItemProcessor" in state:
                collect(state["ItemProcessor"]["States"])

    collect(json.loads((REPO / machine.asl).read_text(encoding="utf-8"))["States"])
    return found


def _is_wait(state: dict[str, Any]) -> bool:
    return state["Type"] == "Wait" or state.get("Resource", "").endswith("WaitForTokenArn}")


def _reachable(states: dict[str, dict[str, Any]], start: str, stop: str) -> set[str]:
    """The states from `start` along Next, Choice rules and defaults, up to (without) `stop`."""
    reached: set[str] = set()
    starts = [start]
    while starts:
        name = starts.pop()
        if name in reached or name == stop or name not in states:
            continue
        reached.add(name)
        state = states[name]
        starts += [state[k] for k in ("Next", "Default") if k in state]
        starts += [rule["Next"] for rule in state.get("Choices", [])]
    return reached


# The migration's park path (README "Redrive"): the states a transient error leads to, and those after its
# ParkedUntilRedrive, which only a redrive reaches.
_MIGRATION = _states(MACHINES["migrate"])
PARK_PATH = _reachable(_MIGRATION, "ParkRun", "ResumeRun")
AFTER_REDRIVE = _reachable(_MIGRATION, _MIGRATION["ParkedUntilRedrive"]["Next"], "ResumeRun")
TASKS = [
    (key, name)
    for key, m in MACHINES.items()
    for name, s in _states(m).items()
    if s["Type"] == "Task" and not (key == "migrate" and name in AFTER_REDRIVE)
]
WAITS = [(key, name) for key, m in MACHINES.items() for name, s in _states(m).items() if _is_wait(s)]


@dataclass
class Outcome:
    scenario: Scenario
    description: dict[str, Any]
    entered: set[str]
    before: dict[str, Any]
    after: dict[str, Any]
    faults: list[str]
    leftovers: list[dict[str, Any]]
    ram_shares: list[dict[str, Any]]
    run_id: str = ""


def _run(
    machine: Machine, scenario: Scenario, faults: tuple[tuple[str, str], ...] = (), stop_in: str | None = None
) -> Outcome:
    """One run of `scenario` in a fresh twin with `faults` ((state, "error" | "hang")) planted, stopped as an
    operator would from the console once it waits in `stop_in`."""
    from ferry_cli.twin.faults import Fault
    from ferry_cli.twin.interpreter import current_state, execution, is_running

    box: dict[str, Any] = {}
    overrides = static_change_after(*scenario.edit, box) if scenario.edit else None
    with running_twin(scenario.world, handler_overrides=overrides) as twin:
        box["twin"] = twin
        for sample in scenario.before:
            first = twin.wait(twin.start(scenario.event(sample), machine=machine.logical_id))
            assert first["status"] == "SUCCEEDED", first
        before = twin.inventory()
        for state, kind in faults:
            twin.faults.plant(
                Fault(state, "error" if kind == "error" else "hang", error="SourceNotReadyError")
            )
        arn = twin.start(scenario.event(), machine=machine.logical_id)
        if stop_in is not None:
            moto_execution = execution(twin.world.orchestrator_account_id, twin.world.region, arn)

            def waiting_there() -> bool:
                return current_state(moto_execution) == stop_in or not is_running(moto_execution)

            twin.clock.wait_until(waiting_there, timeout=7 * 86400)
            if is_running(moto_execution):
                twin.clock.quiesce()
                twin.client("stepfunctions").stop_execution(
                    executionArn=arn, error="Operator", cause="stopped"
                )
        description = twin.wait(arn)
        table = twin.template.tables["LeftoverTable"].physical_name
        rows = twin.client("dynamodb").scan(TableName=table)["Items"]
        return Outcome(
            scenario=scenario,
            description=description,
            entered={
                e["stateEnteredEventDetails"]["name"]
                for e in twin.history(arn)
                if e["type"].endswith("StateEntered")
            },
            before=before,
            after=twin.inventory(),
            faults=[f.state for f in twin.faults.happened],
            leftovers=[json.loads(row["leftover"]["S"]) for row in rows],
            ram_shares=twin.client("ram", PROD).get_resource_shares(
                resourceOwner="SELF", resourceShareStatus="ACTIVE"
            )["resourceShares"],
            run_id=description["name"],
        )


@functools.cache
def _without_a_failure(key: str) -> set[str]:
    """The states a run can reach without any error: from StartAt along Next, Choice rules and defaults (the
    Catch edges, and what follows a wait that gave up, left out). The others (the failure path) are reached by
    failing a step first."""
    states = _states(MACHINES[key])
    asl = json.loads((REPO / MACHINES[key].asl).read_text(encoding="utf-8"))
    starts = [asl["StartAt"]] + [
        s["ItemProcessor"]["StartAt"] for s in states.values() if "ItemProcessor" in s
    ]
    reached: set[str] = set()
    while starts:
        name = starts.pop()
        if name in reached:
            continue
        reached.add(name)
        state = states[name]
        if str(state.get("ResultPath", "")).startswith("$.failure"):
            continue  # a wait that gave up records its failure: what follows is the failure path
        starts += [state[k] for k in ("Next", "Default") if k in state]
        starts += [rule["Next"] for rule in state.get("Choices", [])]
    return reached


# What each scenario's successful run entered, learnt when a case's run ended without reaching its state.
_SUCCESSES: dict[tuple[str, int], set[str]] = {}


def _run_reaching(key: str, state: str, fault: str | None = None, stop: bool = False) -> Outcome:
    """A run of the first scenario that reaches `state`, where it meets `fault` ("error" or "hang") or is
    stopped (`stop`). A state only the failure path reaches is reached by also failing the machine's late step.

    A run that ended without reaching the state succeeded: what it entered is remembered, so that the next case
    goes straight to a scenario that may reach its state (each test worker learns this for itself)."""
    machine = MACHINES[key]
    earlier: tuple[tuple[str, str], ...] = ()
    if state not in _without_a_failure(key):
        # A Lambda timeout parks a migration; a domain error sends a run down its failure path.
        earlier = ((machine.late_failure, "hang" if key == "migrate" and state in PARK_PATH else "error"),)
    faults = (*earlier, *(((state, fault),) if fault else ()))
    for index, scenario in enumerate(machine.scenarios):
        known = _SUCCESSES.get((key, index))
        if known is not None and not earlier and state not in known:
            continue
        outcome = _run(machine, scenario, faults, stop_in=state if stop else None)
        if state in outcome.entered:
            return outcome
        assert outcome.description["status"] == "SUCCEEDED", outcome.description
        _SUCCESSES[(key, index)] = outcome.entered
    raise AssertionError(f"no scenario of the {key} workflow reaches {state}: add one to MACHINES")


def _assert_nothing_left_behind(outcome: Outcome) -> None:
    after, run_id = outcome.after, outcome.run_id
    shared = [(a, s["identifier"], s["sharedWith"]) for a, acc in after.items() for s in acc["snapshots"]]
    assert [s for s in shared if s[2]] == [], "a snapshot is still shared"
    recorded = {row["arn"] for row in outcome.leftovers if row["runId"] == run_id}
    intermediates = [
        s["arn"]
        for acc in after.values()
        for s in acc["snapshots"]
        if s["type"] == "manual" and s["tags"].get("aurora-ferry:run-id") == run_id
    ]
    assert [arn for arn in intermediates if arn not in recorded] == [], "an intermediate of the run was left"
    assert [s["name"] for s in outcome.ram_shares] == [], "a RAM share of the run was left"
    # The source: its cluster, instances and the snapshots that existed (a same-account clone adds clusters).
    before = outcome.before
    assert [c for c in after[PROD]["clusters"] if c["identifier"] == "orders"] == [
        c for c in before[PROD]["clusters"] if c["identifier"] == "orders"
    ]
    assert [i for i in after[PROD]["instances"] if i["cluster"] == "orders"] == [
        i for i in before[PROD]["instances"] if i["cluster"] == "orders"
    ]
    kept = {s["identifier"] for s in before[PROD]["snapshots"]}
    assert [s for s in after[PROD]["snapshots"] if s["identifier"] in kept] == before[PROD]["snapshots"]


def _accounts(scenario: Scenario) -> set[str]:
    event = scenario.event()
    people = [event["source"], *event.get("targets", []), *([event["target"]] if "target" in event else [])]
    return {p["accountId"] for p in people}


@pytest.mark.parametrize(("key", "state"), TASKS, ids=[f"{k}-{s}" for k, s in TASKS])
@pytest.mark.parametrize("kind", ["error", "hang"])
def test_a_task_that_fails_leaves_nothing_behind_and_its_cause_names_the_step(
    key: str, state: str, kind: str
) -> None:
    # Given the scenario that reaches the state, with the state's Lambda function failing once
    # When the run meets the fault (a domain error, or a function hanging until Lambda's timeout)
    outcome = _run_reaching(key, state, fault=kind)
    # Then it failed there, left nothing behind, and its cause names the step and where it acted
    assert state in outcome.faults
    description = outcome.description
    assert description["status"] == "FAILED"
    _assert_nothing_left_behind(outcome)
    expected = "SourceNotReadyError" if kind == "error" else "Sandbox.Timedout"
    if "Catch" not in _states(MACHINES[key])[state]:
        # ParkedUntilRedrive catches nothing, so that a redrive runs it again: its own fault is the run's error
        # as Lambda reported it, and the history names the state.
        assert description["error"] == expected
        return
    cause = description["cause"]
    assert state in cause
    assert any(account in cause for account in _accounts(outcome.scenario)) or any(
        why in cause for why in ("no AWS call", "every account", "could not summarise")
    ), cause
    assert expected in cause
    assert not description["error"].startswith("States.")


@pytest.mark.parametrize(("key", "state"), WAITS, ids=[f"{k}-{s}" for k, s in WAITS])
def test_a_run_stopped_in_a_wait_leaves_nothing_behind(key: str, state: str) -> None:
    # Given the scenario that reaches the wait
    # When an operator stops the run while it waits there
    outcome = _run_reaching(key, state, stop=True)
    # Then it was aborted, and the ended-run cleanup left nothing behind
    assert outcome.description["status"] == "ABORTED"
    _assert_nothing_left_behind(outcome)


def test_every_task_and_wait_of_both_machines_is_in_the_matrix() -> None:
    # The parametrisation reads the ASL: a state added to a workflow is a case without an edit here.
    assert {name for key, name in TASKS if key == "migrate"} >= {"ShareSnapshot", "RestoreCluster", "Cleanup"}
    assert {name for key, name in WAITS if key == "clone"} >= {"WaitForClone", "WaitForShare"}
    every_task = sum(1 for m in MACHINES.values() for s in _states(m).values() if s["Type"] == "Task")
    assert len(TASKS) == every_task - 1  # Reshare, reached only by a redrive (test_redrive)
    # Only the failure path's own tasks need an earlier failure to be reached.
    failure_only = {name for key, name in TASKS if name not in _without_a_failure(key)}
    assert failure_only == {
        "CleanupAfterFailure",
        "DescribeFailure",
        "CleanupCloneAfterFailure",
        "DescribeCloneFailure",
        "UnshareForRedrive",
        "ParkedUntilRedrive",
    }
    assert {name for name in AFTER_REDRIVE if _MIGRATION[name]["Type"] == "Task"} == {"Reshare"}
