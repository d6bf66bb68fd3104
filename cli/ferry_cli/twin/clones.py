"""Aurora cloning rules that moto 5.x does not model, enforced in the local twin (with its RAM rules).

``clone_rules(clock, world)`` patches moto's RDS and RAM backends for as long as it is active (the runtime
enters it next to ``aws_rules``) and undoes every patch on exit. moto 5.2 has RestoreDBClusterToPointInTime
with RestoreType copy-on-write, but it clones any cluster in the caller's own account, ignores who owns a
cluster ARN, always reports ``CrossAccountClone: false`` and has no clone groups. The RAM side (invitations,
association status, no re-sharing) is ferry_cli.twin.ram; the twin adds here:

1. Cross-account clone by the cluster's full ARN, only once the share is associated (accepted or in the
   organization); before that the ARN is "not found", as documented.
2. The clone limits: only an available cluster with at least one DB instance; no KmsKeyId for an unencrypted
   source; across accounts, not under the default aws/rds key, a KmsKeyId for an encrypted source, the
   source key usable by the caller, one cross-account clone per account per clone group, at most 15
   cross-account clones per clone group; within one account the 16th clone is a full copy (outside the group).
3. ``CloneGroupId`` on source and clones, and ``CrossAccountClone`` true on a cross-account clone.

Each rule cites the AWS documentation it follows. Exact error codes for the clone refusals are not published;
the twin uses the closest documented RDS fault and says why in the message. :class:`CloneRules` patches
``RDSBackend`` and :class:`CrossAccountCloneFlag` ``DBCluster.cross_account_clone``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.rds.exceptions import (
    DBClusterNotFoundError,
    InvalidDBClusterStateFault,
    InvalidParameterCombination,
    InvalidParameterValue,
)
from moto.rds.models import DBCluster, RDSBackend, rds_backends

from ferry_cli.twin.arns import parse_rds_arn
from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.kms import CROSS_ACCOUNT_COPY_ACTIONS, check_key_usable, is_default_rds_key
from ferry_cli.twin.patching import MotoPatch
from ferry_cli.twin.ram import RamRegistry, ram_rules
from ferry_cli.twin.world import World

__all__ = [
    "MAX_COPY_ON_WRITE_CLONES",
    "MAX_CROSS_ACCOUNT_CLONES",
    "CloneRegistry",
    "CloneRules",
    "CrossAccountCloneFlag",
    "clone_rules",
]

CLONE_DOC = "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.html"
CROSS_ACCOUNT_DOC = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.Cross-Account.html"
)
RESTORE_PITR_DOC = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBClusterToPointInTime.html"
)

# "You can create a maximum of 15 cross-account clones from any single Aurora DB cluster."
# (CROSS_ACCOUNT_DOC#Aurora.Managing.Clone.CrossAccount.Limitations) and "You can create up to 15 clones with
# copy-on-write protocol. After you have 15 clones, the next clone that you create is a full copy."
# (CLONE_DOC#Aurora.Managing.Clone.Limitations)
MAX_CROSS_ACCOUNT_CLONES = 15
MAX_COPY_ON_WRITE_CLONES = 15

CloneRegistry = RamRegistry
"""What ``clone_rules`` yields: the RAM registry (ferry_cli.twin.ram), whose shares decide who may clone."""

_TWIN_CLONE_ATTRIBUTES = ("clone_group_id", "_twin_cross_account_clone")


class CloneRules(MotoPatch):
    """The twin's clone patch of ``RDSBackend``: RestoreDBClusterToPointInTime (rules 1, 2 and 3)."""

    target = RDSBackend
    replaces = ("restore_db_cluster_to_point_in_time",)

    def __init__(self, registry: RamRegistry, accounts: list[str]) -> None:
        super().__init__()
        self.registry = registry
        self.accounts = accounts

    def restore_db_cluster_to_point_in_time(
        self,
        backend: Any,
        db_cluster_identifier: str,
        source_db_cluster_identifier: str,
        restore_type: str = "full-copy",
        restore_to_time: Any = None,
        use_latest_restorable_time: bool = False,
        **overrides: Any,
    ) -> Any:
        """Rules 1, 2 and 3 for RestoreDBClusterToPointInTime (RESTORE_PITR_DOC, CLONE_DOC, CROSS_ACCOUNT_DOC)."""
        if restore_to_time is not None and use_latest_restorable_time:
            raise InvalidParameterCombination("Cannot specify both RestoreToTime and UseLatestRestorableTime")
        source, cross = self._source(backend, source_db_cluster_identifier)
        copy_on_write = restore_type == "copy-on-write"
        if copy_on_write:
            if restore_to_time is not None:
                raise InvalidParameterCombination(
                    "RestoreToTime cannot be specified when RestoreType is copy-on-write"
                )
            _check_cloneable(source)
        kms_key_id = overrides.get("kms_key_id")
        encrypted = bool(getattr(source, "storage_encrypted", False))
        if kms_key_id and not encrypted:
            # "If DBClusterIdentifier refers to a DB cluster that isn't encrypted, then the restore request is
            # rejected." (RESTORE_PITR_DOC, KmsKeyId)
            raise InvalidParameterCombination(
                f"Cannot specify KmsKeyId: source DB cluster {source.db_cluster_identifier} is not encrypted."
            )
        group = getattr(source, "clone_group_id", None)
        if cross:
            self._check_cross_account(backend, source, kms_key_id, encrypted, group)
        props = _clone_properties(source, cross)
        props.update(overrides)
        props["db_cluster_identifier"] = db_cluster_identifier
        siblings = [c for c in self._clusters(backend.region_name) if group and _group_of(c) == group]
        in_group = copy_on_write and (
            cross or len([c for c in siblings if c is not source]) < MAX_COPY_ON_WRITE_CLONES
        )
        # create_db_cluster is the twin's (ferry_cli.twin.clusters): key checks, then "creating" on the clock.
        clone = backend.create_db_cluster(props)
        if in_group:
            group = group or f"clone-group-{uuid.uuid4()}"
            setattr(source, "clone_group_id", group)  # noqa: B010 - moto's DBCluster has no such attribute
            setattr(clone, "clone_group_id", group)  # noqa: B010
        setattr(clone, "_twin_cross_account_clone", cross)  # noqa: B010
        return clone

    def _source(self, backend: Any, identifier: str) -> tuple[Any, bool]:
        """The source cluster (as of the twin's time) and whether it belongs to another account (rule 1)."""
        arn = parse_rds_arn(identifier)
        if arn is None or arn.service != "rds" or arn.resource_type != "cluster":
            return backend.describe_db_clusters(db_cluster_identifier=identifier)[0], False
        if arn.account == backend.account_id:
            return backend.describe_db_clusters(db_cluster_identifier=identifier)[0], False
        owner = rds_backends[arn.account][arn.region]
        source = owner.clusters.get(arn.identifier.lower())
        # "If the ARN passed as the SourceDBClusterIdentifier hasn't been shared, then the same error is
        # returned as if the specified cluster doesn't exist." (CROSS_ACCOUNT_DOC)
        if source is None or not self.registry.shared_with(source.arn, backend.account_id):
            raise DBClusterNotFoundError(identifier)
        if arn.region != backend.region_name:
            # "You can't create a clone in a different AWS Region from the source" (CLONE_DOC)
            raise InvalidParameterValue(
                f"Twin: can't clone {identifier} from {arn.region} into {backend.region_name}; "
                "Aurora clones stay in the source cluster's Region."
            )
        # Through describe, so the twin's clock has moved the cluster on (ferry_cli.twin.lifecycle).
        return owner.describe_db_clusters(db_cluster_identifier=arn.identifier)[0], True

    def _clusters(self, region: str) -> list[Any]:
        found: list[Any] = []
        for account in self.accounts:
            found.extend(rds_backends[account][region].clusters.values())
        return found

    def _check_cross_account(
        self, backend: Any, source: Any, kms_key_id: str | None, encrypted: bool, group: str | None
    ) -> None:
        """Rule 2 across accounts (CROSS_ACCOUNT_DOC#Aurora.Managing.Clone.CrossAccount.Limitations)."""
        caller = backend.account_id
        if encrypted and is_default_rds_key(source.kms_key_id, source.account_id, source.region):
            # "You can't create a cross-account clone of a cluster that is encrypted with the default RDS key."
            raise InvalidParameterValue(
                f"You can't create a cross-account clone of DB cluster {source.arn}: it is encrypted with the "
                "default RDS key (alias/aws/rds) of its account."
            )
        if encrypted and not kms_key_id:
            # "You can't create nonencrypted clones in one AWS account from encrypted Aurora DB clusters that
            # have been shared by another AWS account."
            raise InvalidParameterCombination(
                f"DB cluster {source.arn} is encrypted and shared from another account: specify KmsKeyId."
            )
        if encrypted:
            # "The cluster owner must grant permission to access the source cluster's AWS KMS key."
            check_key_usable(
                source.kms_key_id, caller, source.region, "source cluster", CROSS_ACCOUNT_COPY_ACTIONS
            )
        if not group:
            return
        cross_clones = [
            c
            for c in self._clusters(source.region)
            if _group_of(c) == group and getattr(c, "_twin_cross_account_clone", False)
        ]
        if any(c.account_id == caller for c in cross_clones):
            # "you can only create one cross-account clone of a cluster within any AWS account" and "the
            # original cluster and its clone are considered to be the same for purposes of enforcing limits"
            raise InvalidDBClusterStateFault(
                f"Account {caller} already has a cross-account clone of DB cluster {source.arn} (or of its "
                "clone group); only one cross-account clone of a cluster is allowed per AWS account. (Twin; "
                "exact AWS message not published.)"
            )
        if len(cross_clones) >= MAX_CROSS_ACCOUNT_CLONES:
            raise InvalidDBClusterStateFault(
                f"DB cluster {source.arn} already has {len(cross_clones)} cross-account clones; the maximum is "
                f"{MAX_CROSS_ACCOUNT_CLONES}. (Twin; exact AWS message not published.)"
            )


