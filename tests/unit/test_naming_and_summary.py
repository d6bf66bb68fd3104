"""Deterministic names and tags (aurora_ferry.core.naming) and the run's output (aurora_ferry.migration.summary)."""

from __future__ import annotations

import json
import random
import re
import string
import uuid
from typing import Any

import pytest

from aurora_ferry.core import naming
from aurora_ferry.core.validation import CLUSTER_ID, SNAPSHOT_ID
from aurora_ferry.migration import summarize_failure, summarize_success

pytestmark = pytest.mark.unit

# What a run id must be so that "ferry-<run id>-<suffix>" is a valid RDS identifier.
RUN_ID = re.compile(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*")
MAX_RDS_ID = 63
SEED = 20261123


def execution_names() -> list[str]:
    """Hand-picked awkward names, plus a seeded random sample, so failures reproduce."""
    rng = random.Random(SEED)
    names = [
        "",
        "-",
        "---",
        "___",
        "   ",
        "🚀🚀🚀",
        "東京",
        "migración-ñandú",
        "Ünïcödé_Run 1",
        "2026-11-23-orders",
        "0",
        "9lives",
        "orders--to---dev",
        "-leading-and-trailing-",
        "UPPER_CASE_NAME",
        "a" * 80,
        "a-" * 40,
        "1" * 80,
        "x" * 39 + "-" + "y" * 40,
        "orders.to.dev:2026/11/23",
        "\u212a",  # the Kelvin sign lowercases to an ASCII "k"
        str(uuid.UUID(int=0)),
        str(uuid.UUID(int=2**128 - 1)),
    ]
    names += [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(200)]
    alphabet = string.ascii_letters + string.digits + string.punctuation + " äöüßéñ東京🚀\t"
    names += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))) for _ in range(800)]
    names += [f"{rng.randint(0, 10**12)}-{uuid.UUID(int=rng.getrandbits(128))}" for _ in range(100)]
    return names


def test_run_ids_are_valid_rds_identifier_fragments() -> None:
    # Given many execution names: UUIDs, leading digits, unicode, punctuation, empty and very long ones
    names = execution_names()

    # When each is turned into a run id
    for name in names:
        run_id = naming.run_id_from_execution_name(name)

        # Then the run id starts with a letter, has single hyphens only, is at most 40 characters ...
        assert RUN_ID.fullmatch(run_id), f"{name!r} -> {run_id!r}"
        assert len(run_id) <= naming.MAX_RUN_ID, f"{name!r} -> {run_id!r}"
        # ... is stable for the same name ...
        assert naming.run_id_from_execution_name(name) == run_id
        # ... and every name derived from it is a valid RDS identifier
        for derived in (
            naming.source_snapshot_id(run_id),
            naming.source_copy_id(run_id),
            naming.share_copy_id(run_id),
            naming.target_copy_id(run_id),
        ):
            assert len(derived) <= MAX_RDS_ID, derived
            assert CLUSTER_ID.fullmatch(derived), derived
            assert SNAPSHOT_ID.fullmatch(derived), derived


@pytest.mark.parametrize(
    ("name", "readable_part"),
    [
        ("Nightly_Orders 2026", "nightly-orders-2026"),
        ("2026-11-23-orders", "r-2026-11-23-orders"),
        ("", "r"),
        ("---", "r"),
        ("orders--to---dev", "orders-to-dev"),
        ("3f0b1c2d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "r-3f0b1c2d-4e5f-4a6b-8c7d-9e0f1"),
    ],
)
def test_run_id_examples(name: str, readable_part: str) -> None:
    # Given an execution name that is not identifier-safe as it stands
    # When it is turned into a run id
    run_id = naming.run_id_from_execution_name(name)

    # Then it is the readable, lowercased form plus a short hash of the original name
    assert run_id.startswith(readable_part + "-")
    assert len(run_id.rsplit("-", 1)[1]) == 8


def test_safe_execution_names_are_kept_as_they_are() -> None:
    # Given names that already are identifier-safe and short
    for name in ("twin-0566f90d0068", "nightly-orders-2026-11-23", "a"):
        # Then the run id is the name itself
        assert naming.run_id_from_execution_name(name) == name


def test_uuid_execution_names_give_distinct_run_ids() -> None:
    # Given the UUID names Step Functions generates when none is given
    rng = random.Random(SEED)
    names = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(500)]

    # When each is turned into a run id
    run_ids = {naming.run_id_from_execution_name(name) for name in names}

    # Then no two runs share an id (the run-id tag is what guards cleanup)
    assert len(run_ids) == len(names)


