"""The clone input contract (aurora_ferry.clone.contract): samples, defaults, and every problem named."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from botocore.client import BaseClient

from aurora_ferry.clone import CloneRequest, is_clone_input, parse_clone_request
from aurora_ferry.core import INPUT_BUDGET_BYTES, InvalidInputError, input_size

pytestmark = pytest.mark.unit

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"
CLONE_EVENTS = sorted(EVENTS_DIR.glob("clone-*.json"))
SOURCE = "111111111111"
DEV = "222222222222"


def read_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS_DIR / name).read_text(encoding="utf-8"))
    return data


def problems_of(raw: Any) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        parse_clone_request(raw)
    return caught.value.problems


def test_there_are_clone_samples() -> None:
    # Given events/, then there are same-account, cross-account, external and refresh samples
    assert {p.name for p in CLONE_EVENTS} >= {
        "clone-same-account.json",
        "clone-cross-account.json",
        "clone-cross-account-external.json",
        "clone-refresh.json",
    }


@pytest.mark.parametrize("path", CLONE_EVENTS, ids=lambda path: path.name)
def test_every_clone_sample_parses_and_round_trips(path: Path) -> None:
    # Given a clone sample
    raw = json.loads(path.read_text(encoding="utf-8"))
    # When it is parsed, and its normalised form parsed again after a trip through JSON
    request = parse_clone_request(raw)
    again = parse_clone_request(json.loads(json.dumps(request.to_json())))
    # Then it is a clone input, and normalising is stable
    assert is_clone_input(raw)
    assert isinstance(request, CloneRequest)
    assert again == request


def test_defaults_are_filled_in_and_external_principals_are_off_unless_asked() -> None:
    # Given the cross-account sample without options, instance count or deletion protection
    raw = read_event("clone-cross-account.json")
    for name in ("instanceCount", "deletionProtection", "tags"):
        raw["target"].pop(name)
    del raw["options"]
    # When it is parsed
    request = parse_clone_request(raw)
    normalised = request.to_json()
    # Then the documented defaults apply
    assert request.cross_account is True
    assert normalised["sharing"] == {"allowExternalPrincipals": False}
    # (no instance count: the clone mirrors the source's instances, core.instance_plan)
    assert "instanceCount" not in normalised["target"]
    assert normalised["target"]["deletionProtection"] is True
    assert normalised["options"] == {"pollIntervalSeconds": 30, "maxPollAttempts": 720}
    assert "refresh" not in normalised


def test_a_same_account_clone_is_not_cross_account() -> None:
    assert parse_clone_request(read_event("clone-same-account.json")).cross_account is False


def test_a_refresh_derives_the_clone_name_and_defaults_deletion_protection_off() -> None:
    request = parse_clone_request(read_event("clone-refresh.json"))
    assert request.refresh is not None and request.refresh.replaces == "orders-dev"
    assert request.target.clone_identifier is None
    assert request.target.deletion_protection is False


def test_migration_inputs_are_not_clone_inputs() -> None:
    assert not is_clone_input(read_event("migrate-cmk.json"))
    assert not is_clone_input({"target": {}, "targets": []})
    assert not is_clone_input(["target"])


def _set(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node = raw
    for parent in parents:
        node = node.setdefault(parent, {})
    if value is _DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return raw


_DELETE = object()
BAD: list[tuple[str, str, str, Any, str, str]] = [
    # (id, sample, path, value, field named, words in the problem)
    ("source-missing", "clone-same-account.json", "source", _DELETE, "source", "required object"),
    ("source-account", "clone-same-account.json", "source.accountId", "1234", "source.accountId", "12-digit"),
    ("source-region", "clone-same-account.json", "source.region", "Ireland", "source.region", "region name"),
    ("source-cluster-arn-region", "clone-same-account.json", "source.clusterIdentifier",
     "arn:aws:rds:us-east-1:111111111111:cluster:orders", "source.clusterIdentifier", "another Region"),
    ("source-cluster-bad", "clone-same-account.json", "source.clusterIdentifier", "9-orders",
     "source.clusterIdentifier", "start with a letter"),
    ("target-missing", "clone-same-account.json", "target", _DELETE, "target", "required object"),
    ("target-role-other-account", "clone-cross-account.json", "target.roleArn",
     "arn:aws:iam::111111111111:role/aurora-ferry-target", "target.roleArn", "must be a role in account"),
    ("target-clone-id-missing", "clone-same-account.json", "target.cloneIdentifier", _DELETE,
     "target.cloneIdentifier", "required"),
    ("target-clone-id-double-hyphen", "clone-same-account.json", "target.cloneIdentifier", "orders--x",
     "target.cloneIdentifier", "two consecutive hyphens"),
    ("target-region-other", "clone-same-account.json", "target.region", "us-east-1", "target.region",
     "can't clone a cluster into another Region"),
    ("target-key-alias", "clone-cross-account.json", "target.kmsKeyArn", "alias/dev-data", "target.kmsKeyArn",
     "not an alias"),
    ("target-key-other-account", "clone-cross-account.json", "target.kmsKeyArn",
     "arn:aws:kms:eu-west-1:111111111111:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6", "target.kmsKeyArn",
     "target's own key"),
    ("target-key-other-region", "clone-cross-account.json", "target.kmsKeyArn",
     "arn:aws:kms:us-east-1:222222222222:key/c3a81e57-02d9-4b6f-8e4a-5f7b9d10e2c6", "target.kmsKeyArn",
     "source.region eu-west-1"),
    ("target-instance-class", "clone-same-account.json", "target.instanceClass", "large",
     "target.instanceClass", "db.r6g.large"),
    ("target-instance-count", "clone-same-account.json", "target.instanceCount", 17, "target.instanceCount",
     "from 1 to 16"),
    ("target-deletion-protection-type", "clone-same-account.json", "target.deletionProtection", "no",
     "target.deletionProtection", "true or false"),
    ("target-reserved-tag", "clone-same-account.json", "target.tags", {"aurora-ferry:run-id": "x"},
     "target.tags.aurora-ferry:run-id", "reserved"),
    ("target-unknown-field", "clone-same-account.json", "target.clusterIdentifier", "orders-x",
     "target.clusterIdentifier", "unknown field"),
    ("sharing-not-bool", "clone-cross-account.json", "sharing", {"allowExternalPrincipals": "yes"},
     "sharing.allowExternalPrincipals", "true or false"),
    ("sharing-unknown", "clone-cross-account.json", "sharing", {"public": True}, "sharing.public",
     "unknown field"),
    ("refresh-bad-name", "clone-refresh.json", "refresh.replaces", "orders_dev", "refresh.replaces",
     "letters, digits or hyphens"),
    ("refresh-too-long", "clone-refresh.json", "refresh.replaces", "a" * 55, "refresh.replaces",
     "at most 54 characters"),
    ("refresh-with-clone-id", "clone-refresh.json", "target.cloneIdentifier", "orders-dev-new",
     "target.cloneIdentifier", "leave it out with refresh"),
    ("refresh-with-deletion-protection", "clone-refresh.json", "target.deletionProtection", True,
     "target.deletionProtection", "must be false with refresh"),
    ("refresh-of-the-source", "clone-refresh.json", "refresh.replaces", "orders", "refresh.replaces",
     "must not be the source cluster"),
    ("options-interval", "clone-same-account.json", "options.pollIntervalSeconds", 1,
     "options.pollIntervalSeconds", "from 5 to 3600"),
    ("options-cleanup-not-a-clone-option", "clone-same-account.json", "options.cleanup", "keep",
     "options.cleanup", "unknown field"),
    ("options-too-long", "clone-same-account.json", "options", {"pollIntervalSeconds": 3600, "maxPollAttempts": 1000},
     "options", "at most 604800 s"),
    ("top-level-unknown", "clone-same-account.json", "shareKmsKeyArn", "x", "shareKmsKeyArn", "unknown field"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "sample", "path", "value", "field", "words"), BAD, ids=[b[0] for b in BAD])
def test_each_bad_field_is_named_with_what_is_allowed(
    case: str, sample: str, path: str, value: Any, field: str, words: str
) -> None:
    # Given a sample with one bad field
    raw = _set(read_event(sample), path, value)
    # When it is parsed
    problems = problems_of(raw)
    # Then the problem names that field and says what is allowed
    matching = [p for p in problems if p.startswith(f"{field}: ")]
    assert matching, problems
    assert any(words in p for p in matching), problems


def test_every_problem_is_reported_at_once() -> None:
    # Given an input with three bad fields in three places
    raw = read_event("clone-cross-account.json")
    raw["source"]["accountId"] = "1"
    raw["target"]["instanceCount"] = 0
    raw["options"]["maxPollAttempts"] = 0
    # Then all three are reported
    fields = {p.split(": ", 1)[0] for p in problems_of(raw)}
    assert {"source.accountId", "target.instanceCount", "options.maxPollAttempts"} <= fields


@pytest.mark.parametrize("raw", [None, [], "clone orders"], ids=["missing", "list", "string"])
def test_a_non_object_input_is_refused(raw: Any) -> None:
    assert problems_of(raw) == [f"input: must be a JSON object, got {type(raw).__name__}"]


def test_a_source_arn_of_another_account_is_accepted_by_the_contract_and_names_its_owner() -> None:
    # Given a source named by the ARN of a cluster another account owns (refused later, before any change)
    raw = read_event("clone-same-account.json")
    raw["source"]["clusterIdentifier"] = f"arn:aws:rds:eu-west-1:{DEV}:cluster:orders"
    # Then the contract accepts it and knows the owner
    assert parse_clone_request(raw).source.cluster_owner == DEV


def test_clone_validation_makes_no_aws_call() -> None:
    def no_aws(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"validation called AWS: {args[1:]}")

    with mock.patch.object(BaseClient, "_make_api_call", autospec=True, side_effect=no_aws) as api_call:
        for path in CLONE_EVENTS:
            parse_clone_request(json.loads(path.read_text(encoding="utf-8")))
        for _case, sample, path, value, _field, _words in BAD:
            with pytest.raises(InvalidInputError):
                parse_clone_request(_set(read_event(sample), path, value))
    assert api_call.call_count == 0


# ------------------------------------------------------------------------------- size budget


def _padded_to(size: int) -> dict[str, Any]:
    """The cross-account sample, normalised (so it and its normalised form are the same size), filled with
    security groups and a longer externalId to exactly ``size`` bytes of JSON."""
    raw: dict[str, Any] = parse_clone_request(read_event("clone-cross-account.json")).to_json()
    groups = raw["target"]["vpcSecurityGroupIds"]
    while size - input_size(raw) >= 1000:
        groups.append("sg-0123456789abcdef0")
    raw["target"]["externalId"] += "e" * (size - input_size(raw))
    assert input_size(raw) == size
    return raw


def test_a_clone_input_of_exactly_the_budget_is_accepted() -> None:
    # Given a clone input filled to exactly the budget
    raw = _padded_to(INPUT_BUDGET_BYTES)
    # When it is parsed
    request = parse_clone_request(raw)
    # Then it is accepted, and its normalised form (what the later steps parse again) is too
    assert parse_clone_request(request.to_json()) == request


def test_a_clone_input_one_byte_over_the_budget_is_refused_naming_input_and_the_limit() -> None:
    # Given the same input, one byte longer
    raw = _padded_to(INPUT_BUDGET_BYTES + 1)
    # When it is parsed
    problems = problems_of(raw)
    # Then only the whole input is refused, with its size and the limit
    assert len(problems) == 1
    assert problems[0].startswith(f"input: is {INPUT_BUDGET_BYTES + 1} bytes as JSON")
    assert problems[0].split(": ", 1)[0] == "input"
    assert f"at most {INPUT_BUDGET_BYTES} bytes (64 KiB)" in problems[0]
    assert "256 KiB" in problems[0]


def test_target_settings_override_the_carried_ones_and_survive_the_payload() -> None:
    # Given the cross-account sample with overrides of the carried settings
    raw = read_event("clone-cross-account.json")
    raw["target"]["settings"] = {"port": 5432, "preferredMaintenanceWindow": "mon:01:00-mon:01:30"}
    # When it is parsed, and parsed again from its normalised JSON (as the state machine carries it)
    request = parse_clone_request(raw)
    again = parse_clone_request(json.loads(json.dumps(request.to_json())))
    # Then the overrides are the target's, and unchanged by the trip
    settings = request.target.settings
    assert settings is not None
    assert (settings.port, settings.preferred_maintenance_window) == (5432, "mon:01:00-mon:01:30")
    assert settings.storage_type is None
    assert again == request


def test_bad_target_settings_are_named_before_any_aws_call() -> None:
    # Given overrides with a bad port, an unknown setting and the target's own deletion protection
    raw = read_event("clone-cross-account.json")
    raw["target"]["settings"] = {"port": 80, "colour": "blue", "deletionProtection": True}
    # When it is parsed, with every AWS client call failing the test
    with mock.patch.object(BaseClient, "_make_api_call", side_effect=AssertionError("AWS called")):
        problems = problems_of(raw)
    # Then each problem names its field
    assert any(p.startswith("target.settings.port: must be from 1150 to 65535") for p in problems)
    assert any(p.startswith("target.settings.colour") for p in problems)
    assert any(p.startswith("target.settings.deletionProtection") for p in problems)