class CrossAccountCloneFlag(MotoPatch):
    """Rule 3: "the CrossAccountClone field indicates whether the cluster is a clone of a DB cluster that is
    owned by another AWS account." (CROSS_ACCOUNT_DOC#Aurora.Managing.Clone.CrossAccount.checking)"""

    target = DBCluster
    creates = True

    def replacements(self) -> dict[str, Any]:
        return {"cross_account_clone": property(self.cross_account_clone)}

    @staticmethod
    def cross_account_clone(cluster: Any) -> bool:
        return bool(getattr(cluster, "_twin_cross_account_clone", False))


def _check_cloneable(source: Any) -> None:
    """Rule 2: only an available cluster with at least one DB instance can be cloned (CLONE_DOC)."""
    if source.status != "available":
        raise InvalidDBClusterStateFault(
            f"DB cluster {source.db_cluster_identifier} is {source.status}; only an available cluster "
            "can be cloned. (Twin; exact AWS message not published.)"
        )
    if not source.members:
        # "You can't create a clone from an Aurora DB cluster that has no DB instances." (CLONE_DOC)
        raise InvalidDBClusterStateFault(
            f"DB cluster {source.db_cluster_identifier} has no DB instances; you can only clone Aurora "
            "DB clusters that have at least one DB instance. (Twin, after the Aurora User Guide.)"
        )