def test_distinct_long_execution_names_give_distinct_run_ids() -> None:
    # Given two scheduled runs whose names differ only in the date at the end
    first = "nightly-orders-copy-to-dev-and-qa-2026-11-23"
    second = "nightly-orders-copy-to-dev-and-qa-2026-11-24"

    # When each is turned into a run id
    first_id = naming.run_id_from_execution_name(first)
    second_id = naming.run_id_from_execution_name(second)

    # Then the two runs have different ids
    assert first_id != second_id


def test_instance_ids_fit_and_are_unique() -> None:
    # Given valid cluster ids of every length from 1 to 63, with hyphens in awkward places
    rng = random.Random(SEED)
    clusters = ["o" * length for length in range(1, 64)]
    clusters += ["a" + "-b" * 31, "a" * 60 + "-bc", "a" * 61 + "-b", "a" * 59 + "-b-c"]
    while len(clusters) < 600:
        candidate = rng.choice(string.ascii_lowercase) + "".join(
            rng.choice("ab1-") for _ in range(rng.randint(0, 62))
        )
        if CLUSTER_ID.fullmatch(candidate):
            clusters.append(candidate)

    for cluster in clusters:
        assert CLUSTER_ID.fullmatch(cluster), cluster
        # When the ids of up to 16 instances are derived
        ids = [naming.instance_id(cluster, index) for index in range(16)]

        # Then each is a valid RDS id of at most 63 characters, numbered from 1, and none repeats
        for index, instance in enumerate(ids):
            assert len(instance) <= MAX_RDS_ID, instance
            assert CLUSTER_ID.fullmatch(instance), instance
            assert instance.endswith(f"-{index + 1}"), instance
        assert len(set(ids)) == len(ids), ids


def test_short_cluster_ids_keep_their_name_in_instance_ids() -> None:
    # Given a short cluster id
    # When instance ids are derived
    ids = [naming.instance_id("orders-dev", index) for index in range(3)]

    # Then they are the cluster id plus the instance's number
    assert ids == ["orders-dev-1", "orders-dev-2", "orders-dev-3"]


def test_tags_for_carries_the_run_and_keeps_user_tags() -> None:
    # Given a run id, a purpose and a user's tags, one trying to spoof the managed tag
    # When the tag list is built
    tags = naming.tags_for("run-1", "target-cluster", {"team": "payments", naming.MANAGED_TAG: "false"})

    # Then the run's own tags win and the user's other tags are kept
    as_dict = {tag["Key"]: tag["Value"] for tag in tags}
    assert as_dict == {
        "team": "payments",
        naming.MANAGED_TAG: "true",
        naming.RUN_ID_TAG: "run-1",
        naming.PURPOSE_TAG: "target-cluster",
    }


@pytest.mark.parametrize(
    ("tag_list", "expected"),
    [
        (naming.tags_for("run-1", "source-snapshot"), True),
        (naming.tags_for("run-1", "share-copy", {"team": "payments"}), True),
        ([{"Key": naming.MANAGED_TAG, "Value": "true"}, {"Key": naming.RUN_ID_TAG, "Value": "run-1"}], True),
        (naming.tags_for("run-12", "source-snapshot"), False),
        (naming.tags_for("run", "source-snapshot"), False),
        ([{"Key": naming.RUN_ID_TAG, "Value": "run-1"}], False),
        (
            [{"Key": naming.MANAGED_TAG, "Value": "false"}, {"Key": naming.RUN_ID_TAG, "Value": "run-1"}],
            False,
        ),
        ([{"Key": naming.MANAGED_TAG, "Value": "true"}], False),
        (
            [{"Key": "aurora-ferry:RUN-ID", "Value": "run-1"}, {"Key": naming.MANAGED_TAG, "Value": "true"}],
            False,
        ),
        ([], False),
        (["aurora-ferry:managed=true", "aurora-ferry:run-id=run-1"], False),
    ],
    ids=[
        "own-tags",
        "own-tags-plus-user-tags",
        "managed-and-run-id-only",
        "other-run-with-longer-id",
        "other-run-with-prefix-id",
        "run-id-without-managed",
        "managed-false",
        "managed-without-run-id",
        "run-id-key-in-other-case",
        "no-tags",
        "not-tag-dicts",
    ],
)
def test_is_tagged_by_run(tag_list: list[Any], expected: bool) -> None:
    # Given a resource's tag list
    # When it is checked against run "run-1"
    result = naming.is_tagged_by_run(tag_list, "run-1")

    # Then only the run's own managed tags count
    assert result is expected


