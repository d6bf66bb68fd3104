"""Event-driven waits (aurora_ferry.waits): register-then-check, the RDS event router, the sweeper, adaptive
polling and the copy queue, against moto, with a recording stand-in for Step Functions' task-token API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from aurora_ferry.core import AccountAccess, CopyQueueFullError, PollEvent, ResourceFailedError
from aurora_ferry.migration.copies import copy_snapshot
from aurora_ferry.waits import WaitRequest, next_poll_delay, register_wait, route_event, sweep
from aurora_ferry.waits.completion import SOURCE_TYPES
from aurora_ferry.waits.store import WAIT_TABLE_ENV, WaitStore

pytestmark = [pytest.mark.unit, pytest.mark.filterwarnings("ignore:No application metrics to publish")]

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
REGION = "eu-west-1"
SOURCE = "111111111111"
TARGET = "222222222222"
TABLE = "unit-wait-table"
SNAPSHOT = "ferry-nightly-orders-snap"


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return loaded


@dataclass
class FakeStepFunctions:
    """Records task-token calls; `gone` tokens answer as Step Functions does for a finished task."""

    gone: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _call(self, name: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((name, kwargs))
        code = self.gone.get(kwargs["taskToken"])
        if code:
            raise ClientError({"Error": {"Code": code, "Message": "task closed"}}, name)
        return {}

    def send_task_success(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("SendTaskSuccess", **kwargs)

    def send_task_failure(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("SendTaskFailure", **kwargs)

    def send_task_heartbeat(self, **kwargs: Any) -> dict[str, Any]:
        return self._call("SendTaskHeartbeat", **kwargs)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


@dataclass
class Accounts:
    rds: dict[str, Any]
    store: WaitStore
    sfn: FakeStepFunctions

    def access(self, account: str) -> AccountAccess:
        role = "aurora-ferry-source" if account == SOURCE else "aurora-ferry-target"
        return AccountAccess(account, REGION, f"arn:aws:iam::{account}:role/{role}")

    def request(self, kind: str, account: str, identifiers: list[str], token: str = "token-1") -> WaitRequest:
        poll = PollEvent(kind, self.access(account), identifiers, 0, 30)
        return WaitRequest(token, poll, "nightly-orders")

    def rows(self) -> dict[str, str]:
        items = self.store.client.scan(TableName=TABLE)["Items"]
        return {item["resourceKey"]["S"]: item["taskToken"]["S"] for item in items}

    def set_snapshot_status(self, identifier: str, status: str) -> None:
        from moto.rds.models import rds_backends

        rds_backends[SOURCE][REGION].cluster_snapshots[identifier].status = status

    def set_instance_status(self, identifier: str, status: str) -> None:
        from moto.rds.models import rds_backends

        rds_backends[TARGET][REGION].databases[identifier].status = status


@pytest.fixture
def accounts(mocked_aws: None) -> Iterator[Accounts]:
    orchestrator = boto3.Session(region_name=REGION)
    clients: dict[str, Any] = {}
    for account, role in ((SOURCE, "aurora-ferry-source"), (TARGET, "aurora-ferry-target")):
        credentials = orchestrator.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="unit"
        )["Credentials"]
        clients[account] = orchestrator.client(
            "rds",
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )
    for account, cluster in ((SOURCE, "orders"), (TARGET, "orders-dev")):
        clients[account].create_db_cluster(
            DBClusterIdentifier=cluster,
            Engine="aurora-postgresql",
            MasterUsername="ferryadmin",
            MasterUserPassword="not-a-real-password-1",
        )
    clients[SOURCE].create_db_cluster_snapshot(
        DBClusterIdentifier="orders", DBClusterSnapshotIdentifier=SNAPSHOT
    )
    for index in (1, 2):
        clients[TARGET].create_db_instance(
            DBInstanceIdentifier=f"orders-dev-{index}",
            DBClusterIdentifier="orders-dev",
            DBInstanceClass="db.r6g.large",
            Engine="aurora-postgresql",
        )
    dynamodb = orchestrator.client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "resourceKey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "resourceKey", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    yield Accounts(clients, WaitStore(TABLE, dynamodb), FakeStepFunctions())


# ------------------------------------------------------------------------------ register, then check


def test_a_resource_already_available_completes_the_wait_at_registration(accounts: Accounts) -> None:
    # Given a snapshot that became available before the wait was registered (its event long gone)
    request = accounts.request("snapshot", SOURCE, [SNAPSHOT])

    # When the wait registers
    result = register_wait(request, accounts.store, accounts.sfn)  # type: ignore[arg-type]

    # Then the register step completes the token itself, with the poll result, and leaves no row behind
    assert result["completion"] == "completed"
    ((name, call),) = accounts.sfn.calls
    assert name == "SendTaskSuccess"
    output = json.loads(call["output"])
    assert (output["status"], output["ready"], output["completedBy"]) == ("available", True, "register")
    assert accounts.rows() == {}


def test_a_resource_in_progress_stores_one_row_per_resource_and_sends_nothing(accounts: Accounts) -> None:
    # Given two instances still being created
    for index in (1, 2):
        accounts.set_instance_status(f"orders-dev-{index}", "creating")
    request = accounts.request("instances", TARGET, ["orders-dev-1", "orders-dev-2"])

    # When the wait registers
    result = register_wait(request, accounts.store, accounts.sfn)  # type: ignore[arg-type]

    # Then each instance has its row, keyed by account, Region and resource, all with the same token
    assert result["status"] == "creating"
    assert accounts.rows() == {
        f"{TARGET}:{REGION}:db:orders-dev-1": "token-1",
        f"{TARGET}:{REGION}:db:orders-dev-2": "token-1",
    }
    assert accounts.sfn.calls == []


def test_a_resource_that_already_failed_fails_the_state_with_a_named_error(accounts: Accounts) -> None:
    # Given a snapshot AWS marked failed
    accounts.set_snapshot_status(SNAPSHOT, "failed")

    # When the wait registers
    with pytest.raises(ResourceFailedError) as caught:
        register_wait(accounts.request("snapshot", SOURCE, [SNAPSHOT]), accounts.store, accounts.sfn)  # type: ignore[arg-type]

    # Then the state fails with ResourceFailedError naming the snapshot and account, and no row is kept
    assert SNAPSHOT in str(caught.value)
    assert SOURCE in str(caught.value)
    assert accounts.rows() == {}


# ------------------------------------------------------------------------------------------ the router


def test_the_event_of_a_waited_for_resource_completes_its_wait(accounts: Accounts) -> None:
    # Given a wait registered while the snapshot was still being created, which is now available
    accounts.set_snapshot_status(SNAPSHOT, "creating")
    register_wait(accounts.request("snapshot", SOURCE, [SNAPSHOT]), accounts.store, accounts.sfn)  # type: ignore[arg-type]
    accounts.set_snapshot_status(SNAPSHOT, "available")

    # When RDS-EVENT-0075 arrives for it
    result = route_event(load("rds-event-cluster-snapshot-created.json"), accounts.store, accounts.sfn)  # type: ignore[arg-type]

    # Then the wait is completed, marked as completed by the event, and its row removed
    assert result["action"] == "ready"
    assert accounts.sfn.names() == ["SendTaskSuccess"]
    assert json.loads(accounts.sfn.calls[0][1]["output"])["completedBy"] == "event"
    assert accounts.rows() == {}


def test_an_event_for_a_resource_no_run_waits_for_is_ignored(accounts: Accounts) -> None:
    # Given no registered wait
    # When an RDS event arrives (another team's cluster, say)
    result = route_event(load("rds-event-cluster-created.json"), accounts.store, accounts.sfn)  # type: ignore[arg-type]

    # Then it is ignored without any call to Step Functions
    assert result == {
        "action": "ignored",
        "reason": "no wait registered",
        "key": f"{TARGET}:{REGION}:cluster:orders-dev",
    }
    assert accounts.sfn.calls == []


def test_an_event_that_names_no_rds_resource_is_ignored(accounts: Accounts) -> None:
    result = route_event({"detail-type": "Scheduled Event", "detail": {}}, accounts.store, accounts.sfn)  # type: ignore[arg-type]
    assert result["action"] == "ignored"
    assert accounts.sfn.calls == []


def test_the_first_of_two_instances_leaves_the_wait_pending(accounts: Accounts) -> None:
    # Given an instances wait where only the first instance is available
    accounts.set_instance_status("orders-dev-2", "creating")
    accounts.set_instance_status("orders-dev-1", "creating")
    register_wait(
        accounts.request("instances", TARGET, ["orders-dev-1", "orders-dev-2"]),
        accounts.store,
        accounts.sfn,  # type: ignore[arg-type]
    )
    accounts.set_instance_status("orders-dev-1", "available")

    # When the first instance's RDS-EVENT-0005 arrives
    result = route_event(load("rds-event-instance-created.json"), accounts.store, accounts.sfn)  # type: ignore[arg-type]

    # Then the wait stays pending (the last instance's event ends it)
    assert result["action"] == "pending"
    assert accounts.sfn.calls == []
    assert len(accounts.rows()) == 2


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_completing_a_token_twice_is_harmless(accounts: Accounts, code: str) -> None:
    # Given a wait whose token was already completed (by the register check or the sweeper)
    accounts.set_snapshot_status(SNAPSHOT, "creating")
    register_wait(accounts.request("snapshot", SOURCE, [SNAPSHOT]), accounts.store, accounts.sfn)  # type: ignore[arg-type]
    accounts.set_snapshot_status(SNAPSHOT, "available")
    accounts.sfn.gone["token-1"] = code

    # When the event completes it again
    result = route_event(load("rds-event-cluster-snapshot-created.json"), accounts.store, accounts.sfn)  # type: ignore[arg-type]

    # Then Step Functions' answer is logged, not raised, and the row is removed all the same
    assert result["completion"] == "already-done"
    assert accounts.rows() == {}


def test_an_unexpected_step_functions_error_is_raised(accounts: Accounts) -> None:
    accounts.sfn.gone["token-1"] = "KmsAccessDeniedException"
    with pytest.raises(ClientError):
        register_wait(accounts.request("snapshot", SOURCE, [SNAPSHOT]), accounts.store, accounts.sfn)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------- the sweeper


def test_the_sweeper_completes_fails_and_heartbeats_the_waits_it_finds(accounts: Accounts) -> None:
    # Given three waits whose events were missed: one ready, one failed, one still in progress
    accounts.set_snapshot_status(SNAPSHOT, "creating")
    for index in (1, 2):
        accounts.set_instance_status(f"orders-dev-{index}", "creating")
    register_wait(accounts.request("snapshot", SOURCE, [SNAPSHOT], "ready"), accounts.store, accounts.sfn)  # type: ignore[arg-type]
    register_wait(
        accounts.request("instances", TARGET, ["orders-dev-1"], "failing"),
        accounts.store,
        accounts.sfn,  # type: ignore[arg-type]
    )
    register_wait(
        accounts.request("instances", TARGET, ["orders-dev-2"], "pending"),
        accounts.store,
        accounts.sfn,  # type: ignore[arg-type]
    )
    accounts.set_snapshot_status(SNAPSHOT, "available")
    accounts.set_instance_status("orders-dev-1", "incompatible-restore")

    # When the sweeper runs
    counts = sweep(accounts.store, accounts.sfn)  # type: ignore[arg-type]

    # Then the ready one succeeds, the failed one fails with a named error and a clear cause, the other lives on
    assert counts == {"waits": 3, "completed": 1, "failed": 1, "pending": 1, "stale": 0, "expired": 0}
    by_token = {call["taskToken"]: (name, call) for name, call in accounts.sfn.calls}
    assert by_token["ready"][0] == "SendTaskSuccess"
    assert json.loads(by_token["ready"][1]["output"])["completedBy"] == "sweeper"
    name, failure = by_token["failing"]
    assert (name, failure["error"]) == ("SendTaskFailure", "ResourceFailedError")
    assert "orders-dev-1 is incompatible-restore" in failure["cause"]
    assert f"[account {TARGET}" in failure["cause"]
    assert by_token["pending"][0] == "SendTaskHeartbeat"
    assert accounts.rows() == {f"{TARGET}:{REGION}:db:orders-dev-2": "pending"}


def test_the_sweeper_drops_rows_whose_execution_is_gone_or_expired(accounts: Accounts) -> None:
    # Given a wait in progress whose execution ended, and one whose row outlived its TTL
    accounts.set_snapshot_status(SNAPSHOT, "creating")
    accounts.set_instance_status("orders-dev-1", "creating")
    register_wait(accounts.request("snapshot", SOURCE, [SNAPSHOT], "ended"), accounts.store, accounts.sfn)  # type: ignore[arg-type]
    register_wait(
        accounts.request("instances", TARGET, ["orders-dev-1"], "old"),
        accounts.store,
        accounts.sfn,  # type: ignore[arg-type]
    )
    accounts.sfn.gone["ended"] = "TaskDoesNotExist"
    key = f"{TARGET}:{REGION}:db:orders-dev-1"
    accounts.store.client.update_item(
        TableName=TABLE,
        Key={"resourceKey": {"S": key}},
        UpdateExpression="SET expiresAt = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )

    # When the sweeper runs
    counts = sweep(accounts.store, accounts.sfn)  # type: ignore[arg-type]

    # Then both rows are gone and nothing was raised
    assert (counts["stale"], counts["expired"]) == (1, 1)
    assert accounts.rows() == {}


# --------------------------------------------------------------------------------- handlers and events


@pytest.mark.parametrize(
    "name",
    [
        "rds-event-cluster-snapshot-created.json",
        "rds-event-cluster-created.json",
        "rds-event-instance-created.json",
    ],
)
def test_sample_rds_events_are_the_ones_the_rule_routes(name: str) -> None:
    # Given a sample RDS event shipped in events/
    event = load(name)
    # Then it has the shape EventBridge delivers and names a resource type the router knows
    assert event["source"] == "aws.rds"
    assert event["detail"]["EventID"] in {"RDS-EVENT-0075", "RDS-EVENT-0170", "RDS-EVENT-0005"}
    assert event["detail"]["SourceType"] in SOURCE_TYPES
    assert event["resources"] == [event["detail"]["SourceArn"]]


def test_the_router_handler_ignores_an_event_for_an_unknown_resource(
    accounts: Accounts, handlers: dict[str, ModuleType], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WAIT_TABLE_ENV, TABLE)
    result = handlers["rds_event_router"].lambda_handler(
        load("rds-event-cluster-created.json"), lambda_context
    )
    assert result["action"] == "ignored"


def test_the_register_handler_names_a_missing_token(
    handlers: dict[str, ModuleType], lambda_context: Any
) -> None:
    from aurora_ferry.core import PayloadError

    with pytest.raises(PayloadError) as caught:
        handlers["register_wait"].lambda_handler({"kind": "snapshot", "runId": "r"}, lambda_context)
    assert "event.taskToken" in str(caught.value)
    assert caught.value.category == "payload"


# ------------------------------------------------------------------------------------- adaptive polling


def test_fixed_polling_waits_the_interval_every_time() -> None:
    assert {next_poll_delay(attempt, 30, adaptive=False) for attempt in range(1, 50)} == {30}


def test_adaptive_polling_doubles_up_to_its_cap() -> None:
    assert [next_poll_delay(attempt, 30, adaptive=True) for attempt in range(1, 9)] == [
        30, 60, 120, 240, 480, 600, 600, 600,
    ]  # fmt: skip
    # An interval longer than the cap is kept as it is
    assert next_poll_delay(5, 900, adaptive=True) == 900


def test_adaptive_polling_of_a_two_hour_copy_checks_at_least_five_times_less_than_30_s_polling() -> None:
    def checks(adaptive: bool) -> int:
        elapsed, attempt = 0, 0
        while True:
            attempt += 1
            if elapsed >= 7200:
                return attempt
            elapsed += next_poll_delay(attempt, 30, adaptive)

    assert checks(False) >= 5 * checks(True)


# ------------------------------------------------------------------------------------------ copy queue


def test_a_copy_waits_in_the_queue_while_five_copies_are_in_progress(accounts: Accounts) -> None:
    # Given five cluster snapshot copies already in progress in the source account
    from moto.rds.models import rds_backends

    client = accounts.rds[SOURCE]
    for index in range(5):
        client.copy_db_cluster_snapshot(
            SourceDBClusterSnapshotIdentifier=SNAPSHOT,
            TargetDBClusterSnapshotIdentifier=f"other-copy-{index}",
        )
        rds_backends[SOURCE][REGION].cluster_snapshots[f"other-copy-{index}"].status = "copying"
    access = accounts.access(SOURCE)

    # When the run starts its own copy
    with pytest.raises(CopyQueueFullError) as caught:
        copy_snapshot(client, access, SNAPSHOT, "ferry-nightly-orders-share", None, "nightly", "share")

    # Then it is told to queue (a named error the state machine retries), and nothing was copied
    assert "5 cluster snapshot copies are already in progress" in str(caught.value)
    assert "ferry-nightly-orders-share" not in rds_backends[SOURCE][REGION].cluster_snapshots
    # And once one copy finishes, the same call goes through
    rds_backends[SOURCE][REGION].cluster_snapshots["other-copy-0"].status = "available"
    copied = copy_snapshot(client, access, SNAPSHOT, "ferry-nightly-orders-share", None, "nightly", "share")
    assert copied["DBClusterSnapshotIdentifier"] == "ferry-nightly-orders-share"
