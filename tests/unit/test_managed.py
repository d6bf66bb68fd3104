"""The listing behind `ferry leftovers` (aurora_ferry.managed) against moto: which accounts it reads, what it
lists there, and that it only reads."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from unittest import mock

import pytest
from botocore.client import BaseClient

from aurora_ferry.core import InvalidInputError, naming
from aurora_ferry.ended import parse_run_input, run_accesses
from aurora_ferry.managed import ListManagedRequest, list_managed_resources
from aurora_ferry.migration import LeftoverStore
from aurora_ferry.migration.leftovers import record_leftover
from tests.conftest import load_event
from tests.unit.test_steps import (
    OTHER_RUN,
    REGION,
    RUN,
    SOURCE,
    TARGET,
    World,
    run_until_cleanup,
    source_access,
)

pytestmark = [
    pytest.mark.unit,
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]

ORCHESTRATOR = "123456789012"  # moto's default account: the orchestrator's own
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ORCHESTRATOR}:function:aurora-ferry-ListManagedResourcesFunction"
MACHINES = {"MIGRATION_STATE_MACHINE_NAME": "ferry-migrate", "CLONE_STATE_MACHINE_NAME": "ferry-clone"}
READ_ONLY_PREFIXES = ("Describe", "List", "Get", "Scan", "AssumeRole")


@pytest.fixture
def machines(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The stack's two state machines in the orchestrator's account, named in the function's environment."""
    sfn = world.orchestrator.client("stepfunctions")
    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    arns = {}
    for env, name in MACHINES.items():
        monkeypatch.setenv(env, name)
        arns[env] = sfn.create_state_machine(
            name=name, definition=definition, roleArn=f"arn:aws:iam::{ORCHESTRATOR}:role/sfn"
        )["stateMachineArn"]
    yield arns


def _start(world: World, machine_arn: str, execution_input: Any, name: str = RUN) -> None:
    world.orchestrator.client("stepfunctions").start_execution(
        stateMachineArn=machine_arn, name=name, input=json.dumps(execution_input)
    )


def _ids(result: dict[str, Any], account: str, kind: str = "snapshot") -> set[str]:
    return {r["identifier"] for r in result["resources"] if r["accountId"] == account and r["kind"] == kind}


