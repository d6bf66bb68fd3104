"""The migration's and the clone's state stay within Step Functions' 256 KiB payload limit for the largest input
their contracts accept: States.DataLimitExceeded cannot be caught, so a run that exceeded it would stop without
cleaning up. https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html

The migration's run is real: 20 target accounts (worlds/twenty-targets.json), every field the run carries into its own
state at the longest or largest value the contract allows, every optional field given, and each target's 47
tags grown to the longest key and value until the input is exactly the budget (every field at its maximum at
once, 47 of the longest tags per target, would be several times the budget).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from aurora_ferry.core import INPUT_BUDGET_BYTES, PAYLOAD_LIMIT_BYTES, InvalidInputError, input_size
from aurora_ferry.core.instances import MAX_INSTANCES
from aurora_ferry.core.naming import MAX_RUN_ID, run_id_from_execution_name
from aurora_ferry.core.validation import MAX_USER_TAGS
from aurora_ferry.migration import parse_migration_request
from aurora_ferry.migration.contract import MAX_TARGETS
from tests.conftest import REPO

pytestmark = pytest.mark.statemachine

WORLD = REPO / "worlds" / "twenty-targets.json"
# What must stay free of the 256 KiB in the largest state of the run (README "Input contract").
MARGIN_BYTES = 128 * 1024
# One character, counted as 12 bytes (its JSON escape is a surrogate pair, \\ud800\\udf48).
WIDEST = "\U00010348"
MOST_PER_VALUE = 2900
LONGEST_TAG_KEY = 128
LONGEST_TAG_VALUE = 256

# The longest values the contract and the member templates allow. The run carries the source's role and
# external id (sourceAccess), the cluster ids (in every ARN and endpoint of a target) and the parameter group
# (in a preflight finding) beyond the input; the targets' roles, external ids and subnet groups are given at
# their longest too.
EXTERNAL_ID = "ferry-prod-7f3a".ljust(1224, "x")
ROLE_NAMES = {
    # (53: each template names its Enhanced Monitoring role <RoleName>-monitoring, at most 64 characters)
    "source-account": "aurora-ferry-source".ljust(53, "x"),
    "target-account": "aurora-ferry-target".ljust(53, "x"),
}
SUBNET_GROUP = "aurora-ferry-subnets".ljust(255, "s")
PARAMETER_GROUP = "aurora-ferry-params".ljust(255, "p")
# The contract bounds no count of security groups; a DB instance's network interface takes 5 by default.
SECURITY_GROUPS = 5
# An execution name that is its own run id at the longest (the run id is in every snapshot name and ARN).
EXECUTION_NAME = "largest-accepted-input".ljust(MAX_RUN_ID, "x")
# The options of the largest state: the longest interval and the most attempts it allows (7 days); polling, which
# adds a few bytes more to the state than events (and is the quicker run in the twin); the default cleanup,
# whose result lists every target copy it deleted (the tags make up for its shorter name).
OPTIONS = {
    "pollIntervalSeconds": 3600,
    "maxPollAttempts": 168,
    "cleanup": "delete",
    "waitStrategy": "polling",
}


def _tag_value(size: int) -> str:
    """A tag value of ``size`` bytes as the budget counts them, in at most 256 characters (``size`` up to
    MOST_PER_VALUE)."""
    return WIDEST * (size // 12) + "v" * (size % 12)


def largest_world() -> Any:
    """worlds/twenty-targets.json with every member stack deployed with the longest ExternalId and role name, and
    the source cluster with the most instances, each with every instance-level setting away from RDS's defaults
    (the source's instance shapes travel to every target, aurora_ferry.core.instances)."""
    from ferry_cli.twin.world import load_world
    from ferry_cli.twin.world_instances import InstanceSpec

    world = load_world(WORLD)
    widest = InstanceSpec("db.r6g.16xlarge", 15, True, 731, 60, False)
    accounts = []
    for account in world.accounts:
        stack = account.member_stack
        assert stack is not None
        longest = {"ExternalId": EXTERNAL_ID, "RoleName": ROLE_NAMES[stack.template]}
        stack = dataclasses.replace(stack, parameters={**stack.parameters, **longest})
        clusters = tuple(
            dataclasses.replace(cluster, instances=(widest,) * MAX_INSTANCES) for cluster in account.clusters
        )
        accounts.append(dataclasses.replace(account, member_stack=stack, clusters=clusters))
    return dataclasses.replace(world, accounts=tuple(accounts))


def create_network(twin: Any, account_id: str) -> list[str]:
    """The subnet group, security groups and cluster parameter group a target names (a world describes no
    network): the security group ids."""
    ec2 = twin.client("ec2", account_id)
    rds = twin.client("rds", account_id)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=f"{twin.world.region}{zone}"
        )["Subnet"]["SubnetId"]
        for n, zone in enumerate("ab")
    ]
    rds.create_db_subnet_group(
        DBSubnetGroupName=SUBNET_GROUP, DBSubnetGroupDescription="aurora-ferry targets", SubnetIds=subnets
    )
    rds.create_db_cluster_parameter_group(
        DBClusterParameterGroupName=PARAMETER_GROUP,
        DBParameterGroupFamily="aurora-postgresql16",
        Description="aurora-ferry targets",
    )
    return [
        ec2.create_security_group(GroupName=f"db-{n}", Description="aurora-ferry targets", VpcId=vpc)[
            "GroupId"
        ]
        for n in range(SECURITY_GROUPS)
    ]