# -------------------------------------------------------------------------------------------- summary

LAMBDA_CAUSE: dict[str, Any] = {
    "errorMessage": "[account 111111111111 eu-west-1] source cluster orders not found",
    "errorType": "SourceNotFoundError",
    "requestId": "3f0b1c2d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "stackTrace": ['  File "/var/task/app.py", line 14, in lambda_handler\n'],
}
SNAP_ARN = "arn:aws:rds:eu-west-1:111111111111:cluster-snapshot:ferry-run-1-snap"
SHARE_ARN = "arn:aws:rds:eu-west-1:111111111111:cluster-snapshot:ferry-run-1-share"
COPY_ARN = "arn:aws:rds:eu-west-1:222222222222:cluster-snapshot:ferry-run-1-copy"
CLUSTER_ARN = "arn:aws:rds:eu-west-1:222222222222:cluster:orders-dev"
INSTANCE_ARNS = [
    "arn:aws:rds:eu-west-1:222222222222:db:orders-dev-1",
    "arn:aws:rds:eu-west-1:222222222222:db:orders-dev-2",
]


def test_summarize_failure_unwraps_a_lambda_cause_and_appends_cleanup() -> None:
    # Given a state caught from a failed Lambda task, after a cleanup that did two things
    state = {
        "runId": "run-1",
        "failure": {"Error": "SourceNotFoundError", "Cause": json.dumps(LAMBDA_CAUSE)},
        "cleanup": {
            "policy": "delete",
            "actions": [
                {
                    "action": "unshared",
                    "accountId": "111111111111",
                    "arn": SHARE_ARN,
                    "from": ["222222222222"],
                },
                {"action": "deleted", "accountId": "111111111111", "arn": SNAP_ARN},
            ],
        },
    }

    # When the failure is summarized
    summary = summarize_failure(state)

    # Then the error is the domain error, the cause is the Lambda's message plus what cleanup did
    assert set(summary) == {"error", "cause"}
    assert summary["error"] == "SourceNotFoundError"
    assert summary["cause"].startswith(LAMBDA_CAUSE["errorMessage"])
    assert f"cleanup (delete): unshared {SHARE_ARN}, deleted {SNAP_ARN}" in summary["cause"]
    assert "run run-1" in summary["cause"]
    assert "stackTrace" not in summary["cause"]


def test_summarize_failure_passes_a_non_json_cause_through() -> None:
    # Given a Step Functions failure whose cause is plain text, and a cleanup with nothing to do
    state = {
        "runId": "run-1",
        "failure": {"Error": "States.Timeout", "Cause": "Task timed out after 300.00 seconds"},
        "cleanup": {"policy": "keep", "actions": []},
    }

    # When the failure is summarized
    summary = summarize_failure(state)

    # Then the text is kept as it is, the reserved States.* name is reported as our own (a Fail state may not
    # raise it), and cleanup says it had nothing to do
    assert summary["error"] == "StepTimedOut"
    assert summary["cause"].startswith(
        "Task timed out after 300.00 seconds | cleanup (keep): nothing to clean up"
    )


@pytest.mark.parametrize("cause", ["", "{not json", "[1, 2]", '{"message": "no errorMessage key"}', "42"])
def test_summarize_failure_keeps_causes_that_are_not_lambda_errors(cause: str) -> None:
    # Given a cause that is not a Lambda error document
    state = {"failure": {"Error": "States.Runtime", "Cause": cause}}

    # When the failure is summarized
    summary = summarize_failure(state)

    # Then the cause is passed through unchanged, under our name for a reserved States.* error
    assert summary == {"error": "StepFailed", "cause": cause}


