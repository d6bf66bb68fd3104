"""Preflight's carried-settings check (aurora_ferry.preflight.carried): what a target will not carry from its source
is a warning before the run, naming the target's field that would map it; what it carries, or what the source does
not have, says nothing."""

from __future__ import annotations

import dataclasses
from typing import Any
from unittest import mock

import pytest

from aurora_ferry.core import AccountAccess, CarriedSettings, InstanceShape, SourceConfiguration
from aurora_ferry.migration import parse_migration_request
from aurora_ferry.preflight.carried import check_carried_settings
from aurora_ferry.preflight.context import FoundSource, Preflight, TargetAccount
from tests.conftest import load_event

pytestmark = pytest.mark.unit

ROLE = "arn:aws:iam::111111111111:role/orders-s3-import"


def _checked(configuration: SourceConfiguration, **target_fields: Any) -> list[tuple[str, str, str]]:
    """The (severity, resource, message) findings of the check for migrate-cmk.json's target."""
    event = load_event("migrate-cmk.json")
    event["targets"][0].update(target_fields)
    request = parse_migration_request(event)
    preflight = Preflight(request, "run-1")
    preflight.source = FoundSource(
        "cluster", "orders", True, None, "customer-key", None, configuration.engine, configuration
    )
    target = request.targets[0]
    access = AccountAccess(target.account_id, request.source.region, target.role_arn)
    check_carried_settings(preflight, TargetAccount(access, mock.Mock(), 0, target))
    return [(f.severity, f.resource, f.message) for f in preflight.findings]


def _source(**fields: Any) -> SourceConfiguration:
    base = SourceConfiguration(
        engine="aurora-postgresql",
        origin="cluster",
        settings=CarriedSettings(port=5432),
        instances=(InstanceShape(instance_class="db.r6g.large", writer=True),),
    )
    return dataclasses.replace(base, **fields)


def test_a_source_with_nothing_of_its_own_account_gives_no_warning() -> None:
    # Given a source on the default subnet group, no security groups, no roles, no custom groups
    # When the check runs / Then it finds nothing to warn about
    assert _checked(_source(db_subnet_group="default")) == []


def test_each_dropped_resource_of_the_source_account_is_a_warning_naming_the_mapping_field() -> None:
    # Given a source with its own subnet group, security group and an associated IAM role
    source = _source(
        db_subnet_group="prod-private", vpc_security_group_ids=("sg-0a1b",), associated_roles=(ROLE,)
    )
    # When the check runs for a target that maps none of them
    findings = _checked(source)
    # Then each is a warning, naming the source's value and the target's field that would place it
    assert [(severity, resource) for severity, resource, _ in findings] == [
        ("warning", "DBSubnetGroupName"),
        ("warning", "VpcSecurityGroupIds"),
        ("warning", "AssociatedRoles"),
    ]
    messages = " ".join(message for _, _, message in findings)
    assert "prod-private" in messages and "targets[].dbSubnetGroupName" in messages
    assert ROLE in messages and "rds:AddRoleToDBCluster" in messages


def test_a_mapped_setting_is_no_longer_a_warning() -> None:
    # Given the same source, and a target that gives its own subnet group and security groups
    source = _source(db_subnet_group="prod-private", vpc_security_group_ids=("sg-0a1b",))
    # When the check runs / Then nothing is dropped
    assert (
        _checked(source, dbSubnetGroupName="dev-private", vpcSecurityGroupIds=["sg-0123456789abcdef0"]) == []
    )


def test_backtrack_on_an_engine_without_it_and_groups_left_to_the_defaults_are_warnings() -> None:
    # Given an Aurora PostgreSQL source reporting a backtrack window, with custom cluster and instance groups,
    # and a target that asks for the defaults' groups (parameterGroups "default")
    source = _source(
        settings=CarriedSettings(backtrack_window=3600),
        db_cluster_parameter_group="orders-cluster",
        instances=(
            InstanceShape(instance_class="db.r6g.large", writer=True, parameter_group="orders-instances"),
        ),
    )
    # When the check runs
    findings = _checked(source, parameterGroups="default")
    # Then the three are warnings
    assert {resource for _, resource, _ in findings} == {
        "BacktrackWindow",
        "DBClusterParameterGroupName",
        "DBParameterGroupName (instances)",
    }
    # And with the groups replicated (the default), only the backtrack window is
    assert [resource for _, resource, _ in _checked(source)] == ["BacktrackWindow"]