def largest_input(twin: Any) -> dict[str, Any]:
    """Every target account of the world, each with the most instances, the longest ids and names, its network,
    and MAX_USER_TAGS tags grown (longest key, then longest value, target by target) until the normalised input
    is exactly the budget."""
    region = twin.world.region
    source = next(a for a in twin.world.accounts if a.member_stack.template == "source-account")
    targets = [a for a in twin.world.accounts if a.member_stack.template == "target-account"]
    raw: dict[str, Any] = {
        "source": {
            "accountId": source.account_id,
            "region": region,
            "roleArn": f"arn:aws:iam::{source.account_id}:role/{ROLE_NAMES['source-account']}",
            "externalId": EXTERNAL_ID,
            "clusterIdentifier": source.clusters[0].identifier,
        },
        "shareKmsKeyArn": f"arn:aws:kms:{region}:{source.account_id}:key/{source.member_stack.key_id}",
        "targets": [
            {
                "accountId": target.account_id,
                "roleArn": f"arn:aws:iam::{target.account_id}:role/{ROLE_NAMES['target-account']}",
                "externalId": EXTERNAL_ID,
                "kmsKeyArn": f"arn:aws:kms:{region}:{target.account_id}:key/{target.member_stack.key_id}",
                "clusterIdentifier": f"orders-{index:02d}".ljust(63, "x"),
                "instanceClass": "db.r6g.16xlarge",
                "instanceCount": MAX_INSTANCES,
                "dbSubnetGroupName": SUBNET_GROUP,
                "vpcSecurityGroupIds": create_network(twin, target.account_id),
                "dbClusterParameterGroupName": PARAMETER_GROUP,
                "deletionProtection": False,  # the longer value
                "tags": {f"{n:02d}": "" for n in range(MAX_USER_TAGS)},
            }
            for index, target in enumerate(targets)
        ],
        "options": OPTIONS,
    }
    raw = parse_migration_request(raw).to_json()
    longest_value = WIDEST * LONGEST_TAG_VALUE
    for target in raw["targets"]:
        for short in list(target["tags"]):
            left = INPUT_BUDGET_BYTES - input_size(raw)
            if not left:
                return raw
            del target["tags"][short]
            key = short.ljust(min(LONGEST_TAG_KEY, len(short) + left), "k")
            target["tags"][key] = ""
            left = INPUT_BUDGET_BYTES - input_size(raw)
            # The widest value of the longest length, or (the last one) what is left of the budget.
            fits = left >= 12 * LONGEST_TAG_VALUE
            target["tags"][key] = longest_value if fits else _tag_value(min(left, MOST_PER_VALUE))
    raise AssertionError("the tags cannot fill the budget")