def _clone_properties(source: Any, cross: bool) -> dict[str, Any]:
    """The source's settings as CreateDBCluster arguments, without the twin's own clone attributes."""
    props: dict[str, Any] = {}
    for key, value in source.__dict__.items():
        name = key[1:] if key.startswith("_") else key
        if key in _TWIN_CLONE_ATTRIBUTES or name in ("backend", "db_subnet_group", "vpc_security_group_ids"):
            continue
        props[name] = value
    if cross:
        # The owner's tags and networking are the owner's; the clone starts with what the caller gives.
        props["tags"] = []
        props.pop("db_subnet_group_name", None)
    return props


def _group_of(cluster: Any) -> str | None:
    group = getattr(cluster, "clone_group_id", None)
    return str(group) if group else None


@contextmanager
def clone_rules(clock: TwinClock, world: World) -> Iterator[RamRegistry]:
    """Enforce the twin's clone and RAM rules on moto while the context is active; yields the RAM registry.

    Use inside ``mock_aws()`` and after ``aws_rules`` (the clone is created through its create_db_cluster).
    Not re-entrant: the patches are process-wide class attributes.
    """
    accounts = [account.account_id for account in world.accounts]
    organizations = {account.account_id: account.organization_id for account in world.accounts}
    with (
        ram_rules(clock, organizations) as registry,
        CloneRules(registry, accounts).installed(),
        CrossAccountCloneFlag().installed(),
    ):
        yield registry
