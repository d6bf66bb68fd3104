"""Documented Aurora / KMS rules that moto 5.x does not model, enforced in the local twin.

``aws_rules(clock, durations)`` patches moto's backend classes (``moto.rds.models`` and
``moto.kms.models``) for as long as it is active, and undoes every patch on exit. The rules are the
ones a cross-account Aurora migration trips over in real AWS: resources take time to become
available, shared snapshots are only visible through their ARN and only to the accounts they were
shared with, snapshots encrypted with the AWS managed ``aws/rds`` key cannot leave their account,
and a cross-account copy needs the key owner's key policy to let the target account use the key.

Each rule below carries the URL of the AWS documentation it follows.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from unittest.mock import patch

from moto.kms.models import KmsBackend, kms_backends
from moto.rds.exceptions import (
    DBClusterSnapshotNotFoundError,
    InvalidDBClusterSnapshotStateFault,
    InvalidDBClusterStateFault,
    InvalidParameterCombination,
    InvalidParameterValue,
    KMSKeyNotAccessibleFault,
    RDSClientError,
    SharedSnapshotQuotaExceeded,
    SnapshotQuotaExceededFault,
)
from moto.rds.models import (
    KMS_ARN_PATTERN,
    DBCluster,
    RDSBackend,
    rds_backends,
)

from aurora_ferry.kms_policy import CROSS_ACCOUNT_COPY_ACTIONS, key_policy_allows
from ferry_cli.twin.clock import TwinClock

__all__ = [
    "CROSS_ACCOUNT_COPY_ACTIONS",
    "DEFAULT_RDS_KEY_ALIAS",
    "DEFAULT_RDS_KEY_DESCRIPTION",
    "MAX_COPIES_IN_PROGRESS",
    "MAX_SHARED_ACCOUNTS",
    "Durations",
    "PendingResource",
    "Transition",
    "TwinRegistry",
    "aws_rules",
    "default_rds_key_arn",
    "is_default_rds_key",
    "key_policy_allows",
]

DEFAULT_RDS_KEY_ALIAS = "alias/aws/rds"
DEFAULT_RDS_KEY_DESCRIPTION = "Default key that protects my RDS database volumes when no other key is defined"

# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-share-snapshot.html
# "You can share a manual snapshot with up to 20 other AWS accounts."
MAX_SHARED_ACCOUNTS = 20

# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-copy-snapshot.html
# "You can have up to five snapshot copy requests in progress to a single destination Region per account."
MAX_COPIES_IN_PROGRESS = 5

# Creating an RDS resource encrypted with a customer managed key needs these two:
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Overview.Encryption.Keys.html
_CREATE_WITH_KEY_ACTIONS: tuple[str, ...] = ("kms:CreateGrant", "kms:DescribeKey")

# moto's placeholder when a cluster is encrypted without a KmsKeyId; never a real key.
_MOTO_PLACEHOLDER_KEY = "default_kms_key_id"

ResourceKind = Literal["cluster-snapshot", "cluster", "instance"]


@dataclass(frozen=True)
class Durations:
    """How long (in twin seconds) each asynchronous Aurora operation takes in the twin."""

    snapshot_create: float = 600.0
    snapshot_copy: float = 900.0
    cluster_restore: float = 1200.0
    instance_create: float = 600.0


@dataclass(frozen=True)
class PendingResource:
    """A resource that is still on its way to ``available``."""

    kind: ResourceKind
    account_id: str
    region: str
    identifier: str
    status: str
    ready_at: datetime


@dataclass(frozen=True)
class Transition:
    """A tracked resource entering its busy status (``creating``/``copying``) or becoming ``available``.

    The twin turns these into the RDS events AWS would send (ferry_cli.twin.events); the benchmark reads
    ``ready_at`` (when the resource became available in twin time) from the finished ones.
    """

    kind: ResourceKind
    account_id: str
    region: str
    identifier: str
    arn: str
    status: str
    busy_status: str
    snapshot_type: str | None
    started_at: datetime
    ready_at: datetime


@dataclass
class _Tracked:
    kind: ResourceKind
    resource: Any
    started_at: datetime
    ready_at: datetime
    busy_status: str = "creating"

    def transition(self, status: str) -> Transition:
        resource = self.resource
        return Transition(
            kind=self.kind,
            account_id=str(resource.account_id),
            region=str(resource.region),
            identifier=str(resource.resource_id),
            arn=str(resource.arn),
            status=status,
            busy_status=self.busy_status,
            snapshot_type=getattr(resource, "snapshot_type", None)
            if self.kind == "cluster-snapshot"
            else None,
            started_at=self.started_at,
            ready_at=self.ready_at,
        )


class TwinRegistry:
    """Lifecycle of the resources created while the rules are active.

    Rule 1 (lifecycle). Aurora cluster snapshots, clusters and instances are asynchronous: the API
    call returns at once with a ``creating`` / ``copying`` status, and the resource becomes
    ``available`` later. moto makes everything available immediately (and flips a cluster to
    available on its first read), so a migration that forgets to wait would pass in moto and fail
    in AWS. Status values:
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html#Aurora.Status
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/accessing-monitoring.html#Overview.DBInstance.Status
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DBClusterSnapshot.html (PercentProgress)
    """

    def __init__(self, clock: TwinClock) -> None:
        self.clock = clock
        # Re-entrant: advance() runs inside patched moto calls that may call each other.
        self._lock = threading.RLock()
        self._tracked: dict[int, _Tracked] = {}
        # Called with every Transition, outside the lock; listeners must not block (they enqueue).
        self._listeners: list[Callable[[Transition], None]] = []
        # Every resource that became available, in order (the benchmark's ready times).
        self.finished: list[Transition] = []
        # Set whenever a new resource is tracked, so a ticker waiting for the next ready time re-plans.
        self.changed = threading.Event()

    def add_listener(self, listener: Callable[[Transition], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Transition], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self, transitions: list[Transition]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for transition in transitions:
            for listener in listeners:
                listener(transition)

    def next_ready_at(self) -> datetime | None:
        """Twin time at which the next tracked resource becomes available (None if nothing is pending)."""
        with self._lock:
            return min((t.ready_at for t in self._tracked.values()), default=None)

    def copies_in_progress(self, account_id: str, region: str) -> int:
        """Cluster snapshot copies ("copying") the account has in progress in the Region."""
        with self._lock:
            return sum(
                1
                for t in self._tracked.values()
                if t.kind == "cluster-snapshot"
                and t.busy_status == "copying"
                and t.resource.account_id == account_id
                and t.resource.region == region
            )

    def track(self, kind: ResourceKind, resource: Any, busy_status: str, duration: float) -> None:
        """Put ``resource`` in ``busy_status`` until ``duration`` twin seconds have passed."""
        with self._lock:
            now = self.clock.now()
            ready_at = now + timedelta(seconds=max(0.0, duration))
            if kind == "instance":
                # AWS finishes an Aurora instance only once its cluster is available; keep it simple
                # and make the instance ready at the later of the two ready times.
                cluster_ready = self.ready_at(getattr(resource, "cluster", None))
                if cluster_ready is not None and cluster_ready > ready_at:
                    ready_at = cluster_ready
            self._set_status(kind, resource, busy_status)
            if kind == "cluster-snapshot":
                resource.percent_progress = 0
            tracked = _Tracked(kind, resource, now, ready_at, busy_status)
            self._tracked[id(resource)] = tracked
            started = tracked.transition(busy_status)
        self.changed.set()
        self._notify([started])

    def is_tracked(self, resource: Any) -> bool:
        with self._lock:
            return resource is not None and id(resource) in self._tracked

    def ready_at(self, resource: Any) -> datetime | None:
        """Twin time at which a tracked resource becomes available (None if not in progress)."""
        if resource is None:
            return None
        with self._lock:
            tracked = self._tracked.get(id(resource))
            return None if tracked is None else tracked.ready_at

    def forget(self, resource: Any) -> None:
        with self._lock:
            self._tracked.pop(id(resource), None)

    def advance(self) -> None:
        """Make every resource whose ready time has passed available; update snapshot progress."""
        finished_now: list[Transition] = []
        with self._lock:
            now = self.clock.now()
            # Clusters first, so that their instances can finish in the same pass.
            order: dict[ResourceKind, int] = {"cluster": 0, "cluster-snapshot": 1, "instance": 2}
            for key, tracked in sorted(self._tracked.items(), key=lambda item: order[item[1].kind]):
                if not _still_exists(tracked):
                    del self._tracked[key]
                    continue
                cluster = getattr(tracked.resource, "cluster", None) if tracked.kind == "instance" else None
                if now >= tracked.ready_at and not self.is_tracked(cluster):
                    self._finish(tracked)
                    del self._tracked[key]
                    finished_now.append(tracked.transition("available"))
                elif tracked.kind == "cluster-snapshot":
                    total = (tracked.ready_at - tracked.started_at).total_seconds()
                    done = (now - tracked.started_at).total_seconds()
                    # Linear progress, never 100 before the snapshot is actually available.
                    tracked.resource.percent_progress = min(99, int(100 * done / total)) if total > 0 else 99
            self.finished.extend(finished_now)
        if finished_now:
            self._notify(finished_now)

    def settle_all(self) -> None:
        """Make everything available now (world setup: the starting estate is already built)."""
        with self._lock:
            for tracked in self._tracked.values():
                self._finish(tracked)
            self._tracked.clear()

    def pending(self) -> list[PendingResource]:
        """What is still in progress, soonest first."""
        self.advance()
        with self._lock:
            items = [
                PendingResource(
                    kind=t.kind,
                    account_id=t.resource.account_id,
                    region=t.resource.region,
                    identifier=t.resource.resource_id,
                    status=_get_status(t.kind, t.resource),
                    ready_at=t.ready_at,
                )
                for t in self._tracked.values()
            ]
        return sorted(items, key=lambda p: (p.ready_at, p.kind, p.identifier))

    @staticmethod
    def _finish(tracked: _Tracked) -> None:
        TwinRegistry._set_status(tracked.kind, tracked.resource, "available")
        if tracked.kind == "cluster-snapshot":
            tracked.resource.percent_progress = 100

    @staticmethod
    def _set_status(kind: ResourceKind, resource: Any, status: str) -> None:
        if kind == "cluster":
            # Bypass DBCluster.status: it is a property (patched while the rules are active).
            resource._status = status
        else:
            resource.status = status


def _get_status(kind: ResourceKind, resource: Any) -> str:
    return str(resource._status if kind == "cluster" else resource.status)


def _still_exists(tracked: _Tracked) -> bool:
    """Deleted resources drop out of the registry instead of lingering in pending()."""
    resource = tracked.resource
    backend = resource.backend
    store: Any = {
        "cluster-snapshot": backend.cluster_snapshots,
        "cluster": backend.clusters,
        "instance": backend.databases,
    }[tracked.kind]
    return bool(store.get(resource.resource_id) is resource)


# --------------------------------------------------------------------------------------------------
# Rule 5: the AWS managed default key alias/aws/rds
# --------------------------------------------------------------------------------------------------

_default_key_lock = threading.Lock()


def _aws_managed_rds_key_policy(account_id: str, region: str) -> str:
    """The key policy AWS attaches to aws/rds: only the owning account, only through RDS.

    AWS managed keys' policies can't be changed and only allow the account that owns them:
    https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-cmk
    """
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Id": "auto-rds-2",
            "Statement": [
                {
                    "Sid": "Allow access through RDS for all principals in the account that are "
                    "authorized to use RDS",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:CreateGrant",
                        "kms:ListGrants",
                        "kms:DescribeKey",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:CallerAccount": account_id,
                            "kms:ViaService": f"rds.{region}.amazonaws.com",
                        }
                    },
                },
                {
                    "Sid": "Allow direct access to key metadata to the account",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
                    "Resource": "*",
                },
            ],
        }
    )


def _make_aws_managed(key: Any, account_id: str, region: str) -> None:
    key.key_manager = "AWS"
    key.description = DEFAULT_RDS_KEY_DESCRIPTION
    key.policy = _aws_managed_rds_key_policy(account_id, region)


def default_rds_key_arn(account_id: str, region: str) -> str:
    """ARN of the account's AWS managed ``aws/rds`` key in ``region``, created on first use.

    RDS encrypts with this key when ``StorageEncrypted`` is true and no ``KmsKeyId`` is given:
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Overview.Encryption.Keys.html
    moto's API refuses ``aws/`` aliases and, when one is looked up, invents a customer managed key
    called "Default key"; the twin builds (or corrects) the key on the backend objects directly.
    """
    backend: KmsBackend = kms_backends[account_id][region]
    with _default_key_lock:
        for key in backend.keys.values():
            if DEFAULT_RDS_KEY_ALIAS in key.aliases:
                if key.key_manager != "AWS":
                    _make_aws_managed(key, account_id, region)
                return str(key.arn)
        key = backend.create_key(
            policy=_aws_managed_rds_key_policy(account_id, region),
            key_usage="ENCRYPT_DECRYPT",
            key_spec="SYMMETRIC_DEFAULT",
            description=DEFAULT_RDS_KEY_DESCRIPTION,
            tags=None,
        )
        _make_aws_managed(key, account_id, region)
        backend.create_alias(key.id, DEFAULT_RDS_KEY_ALIAS)
        return str(key.arn)


def _find_key(key_id_or_arn: str, account_id: str, region: str) -> Any | None:
    """The moto key object for a key id, key ARN, alias name or alias ARN (None if unknown).

    Never creates a key: a lookup must not have side effects.
    """
    if key_id_or_arn.startswith("arn:"):
        parts = key_id_or_arn.split(":", 5)
        if len(parts) < 6:
            return None
        region, account_id, resource = parts[3], parts[4], parts[5]
        key_id_or_arn = resource if resource.startswith("alias/") else resource.removeprefix("key/")
    backend: KmsBackend = kms_backends[account_id][region]
    if key_id_or_arn.startswith("alias/"):
        for key in backend.keys.values():
            if key_id_or_arn in key.aliases:
                return key
        return None
    return backend.keys.get(key_id_or_arn)


def is_default_rds_key(key_id_or_arn: str | None, account: str, region: str) -> bool:
    """True if the key is an account's AWS managed ``aws/rds`` key.

    ``account`` and ``region`` resolve bare key ids and alias names; an ARN names its own.
    """
    if not key_id_or_arn:
        return False
    if key_id_or_arn == DEFAULT_RDS_KEY_ALIAS or key_id_or_arn.endswith(":" + DEFAULT_RDS_KEY_ALIAS):
        return True
    key = _find_key(key_id_or_arn, account, region)
    return key is not None and DEFAULT_RDS_KEY_ALIAS in key.aliases


# --------------------------------------------------------------------------------------------------
# Rule 6: key policy evaluation for cross-account key use
# --------------------------------------------------------------------------------------------------
# The evaluator itself (principals, actions with wildcards, explicit deny, kms:ViaService region and the
# other statically known condition keys) is aurora_ferry.kms_policy.key_policy_allows: the preflight runs
# the same code against real key policies, and runtime code must not import the twin.


def _kms_not_accessible(key_ref: str, message: str) -> KMSKeyNotAccessibleFault:
    fault = KMSKeyNotAccessibleFault(key_ref)
    fault.message = message
    fault.args = (message,)
    return fault


def _key_account_region(key_ref: str) -> tuple[str, str] | None:
    """(account, region) named by a key ARN or alias ARN; None for a bare key id or alias name."""
    match = re.fullmatch(KMS_ARN_PATTERN, key_ref)
    if match is not None:
        return match.group("account_id"), match.group("region")
    parts = key_ref.split(":", 5)
    if key_ref.startswith("arn:") and len(parts) == 6 and parts[5].startswith("alias/"):
        return parts[4], parts[3]
    return None


def _check_key_usable(
    key_ref: str | None,
    caller_account: str,
    region: str,
    role: str,
    actions: tuple[str, ...],
) -> None:
    """Raise KMSKeyNotAccessibleFault unless ``caller_account`` may use the key in ``region``.

    ``role`` is "source snapshot" or "target" and only shapes the message, which follows the one
    RDS returns ("The source snapshot KMS key [...] does not exist, is not enabled or you do not
    have permissions to access it.").
    """
    if not key_ref or key_ref == _MOTO_PLACEHOLDER_KEY:
        return
    prefix = (
        f"The {role} KMS key [{key_ref}] does not exist, is not enabled or you do not have "
        "permissions to access it."
    )
    owner_region = _key_account_region(key_ref)
    owner, key_region = owner_region if owner_region is not None else (caller_account, region)
    # "KMS keys are specific to the AWS Region that they are created in, and you can't use KMS keys
    # from one AWS Region in another AWS Region."
    # https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBClusterSnapshot.html
    if key_region != region:
        raise _kms_not_accessible(
            key_ref, f"{prefix} Twin: the key is in {key_region}, the call in {region}."
        )
    key = _find_key(key_ref, owner, key_region)
    if key is None:
        raise _kms_not_accessible(key_ref, prefix)
    # Disabled keys and keys pending deletion can't be used in cryptographic operations:
    # https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
    if key.key_state != "Enabled":
        raise _kms_not_accessible(key_ref, f"{prefix} Twin: the key state is {key.key_state}.")
    if owner == caller_account:
        return
    # AWS managed keys (aws/rds) can only be used by the account that owns them:
    # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/share-encrypted-snapshot.html
    if key.key_manager == "AWS" or DEFAULT_RDS_KEY_ALIAS in key.aliases:
        raise _kms_not_accessible(
            key_ref,
            f"{prefix} Twin: {key_ref} is the AWS managed key of account {owner}; AWS managed keys "
            f"can't be used from account {caller_account}.",
        )
    try:
        policy = json.loads(key.policy)
    except (TypeError, ValueError):
        policy = {}
    missing = key_policy_allows(policy if isinstance(policy, dict) else {}, caller_account, region, actions)
    if missing:
        raise _kms_not_accessible(
            key_ref,
            f"{prefix} Twin: the key policy of {key_ref} (owned by account {owner}) does not allow "
            f"account {caller_account}: {', '.join(missing)}.",
        )


# --------------------------------------------------------------------------------------------------
# Rule 3: cross-account visibility of snapshots
# --------------------------------------------------------------------------------------------------


def _is_encrypted(snapshot: Any) -> bool:
    return bool(getattr(snapshot, "storage_encrypted", False) or getattr(snapshot, "encrypted", False))


def _shared_with(snapshot: Any, account_id: str) -> bool:
    """A manual snapshot is visible to the accounts in its ``restore`` attribute; ``all`` makes an
    unencrypted snapshot public (encrypted snapshots can't be public).
    https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-share-snapshot.html
    """
    restore = list(snapshot.attributes.get("restore", []))
    return account_id in restore or ("all" in restore and not _is_encrypted(snapshot))


def _arn_owner(identifier: str | None) -> tuple[str, str, str] | None:
    """(region, account, resource id) of an RDS ARN, None for a bare identifier."""
    if not identifier or not identifier.startswith("arn:"):
        return None
    parts = identifier.split(":", 6)
    if len(parts) < 7:
        return None
    return parts[3], parts[4], parts[6]


# --------------------------------------------------------------------------------------------------
# The patches
# --------------------------------------------------------------------------------------------------

_active_lock = threading.Lock()
_active = False


def _build_patches(registry: TwinRegistry, durations: Durations) -> dict[tuple[type, str], Any]:
    """Replacement methods, closing over the registry; keyed by (class, attribute name)."""
    orig: dict[str, Callable[..., Any]] = {
        name: getattr(RDSBackend, name)
        for name in (
            "get_snapshot",
            "create_db_cluster_snapshot",
            "copy_db_cluster_snapshot",
            "delete_db_cluster_snapshot",
            "describe_db_cluster_snapshots",
            "describe_db_cluster_snapshot_attributes",
            "modify_db_cluster_snapshot_attribute",
            "restore_db_cluster_from_snapshot",
            "create_db_cluster",
            "create_db_instance",
            "describe_db_clusters",
            "describe_db_instances",
        )
    }
    orig_generate_default_keys: Callable[..., Any] = KmsBackend._generate_default_keys
    patches: dict[tuple[type, str], Any] = {}

    def advance_first(name: str) -> Callable[..., Any]:
        method = getattr(RDSBackend, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            registry.advance()
            return method(self, *args, **kwargs)

        wrapper.__name__ = name
        return wrapper

    # Every read and every state-dependent call sees statuses as of the current twin time.
    for name in (
        "describe_db_clusters",
        "describe_db_instances",
        "describe_db_cluster_snapshot_attributes",
        "delete_db_cluster",
        "delete_db_instance",
        "start_db_cluster",
        "stop_db_cluster",
    ):
        patches[(RDSBackend, name)] = advance_first(name)

    orig_modify_db_cluster: Callable[..., Any] = RDSBackend.modify_db_cluster

    def modify_db_cluster(self: Any, kwargs: dict[str, Any]) -> Any:
        """moto marks a modified cluster available at once; a cluster still being created stays
        creating until the registry says otherwise (rule 1)."""
        registry.advance()
        cluster = self.clusters.get(kwargs.get("db_cluster_identifier") or "")
        busy = cluster._status if cluster is not None and registry.is_tracked(cluster) else None
        result = orig_modify_db_cluster(self, kwargs)
        if busy is not None:
            cluster._status = busy
        return result

    patches[(RDSBackend, "modify_db_cluster")] = modify_db_cluster

    # Rule 1: DBCluster.status flips "creating" to "available" on its first read in moto. In the
    # twin the registry decides; clusters that the twin did not create keep moto's behaviour.
    def _cluster_status_get(self: Any) -> str:
        if self._status == "creating" and not registry.is_tracked(self):
            self._status = "available"
            return "creating"
        return str(self._status)

    def _cluster_status_set(self: Any, value: str) -> None:
        self._status = value

    patches[(DBCluster, "status")] = property(_cluster_status_get, _cluster_status_set)

    def get_snapshot(self: Any, identifier: str, resource_type: Any, not_found_exception: Any) -> Any:
        """Rule 3. moto ignores the account in a snapshot ARN and looks in the caller's own account.

        AWS: another account's snapshot is reachable only by its ARN, and only by the accounts it
        was shared with. https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-share-snapshot.html
        """
        owner = _arn_owner(identifier)
        if owner is not None and owner[1] != self.account_id:
            region, account, snapshot_id = owner
            snapshots = rds_backends[account][region].resource_map[resource_type]
            snapshot = snapshots.get(snapshot_id)
            if snapshot is None or not _shared_with(snapshot, self.account_id):
                raise not_found_exception(identifier)
            return snapshot
        return orig["get_snapshot"](self, identifier, resource_type, not_found_exception)

    patches[(RDSBackend, "get_snapshot")] = get_snapshot

    def describe_db_cluster_snapshots(
        self: Any,
        db_cluster_identifier: str | None = None,
        db_snapshot_identifier: str | None = None,
        snapshot_type: str | None = None,
        filters: Any = None,
    ) -> Any:
        """Rule 1 (advance first) and rule 3: an ARN identifier resolves like get_snapshot.

        moto filters on the bare identifier, so an ARN (own or shared) never matched; the
        restore call for a shared snapshot must use the ARN in AWS:
        https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/aurora-share-snapshot.html
        """
        registry.advance()
        if db_snapshot_identifier and db_snapshot_identifier.startswith("arn:"):
            return [self.get_db_cluster_snapshot(db_snapshot_identifier)]
        return orig["describe_db_cluster_snapshots"](
            self, db_cluster_identifier, db_snapshot_identifier, snapshot_type, filters
        )

    patches[(RDSBackend, "describe_db_cluster_snapshots")] = describe_db_cluster_snapshots

    def create_db_cluster_snapshot(self: Any, *args: Any, **kwargs: Any) -> Any:
        """Rule 1: a manual snapshot is "creating" for ``durations.snapshot_create``.
        Automated snapshots (made with the cluster) stay available, as moto makes them.
        """
        registry.advance()
        cluster_id = kwargs.get("db_cluster_identifier", args[0] if args else None)
        cluster = self.clusters.get(cluster_id) if cluster_id else None
        manual = kwargs.get("snapshot_type", args[2] if len(args) > 2 else "manual") == "manual"
        if manual and cluster is not None and cluster._status != "available":
            # "The DB cluster must be in the available state": a stopped (or still busy) cluster is refused.
            # https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBClusterSnapshot.html
            raise InvalidDBClusterStateFault(
                f"Cannot create a snapshot of DB cluster {cluster_id}: it is {cluster._status}, not available."
            )
        snapshot = orig["create_db_cluster_snapshot"](self, *args, **kwargs)
        if snapshot.snapshot_type == "manual":
            registry.track("cluster-snapshot", snapshot, "creating", durations.snapshot_create)
        return snapshot

    patches[(RDSBackend, "create_db_cluster_snapshot")] = create_db_cluster_snapshot

    def copy_db_cluster_snapshot(
        self: Any,
        source_db_cluster_snapshot_identifier: str,
        target_db_cluster_snapshot_identifier: str,
        kms_key_id: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Rules 1, 2, 3, 5 and 6 for CopyDBClusterSnapshot.
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBClusterSnapshot.html
        """
        registry.advance()
        source = self.get_db_cluster_snapshot(source_db_cluster_snapshot_identifier)
        # Rule 2: "Must specify a valid system snapshot in the available state."
        _require_available(source, "copy")
        # Rule 7: at most five copies in progress per destination Region and account (MAX_COPIES_IN_PROGRESS).
        # AWS's exact answer is not published; the twin refuses with SnapshotQuotaExceeded, the quota fault
        # CopyDBClusterSnapshot documents.
        in_progress = registry.copies_in_progress(self.account_id, self.region_name)
        if in_progress >= MAX_COPIES_IN_PROGRESS:
            fault = SnapshotQuotaExceededFault()
            message = (
                f"Cannot copy to {target_db_cluster_snapshot_identifier}: {in_progress} DB cluster snapshot "
                f"copies are already in progress in {self.region_name} for account {self.account_id} (at most "
                f"{MAX_COPIES_IN_PROGRESS} per destination Region and account)."
            )
            fault.message = message
            fault.args = (message,)
            raise fault
        encrypted = _is_encrypted(source)
        cross_account = source.account_id != self.account_id
        if cross_account and encrypted and not kms_key_id:
            # "If you copy an encrypted DB cluster snapshot that is shared from another AWS account,
            # then you must specify a value for KmsKeyId."
            raise InvalidParameterValue(
                "The parameter KmsKeyId must be specified when copying an encrypted DB cluster "
                f"snapshot shared from another AWS account ({source.arn})."
            )
        if kms_key_id and not encrypted:
            # "If you copy an unencrypted DB cluster snapshot and specify a value for the KmsKeyId
            # parameter, an error is returned."
            raise InvalidParameterValue(
                f"Cannot specify KmsKeyId: DB cluster snapshot {source.arn} is not encrypted."
            )
        if encrypted:
            # The source key is used where the source snapshot lives (its region for a cross-region
            # copy), by the calling account.
            _check_key_usable(
                source.kms_key_id,
                self.account_id,
                source.region,
                "source snapshot",
                CROSS_ACCOUNT_COPY_ACTIONS,
            )
        if kms_key_id:
            # moto resolves aliases / ids to the key ARN and refuses keys of another region.
            kms_key_id = self._validate_kms_key(kms_key_id)
            _check_key_usable(
                kms_key_id, self.account_id, self.region_name, "target", CROSS_ACCOUNT_COPY_ACTIONS
            )
        copied = orig["copy_db_cluster_snapshot"](
            self,
            source_db_cluster_snapshot_identifier,
            target_db_cluster_snapshot_identifier,
            kms_key_id=kms_key_id,
            **kwargs,
        )
        registry.track("cluster-snapshot", copied, "copying", durations.snapshot_copy)
        return copied

    patches[(RDSBackend, "copy_db_cluster_snapshot")] = copy_db_cluster_snapshot

    def delete_db_cluster_snapshot(self: Any, db_snapshot_identifier: str) -> Any:
        """Rule 2: a snapshot still being created cannot be deleted ("The DB cluster snapshot must be in the
        available state to be deleted"), but deleting a copy in progress cancels it ("If the snapshot is being
        copied, the copy operation is terminated"; CopyDBClusterSnapshot: to cancel a copy, delete the target
        snapshot while it is copying).
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_DeleteDBClusterSnapshot.html
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBClusterSnapshot.html
        """
        registry.advance()
        snapshot = self.cluster_snapshots.get(db_snapshot_identifier)
        if snapshot is not None and snapshot.status == "creating":
            raise InvalidDBClusterSnapshotStateFault(
                f"Cannot delete DB cluster snapshot {snapshot.db_cluster_snapshot_identifier}: it is "
                f"{snapshot.status}; the snapshot must be in the available state to be deleted."
            )
        deleted = orig["delete_db_cluster_snapshot"](self, db_snapshot_identifier)
        registry.forget(deleted)
        return deleted

    patches[(RDSBackend, "delete_db_cluster_snapshot")] = delete_db_cluster_snapshot

    def modify_db_cluster_snapshot_attribute(
        self: Any,
        db_cluster_snapshot_identifier: str,
        attribute_name: str,
        values_to_add: list[str] | None = None,
        values_to_remove: list[str] | None = None,
    ) -> Any:
        """Rules 2 and 4 for sharing (ModifyDBClusterSnapshotAttribute, attribute "restore").
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_ModifyDBClusterSnapshotAttribute.html
        """
        registry.advance()
        owner = _arn_owner(db_cluster_snapshot_identifier)
        if owner is not None and owner[1] != self.account_id:
            # Only the owner can change who a snapshot is shared with; to anyone else it is
            # someone else's snapshot, which the API reports as not found.
            raise DBClusterSnapshotNotFoundError(db_cluster_snapshot_identifier)
        snapshot = self.describe_db_cluster_snapshots(None, db_cluster_snapshot_identifier)[0]
        adding = [v for v in (values_to_add or []) if v]
        # moto refuses automated snapshots (they can't be shared); let it, with its own error.
        if attribute_name == "restore" and adding and snapshot.snapshot_type == "manual":
            _require_available(snapshot, "share")
            encrypted = _is_encrypted(snapshot)
            if encrypted and is_default_rds_key(snapshot.kms_key_id, self.account_id, self.region_name):
                # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/share-encrypted-snapshot.html
                # "You can't share a snapshot that has been encrypted using the default KMS key of
                # the AWS account that shared the snapshot." (exact API message not published;
                # this paraphrases the documentation.)
                raise InvalidParameterValue(
                    "You can't share a snapshot that has been encrypted using the default KMS key "
                    f"(alias/aws/rds) of the AWS account that shared the snapshot: "
                    f"{snapshot.db_cluster_snapshot_identifier}. Copy it with a customer managed "
                    "key and share the copy."
                )
            if encrypted and "all" in adding:
                # Same page: "You can't share encrypted snapshots as public."
                raise InvalidParameterValue(
                    f"Encrypted DB cluster snapshot {snapshot.db_cluster_snapshot_identifier} can't "
                    "be shared as public: specify AWS account IDs instead of 'all'."
                )
            removing = set(values_to_remove or [])
            conflict = set(adding) & removing
            if conflict:
                # Same error as moto's own check.
                raise InvalidParameterCombination(
                    f"A value may not appear in both the add list and remove list. {sorted(conflict)}"
                )
            values = [
                v for v in dict.fromkeys([*snapshot.attributes["restore"], *adding]) if v not in removing
            ]
            # The quota is on AWS accounts: "all" (public) is not an account. moto counts it, and
            # keeps duplicates, so the twin writes the attribute itself.
            if len([v for v in values if v != "all"]) > MAX_SHARED_ACCOUNTS:
                # Error code documented on the API page: SharedSnapshotQuotaExceeded.
                raise SharedSnapshotQuotaExceeded()
            snapshot.attributes["restore"] = values
            return snapshot.attributes
        return orig["modify_db_cluster_snapshot_attribute"](
            self, db_cluster_snapshot_identifier, attribute_name, values_to_add, values_to_remove
        )

    patches[(RDSBackend, "modify_db_cluster_snapshot_attribute")] = modify_db_cluster_snapshot_attribute

    def restore_db_cluster_from_snapshot(self: Any, from_snapshot_id: str, overrides: dict[str, Any]) -> Any:
        """Rules 1, 2, 3 and 6 for RestoreDBClusterFromSnapshot.
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_RestoreDBClusterFromSnapshot.html
        """
        registry.advance()
        snapshot = self.describe_db_cluster_snapshots(None, from_snapshot_id)[0]
        _require_available(snapshot, "restore from")
        overrides = dict(overrides)
        kms_key_id = overrides.get("kms_key_id")
        if _is_encrypted(snapshot):
            # Restoring decrypts with the snapshot's key: a shared snapshot's key must be usable by
            # this account (same key policy rules as a copy).
            _check_key_usable(
                snapshot.kms_key_id,
                self.account_id,
                snapshot.region,
                "source snapshot",
                CROSS_ACCOUNT_COPY_ACTIONS,
            )
        if kms_key_id:
            # "If you specify KmsKeyId" the restored cluster is encrypted with it, even if the
            # snapshot is not encrypted (unlike a copy).
            overrides["storage_encrypted"] = True
        cluster = orig["restore_db_cluster_from_snapshot"](self, from_snapshot_id, overrides)
        registry.track("cluster", cluster, "creating", durations.cluster_restore)
        return cluster

    patches[(RDSBackend, "restore_db_cluster_from_snapshot")] = restore_db_cluster_from_snapshot

    def create_db_cluster(self: Any, kwargs: dict[str, Any]) -> Any:
        """Rules 1 and 5 for CreateDBCluster (also reached through restore).
        https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBCluster.html
        "If StorageEncrypted is enabled, and you do not specify a value for the KmsKeyId
        parameter, then Amazon RDS will use your default KMS key."
        """
        registry.advance()
        kwargs = dict(kwargs)
        identifier = str(kwargs.get("db_cluster_identifier") or "")
        if identifier.lower() in self.clusters or identifier in self.clusters:
            # moto replaces the existing cluster; AWS refuses the name. Error code from the API reference
            # (CreateDBCluster, RestoreDBClusterFromSnapshot, RestoreDBClusterToPointInTime: "User already has
            # a DB cluster with the given identifier").
            raise RDSClientError("DBClusterAlreadyExistsFault", "DB Cluster already exists")
        encrypted = bool(kwargs.get("storage_encrypted"))
        kms_key_id = kwargs.get("kms_key_id")
        if kms_key_id == _MOTO_PLACEHOLDER_KEY:
            kms_key_id = None
        if encrypted:
            if kms_key_id:
                kms_key_id = self._validate_kms_key(kms_key_id)
            else:
                kms_key_id = default_rds_key_arn(self.account_id, self.region_name)
            _check_key_usable(
                kms_key_id, self.account_id, self.region_name, "target", _CREATE_WITH_KEY_ACTIONS
            )
            kwargs["kms_key_id"] = kms_key_id
        cluster = orig["create_db_cluster"](self, kwargs)
        if not encrypted:
            # moto stores a placeholder key even for unencrypted clusters; AWS reports none.
            _clear_placeholder_key(self, cluster)
        registry.track("cluster", cluster, "creating", durations.cluster_restore)
        return cluster

    patches[(RDSBackend, "create_db_cluster")] = create_db_cluster

    def create_db_instance(self: Any, db_kwargs: dict[str, Any]) -> Any:
        """Rule 1: a new instance is "creating" for ``durations.instance_create`` (and at least until
        its cluster is available)."""
        registry.advance()
        database = orig["create_db_instance"](self, db_kwargs)
        registry.track("instance", database, "creating", durations.instance_create)
        return database

    patches[(RDSBackend, "create_db_instance")] = create_db_instance

    def _generate_default_keys(self: Any, alias_name: str) -> Any:
        """Rule 5: when moto lazily creates ``alias/aws/rds`` (e.g. ``describe_key`` or a KmsKeyId of
        "alias/aws/rds"), create the realistic AWS managed key instead of moto's "Default key"."""
        if alias_name == DEFAULT_RDS_KEY_ALIAS:
            arn = default_rds_key_arn(self.account_id, self.region_name)
            return arn.split(":key/", 1)[1]
        return orig_generate_default_keys(self, alias_name)

    patches[(KmsBackend, "_generate_default_keys")] = _generate_default_keys
    return patches


def _require_available(snapshot: Any, verb: str) -> None:
    """Rule 2: copy, share and restore need an available snapshot.
    https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CopyDBClusterSnapshot.html
    """
    if snapshot.status != "available":
        raise InvalidDBClusterSnapshotStateFault(
            f"Cannot {verb} DB cluster snapshot {snapshot.db_cluster_snapshot_identifier}: its status "
            f"is {snapshot.status}, it must be available."
        )


def _clear_placeholder_key(backend: Any, cluster: Any) -> None:
    if cluster.kms_key_id == _MOTO_PLACEHOLDER_KEY:
        cluster.kms_key_id = None
    # The automated snapshot moto takes with the cluster copied the placeholder too.
    for snapshot in backend.cluster_snapshots.values():
        if snapshot.db_cluster_identifier == cluster.db_cluster_identifier:
            if snapshot.kms_key_id == _MOTO_PLACEHOLDER_KEY:
                snapshot.kms_key_id = None
            if getattr(snapshot.cluster, "kms_key_id", None) == _MOTO_PLACEHOLDER_KEY:
                snapshot.cluster.kms_key_id = None


@contextmanager
def aws_rules(clock: TwinClock, durations: Durations | None = None) -> Iterator[TwinRegistry]:
    """Enforce the twin's Aurora / KMS rules on moto while the context is active.

    Yields the :class:`TwinRegistry` (``settle_all()``, ``pending()``, ``advance()``). Use inside
    ``mock_aws()``. Not re-entrant: the patches are process-wide class attributes.
    """
    global _active  # noqa: PLW0603 - one set of process-wide patches at a time
    with _active_lock:
        if _active:
            raise RuntimeError("aws_rules is already active in this process")
        _active = True
    try:
        registry = TwinRegistry(clock)
        with ExitStack() as stack:
            for (owner, name), replacement in _build_patches(registry, durations or Durations()).items():
                stack.enter_context(patch.object(owner, name, replacement))
            yield registry
    finally:
        with _active_lock:
            _active = False