def payload_sizes(history: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """The size of every state's input and output, with the state's name: bytes of the JSON as the twin writes
    it, with non-ASCII characters escaped, as the budget counts them."""
    sizes = []
    for event in history:
        for key, field in (("stateEnteredEventDetails", "input"), ("stateExitedEventDetails", "output")):
            details = event.get(key)
            if details and details.get(field) is not None:
                sizes.append((len(details[field].encode("utf-8")), f"{details['name']} {field}"))
    return sizes


def test_the_largest_accepted_input_runs_to_twenty_clusters_with_every_state_under_the_payload_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ferry_cli.twin.runtime import Twin

    # moto loads thousands of sample AMIs into each account's EC2 on first use; the run never reads them.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with Twin.started(largest_world(), REPO / "template.yaml") as twin:
        # Given the largest input the contract accepts: 20 targets, every field at its longest, the most tags
        raw = largest_input(twin)
        assert parse_migration_request(raw).to_json() == raw
        assert input_size(raw) == INPUT_BUDGET_BYTES
        targets = raw["targets"]
        assert len(targets) == MAX_TARGETS
        assert all(len(target["tags"]) == MAX_USER_TAGS for target in targets)
        tags = [(key, value) for target in targets for key, value in target["tags"].items()]
        assert max(len(key) for key, _ in tags) == LONGEST_TAG_KEY
        assert max(len(value) for _, value in tags) == LONGEST_TAG_VALUE
        assert len(run_id_from_execution_name(EXECUTION_NAME)) == MAX_RUN_ID
        # and one byte more is refused
        larger = copy.deepcopy(raw)
        empty = next(key for key, value in larger["targets"][-1]["tags"].items() if not value)
        larger["targets"][-1]["tags"][empty] = "v"
        with pytest.raises(InvalidInputError, match=f"is {INPUT_BUDGET_BYTES + 1} bytes"):
            parse_migration_request(larger)

        # When the migration runs
        description = twin.wait(twin.start(raw, name=EXECUTION_NAME), timeout_real_seconds=600)
        assert description["status"] == "SUCCEEDED", description.get("cause")
        history = twin.history(description["executionArn"])
        clusters = {
            target["accountId"]: twin.client("rds", target["accountId"]).describe_db_clusters(
                DBClusterIdentifier=target["clusterIdentifier"]
            )["DBClusters"]
            for target in targets
        }

    # Then each of the 20 target accounts has the cluster this run made, available, with its 16 instances
    run_id = {"Key": "aurora-ferry:run-id", "Value": EXECUTION_NAME}
    assert len(clusters) == MAX_TARGETS
    for found in clusters.values():
        assert [(c["Status"], len(c["DBClusterMembers"]), run_id in c["TagList"]) for c in found] == [
            ("available", MAX_INSTANCES, True)
        ]
    # And the largest state of the run is under the limit with the margin
    largest, where = max(payload_sizes(history))
    assert largest <= PAYLOAD_LIMIT_BYTES - MARGIN_BYTES, (where, largest)
    # And the output, which carries no input, is smaller
    assert len(description["output"].encode("utf-8")) < largest


def test_the_largest_accepted_clone_input_runs_with_every_state_under_the_payload_limit() -> None:
    from aurora_ferry.clone import parse_clone_request
    from aurora_ferry.clone.contract import MAX_CLONE_USER_TAGS
    from tests.conftest import load_event, running_twin

    # Given a cross-account clone whose target carries the most tags, grown until the input is the budget
    raw = parse_clone_request(load_event("clone-cross-account.json")).to_json()
    raw["target"]["instanceCount"] = MAX_INSTANCES
    tags: dict[str, str] = {}
    raw["target"]["tags"] = tags
    for n in range(MAX_CLONE_USER_TAGS):
        tags[f"{n:02d}".ljust(LONGEST_TAG_KEY, "k")] = ""
    for key in tags:
        left = INPUT_BUDGET_BYTES - input_size(raw)
        tags[key] = _tag_value(min(left, MOST_PER_VALUE))
    assert parse_clone_request(raw).to_json() == raw
    assert input_size(raw) == INPUT_BUDGET_BYTES
    with running_twin("clones.json") as twin:
        # When the clone runs
        description = twin.wait(twin.start(raw, machine="CloneStateMachine", name=EXECUTION_NAME))
        history = twin.history(description["executionArn"])
    # Then it succeeds, and its largest state is under the limit with the same margin as the migration's
    assert description["status"] == "SUCCEEDED", description.get("cause")
    largest, where = max(payload_sizes(history))
    assert largest <= PAYLOAD_LIMIT_BYTES - MARGIN_BYTES, (where, largest)
