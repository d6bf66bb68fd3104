"""The template and the state machines cannot drift apart: substitutions, functions, retries, loops."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from aurora_ferry.core import QUEUED_ERRORS
from ferry_cli.template import SamTemplate, load_cfn_yaml

pytestmark = pytest.mark.unit

TRANSIENT_LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


@pytest.fixture(scope="module")
def template(repo: Path) -> SamTemplate:
    return SamTemplate.load(repo / "template.yaml")


def _all_states(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, state in states.items():
        found[name] = state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found.update(_all_states(processor["States"]))
        for branch in state.get("Branches", []):
            found.update(_all_states(branch["States"]))
    return found


def _asl(template: SamTemplate, machine: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(template.state_machines[machine].definition_file.read_text())
    return loaded


def test_every_asl_placeholder_has_a_substitution_and_every_substitution_is_used(
    template: SamTemplate,
) -> None:
    # Given every state machine in the template
    assert template.state_machines, "the template defines no state machine"
    for machine, spec in template.state_machines.items():
        # When the placeholders in its ASL file are collected
        placeholders = set(re.findall(r"\$\{(\w+)\}", spec.definition_file.read_text()))
        # Then each one is substituted, and no substitution is dead
        assert placeholders - set(spec.substitutions) == set(), f"{machine}: unsubstituted placeholders"
        assert set(spec.substitutions) - placeholders == set(), f"{machine}: unused substitutions"


def test_every_substitution_points_at_a_function_of_the_template(template: SamTemplate) -> None:
    for spec in template.state_machines.values():
        for name, value in spec.substitutions.items():
            if "Fn::Sub" in value:
                # A Step Functions service integration, in the stack's own partition
                assert value["Fn::Sub"].startswith("arn:${AWS::Partition}:states:::"), name
                continue
            # Given a substitution that names a resource
            logical_id = value["Fn::GetAtt"][0]
            # Then that resource is a function defined in the same template
            assert logical_id in template.functions, f"{name} -> {logical_id} is not a function"


def test_every_function_code_uri_exists_with_its_handler(template: SamTemplate) -> None:
    for logical_id, function in template.functions.items():
        # Given a function's CodeUri and Handler
        # Then the handler module exists and defines the handler
        assert function.code_dir.is_dir(), f"{logical_id}: CodeUri {function.code_dir} missing"
        assert function.module_file.is_file(), f"{logical_id}: {function.module_file} missing"
        assert f"def {function.handler_name}(" in function.module_file.read_text()


def _snake_case(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", camel).lower()


def test_every_function_folder_is_its_logical_id_in_snake_case(template: SamTemplate, repo: Path) -> None:
    # One name from the template (and the ASL, logs, the console) to the code and back, with no table to keep
    expected = {}
    for logical_id, resource in template.raw["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        # Given a function, RetireDevClusterFunction say
        assert logical_id.endswith("Function"), logical_id
        folder = _snake_case(logical_id.removesuffix("Function"))
        expected[folder] = logical_id
        # Then its code is in functions/retire_dev_cluster/
        assert resource["Properties"]["CodeUri"].rstrip("/") == f"functions/{folder}", logical_id
    # And no handler folder is left that no function deploys
    assert {path.parent.name for path in (repo / "functions").glob("*/app.py")} == set(expected)


def test_no_fixed_physical_names_in_the_template(template: SamTemplate) -> None:
    # A second stack in the same account must be deployable: no FunctionName, StateMachineName, RoleName...
    fixed = re.compile(r"^(FunctionName|StateMachineName|RoleName|LogGroupName|LayerName|Name|TableName)$")
    for logical_id, resource in template.raw["Resources"].items():
        for key in resource.get("Properties", {}):
            assert not fixed.match(key), f"{logical_id} sets a fixed physical name via {key}"


# They make no call into a member account, so they must not be able to assume a member role.
FUNCTIONS_WITHOUT_MEMBER_ACCESS = {
    "ValidateInputFunction",
    "SummarizeFunction",
    "ValidateCloneInputFunction",
    "SummarizeCloneFunction",
    # Publishes to the stack's own topic; reads the run's input from the event only.
    "NotifyRunEndedFunction",
}


def test_functions_only_assume_member_roles(template: SamTemplate) -> None:
    # Least privilege: sts:AssumeRole on the member-role pattern, through MemberAccessPolicy and nothing else,
    # for the functions that act in member accounts; the wait and leftover functions add item actions on
    # their own table; nothing else.
    resources = template.raw["Resources"]
    member_access = resources["MemberAccessPolicy"]
    assert member_access["Type"] == "AWS::IAM::ManagedPolicy"
    assert member_access["Properties"]["PolicyDocument"]["Statement"] == [
        {
            "Sid": "AssumeMemberRoles",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": {"Ref": "MemberRoleArnPattern"},
        }
    ]
    # Attached only where a function lists it, never to roles, users or groups behind the functions' backs
    assert not {"Roles", "Users", "Groups"} & set(member_access["Properties"])

    granted = set()
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resource["Properties"].get("Policies", []):
            if policy == {"Ref": "MemberAccessPolicy"}:
                granted.add(logical_id)
                continue
            for statement in policy["Statement"]:
                if statement.get("Sid") in LISTING_STATE_MACHINE_GRANTS and logical_id == LISTING:
                    continue  # the listing's read of the runs' inputs: checked in the test below
                if logical_id == "RunEndedCleanupFunction" and statement.get("Sid") == "ReadRunStatus":
                    # Whether the ended run was redriven since: DescribeExecution of the two machines' runs only
                    assert statement["Action"] == ["states:DescribeExecution"]
                    assert [r["Fn::Sub"] for r in statement["Resource"]] == [
                        f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:${{{m}.Name}}:*"
                        for m in ("MigrationStateMachine", "CloneStateMachine")
                    ]
                    continue
                if logical_id == NOTIFIER:
                    # The notifier's publish to the topic and its use of the topic's key, nothing else
                    assert NOTIFIER_GRANTS[statement["Sid"]] == (statement["Action"], statement["Resource"])
                    continue
                actions = statement["Action"]
                assert all(a.startswith("dynamodb:") and "*" not in a for a in actions), logical_id
                assert statement["Resource"] in (
                    {"Fn::GetAtt": ["WaitTable", "Arn"]},
                    {"Fn::GetAtt": ["LeftoverTable", "Arn"]},
                ), logical_id
    assert set(template.functions) >= FUNCTIONS_WITHOUT_MEMBER_ACCESS
    assert granted == set(template.functions) - FUNCTIONS_WITHOUT_MEMBER_ACCESS


LISTING = "ListManagedResourcesFunction"
NOTIFIER = "NotifyRunEndedFunction"
NOTIFIER_GRANTS = {
    "PublishRunEnds": (["sns:Publish"], {"Ref": "NotificationTopic"}),
    "UseTopicKey": (["kms:GenerateDataKey*", "kms:Decrypt"], {"Fn::GetAtt": ["NotificationKey", "Arn"]}),
}
LISTING_STATE_MACHINE_GRANTS = ("ListRecentRuns", "ReadRecentRunInputs")


def test_the_listing_reads_only_the_runs_of_its_own_two_state_machines_and_the_leftover_table(
    template: SamTemplate,
) -> None:
    # Given the function behind `ferry leftovers`
    resource = template.raw["Resources"][LISTING]
    statements = {
        s["Sid"]: s for p in resource["Properties"]["Policies"] if "Statement" in p for s in p["Statement"]
    }
    execution = "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${%s.Name}:*"
    # Then it may list the executions of this stack's two state machines, read their inputs, scan the leftover
    # table, and assume the member roles (whose own policies let it only read there): nothing else
    assert statements == {
        "ReadLeftoverSnapshots": {
            "Sid": "ReadLeftoverSnapshots",
            "Effect": "Allow",
            "Action": ["dynamodb:Scan"],
            "Resource": {"Fn::GetAtt": ["LeftoverTable", "Arn"]},
        },
        "ListRecentRuns": {
            "Sid": "ListRecentRuns",
            "Effect": "Allow",
            "Action": ["states:ListExecutions"],
            "Resource": [{"Ref": "MigrationStateMachine"}, {"Ref": "CloneStateMachine"}],
        },
        "ReadRecentRunInputs": {
            "Sid": "ReadRecentRunInputs",
            "Effect": "Allow",
            "Action": ["states:DescribeExecution"],
            "Resource": [
                {"Fn::Sub": execution % "MigrationStateMachine"},
                {"Fn::Sub": execution % "CloneStateMachine"},
            ],
        },
    }
    assert {"Ref": "MemberAccessPolicy"} in resource["Properties"]["Policies"]
    # And it finds the state machines and the table by the names the stack gives them
    assert resource["Properties"]["Environment"]["Variables"] == {
        "LEFTOVER_TABLE_NAME": {"Ref": "LeftoverTable"},
        "MIGRATION_STATE_MACHINE_NAME": {"Fn::GetAtt": ["MigrationStateMachine", "Name"]},
        "CLONE_STATE_MACHINE_NAME": {"Fn::GetAtt": ["CloneStateMachine", "Name"]},
    }
    assert template.raw["Outputs"]["ListManagedResourcesFunctionName"]["Value"] == {"Ref": LISTING}
    # (which the twin deploys as the names it gives them)
    environment = template.functions[LISTING].environment
    assert environment["MIGRATION_STATE_MACHINE_NAME"] == "aurora-ferry-twin-MigrationStateMachine"
    assert environment["LEFTOVER_TABLE_NAME"] == "aurora-ferry-twin-LeftoverTable"


def test_the_wait_callback_policy_names_only_the_migration_state_machine(template: SamTemplate) -> None:
    # Given the policy that lets the wait functions complete task tokens
    statements = template.raw["Resources"]["WaitCallbackPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    # Then it allows exactly the three task-token calls, on the migration state machine only
    assert [sorted(s["Action"]) for s in statements] == [
        ["states:SendTaskFailure", "states:SendTaskHeartbeat", "states:SendTaskSuccess"]
    ]
    assert [s["Resource"] for s in statements] == [{"Ref": "MigrationStateMachine"}]


def _migration_states(template: SamTemplate) -> dict[str, dict[str, Any]]:
    return _all_states(_asl(template, "MigrationStateMachine")["States"])


def test_every_event_wait_falls_back_to_its_bounded_poll_loop_on_timeout(template: SamTemplate) -> None:
    states = _migration_states(template)
    awaits = {name: state for name, state in states.items() if name.startswith("Await")}
    assert set(awaits) == {"AwaitSourceSnapshot", "AwaitCluster", "AwaitInstances"}
    for name, state in awaits.items():
        # Given a waitForTaskToken state
        assert state["Resource"] == "${LambdaInvokeWaitForTokenArn}"
        assert state["Parameters"]["FunctionName"] == "${RegisterWaitFunctionArn}"
        assert state["Parameters"]["Payload"]["taskToken.$"] == "$$.Task.Token"
        # Then it is bounded (heartbeat shorter than timeout, both well inside the execution's 7 days)
        assert 0 < state["HeartbeatSeconds"] < state["TimeoutSeconds"] <= 24 * 3600, name
        # And its first catcher sends States.Timeout to the poll loop of the same resource
        first = state["Catch"][0]
        assert first["ErrorEquals"] == ["States.Timeout"]
        prefix = name.removeprefix("Await")
        assert first["Next"] == f"Start{prefix}Wait"
        assert states[first["Next"]]["Next"] == f"Check{prefix}"


def test_the_polling_strategy_chooses_the_fixed_poll_loop_before_every_wait(template: SamTemplate) -> None:
    states = _migration_states(template)
    chooses = {name: state for name, state in states.items() if name.startswith("Choose")}
    # + the wait for a cluster whose master password RDS starts to manage (README "Master credentials")
    # + the wait for a cluster the run configured after its restore (ConfigureCluster)
    # + the wait for instances rebooted to apply their static parameters (ApplyPendingParameters)
    assert len(chooses) == 6 + 1 + 1 + 1
    for name, state in chooses.items():
        prefix = name.removeprefix("Choose").removesuffix("Wait")
        polling = state["Choices"][0]
        assert polling == {
            "Variable": "$.input.options.waitStrategy",
            "StringEquals": "polling",
            "Next": f"Start{prefix}Wait",
        }
        assert states[f"Start{prefix}Wait"]["Result"]["adaptive"] is False
    # Copies have no RDS event: under "events" they are polled adaptively
    for prefix in ("ShareCopy", "RegionCopy", "TargetCopy"):
        assert states[f"Choose{prefix}Wait"]["Default"] == f"Start{prefix}AdaptiveWait"
        assert states[f"Start{prefix}AdaptiveWait"]["Result"]["adaptive"] is True
    assert states["ChooseSourceSnapshotWait"]["Choices"][1]["Next"] == "AwaitSourceSnapshot"


def test_every_copy_step_queues_behind_the_copy_limit_instead_of_failing(template: SamTemplate) -> None:
    states = _migration_states(template)
    names = {error.__name__ for error in QUEUED_ERRORS}
    for name in ("PrepareSourceSnapshot", "PrepareShareCopy", "CopyToRegion", "CopyToTarget"):
        # Given a step that may start a cluster snapshot copy
        retriers = [r for r in states[name]["Retry"] if set(r["ErrorEquals"]) & names]
        # Then it retries CopyQueueFullError with a long, bounded wait
        assert len(retriers) == 1, name
        retrier = retriers[0]
        assert retrier["IntervalSeconds"] >= 60
        assert 1 <= retrier["MaxAttempts"] * retrier["IntervalSeconds"] <= 24 * 3600


def test_member_accounts_forward_exactly_the_events_the_orchestrator_routes(
    template: SamTemplate, repo: Path
) -> None:
    # Given the orchestrator's rule and the member accounts' forwarding rules
    router = template.functions["RdsEventRouterFunction"]
    (rule,) = [source for source in router.events if source.kind == "EventBridgeRule"]
    for name in ("source-account.yaml", "target-account.yaml"):
        member = load_cfn_yaml(repo / "member-accounts" / name)["Resources"]["RdsEventForwardingRule"]
        # Then both patterns are the same, so nothing is forwarded that no rule routes, and nothing is missing
        assert member["Properties"]["EventPattern"] == rule.pattern, name
    assert rule.pattern is not None
    assert rule.pattern["source"] == ["aws.rds"]
    assert set(rule.pattern["detail"]["EventID"]) == {"RDS-EVENT-0075", "RDS-EVENT-0170", "RDS-EVENT-0005"}


def test_the_wait_table_is_encrypted_expires_rows_and_is_swept_on_a_schedule(template: SamTemplate) -> None:
    props = template.raw["Resources"]["WaitTable"]["Properties"]
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiresAt", "Enabled": True}
    assert "TableName" not in props
    sweeper = template.functions["WaitSweeperFunction"]
    assert [source.rate_seconds for source in sweeper.events if source.kind == "Schedule"] == [300.0]
    for name in ("RegisterWaitFunction", "RdsEventRouterFunction", "WaitSweeperFunction"):
        assert (
            template.functions[name].environment["WAIT_TABLE_NAME"]
            == template.tables["WaitTable"].physical_name
        )


def test_the_orchestrator_bus_policy_admits_only_the_named_member_accounts(template: SamTemplate) -> None:
    resource = template.raw["Resources"]["OrchestratorEventBusPolicy"]
    assert resource["Condition"] == "HasEventSourceAccounts"
    statement = resource["Properties"]["Statement"]
    assert statement["Principal"] == {"AWS": {"Ref": "EventSourceAccountIds"}}
    assert statement["Action"] == "events:PutEvents"
