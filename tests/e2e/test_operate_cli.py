"""`ferry start`, `watch`, `runs` and `stop` against the twin, through the same calls they make in AWS.

The twin publishes the orchestrator stack's outputs in its CloudFormation (ferry_cli.twin.stacks
.publish_outputs), and the commands run as `ferry_cli.cli.main` with boto3's default credentials set to a
session of the twin's orchestrator account: DescribeStacks, StartExecution, GetExecutionHistory, ... reach the
twin's Step Functions, and a follower's sleeps wait in twin time. Every call the commands make is recorded
(by access key, as CloudTrail would), so a test can say that a refused input made none, and
test_the_pipeline_role_allows_every_call_and_each_grant_is_needed judges each one under the role of
operators/pipeline-role.yaml with the twin's IAM evaluator.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from ferry_cli.cli import main
from ferry_cli.progress import ProgressPrinter
from ferry_cli.template import TWIN_STACK_NAME
from ferry_cli.twin.faults import Fault
from tests.conftest import REPO, load_event, run_twin_until, running_twin
from tests.e2e.test_migrations import DEV, SOURCE, _assert_source_untouched, _ferry_snapshots

pytestmark = pytest.mark.e2e

STACK = ["--stack", TWIN_STACK_NAME]
PROFILE = "ferry-operator"
CLEANUP = "RunEndedCleanupFunction"
PIPELINE_TEMPLATE = REPO / "operators" / "pipeline-role.yaml"


@dataclass
class Operator:
    """The credentials `ferry` runs with, and every call made with them: (service, operation, parameters)."""

    access_key: str
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def operations(self) -> list[str]:
        return [f"{service}:{operation}" for service, operation, _ in self.calls]


@contextmanager
def operator(twin: Any, tmp_path: Path) -> Iterator[Operator]:
    """A profile `ferry --profile ferry-operator` uses: a session of the twin's orchestrator account, whose
    calls are recorded. A profile rather than environment credentials: the twin's Lambda handlers run in this
    process and take the environment's, under which the twin's IAM tells them apart (their function role)."""
    from moto.core.responses import BaseResponse

    credentials = twin.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{twin.world.orchestrator_account_id}:role/twin-operator",
        RoleSessionName="ferry-cli",
    )["Credentials"]
    recorded = Operator(credentials["AccessKeyId"])
    profiles = tmp_path / "aws-credentials"
    profiles.write_text(
        f"[{PROFILE}]\naws_access_key_id = {credentials['AccessKeyId']}\n"
        f"aws_secret_access_key = {credentials['SecretAccessKey']}\n"
        f"aws_session_token = {credentials['SessionToken']}\n",
        encoding="utf-8",
    )
    answer = BaseResponse.call_action

    def recording(response: BaseResponse) -> Any:
        if response.get_access_key() == recorded.access_key:
            parameters = {
                name: response._get_param(name)
                for name in ("StackName", "stateMachineArn", "executionArn", "statusFilter")
                if response._get_param(name) is not None
            }
            recorded.calls.append((response.boto3_service_name, response._get_action(), parameters))
        return answer(response)

    with (
        mock.patch.dict(os.environ, {"AWS_SHARED_CREDENTIALS_FILE": str(profiles)}),
        mock.patch.object(BaseResponse, "call_action", recording),
    ):
        yield recorded


def ferry(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`ferry <argv>` on the twin's stack, as the operator profile: exit status, stdout, stderr."""
    capsys.readouterr()
    status = main([*argv, *STACK, "--profile", PROFILE])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _input_file(tmp_path: Path, event: dict[str, Any], name: str = "input.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(event), encoding="utf-8")
    return str(path)


def _progress(history: list[dict[str, Any]]) -> list[str]:
    """What `ferry local run` prints for this history, step by step."""
    import io

    out = io.StringIO()
    printer = ProgressPrinter(out)
    for event in history:
        printer.on_event(event)
    return out.getvalue().splitlines()


def _execution(twin: Any, machine: str, name: str) -> str:
    return twin.state_machine_arns[machine].replace(":stateMachine:", ":execution:") + f":{name}"


def _shared(inventory: dict[str, Any]) -> list[str]:
    return [s["identifier"] for a in inventory.values() for s in a["snapshots"] if s["sharedWith"]]


def test_start_follow_runs_a_migration_to_success_showing_each_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _input_file(tmp_path, load_event("migrate-cmk.json"))
    with running_twin() as twin, operator(twin, tmp_path) as session:
        # Given the deployed stack, when a pipeline starts the CMK sample and follows it
        status, out, err = ferry(capsys, "start", "--input", path, "--name", "pipeline-1", "--follow")
        arn = _execution(twin, "MigrationStateMachine", "pipeline-1")
        history = twin.history(arn)
        description = twin.client("stepfunctions").describe_execution(executionArn=arn)
    lines = out.splitlines()
    # Then it printed the execution ARN first, then every step as `ferry local run` prints it, then the summary
    assert status == 0, err
    assert description["status"] == "SUCCEEDED"
    assert lines[0] == arn
    assert "ferry start: migration run pipeline-1" in err
    steps = [line for line in lines if line.startswith("[")]
    assert steps == _progress(history)
    assert steps[0] == "[00:00:00] ValidateInput" and steps[-1] == "[00:56:59] Summarize"
    seconds = (history[-1]["timestamp"] - history[0]["timestamp"]).total_seconds()
    transitions = sum(1 for e in history if e["type"].endswith("StateEntered"))
    assert f"SUCCEEDED: run pipeline-1 in {seconds:.0f} seconds ({transitions} state transitions" in out
    assert f"{len(history)} history events" in out
    assert "  target 222222222222: arn:aws:rds:eu-west-1:222222222222:cluster:orders-dev" in lines
    # And it found the state machine in the stack's outputs, and read the history in pages
    operations = session.operations()
    assert operations[:2] == ["cloudformation:DescribeStacks", "stepfunctions:StartExecution"]
    assert session.calls[0][2] == {"StackName": TWIN_STACK_NAME}
    assert set(operations[2:]) == {"stepfunctions:GetExecutionHistory", "stepfunctions:DescribeExecution"}


def test_watch_of_a_run_that_fails_names_the_state_error_and_cause(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_twin() as twin, operator(twin, tmp_path):
        # Given a run whose restore fails (a fault planted in the twin's RestoreCluster task)
        twin.faults.plant(Fault(state="RestoreCluster", kind="error", error="TwinInjectedError"))
        arn = twin.start(load_event("migrate-cmk.json"), name="failing-1")
        # When the operator watches it by name
        status, out, err = ferry(capsys, "watch", "failing-1")
        description = twin.client("stepfunctions").describe_execution(executionArn=arn)
        history = twin.history(arn)
    # Then the watch followed it to its end and exits 1, naming the failing state, the error and the cause
    assert description["status"] == "FAILED"
    assert status == 1, err
    assert out.splitlines()[0] == f"watching {arn}"
    assert [line for line in out.splitlines() if line.startswith("[")] == _progress(history)
    assert "[00:25:29] ! LambdaFunctionFailed: TwinInjectedError" in out
    assert "\nFAILED in state RestoreCluster\n" in out
    ended = history[-1]["executionFailedEventDetails"]
    assert ended["error"] == "TwinInjectedError" and f"  error: {ended['error']}\n" in out
    assert "RestoreCluster" in ended["cause"] and f"  cause: {ended['cause']}\n" in out


def test_runs_lists_both_state_machines_and_filters_by_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two_targets = load_event("migrate-two-targets.json")
    still_running = load_event("migrate-default-key.json")
    still_running["targets"][0]["clusterIdentifier"] = "orders-dev-two"
    clone = load_event("clone-same-account.json")
    with running_twin() as twin, operator(twin, tmp_path) as session:
        sfn = twin.client("stepfunctions")
        # Given a run that succeeded, one that failed, a clone run that ended, and one still running
        twin.wait(twin.start(load_event("migrate-cmk.json"), name="done-1"))
        twin.faults.plant(Fault(state="ValidateInput", kind="error", error="TwinInjectedError"))
        twin.wait(twin.start(two_targets, name="failed-1"))
        twin.wait(twin.start(clone, machine="CloneStateMachine", name="clone-1"))
        twin.start(still_running, name="running-1")
        # When the operator lists all runs, then only the failed ones
        everything = ferry(capsys, "runs")
        failed = ferry(capsys, "runs", "--status", "failed")
        statuses = {
            item["name"]: item["status"]
            for arn in twin.state_machine_arns.values()
            for item in sfn.list_executions(stateMachineArn=arn)["executions"]
        }
    status, out, _ = everything
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    # Then every run of both state machines is listed, newest first, with its machine, source, targets, status
    assert status == 0
    assert out.splitlines()[0].split() == [
        "NAME",
        "MACHINE",
        "SOURCE",
        "TARGETS",
        "STATUS",
        "STARTED",
        "DURATION",
    ]
    assert set(rows) == {"running-1", "clone-1", "failed-1", "done-1"}
    started = [f"{row[5]} {row[6]}" for row in rows.values()]
    assert started == sorted(started, reverse=True)
    assert {name: row[4] for name, row in rows.items()} == statuses
    assert rows["done-1"][1:5] == ["migration", f"{SOURCE}:orders", f"{DEV}:orders-dev", "SUCCEEDED"]
    source = f"{SOURCE}:{two_targets['source']['clusterIdentifier']}"
    targets = ",".join(f"{t['accountId']}:{t['clusterIdentifier']}" for t in two_targets["targets"])
    assert rows["failed-1"][1:5] == ["migration", source, targets, "FAILED"]
    assert rows["running-1"][3:5] == [f"{DEV}:orders-dev-two", "RUNNING"] and rows["running-1"][-2:] == [
        "so",
        "far",
    ]
    assert rows["clone-1"][1:4] == [
        "clone",
        f"{clone['source']['accountId']}:{clone['source']['clusterIdentifier']}",
        f"{clone['target']['accountId']}:{clone['target']['cloneIdentifier']}",
    ]
    # And with --status FAILED only the failed runs, filtered by ListExecutions' own statusFilter
    status, out, _ = failed
    assert status == 0
    listed = [line.split()[0] for line in out.splitlines()[1:]]
    assert "failed-1" in listed and listed == [n for n in rows if statuses[n] == "FAILED"]
    filtered = [c for c in session.calls if c[1] == "ListExecutions" and "statusFilter" in c[2]]
    assert len(filtered) == 2 and {c[2]["statusFilter"] for c in filtered} == {"FAILED"}


def test_stop_of_a_running_run_hands_over_to_the_ended_run_cleanup_which_leaves_nothing_shared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _input_file(tmp_path, load_event("migrate-cmk.json"))
    with running_twin() as twin, operator(twin, tmp_path):
        before = twin.inventory()
        # Given a run started with `ferry start` that has shared its snapshot with the target
        started = ferry(capsys, "start", "--input", path, "--name", "to-stop")
        arn = started[1].splitlines()[0]
        run_twin_until(twin, lambda: bool(_shared(twin.inventory())), step=30)
        shared_while_running = _shared(twin.inventory())
        # When the operator stops it
        stopped = ferry(capsys, "stop", "to-stop", "--cause", "wrong target, says the DBA")
        description = twin.wait(arn)
        history = twin.history(arn)
        after = twin.inventory()
        cleanups = [d.result for d in twin.events.deliveries if d.function == CLEANUP]
        # ... and stops it again
        again = ferry(capsys, "stop", arn)
    # Then the run was ABORTED with the operator's cause, and the output says the ended-run cleanup takes over
    assert started[0] == 0 and stopped[0] == 0, stopped[2]
    assert shared_while_running == ["ferry-to-stop-share"]
    assert stopped[1].startswith(f"stopped {arn} at ")
    assert "The ended-run cleanup takes over" in stopped[1] and "RunEndedCleanupFunction" in stopped[1]
    assert description["status"] == "ABORTED"
    assert history[-1]["type"] == "ExecutionAborted"
    assert history[-1]["executionAbortedEventDetails"] == {
        "error": "StoppedByOperator",
        "cause": "wrong target, says the DBA",
    }
    # And the cleanup unshared and deleted the run's snapshots: nothing is shared, the source is untouched
    assert [r["status"] for r in cleanups] == ["ABORTED"]
    assert _shared(after) == []
    assert _ferry_snapshots(after, SOURCE) == []
    _assert_source_untouched(before, after)
    # And a second stop finds nothing to stop: exit 1, the run still ABORTED
    assert again[0] == 1 and "has already ended (ABORTED): nothing to stop" in again[1]


def test_a_run_is_found_by_name_in_either_state_machine_or_by_arn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clone_path = _input_file(tmp_path, load_event("clone-same-account.json"))
    with running_twin() as twin, operator(twin, tmp_path) as session:
        # Given a clone run started with `ferry start` (the clone input picks the clone state machine)
        started = ferry(capsys, "start", "--input", clone_path, "--name", "clone-run")
        clone_arn = started[1].splitlines()[0]
        migration_arn = twin.start(load_event("migrate-cmk.json"), name="twice")
        twin.start(load_event("clone-same-account.json"), machine="CloneStateMachine", name="twice")
        # When runs are watched by name, by ARN, by a name no run has, and by a name both machines have
        by_name = ferry(capsys, "watch", "clone-run", "--max-wait", "0")
        calls_before_arn = len(session.calls)
        by_arn = ferry(capsys, "watch", migration_arn, "--max-wait", "0")
        arn_calls = session.calls[calls_before_arn:]
        unknown = ferry(capsys, "watch", "no-such-run")
        both = ferry(capsys, "stop", "twice")
        calls_before_bad_name = len(session.calls)
        bad_name = ferry(capsys, "watch", "not a name")
        bad_name_calls = session.calls[calls_before_bad_name:]
    # Then the clone run's name resolves to the clone state machine
    assert started[0] == 0 and clone_arn == _execution(twin, "CloneStateMachine", "clone-run")
    assert by_name[1].splitlines()[0] == f"watching {clone_arn}"
    # And an ARN is used as it is: no stack lookup
    assert by_arn[1].splitlines()[0] == f"watching {migration_arn}"
    assert arn_calls and "cloudformation" not in {c[0] for c in arn_calls}
    # And an unknown name, or one of both machines, is an error naming it (exit 2)
    assert unknown[0] == 2
    assert unknown[2] == (
        f"ferry watch: no run named no-such-run in the migration or clone state machine of stack {TWIN_STACK_NAME} "
        "(`ferry runs` lists them)\n"
    )
    assert both[0] == 2 and "run name twice is in both state machines; give its ARN" in both[2]
    # And a name StartExecution could never have given is refused before any call
    assert bad_name[0] == 2 and "RUN: ' ' is not allowed in an execution name" in bad_name[2]
    assert bad_name_calls == []


def test_a_watch_gives_up_after_max_wait_in_twin_time_and_says_how_to_go_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_twin() as twin, operator(twin, tmp_path) as session:
        # Given a run that takes 71 twin minutes
        arn = twin.start(load_event("migrate-cmk.json"), name="long-1")
        started = twin.clock.elapsed()
        # When it is watched for at most 10 minutes
        status, out, _ = ferry(capsys, "watch", "long-1", "--max-wait", "600")
        watched = twin.clock.elapsed() - started
        polls = session.operations().count("stepfunctions:GetExecutionHistory")
    # Then the watch stopped after 600 twin seconds of waiting, still running: exit 1, and how to follow on
    assert status == 1
    assert watched == 600
    assert (
        out.splitlines()[-1] == f"still RUNNING after 600 s of watching; `ferry watch {arn}` follows it again"
    )
    # (polling backed off: 5, 10, 20, 40, 60 s ... while nothing happened, so far fewer than 600 / 5 polls)
    assert 5 < polls < 60


def test_an_input_the_contract_refuses_or_a_bad_name_makes_no_call_and_an_unknown_stack_starts_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("migrate-cmk.json")
    wrong_region = copy.deepcopy(event)
    target = wrong_region["targets"][0]
    target["kmsKeyArn"] = target["kmsKeyArn"].replace("eu-west-1", "us-east-1")
    bad = _input_file(tmp_path, wrong_region, "bad.json")
    good = _input_file(tmp_path, event, "good.json")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with running_twin() as twin, operator(twin, tmp_path) as session:
        # When `ferry start` gets an input the contract refuses, a file that is not JSON, or a bad --name
        refused = ferry(capsys, "start", "--input", bad, "--follow")
        broken = ferry(capsys, "start", "--input", str(tmp_path / "broken.json"))
        named = ferry(capsys, "start", "--input", good, "--name", "run:1")
        calls = list(session.calls)
        # ... or a good input for a stack that does not exist
        capsys.readouterr()
        no_stack = main(["start", "--input", good, "--stack", "no-such-stack", "--profile", PROFILE])
        no_stack_err = capsys.readouterr().err
        runs = twin.client("stepfunctions").list_executions(
            stateMachineArn=twin.state_machine_arns["MigrationStateMachine"]
        )
    # Then each exits 2 naming the field, and nothing reached AWS: no call, no run
    assert refused[0] == 2
    assert f"invalid: {bad}: targets[0].kmsKeyArn: must be in the source region eu-west-1" in refused[2]
    assert broken[0] == 2 and "is not valid JSON" in broken[2]
    assert named[0] == 2 and "--name: ':' is not allowed in an execution name" in named[2]
    assert calls == []
    # And the unknown stack is named (exit 2), and no run was started anywhere
    assert no_stack == 2 and no_stack_err.startswith("ferry start: stack no-such-stack: ValidationError: ")
    assert runs["executions"] == []


# --- the pipeline role ----------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _without(
    policies: list[tuple[str, Any]], index: int, action: str, resource: str
) -> list[tuple[str, Any]]:
    """The role's one policy without `action` on `resource` in its statement `index` (the rest of that
    statement kept)."""
    ((name, document),) = policies
    statements = list(document["Statement"])
    statement = statements.pop(index)
    actions, resources = _as_list(statement["Action"]), _as_list(statement["Resource"])
    rest = []
    if len(actions) > 1:
        rest.append({**statement, "Action": [a for a in actions if a != action]})
    if len(resources) > 1:
        rest.append({**statement, "Action": action, "Resource": [r for r in resources if r != resource]})
    return [(name, {**document, "Statement": statements[:index] + rest + statements[index:]})]


def _pipeline_role(twin: Any) -> tuple[str, list[tuple[str, Any]]]:
    """operators/pipeline-role.yaml rendered for the twin's stack: the role's ARN and its policies."""
    from ferry_cli.twin.cfn import render_stack

    rendered = render_stack(
        PIPELINE_TEMPLATE,
        {
            "PipelinePrincipalArn": "arn:aws:iam::444455556666:role/deploy-pipeline",
            "OrchestratorStackName": TWIN_STACK_NAME,
            "MigrationStateMachineArn": twin.state_machine_arns["MigrationStateMachine"],
            "CloneStateMachineArn": twin.state_machine_arns["CloneStateMachine"],
        },
        account_id=twin.world.orchestrator_account_id,
        region=twin.world.region,
        stack_name="aurora-ferry-pipeline",
    )
    role = rendered.resources["PipelineRole"]
    return str(role.arn), [(p["PolicyName"], p["PolicyDocument"]) for p in role.properties["Policies"]]


# Each operation the commands call, as IAM authorises it: the action and the resource it names.
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html
_RESOURCE_PARAMETER = {
    "stepfunctions:StartExecution": "stateMachineArn",
    "stepfunctions:ListExecutions": "stateMachineArn",
    "stepfunctions:DescribeExecution": "executionArn",
    "stepfunctions:GetExecutionHistory": "executionArn",
    "stepfunctions:StopExecution": "executionArn",
    "stepfunctions:RedriveExecution": "executionArn",
}


def _requests(twin: Any, calls: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    from ferry_cli.twin.iam.policy import AuthRequest

    stacks = {s["StackName"]: s["StackId"] for s in twin.client("cloudformation").describe_stacks()["Stacks"]}
    requests = []
    for service, operation, parameters in calls:
        name = f"{service}:{operation}"
        if name == "cloudformation:DescribeStacks":
            requests.append(AuthRequest("cloudformation:DescribeStacks", stacks[parameters["StackName"]]))
            continue
        assert name in _RESOURCE_PARAMETER, f"{name}: map it to its IAM action and resource in this test"
        requests.append(AuthRequest(f"states:{operation}", str(parameters[_RESOURCE_PARAMETER[name]])))
    return requests


def test_the_pipeline_role_allows_every_call_and_each_grant_is_needed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from ferry_cli.twin.iam.policy import Principal, authorize

    migration = _input_file(tmp_path, load_event("migrate-cmk.json"), "migration.json")
    clone = _input_file(tmp_path, load_event("clone-same-account.json"), "clone.json")
    with running_twin() as twin, operator(twin, tmp_path) as session:
        # Given runs of both workflows that stay running (their first task hangs, and twin time stands still
        # while no one waits), and every command a pipeline runs: start, runs, watch and stop by name
        twin.faults.plant(Fault(state="ValidateInput", kind="hang"))
        twin.faults.plant(Fault(state="ValidateCloneInput", kind="hang"))
        assert ferry(capsys, "start", "--input", migration, "--name", "p-1")[0] == 0
        assert ferry(capsys, "start", "--input", clone, "--name", "c-1")[0] == 0
        assert ferry(capsys, "runs", "--status", "RUNNING")[0] == 0
        for run in ("p-1", "c-1"):
            assert ferry(capsys, "watch", run, "--max-wait", "0")[0] == 1
            assert ferry(capsys, "stop", run)[0] == 0
        # and a migration that parks (a target's copy times out), followed, then redriven
        twin.faults.plant(Fault(state="CopyToTarget", kind="hang"))
        assert ferry(capsys, "start", "--input", migration, "--name", "p-2", "--follow")[0] == 1
        assert ferry(capsys, "redrive", "p-2")[0] == 0
        requests = _requests(twin, session.calls)
        role_arn, policies = _pipeline_role(twin)
        account = twin.world.orchestrator_account_id
        principal = Principal(
            arn=f"arn:aws:sts::{account}:assumed-role/{role_arn.rsplit('/', 1)[-1]}/pipeline",
            account_id=account,
            principal_arn=role_arn,
        )

        def refused(policies: list[tuple[str, Any]]) -> list[str]:
            return [
                f"{r.action} {r.resource}"
                for r in requests
                if not authorize(principal, r, policies, None, account).allowed
            ]

        # When each call is judged under the role, and again without each action on each resource it grants
        allowed_all = refused(policies)
        needed = {
            (statement.get("Sid"), action, resource): refused(_without(policies, index, action, resource))
            for index, statement in enumerate(policies[0][1]["Statement"])
            for action in _as_list(statement["Action"])
            for resource in _as_list(statement["Resource"])
        }
    # Then the role allows every call the commands made (DescribeStacks, StartExecution on both state machines,
    # ListExecutions, DescribeExecution, GetExecutionHistory, StopExecution)
    assert {r.action for r in requests} == {
        "cloudformation:DescribeStacks",
        "states:StartExecution",
        "states:ListExecutions",
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "states:StopExecution",
        "states:RedriveExecution",
    }
    assert allowed_all == []
    # And without any one of its grants (an action on one of its resources) some call is refused
    assert needed and all(needed.values()), [grant for grant, denied in needed.items() if not denied]


def test_redrive_resumes_a_parked_run_and_refuses_one_that_did_not_park(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    migration = _input_file(tmp_path, load_event("migrate-cmk.json"))
    with running_twin() as twin, operator(twin, tmp_path):
        # Given a run that parked (a target's copy timed out) and one that failed for good (a domain error)
        twin.faults.plant(Fault(state="CopyToTarget", kind="hang"))
        parked_status, parked_out, _ = ferry(
            capsys, "start", "--input", migration, "--name", "parked-1", "--follow"
        )
        other = load_event("migrate-cmk.json")
        other["targets"][0]["clusterIdentifier"] = "orders-other"
        twin.faults.plant(Fault(state="RestoreCluster", kind="error", error="TargetConflictError"))
        twin.wait(twin.start(other, name="failed-1"))
        # When the operator redrives each, following the first
        status, out, err = ferry(capsys, "redrive", "parked-1", "--follow")
        refused, _, refusal = ferry(capsys, "redrive", "failed-1")
        parked = twin.client("stepfunctions").describe_execution(
            executionArn=_execution(twin, "MigrationStateMachine", "parked-1")
        )
    # Then the parked run had said so, and the redrive resumed it to success
    assert parked_status == 1 and "RunParkedError" in parked_out
    assert status == 0, err
    assert out.startswith("redriven ") and "\nSUCCEEDED" in out
    assert parked["status"] == "SUCCEEDED"
    # And the run that did not park is refused, naming its end and what to do instead
    assert refused == 2
    assert "with TargetConflictError, not parked (RunParkedError)" in refusal and "ferry start" in refusal