def test_summarize_failure_reports_a_failed_cleanup() -> None:
    # Given a failure where cleanup itself failed too
    cleanup_cause = {
        "errorMessage": "cannot assume arn:aws:iam::222222222222:role/x",
        "errorType": "AssumeRoleError",
    }
    state = {
        "runId": "run-1",
        "failure": {"Error": "ResourceFailedError", "Cause": json.dumps({"errorMessage": "snapshot failed"})},
        "cleanupError": {
            "CleanupAfterFailure": {"Error": "AssumeRoleError", "Cause": json.dumps(cleanup_cause)}
        },
    }

    # When the failure is summarized
    summary = summarize_failure(state)

    # Then both failures are in the cause, the cleanup's with its step
    assert summary["error"] == "ResourceFailedError"
    assert "snapshot failed" in summary["cause"]
    assert (
        "cleanup incomplete: CleanupAfterFailure (every account of the run) failed with AssumeRoleError: "
        f"{cleanup_cause['errorMessage']}"
    ) in summary["cause"]


def test_a_failed_step_is_named_with_the_account_it_acted_in() -> None:
    # Given a run whose share copy timed out in the source account (Step Functions gives no cause)
    state = {
        "runId": "run-1",
        "sourceAccess": {"accountId": "111111111111"},
        "failure": {"PrepareShareCopy": {"Error": "States.Timeout", "Cause": ""}},
    }

    # When the failure is summarized
    summary = summarize_failure(state)

    # Then the cause names the step, the source account, the original error and what it means
    assert summary["error"] == "StepTimedOut"
    assert summary["cause"].startswith(
        "PrepareShareCopy (source account 111111111111) failed with States.Timeout: "
        "the step did not finish within its TimeoutSeconds"
    )