def _leftover_store(world: World) -> LeftoverStore:
    client = world.orchestrator.client("dynamodb")
    client.create_table(
        TableName="leftovers",
        AttributeDefinitions=[{"AttributeName": "resourceKey", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "resourceKey", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return LeftoverStore("leftovers", client)


def test_a_recent_runs_managed_snapshots_are_listed_with_their_sharing_and_nothing_untagged(
    world: World, machines: dict[str, str]
) -> None:
    # Given a run that shared its copy with the target, kept its snapshots, and snapshots that only look like
    # the run's (its name without its tags, a caller's snapshot, the cluster's automated one)
    run = run_until_cleanup(world, "keep", delivered=False)
    _start(world, machines["MIGRATION_STATE_MACHINE_NAME"], run.request.to_json())

    # When the listing runs with its defaults
    result = list_managed_resources(ListManagedRequest(), function_arn=FUNCTION_ARN)

    # Then it read the run's two accounts and lists exactly the managed snapshots (another run's too, which is
    # also the tool's), each with its run id and purpose
    assert result["errors"] == []
    assert [(a["accountId"], a["roleArn"]) for a in result["accounts"]] == [
        (SOURCE, run.request.source.role_arn),
        (TARGET, run.request.targets[0].role_arn),
    ]
    assert _ids(result, SOURCE) == {
        naming.source_snapshot_id(RUN),
        naming.share_copy_id(RUN),
        naming.source_snapshot_id(OTHER_RUN),
    }
    assert _ids(result, TARGET) == {naming.target_copy_id(RUN), naming.target_copy_id(OTHER_RUN)}
    assert _ids(result, SOURCE, "cluster") == set() and _ids(result, TARGET, "cluster") == set()
    share = next(r for r in result["resources"] if r["identifier"] == naming.share_copy_id(RUN))
    assert (share["runId"], share["purpose"], share["status"]) == (RUN, "share-copy", "available")
    assert share["arn"] == run.share.arn and share["createdAt"].endswith("Z") and share["ageHours"] >= 0
    # And the shared copy is the one resource shared, with the target
    assert share["sharedWith"] == [TARGET]
    assert result["shared"] == 1
    assert [r["identifier"] for r in result["resources"] if r.get("sharedWith")] == [share["identifier"]]
    # And the rows are sorted and small
    order = [(r["accountId"], r["identifier"]) for r in result["resources"]]
    assert order == sorted(order)
    assert max(len(json.dumps(r)) for r in result["resources"]) < 500


def test_a_snapshot_shared_with_all_comes_first_in_its_sharing(
    world: World, machines: dict[str, str]
) -> None:
    # Given a managed snapshot made public by hand (plain moto allows it; AWS refuses it for an encrypted one)
    run = run_until_cleanup(world, "keep", delivered=False)
    world.rds(SOURCE).modify_db_cluster_snapshot_attribute(
        DBClusterSnapshotIdentifier=run.share.identifier, AttributeName="restore", ValuesToAdd=["all"]
    )
    # When the run's input is listed
    result = list_managed_resources(ListManagedRequest(inputs=(run.request,)), function_arn=FUNCTION_ARN)
    # Then "all" leads its accounts, so a public snapshot stands out
    share = next(r for r in result["resources"] if r["identifier"] == run.share.identifier)
    assert share["sharedWith"] == ["all", TARGET]


def test_only_executions_started_within_the_days_asked_are_read(
    world: World, machines: dict[str, str]
) -> None:
    # Given one run's execution
    run = run_until_cleanup(world, "keep", delivered=False)
    _start(world, machines["CLONE_STATE_MACHINE_NAME"], run.request.to_json())
    later = datetime.now(UTC) + timedelta(days=15)

    # When it is listed 15 days later with the default 14 days, and with 30
    default = list_managed_resources(ListManagedRequest(), function_arn=FUNCTION_ARN, now=later)
    month = list_managed_resources(ListManagedRequest(since_days=30), function_arn=FUNCTION_ARN, now=later)

    # Then the first reads no account, and the second the run's two; the ages follow the time asked
    assert (default["accounts"], default["resources"]) == ([], [])
    assert [a["accountId"] for a in month["accounts"]] == [SOURCE, TARGET]
    assert all(r["ageHours"] >= 15 * 24 for r in month["resources"])


def test_inputs_add_their_accounts_once_per_account_region_and_role(
    world: World, machines: dict[str, str]
) -> None:
    # Given no execution, and the same run's input twice plus a clone input naming the same two roles
    run = run_until_cleanup(world, "keep", delivered=False)
    clone = parse_run_input(load_event("clone-cross-account.json"))
    assert (clone.source.role_arn, clone.target.role_arn) == (  # type: ignore[union-attr]
        run.request.source.role_arn,
        run.request.targets[0].role_arn,
    )
    # When they are listed
    result = list_managed_resources(
        ListManagedRequest(inputs=(run.request, run.request, clone)), function_arn=FUNCTION_ARN
    )
    # Then each account is read once, and its snapshots listed once
    assert [a["accountId"] for a in result["accounts"]] == [SOURCE, TARGET]
    identifiers = [r["identifier"] for r in result["resources"]]
    assert len(identifiers) == len(set(identifiers)) == 5


def test_the_leftover_tables_rows_are_marked_and_their_accounts_read(
    world: World, machines: dict[str, str]
) -> None:
    # Given a run's source snapshot recorded in the leftover table, and no execution or input naming the run
    run = run_until_cleanup(world, "keep", delivered=False)
    store = _leftover_store(world)
    raw = world.snapshot(SOURCE, run.source.identifier)
    leftover = record_leftover(store, source_access(), raw, RUN)

    # When the listing runs with the table
    result = list_managed_resources(ListManagedRequest(), function_arn=FUNCTION_ARN, leftovers=store)

    # Then the row's account is read, and its snapshot (only it) says when the scheduled retry gives up
    assert [a["accountId"] for a in result["accounts"]] == [SOURCE]
    pending = {r["identifier"]: r["pendingDeletion"] for r in result["resources"] if "pendingDeletion" in r}
    assert pending == {run.source.identifier: {"retryUntil": leftover.retry_until_iso}}


def test_the_listing_only_reads(world: World, machines: dict[str, str]) -> None:
    # Given a run with snapshots kept and shared, its execution, and a leftover row
    run = run_until_cleanup(world, "keep", delivered=False)
    _start(world, machines["MIGRATION_STATE_MACHINE_NAME"], run.request.to_json())
    store = _leftover_store(world)
    record_leftover(store, source_access(), world.snapshot(SOURCE, run.source.identifier), RUN)
    calls: list[str] = []
    original = BaseClient._make_api_call

    def recorded(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.append(operation)
        return original(client, operation, params)

    # When the listing runs, every AWS call recorded
    with mock.patch.object(BaseClient, "_make_api_call", autospec=True, side_effect=recorded):
        result = list_managed_resources(ListManagedRequest(), function_arn=FUNCTION_ARN, leftovers=store)

    # Then it made only Describe, List, Get and Scan calls (and assumed the member roles), and changed nothing
    assert result["resources"] and calls
    assert sorted({c for c in calls if not c.startswith(READ_ONLY_PREFIXES)}) == []
    assert {"DescribeExecution", "DescribeDBClusterSnapshotAttributes", "Scan"} <= set(calls)
    assert world.restore_accounts(SOURCE, run.share.identifier) == [TARGET]


def test_the_request_is_checked_and_every_problem_named() -> None:
    # Given the defaults, and an event with every kind of mistake
    assert ListManagedRequest.parse({}) == ListManagedRequest(since_days=14, inputs=())
    bad = {"sinceDays": 91, "inputs": [{"source": {}}, "not json"], "region": "eu-west-1"}
    # When they are parsed / Then the mistakes are refused together, each naming its field
    with pytest.raises(InvalidInputError) as caught:
        ListManagedRequest.parse(bad)
    problems = caught.value.problems
    assert any(p.startswith("region: unknown field") for p in problems)
    assert "sinceDays: must be from 1 to 90, got 91" in problems
    assert any(p.startswith("inputs[0]: source.accountId") for p in problems)
    assert any(p.startswith("inputs[1]: not JSON") for p in problems)
    for event in ({"sinceDays": True}, {"sinceDays": 0}, {"inputs": {}}, []):
        with pytest.raises(InvalidInputError):
            ListManagedRequest.parse(event)


def test_the_handler_lists_with_the_stacks_table_and_machines(
    world: World,
    machines: dict[str, str],
    handlers: dict[str, ModuleType],
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the function's environment (its table and state machines) and a run's execution
    run = run_until_cleanup(world, "keep", delivered=False)
    _leftover_store(world)
    monkeypatch.setenv("LEFTOVER_TABLE_NAME", "leftovers")
    _start(world, machines["MIGRATION_STATE_MACHINE_NAME"], run.request.to_json())
    # When the handler is invoked as `ferry leftovers` invokes it
    result = handlers["list_managed_resources"].lambda_handler({"sinceDays": 2}, lambda_context)
    # Then it answers the listing as a plain dict, which survives JSON
    assert json.loads(json.dumps(result)) == result
    assert set(result) == {"resources", "accounts", "errors", "shared"}
    assert result["shared"] == 1 and result["errors"] == []
    # And a bad event is the operator's error, named
    with pytest.raises(InvalidInputError, match="sinceDays"):
        handlers["list_managed_resources"].lambda_handler({"sinceDays": "x"}, lambda_context)


@pytest.mark.parametrize(
    ("sample", "accounts"),
    [
        ("migrate-two-targets.json", [SOURCE, TARGET, "333333333333"]),
        ("clone-cross-account.json", [SOURCE, TARGET]),
        ("clone-same-account.json", [SOURCE]),
    ],
)
def test_a_runs_input_names_the_accounts_it_acts_in_once_each(sample: str, accounts: list[str]) -> None:
    # Given a sample input, as its execution carries it (JSON text)
    # When it is read back as the ended-run cleanup and the listing read it
    accesses = run_accesses(parse_run_input(json.dumps(load_event(sample))))
    # Then it names the source, then each target, with the role the run assumes there; a same-account clone once
    assert [a.account_id for a in accesses] == accounts
    assert all(a.role_arn.startswith(f"arn:aws:iam::{a.account_id}:role/") for a in accesses)


def test_more_executions_than_one_listing_reads_is_said_and_the_newest_are_read(
    world: World, machines: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aurora_ferry.managed import reach

    # Given two runs' executions, of which a listing reads (here) one
    run = run_until_cleanup(world, "keep", delivered=False)
    migrate = machines["MIGRATION_STATE_MACHINE_NAME"]
    _start(world, migrate, load_event("migrate-two-targets.json"), name="older")
    time.sleep(0.05)  # moto orders executions by their start time, to the millisecond
    _start(world, migrate, run.request.to_json(), name="newer")
    monkeypatch.setattr(reach, "MAX_EXECUTIONS", 1)
    # When it lists
    result = list_managed_resources(ListManagedRequest(), function_arn=FUNCTION_ARN)
    # Then the newest run's accounts were read (not the older one's third), and an error row says so
    assert [a["accountId"] for a in result["accounts"]] == [SOURCE, TARGET]
    assert [(e["accountId"], e["code"]) for e in result["errors"]] == [
        (ORCHESTRATOR, "TooManyExecutionsError")
    ]
    assert "ask for fewer days" in result["errors"][0]["message"]
