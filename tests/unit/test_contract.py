"""The execution input contract (aurora_ferry.migration.contract): every sample parses, bad input is refused
with the field path and what is allowed, all problems come at once, and validation never calls AWS."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from botocore.client import BaseClient

from aurora_ferry.core import INPUT_BUDGET_BYTES, InvalidInputError, input_size
from aurora_ferry.core.validation import MAX_USER_TAGS
from aurora_ferry.migration.contract import (
    CleanupPolicy,
    MigrationRequest,
    WaitStrategy,
    parse_migration_request,
)

pytestmark = pytest.mark.unit

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
# Migration samples only: events/clone-*.json follow the clone contract (tests/unit/test_clone_contract.py).
EVENT_FILES = sorted(EVENTS_DIR.glob("migrate-*.json"))

Raw = dict[str, Any]
Mutation = Callable[[Raw], Any]

SOURCE_ACCOUNT = "111111111111"
TARGET_ACCOUNT = "222222222222"
OTHER_ACCOUNT = "333333333333"
SHARE_KEY = "arn:aws:kms:eu-west-1:111111111111:key/0b5e1c3a-6f1d-4f7e-9a51-2c8e7d1f0a11"
TARGET_KEY = "arn:aws:kms:eu-west-1:222222222222:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6"
KEY_ID = "c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6"


def read_event(name: str) -> Raw:
    data: Raw = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return data


def base_input() -> Raw:
    """A valid input with one target, built from the sample that uses the most fields."""
    return read_event("migrate-cmk.json")


def problems_of(raw: Any) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        parse_migration_request(raw)
    assert caught.value.problems, "InvalidInputError must carry at least one problem"
    return caught.value.problems


# --------------------------------------------------------------------------------- mutation helpers


def setting(*path: str | int, value: Any) -> Mutation:
    def mutate(raw: Raw) -> Raw:
        node: Any = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = copy.deepcopy(value)
        return raw

    return mutate


def removing(*path: str | int) -> Mutation:
    def mutate(raw: Raw) -> Raw:
        node: Any = raw
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
        return raw

    return mutate


def updating_target(index: int = 0, **fields: Any) -> Mutation:
    def mutate(raw: Raw) -> Raw:
        raw["targets"][index].update(copy.deepcopy(fields))
        return raw

    return mutate


def with_targets(count: int) -> Mutation:
    """count targets, each in its own distinct account, all otherwise valid."""

    def mutate(raw: Raw) -> Raw:
        template = raw["targets"][0]
        targets = []
        for index in range(count):
            account = f"{300000000000 + index:012d}"
            target = copy.deepcopy(template)
            target.update(
                accountId=account,
                roleArn=f"arn:aws:iam::{account}:role/aurora-ferry-target",
                kmsKeyArn=f"arn:aws:kms:eu-west-1:{account}:key/{KEY_ID}",
                clusterIdentifier=f"orders-{index}",
            )
            targets.append(target)
        raw["targets"] = targets
        return raw

    return mutate


def duplicate_target(raw: Raw) -> Raw:
    twin = copy.deepcopy(raw["targets"][0])
    twin["clusterIdentifier"] = "orders-dev-2"
    raw["targets"].append(twin)
    return raw


def source_as_target(raw: Raw) -> Raw:
    raw["targets"][0].update(
        accountId=SOURCE_ACCOUNT,
        roleArn=f"arn:aws:iam::{SOURCE_ACCOUNT}:role/aurora-ferry-target",
        kmsKeyArn=f"arn:aws:kms:eu-west-1:{SOURCE_ACCOUNT}:key/{KEY_ID}",
    )
    return raw


def snapshot_source(identifier: str) -> Mutation:
    def mutate(raw: Raw) -> Raw:
        del raw["source"]["clusterIdentifier"]
        raw["source"]["snapshotIdentifier"] = identifier
        return raw

    return mutate


def as_list(raw: Raw) -> Any:
    return [raw]


def as_string(raw: Raw) -> Any:
    return json.dumps(raw)


def as_none(raw: Raw) -> Any:
    return None


CLUSTER_ID_HINT = "start with a letter"
WAIT_HINT = "7 days"

# (case id, mutation of a valid input, field path a problem must start with, text saying what is allowed)
BAD_INPUTS: list[tuple[str, Mutation, str, str]] = [
    # account ids
    ("target-account-short", updating_target(accountId="12345"), "targets[0].accountId", "12-digit"),
    ("target-account-letters", updating_target(accountId="22222222222a"), "targets[0].accountId", "12-digit"),
    ("target-account-int", updating_target(accountId=222222222222), "targets[0].accountId", "string"),
    ("source-account-short", setting("source", "accountId", value="1111"), "source.accountId", "12-digit"),
    # target list
    ("21-targets", with_targets(21), "targets", "at most 20"),
    ("0-targets", setting("targets", value=[]), "targets", "list of 1 to 20"),
    ("targets-not-a-list", lambda raw: setting("targets", value=raw["targets"][0])(raw), "targets", "list"),
    ("target-not-an-object", setting("targets", value=["orders-dev"]), "targets[0]", "must be an object"),
    ("duplicate-target-accounts", duplicate_target, "targets[1].accountId", "one entry per account"),
    (
        "target-is-source-account",
        source_as_target,
        "targets[0].accountId",
        "must differ from source.accountId",
    ),
    # role ARNs
    (
        "role-arn-malformed",
        updating_target(roleArn="arn:aws:iam::222222222222:user/bob"),
        "targets[0].roleArn",
        "arn:aws:iam::111122223333:role/name",
    ),
    (
        "role-arn-other-account",
        updating_target(roleArn="arn:aws:iam::333333333333:role/aurora-ferry-target"),
        "targets[0].roleArn",
        "role in account 222222222222",
    ),
    (
        "source-role-arn-other-account",
        setting("source", "roleArn", value="arn:aws:iam::222222222222:role/aurora-ferry-source"),
        "source.roleArn",
        "role in account 111111111111",
    ),
    # KMS keys
    (
        "kms-arn-malformed",
        updating_target(kmsKeyArn="arn:aws:kms:eu-west-1:222222222222:key/not-a-key-id"),
        "targets[0].kmsKeyArn",
        "KMS key ARN like",
    ),
    ("kms-alias-name", setting("shareKmsKeyArn", value="alias/aws/rds"), "shareKmsKeyArn", "not an alias"),
    (
        "kms-alias-arn",
        updating_target(kmsKeyArn="arn:aws:kms:eu-west-1:222222222222:alias/orders"),
        "targets[0].kmsKeyArn",
        "not an alias",
    ),
    (
        "share-key-other-account",
        setting("shareKmsKeyArn", value=f"arn:aws:kms:eu-west-1:{OTHER_ACCOUNT}:key/{KEY_ID}"),
        "shareKmsKeyArn",
        "source account 111111111111",
    ),
    (
        "share-key-other-region",
        setting("shareKmsKeyArn", value=f"arn:aws:kms:us-east-1:{SOURCE_ACCOUNT}:key/{KEY_ID}"),
        "shareKmsKeyArn",
        "source region eu-west-1",
    ),
    (
        "target-key-other-region",
        updating_target(kmsKeyArn=f"arn:aws:kms:eu-central-1:{TARGET_ACCOUNT}:key/{KEY_ID}"),
        "targets[0].kmsKeyArn",
        "source region eu-west-1",
    ),
    (
        "target-key-other-account",
        updating_target(kmsKeyArn=f"arn:aws:kms:eu-west-1:{OTHER_ACCOUNT}:key/{KEY_ID}"),
        "targets[0].kmsKeyArn",
        "own key in account 222222222222",
    ),
    ("share-key-missing", removing("shareKmsKeyArn"), "shareKmsKeyArn", "required"),
    # cluster identifiers
    (
        "cluster-id-leading-digit",
        updating_target(clusterIdentifier="1orders"),
        "targets[0].clusterIdentifier",
        CLUSTER_ID_HINT,
    ),
    (
        "cluster-id-double-hyphen",
        updating_target(clusterIdentifier="orders--dev"),
        "targets[0].clusterIdentifier",
        "two consecutive hyphens",
    ),
    (
        "cluster-id-trailing-hyphen",
        updating_target(clusterIdentifier="orders-dev-"),
        "targets[0].clusterIdentifier",
        "not end with a hyphen",
    ),
    (
        "cluster-id-64-chars",
        updating_target(clusterIdentifier="o" * 64),
        "targets[0].clusterIdentifier",
        "1-63",
    ),
    (
        "cluster-id-underscore",
        updating_target(clusterIdentifier="orders_dev"),
        "targets[0].clusterIdentifier",
        "letters, digits or hyphens",
    ),
    (
        "cluster-id-missing",
        removing("targets", 0, "clusterIdentifier"),
        "targets[0].clusterIdentifier",
        "required",
    ),
    (
        "source-cluster-id-underscore",
        setting("source", "clusterIdentifier", value="orders_prod"),
        "source.clusterIdentifier",
        CLUSTER_ID_HINT,
    ),
    # the source: a cluster or a snapshot
    (
        "cluster-and-snapshot",
        setting("source", "snapshotIdentifier", value="orders-manual"),
        "source",
        "exactly one of clusterIdentifier or snapshotIdentifier",
    ),
    (
        "neither-cluster-nor-snapshot",
        removing("source", "clusterIdentifier"),
        "source",
        "exactly one of clusterIdentifier or snapshotIdentifier",
    ),
    (
        "snapshot-arn-other-account",
        snapshot_source(f"arn:aws:rds:eu-west-1:{OTHER_ACCOUNT}:cluster-snapshot:orders-manual"),
        "source.snapshotIdentifier",
        "source account 111111111111",
    ),
    (
        "snapshot-arn-other-region",
        snapshot_source(f"arn:aws:rds:us-west-2:{SOURCE_ACCOUNT}:cluster-snapshot:orders-manual"),
        "source.snapshotIdentifier",
        "source region eu-west-1",
    ),
    (
        "snapshot-arn-malformed",
        snapshot_source(f"arn:aws:rds:eu-west-1:{SOURCE_ACCOUNT}:snapshot:orders-manual"),
        "source.snapshotIdentifier",
        "cluster-snapshot",
    ),
    (
        "snapshot-id-underscore",
        snapshot_source("orders_manual"),
        "source.snapshotIdentifier",
        "letters, digits, hyphens",
    ),
    ("source-missing", removing("source"), "source", "required object"),
    ("region-free-text", setting("source", "region", value="ireland"), "source.region", "eu-west-1"),
    ("region-uppercase", setting("source", "region", value="EU-WEST-1"), "source.region", "AWS region name"),
    # instances
    ("instance-count-0", updating_target(instanceCount=0), "targets[0].instanceCount", "from 1 to 16"),
    ("instance-count-17", updating_target(instanceCount=17), "targets[0].instanceCount", "from 1 to 16"),
    ("instance-count-string", updating_target(instanceCount="2"), "targets[0].instanceCount", "whole number"),
    ("instance-count-bool", updating_target(instanceCount=True), "targets[0].instanceCount", "whole number"),
    ("instance-count-float", updating_target(instanceCount=2.0), "targets[0].instanceCount", "whole number"),
    (
        "instance-class-bare",
        updating_target(instanceClass="r6g.large"),
        "targets[0].instanceClass",
        "db.r6g.large",
    ),
    (
        "instance-class-spaces",
        updating_target(instanceClass="db r6g large"),
        "targets[0].instanceClass",
        "db.r6g.large",
    ),
    # options
    (
        "poll-interval-1",
        setting("options", "pollIntervalSeconds", value=1),
        "options.pollIntervalSeconds",
        "from 5 to 3600",
    ),
    (
        "poll-interval-100000",
        setting("options", "pollIntervalSeconds", value=100_000),
        "options.pollIntervalSeconds",
        "from 5 to 3600",
    ),
    (
        "max-poll-attempts-0",
        setting("options", "maxPollAttempts", value=0),
        "options.maxPollAttempts",
        "from 1 to 10000",
    ),
    (
        "wait-over-7-days",
        setting("options", value={"pollIntervalSeconds": 3600, "maxPollAttempts": 200}),
        "options",
        WAIT_HINT,
    ),
    (
        "cleanup-purge",
        setting("options", "cleanup", value="purge"),
        "options.cleanup",
        "delete, keep-target-copies, keep",
    ),
    ("options-not-an-object", setting("options", value=["delete"]), "options", "must be an object"),
    (
        "wait-strategy-unknown",
        setting("options", "waitStrategy", value="webhooks"),
        "options.waitStrategy",
        "events, polling",
    ),
    (
        "wait-strategy-not-a-string",
        setting("options", "waitStrategy", value=True),
        "options.waitStrategy",
        "events, polling",
    ),
    # unknown fields
    ("unknown-top-level-field", setting("public", value=True), "public", "unknown field; allowed"),
    (
        "unknown-target-field",
        updating_target(shareWith="all"),
        "targets[0].shareWith",
        "unknown field; allowed",
    ),
    (
        "unknown-source-field",
        setting("source", "engine", value="aurora"),
        "source.engine",
        "unknown field; allowed",
    ),
    (
        "unknown-option-field",
        setting("options", "dryRun", value=True),
        "options.dryRun",
        "unknown field; allowed",
    ),
    # tags, network, misc
    ("reserved-tag-aws", updating_target(tags={"aws:foo": "x"}), "targets[0].tags.aws:foo", "reserved"),
    (
        "reserved-tag-run-id",
        updating_target(tags={"aurora-ferry:run-id": "other-run"}),
        "targets[0].tags.aurora-ferry:run-id",
        "reserved",
    ),
    ("reserved-tag-uppercase", updating_target(tags={"AWS:Foo": "x"}), "targets[0].tags.AWS:Foo", "reserved"),
    ("tag-value-too-long", updating_target(tags={"team": "x" * 257}), "targets[0].tags.team", "at most 256"),
    (
        "tags-not-an-object",
        updating_target(tags=["team=payments"]),
        "targets[0].tags",
        "tag key to string value",
    ),
    (
        "security-group-malformed",
        updating_target(vpcSecurityGroupIds=["sg-12345"]),
        "targets[0].vpcSecurityGroupIds[0]",
        "sg-0123456789abcdef0",
    ),
    (
        "security-groups-not-a-list",
        updating_target(vpcSecurityGroupIds="sg-0123456789abcdef0"),
        "targets[0].vpcSecurityGroupIds",
        "list of security group ids",
    ),
    (
        "deletion-protection-string",
        updating_target(deletionProtection="yes"),
        "targets[0].deletionProtection",
        "true or false",
    ),
    (
        "subnet-group-spaces",
        updating_target(dbSubnetGroupName="my subnets"),
        "targets[0].dbSubnetGroupName",
        "letters, digits",
    ),
    ("external-id-too-short", setting("source", "externalId", value="x"), "source.externalId", "2-1224"),
    # not an object at all
    ("input-list", as_list, "input", "JSON object"),
    ("input-string", as_string, "input", "JSON object"),
    ("input-none", as_none, "input", "JSON object"),
]


# ------------------------------------------------------------------------------------------- tests


def test_sample_events_exist() -> None:
    # Given the events/ folder of sample inputs
    # When it is listed
    # Then there are samples to check (an empty glob would make the parametrized tests vacuous)
    assert len(EVENT_FILES) >= 5


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda path: path.name)
def test_every_sample_event_parses(path: Path) -> None:
    # Given a sample input from events/
    raw = json.loads(path.read_text(encoding="utf-8"))

    # When it is parsed
    request = parse_migration_request(raw)

    # Then it is a request with at least one target, and the sample's own values survive
    assert isinstance(request, MigrationRequest)
    assert request.source.account_id == raw["source"]["accountId"]
    assert [t.account_id for t in request.targets] == [t["accountId"] for t in raw["targets"]]


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda path: path.name)
def test_to_json_round_trips(path: Path) -> None:
    # Given a parsed sample input
    request = parse_migration_request(json.loads(path.read_text(encoding="utf-8")))

    # When its normalised JSON is parsed again (after a trip through a JSON string, as Step Functions does)
    normalised = request.to_json()
    again = parse_migration_request(json.loads(json.dumps(normalised)))

    # Then nothing changes: the request and its JSON are fixed points
    assert again == request
    assert again.to_json() == normalised


def test_round_trip_keeps_user_tag_keys_and_optional_fields() -> None:
    # Given an input with snake_case tag keys and every optional target field set
    raw = base_input()
    raw["source"]["externalId"] = "ferry-source-external"
    raw["targets"][0].update(
        tags={"cost_center": "42", "Team Name": "payments"},
        externalId="ferry-target-external",
        dbSubnetGroupName="private-subnets",
        dbClusterParameterGroupName="orders-params",
        vpcSecurityGroupIds=["sg-0123456789abcdef0", "sg-89abcdef"],
    )

    # When it is parsed and normalised
    normalised = parse_migration_request(raw).to_json()

    # Then tag keys are kept verbatim (not camelCased) and the optional fields keep their names
    target = normalised["targets"][0]
    assert target["tags"] == {"cost_center": "42", "Team Name": "payments"}
    assert target["externalId"] == "ferry-target-external"
    assert target["dbSubnetGroupName"] == "private-subnets"
    assert target["dbClusterParameterGroupName"] == "orders-params"
    assert target["vpcSecurityGroupIds"] == ["sg-0123456789abcdef0", "sg-89abcdef"]
    assert normalised["source"]["externalId"] == "ferry-source-external"
    assert parse_migration_request(normalised) == parse_migration_request(raw)


def test_defaults_are_filled() -> None:
    # Given a minimal input: no options, and a target without count, protection, tags or network
    raw = base_input()
    del raw["options"]
    del raw["source"]["externalId"]
    for field in ("instanceCount", "deletionProtection", "tags", "externalId"):
        del raw["targets"][0][field]

    # When it is parsed
    request = parse_migration_request(raw)
    normalised = request.to_json()

    # Then the documented defaults are filled in, both in the request and in its JSON
    target = request.targets[0]
    # (no instance count: the target mirrors the source's instances, core.instance_plan)
    assert target.instance_count is None
    assert target.deletion_protection is True
    assert target.tags == {}
    assert target.vpc_security_group_ids == ()
    assert request.options.poll_interval_seconds == 30
    assert request.options.max_poll_attempts == 720
    assert request.options.cleanup is CleanupPolicy.DELETE
    assert request.options.wait_strategy is WaitStrategy.EVENTS
    assert "instanceCount" not in normalised["targets"][0]
    assert normalised["targets"][0]["deletionProtection"] is True
    assert normalised["options"] == {
        "pollIntervalSeconds": 30,
        "maxPollAttempts": 720,
        "cleanup": "delete",
        "waitStrategy": "events",
        "crossRegionCopy": "one-step",
    }
    assert "regionalShareKmsKeyArns" not in normalised
    assert "externalId" not in normalised["source"], "absent optional fields are left out, not null"


def test_the_bad_input_table_is_big_enough() -> None:
    # Given the table of bad inputs below
    # When it is counted
    # Then it has at least 30 distinct cases
    assert len(BAD_INPUTS) >= 30
    assert len({case_id for case_id, *_ in BAD_INPUTS}) == len(BAD_INPUTS)


@pytest.mark.parametrize(
    ("mutation", "field", "allowed"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_refused_with_field_path_and_what_is_allowed(
    mutation: Mutation, field: str, allowed: str
) -> None:
    # Given a valid input with one thing broken
    raw = mutation(base_input())

    # When it is parsed
    problems = problems_of(raw)

    # Then a problem names exactly that field and says what is allowed
    at_field = [problem for problem in problems if problem.startswith(f"{field}: ")]
    assert at_field, f"no problem at {field!r}; got {problems}"
    assert any(allowed in problem for problem in at_field), (
        f"no problem at {field!r} mentions {allowed!r}: {at_field}"
    )


def test_the_base_of_the_bad_input_table_is_valid() -> None:
    # Given the unmutated base input
    raw = base_input()

    # When it is parsed
    request = parse_migration_request(raw)

    # Then it is accepted, so every table failure is caused by its own mutation
    assert request.targets[0].account_id == TARGET_ACCOUNT


def test_twenty_targets_are_allowed() -> None:
    # Given the largest allowed number of targets, each in its own account
    raw = with_targets(20)(base_input())

    # When it is parsed
    request = parse_migration_request(raw)

    # Then all twenty are kept, in order
    assert len(request.targets) == 20
    assert request.targets[0].cluster_identifier == "orders-0"


def test_boundary_values_are_accepted() -> None:
    # Given every numeric and length limit at its allowed edge
    raw = base_input()
    raw["targets"][0].update(instanceCount=16, clusterIdentifier="o" * 63)
    raw["options"] = {"pollIntervalSeconds": 5, "maxPollAttempts": 10_000, "cleanup": "keep"}

    # When it is parsed
    request = parse_migration_request(raw)

    # Then it is accepted with those values
    assert request.targets[0].instance_count == 16
    assert request.targets[0].cluster_identifier == "o" * 63
    assert request.options.cleanup is CleanupPolicy.KEEP


@pytest.mark.parametrize("strategy", ["events", "polling"])
def test_both_wait_strategies_are_accepted_and_kept_in_the_normalised_input(strategy: str) -> None:
    # Given an input that chooses how the run waits for resources
    raw = base_input()
    raw["options"]["waitStrategy"] = strategy

    # When it is parsed and normalised
    request = parse_migration_request(raw)

    # Then the choice is kept, so the state machine can branch on $.input.options.waitStrategy
    assert request.options.wait_strategy is WaitStrategy(strategy)
    assert request.to_json()["options"]["waitStrategy"] == strategy


def test_all_problems_are_reported_at_once() -> None:
    # Given an input broken in three unrelated places
    raw = base_input()
    raw["source"]["region"] = "moon-base-1"
    raw["targets"][0]["instanceCount"] = 0
    raw["options"]["cleanup"] = "purge"

    # When it is parsed
    problems = problems_of(raw)

    # Then every broken field is reported in the same error
    paths = {problem.split(": ", 1)[0] for problem in problems}
    assert {"source.region", "targets[0].instanceCount", "options.cleanup"} <= paths


def test_problems_in_two_targets_are_both_reported() -> None:
    # Given two targets, each with its own bad field
    raw = read_event("migrate-two-targets.json")
    raw["targets"][0]["instanceClass"] = "large"
    raw["targets"][1]["clusterIdentifier"] = "9-lives"

    # When it is parsed
    problems = problems_of(raw)

    # Then both are reported, each under its own index
    paths = {problem.split(": ", 1)[0] for problem in problems}
    assert {"targets[0].instanceClass", "targets[1].clusterIdentifier"} <= paths


def test_invalid_input_error_message_lists_the_problems() -> None:
    # Given an input with a bad target account id
    raw = updating_target(accountId="12345")(base_input())

    # When it is parsed
    with pytest.raises(InvalidInputError) as caught:
        parse_migration_request(raw)

    # Then the error's message (what Step Functions shows as the cause) contains each problem
    for problem in caught.value.problems:
        assert problem in str(caught.value)


def test_validation_makes_no_aws_call() -> None:
    # Given every botocore API call made to fail loudly
    def no_aws(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"validation called AWS: {args[1:]}")

    with mock.patch.object(BaseClient, "_make_api_call", autospec=True, side_effect=no_aws) as api_call:
        # When valid and invalid inputs are parsed
        for path in EVENT_FILES:
            parse_migration_request(json.loads(path.read_text(encoding="utf-8")))
        for _case_id, mutation, _field, _allowed in BAD_INPUTS:
            with pytest.raises(InvalidInputError):
                parse_migration_request(mutation(base_input()))

    # Then no AWS API was called at all
    assert api_call.call_count == 0


# ------------------------------------------------------------------------------- size budget


def padded_to(size: int) -> Raw:
    """A valid input of twenty targets, normalised (so it and its normalised form are the same size), filled
    with tags and a longer externalId to exactly ``size`` bytes of JSON."""
    raw: Raw = parse_migration_request(with_targets(20)(base_input())).to_json()
    for target in raw["targets"]:
        for index in range(MAX_USER_TAGS - len(target["tags"])):
            if size - input_size(raw) < 1000:
                break
            target["tags"][f"pad-{index:04d}"] = "v" * 256
    raw["targets"][0]["externalId"] += "e" * (size - input_size(raw))
    assert input_size(raw) == size
    return raw


def test_an_input_of_exactly_the_budget_is_accepted() -> None:
    # Given twenty targets whose tags fill the input to exactly the budget
    raw = padded_to(INPUT_BUDGET_BYTES)

    # When it is parsed
    request = parse_migration_request(raw)

    # Then it is accepted, and its normalised form (what every step parses again) is too
    assert len(request.targets) == 20
    assert parse_migration_request(request.to_json()) == request


def test_an_input_one_byte_over_the_budget_is_refused_naming_input_and_the_limit() -> None:
    # Given the same input, one byte longer
    raw = padded_to(INPUT_BUDGET_BYTES + 1)

    # When it is parsed
    problems = problems_of(raw)

    # Then only the whole input is refused, with its size and the limit
    assert problems == [
        f"input: is {INPUT_BUDGET_BYTES + 1} bytes as JSON (a non-ASCII character counts as its \\u escape); "
        f"at most {INPUT_BUDGET_BYTES} bytes (64 KiB), so that every state of the run stays under Step "
        "Functions' 256 KiB payload limit (use fewer or shorter tags)"
    ]


def test_an_input_whose_normalised_form_is_over_the_budget_is_refused() -> None:
    # Given an input one byte over the budget once its defaults are filled in, but under it as given
    raw = padded_to(INPUT_BUDGET_BYTES + 1)
    del raw["targets"][1]["vpcSecurityGroupIds"]  # [] by default
    assert input_size(raw) < INPUT_BUDGET_BYTES

    # When it is parsed
    problems = problems_of(raw)

    # Then it is refused, so no later step (which parses the normalised input again) can refuse it mid-run
    assert [problem.split(": ", 1)[0] for problem in problems] == ["input"]
    assert f"is {INPUT_BUDGET_BYTES + 1} bytes" in problems[0]


def test_the_largest_input_the_fields_allow_is_refused_by_the_budget_alone() -> None:
    # Given twenty targets, each with the most tags of the longest keys and values
    raw = with_targets(20)(base_input())
    for target in raw["targets"]:
        target["tags"] = {f"{index:03d}".ljust(128, "k"): "v" * 256 for index in range(MAX_USER_TAGS)}

    # When it is parsed
    problems = problems_of(raw)

    # Then every field passes, and the whole (over 256 KiB as JSON) is refused for its size
    assert input_size(raw) > 256 * 1024
    assert len(problems) == 1
    assert problems[0].startswith("input: is ")
    assert f"at most {INPUT_BUDGET_BYTES} bytes" in problems[0]


def test_input_size_counts_a_non_ascii_character_as_its_escape() -> None:
    # Given tag values of one character that takes 2, 3 or 4 bytes in UTF-8
    # When their size is taken
    # Then each counts as its JSON escape (\uXXXX, two of them outside the Basic Multilingual Plane), never less
    # than its UTF-8, however Step Functions writes the JSON
    assert input_size({"a": "\u00e9"}) == len('{"a":""}') + 6
    assert input_size({"a": "\u4e00"}) == len('{"a":""}') + 6
    assert input_size({"a": "\U00010348"}) == len('{"a":""}') + 12


def test_a_size_problem_is_reported_with_the_field_problems() -> None:
    # Given an input over the budget that also has a bad field
    raw = padded_to(INPUT_BUDGET_BYTES + 100)
    raw["targets"][3]["instanceClass"] = "large"

    # When it is parsed
    problems = problems_of(raw)

    # Then both are reported at once, the size last
    paths = [problem.split(": ", 1)[0] for problem in problems]
    assert paths == ["targets[3].instanceClass", "input"]


# ------------------------------------------------------------------------------- production bugs


def test_target_equal_to_source_is_reported_at_its_own_index_after_an_invalid_target() -> None:
    # Given two targets: the first has a bad instance class, the second is the source account itself
    raw = read_event("migrate-two-targets.json")
    raw["targets"][0]["instanceClass"] = "large"
    raw["targets"][1].update(
        accountId=SOURCE_ACCOUNT,
        roleArn=f"arn:aws:iam::{SOURCE_ACCOUNT}:role/aurora-ferry-target",
        kmsKeyArn=f"arn:aws:kms:eu-west-1:{SOURCE_ACCOUNT}:key/{KEY_ID}",
    )

    # When it is parsed
    problems = problems_of(raw)

    # Then the same-account problem is reported at targets[1], where it is
    paths = {problem.split(": ", 1)[0] for problem in problems}
    assert "targets[1].accountId" in paths, problems
    assert "targets[0].accountId" not in paths, problems


def test_duplicate_target_is_reported_at_its_own_index_after_an_invalid_target() -> None:
    # Given three targets: an invalid one, then two for the same account
    raw = read_event("migrate-two-targets.json")
    raw["targets"][0]["instanceClass"] = "large"
    duplicate = copy.deepcopy(raw["targets"][1])
    duplicate["clusterIdentifier"] = "orders-qa-2"
    raw["targets"].append(duplicate)

    # When it is parsed
    problems = problems_of(raw)

    # Then the duplicate is targets[2], a repeat of targets[1]
    duplicates = [problem for problem in problems if "one entry per account" in problem]
    assert duplicates, problems
    assert duplicates[0].startswith("targets[2].accountId: "), duplicates
    assert "already targets[1]" in duplicates[0], duplicates


def _with_newline(*path: str | int) -> Mutation:
    def mutate(raw: Raw) -> Raw:
        node: Any = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = f"{node[path[-1]]}\n"
        return raw

    return mutate


@pytest.mark.parametrize(
    ("mutation", "field"),
    [
        (_with_newline("targets", 0, "clusterIdentifier"), "targets[0].clusterIdentifier"),
        (_with_newline("source", "clusterIdentifier"), "source.clusterIdentifier"),
        (_with_newline("targets", 0, "instanceClass"), "targets[0].instanceClass"),
        (_with_newline("targets", 0, "roleArn"), "targets[0].roleArn"),
        (_with_newline("targets", 0, "kmsKeyArn"), "targets[0].kmsKeyArn"),
        (_with_newline("shareKmsKeyArn"), "shareKmsKeyArn"),
        (_with_newline("targets", 0, "accountId"), "targets[0].accountId"),
        (updating_target(accountId="\u0662" * 12), "targets[0].accountId"),
        (
            updating_target(vpcSecurityGroupIds=["sg-0123456789abcdef0\n"]),
            "targets[0].vpcSecurityGroupIds[0]",
        ),
    ],
    ids=[
        "target-cluster-id-newline",
        "source-cluster-id-newline",
        "instance-class-newline",
        "role-arn-newline",
        "target-key-newline",
        "share-key-newline",
        "account-id-newline",
        "account-id-arabic-indic-digits",
        "security-group-newline",
    ],
)
def test_values_with_a_trailing_newline_or_non_ascii_digits_are_refused(
    mutation: Mutation, field: str
) -> None:
    # Given a valid input where one identifier carries a trailing newline (a copy-paste accident)
    raw = mutation(base_input())

    # When it is parsed
    problems = problems_of(raw)

    # Then that field is reported
    assert any(problem.startswith(f"{field}: ") for problem in problems), problems