def test_a_failed_target_is_named_with_its_step_and_account() -> None:
    # Given a run whose Map iteration for account 222222222222 failed in its restore
    caught = {
        "RestoreCluster": {
            "Error": "Sandbox.Timedout",
            "Cause": json.dumps(
                {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 120.00 seconds"}
            ),
        }
    }
    record = {"accountId": "222222222222", "failure": caught}
    state = {
        "sourceAccess": {"accountId": "111111111111"},
        "failure": {"MigrateTargets": {"Error": "TargetFailed", "Cause": json.dumps(record)}},
    }

    # When the failure is summarized
    summary = summarize_failure(state)

    # Then the iteration's own error is the run's, with the step inside the Map and the target account
    assert summary == {
        "error": "Sandbox.Timedout",
        "cause": "MigrateTargets/RestoreCluster (target account 222222222222) failed with Sandbox.Timedout: "
        "Task timed out after 120.00 seconds",
    }


@pytest.mark.parametrize(
    ("step", "where"),
    [("Preflight", "read-only checks in every account of the run"), ("ValidateInput", "no AWS call")],
)
def test_a_step_that_acts_in_no_single_account_says_so(step: str, where: str) -> None:
    state = {
        "sourceAccess": {"accountId": "111111111111"},
        "failure": {step: {"Error": "KeyError", "Cause": ""}},
    }
    assert f"{step} ({where}" in summarize_failure(state)["cause"]


def test_summarize_failure_without_details_still_names_an_error() -> None:
    # Given a state with no failure recorded (input rejected before a run id existed)
    # When it is summarized
    summary = summarize_failure({})

    # Then the error is named and the cause is empty rather than missing
    assert summary == {"error": "UnknownError", "cause": ""}


def success_state() -> dict[str, Any]:
    """The state Summarize receives after a one-target run, as the ASL shapes it."""
    return {
        "input": {"source": {"accountId": "111111111111", "region": "eu-west-1"}},
        "runId": "run-1",
        "source": {
            "arn": SNAP_ARN,
            "accountId": "111111111111",
            "createdByRun": True,
            "encryption": "customer-key",
        },
        "share": {"arn": SHARE_ARN, "accountId": "111111111111", "createdByRun": True},
        "shared": {"snapshotArn": SHARE_ARN, "sharedWith": ["222222222222"]},
        "marks": {
            "started": {"at": "2026-11-23T08:00:00Z"},
            "sourceSnapshotReady": {"at": "2026-11-23T08:05:00Z"},
            "shareCopyReady": {"at": "2026-11-23T08:12:30Z"},
            "shared": {"at": "2026-11-23T08:13:00Z"},
            "targetsReady": {"at": "2026-11-23T09:00:00.250Z"},
            "cleanedUp": {"at": "2026-11-23T09:01:15.250Z"},
        },
        "targets": [
            {
                "accountId": "222222222222",
                "copy": {"arn": COPY_ARN, "accountId": "222222222222", "createdByRun": True},
                "cluster": {"clusterArn": CLUSTER_ARN, "clusterIdentifier": "orders-dev"},
                "endpoint": "orders-dev.cluster-abc.eu-west-1.rds.amazonaws.com",
                "readerEndpoint": "orders-dev.cluster-ro-abc.eu-west-1.rds.amazonaws.com",
                "instances": {
                    "instanceIdentifiers": ["orders-dev-1", "orders-dev-2"],
                },
                "marks": {
                    "targetCopyReady": {"at": "2026-11-23T08:20:00Z"},
                    "clusterReady": {"at": "2026-11-23T08:40:00.500Z"},
                    "instancesReady": {"at": "2026-11-23T08:55:00Z"},
                },
            }
        ],
        "cleanup": {"policy": "delete", "actions": [{"action": "deleted", "arn": SNAP_ARN}]},
    }


def test_summarize_success_computes_step_seconds_from_marks() -> None:
    # Given the state of a finished one-target run
    state = success_state()

    # When it is summarized
    summary = summarize_success(state, "2026-11-23T09:02:00Z")

    # Then each step's time is the gap between its mark and the previous one
    assert summary["status"] == "SUCCEEDED"
    assert summary["runId"] == "run-1"
    assert summary["timings"]["source"] == [
        {"step": "source snapshot", "seconds": 300.0},
        {"step": "share copy (re-encrypt)", "seconds": 450.0},
        {"step": "share", "seconds": 30.0},
    ]
    assert summary["timings"]["cleanup"] == [{"step": "cleanup", "seconds": 75.0}]
    (target,) = summary["targets"]
    assert target["timings"] == [
        {"step": "target copy", "seconds": 420.0},
        {"step": "restore cluster", "seconds": 1200.5},
        {"step": "create instances", "seconds": 899.5},
    ]
    assert summary["totalSeconds"] == 3720.0


def test_summarize_success_lists_what_was_created_where() -> None:
    # Given the state of a finished one-target run
    state = success_state()

    # When it is summarized
    summary = summarize_success(state, "2026-11-23T09:02:00Z")

    # Then the source, the target and everything the run created are reported with their accounts
    assert summary["source"] == {
        "accountId": "111111111111",
        "region": "eu-west-1",
        "snapshotArn": SNAP_ARN,
        "encryption": "customer-key",
        "sharedSnapshotArn": SHARE_ARN,
    }
    (target,) = summary["targets"]
    assert target["clusterArn"] == CLUSTER_ARN
    assert target["endpoint"].startswith("orders-dev.cluster-")
    assert target["instanceArns"] == INSTANCE_ARNS
    assert target["snapshotCopyArn"] == COPY_ARN
    assert [(entry["accountId"], entry["kind"]) for entry in summary["created"]] == [
        ("111111111111", "source snapshot"),
        ("111111111111", "share copy"),
        ("222222222222", "target snapshot copy"),
        ("222222222222", "target cluster"),
        ("222222222222", "target instance"),
        ("222222222222", "target instance"),
    ]
    assert summary["cleanup"] == state["cleanup"]
    json.dumps(summary)  # the summary is the execution output: it must be plain JSON


def test_summarize_success_leaves_out_snapshots_the_run_did_not_create_and_missing_marks() -> None:
    # Given a run from a caller's snapshot (not created by the run) with one mark missing
    state = success_state()
    state["source"]["createdByRun"] = False
    del state["marks"]["sourceSnapshotReady"]

    # When it is summarized
    summary = summarize_success(state, "2026-11-23T09:02:00Z")

    # Then the caller's snapshot is not listed as created, and steps without both marks are skipped
    kinds = [entry["kind"] for entry in summary["created"]]
    assert "source snapshot" not in kinds
    assert "share copy" in kinds
    assert summary["timings"]["source"] == [
        {"step": "share", "seconds": 30.0},
    ]
    assert summary["cleanup"] == state["cleanup"]
