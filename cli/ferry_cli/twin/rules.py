"""Documented Aurora / KMS rules that moto 5.x does not model, enforced in the local twin.

``aws_rules(clock, durations)`` patches moto's backend classes (``moto.rds.models`` and
``moto.kms.models``) for as long as it is active, and undoes every patch on exit. The rules are the
ones a cross-account Aurora migration trips over in real AWS: resources take time to become
available, shared snapshots are only visible through their ARN and only to the accounts they were
shared with, snapshots encrypted with the AWS managed ``aws/rds`` key cannot leave their account,
and a cross-account copy needs the key owner's key policy to let the target account use the key.

The rules live by family, each citing the AWS documentation it follows:

- ferry_cli.twin.lifecycle: rule 1, the registry of resources on their way to ``available``;
- ferry_cli.twin.clusters: CreateDBCluster / CreateDBInstance, existing identifiers, snapshottable clusters;
- ferry_cli.twin.snapshots: rules 2, 3 and 4, create / copy / delete / share / restore a cluster snapshot;
- ferry_cli.twin.kms: rules 5 and 6, the ``aws/rds`` key and whether an account may use a key;
- ferry_cli.twin.instance_rules: CreateDBInstance's Serverless v2, Performance Insights and monitoring rules;
- ferry_cli.twin.parameter_groups: parameter groups (modify limits and apply methods, missing and in-use groups).

Each patched moto class gets one patch class (ferry_cli.twin.patching): :class:`RdsBackendRules` for
``RDSBackend`` (the cluster and snapshot families together), ``ClusterStatusRule`` for ``DBCluster.status``
and ``KmsRules`` for ``KmsBackend``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ferry_cli.twin.atomic import atomic_rds_calls
from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.clusters import ClusterRules
from ferry_cli.twin.instance_rules import InstanceRules
from ferry_cli.twin.kms import KmsRules, default_rds_key_arn, symmetric_keys_share_one_rsa_key
from ferry_cli.twin.lifecycle import ClusterStatusRule, Durations, Transition, TwinRegistry
from ferry_cli.twin.parameter_groups import InstanceParameterStatusRule, ParameterGroupRules
from ferry_cli.twin.snapshots import MAX_COPIES_IN_PROGRESS, SnapshotRules

# The entry point and the RDSBackend patch; the rest is re-exported from the family modules for the callers
# that import it from here.
__all__ = [
    "MAX_COPIES_IN_PROGRESS",
    "Durations",
    "RdsBackendRules",
    "Transition",
    "TwinRegistry",
    "aws_rules",
    "default_rds_key_arn",
]


class RdsBackendRules(InstanceRules, ParameterGroupRules, SnapshotRules, ClusterRules):
    """The twin's one patch of ``RDSBackend``: the parameter group, snapshot and cluster families (the parameter
    group family's create_db_cluster checks the group, then the cluster family's makes the cluster)."""

    replaces = (
        InstanceRules.replaces + ParameterGroupRules.replaces + SnapshotRules.replaces + ClusterRules.replaces
    )
    advance_first = SnapshotRules.advance_first + ClusterRules.advance_first


@contextmanager
def aws_rules(clock: TwinClock, durations: Durations | None = None) -> Iterator[TwinRegistry]:
    """Enforce the twin's Aurora / KMS rules on moto while the context is active.

    Yields the :class:`TwinRegistry` (``settle_all()``, ``pending()``, ``advance()``). Use inside
    ``mock_aws()``. Not re-entrant: the patches are process-wide class attributes.
    """
    registry = TwinRegistry(clock)
    with (
        RdsBackendRules(registry, durations or Durations()).installed(),
        ClusterStatusRule(registry).installed(),
        InstanceParameterStatusRule().installed(),
        KmsRules().installed(),
        symmetric_keys_share_one_rsa_key(),
        # Last, so that it wraps the rules' own RDSBackend methods too.
        atomic_rds_calls(),
    ):
        yield registry
