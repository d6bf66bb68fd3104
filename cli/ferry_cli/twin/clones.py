"""Aurora cloning and AWS RAM sharing rules that moto 5.x does not model, enforced in the local twin.

``clone_rules(clock, world)`` patches moto's RDS and RAM backends for as long as it is active (the runtime
enters it next to ``aws_rules``) and undoes every patch on exit. moto 5.2 has RestoreDBClusterToPointInTime
with RestoreType copy-on-write, but it clones any cluster in the caller's own account, ignores who owns a
cluster ARN, always reports ``CrossAccountClone: false`` and has no clone groups; its RAM backend shares with
no invitations at all and has no GetResourceShareInvitations / AcceptResourceShareInvitation. The twin adds:

1. RAM invitations. An account outside the owner's organization gets a PENDING invitation (visible after
   ``RAM_PROPAGATION_SECONDS``) that it must accept; an account in the same organization is associated
   without one. A share that does not allow external principals can't be associated with an account outside
   the organization (the association FAILS). Organizations come from the world (``organizationId``).
2. A cluster shared with an account can't be shared again by it.
3. Cross-account clone by the cluster's full ARN, only once the share is associated (accepted or in the
   organization); before that the ARN is "not found", as documented.
4. The clone limits: only an available cluster with at least one DB instance; no KmsKeyId for an unencrypted
   source; across accounts, not under the default aws/rds key, a KmsKeyId for an encrypted source, the
   source key usable by the caller, one cross-account clone per account per clone group, at most 15
   cross-account clones per clone group; within one account the 16th clone is a full copy (outside the group).
5. ``CloneGroupId`` on source and clones, and ``CrossAccountClone`` true on a cross-account clone.

Each rule cites the AWS documentation it follows. Exact error codes for the clone refusals are not published;
the twin uses the closest documented RDS fault and says why in the message.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import patch

from moto.core.exceptions import JsonRESTError
from moto.ram import urls as ram_urls
from moto.ram.exceptions import InvalidParameterException, UnknownResourceException
from moto.ram.models import ResourceAccessManagerBackend, ram_backends
from moto.ram.responses import ResourceAccessManagerResponse
from moto.rds.exceptions import (
    DBClusterNotFoundError,
    InvalidDBClusterStateFault,
    InvalidParameterCombination,
    InvalidParameterValue,
)
from moto.rds.models import DBCluster, RDSBackend, rds_backends

from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.rules import CROSS_ACCOUNT_COPY_ACTIONS, _check_key_usable, is_default_rds_key
from ferry_cli.twin.world import World

__all__ = ["MAX_CROSS_ACCOUNT_CLONES", "RAM_PROPAGATION_SECONDS", "CloneRegistry", "clone_rules"]

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
# RAM associates principals asynchronously: an invitation shows up, and an account in the organization is
# associated, a while after the share is created (long enough in the twin for the wait loop to loop).
RAM_PROPAGATION_SECONDS = 120.0
# "Invitations expire after 7 days" (RAM user guide, Accessing resources shared with you).
INVITATION_LIFETIME = timedelta(days=7)

_TWIN_CLONE_ATTRIBUTES = ("clone_group_id", "_twin_cross_account_clone")


def _ram_error(code: str, message: str) -> JsonRESTError:
    return JsonRESTError(code, message)


@dataclass
class _Invitation:
    arn: str
    share_arn: str
    share_name: str
    sender: str
    receiver: str
    region: str
    sent_at: datetime
    status: str = "PENDING"

    def describe(self) -> dict[str, Any]:
        return {
            "resourceShareInvitationArn": self.arn,
            "resourceShareName": self.share_name,
            "resourceShareArn": self.share_arn,
            "senderAccountId": self.sender,
            "receiverAccountId": self.receiver,
            "invitationTimestamp": self.sent_at.timestamp(),
            "status": self.status,
        }


@dataclass
class _Association:
    account_id: str
    ready_at: datetime
    status: str = "ASSOCIATING"
    message: str | None = None
    external: bool = False
    invitation: _Invitation | None = None


@dataclass
class _Share:
    arn: str
    name: str
    owner: str
    region: str
    allow_external: bool
    resources: list[str]
    tags: list[dict[str, str]]
    principals: dict[str, _Association] = field(default_factory=dict)
    active: bool = True


class CloneRegistry:
    """The twin's RAM state: shares, their principals' association status, and invitations."""

    def __init__(self, clock: TwinClock, organizations: dict[str, str | None]) -> None:
        self.clock = clock
        self.organizations = organizations
        self._lock = threading.RLock()
        self._shares: dict[str, _Share] = {}

    # --- organizations ------------------------------------------------------------------------------

    def same_organization(self, one: str, other: str) -> bool:
        org = self.organizations.get(one)
        return org is not None and org == self.organizations.get(other)

    # --- shares ---------------------------------------------------------------------------------------

    def register(self, share: _Share, principals: list[str]) -> None:
        """Rule 1: who gets an invitation, who is associated directly, who can't be associated.

        "If any of the accounts is in a different AWS organization, AWS generates a sharing invitation. The
        other account must accept the invitation before proceeding." (CROSS_ACCOUNT_DOC)
        allowExternalPrincipals "False - the resource share can be shared with only accounts in the same
        organization as the account that owns the resource share" and "A value of false only has meaning if
        your account is a member of an Amazon Web Services Organization."
        https://docs.aws.amazon.com/ram/latest/APIReference/API_CreateResourceShare.html
        """
        now = self.clock.now()
        ready = now + timedelta(seconds=RAM_PROPAGATION_SECONDS)
        with self._lock:
            for principal in principals:
                if not (len(principal) == 12 and principal.isdigit()):
                    continue
                if principal == share.owner or self.same_organization(share.owner, principal):
                    share.principals[principal] = _Association(principal, ready)
                    continue
                owner_in_org = self.organizations.get(share.owner) is not None
                if owner_in_org and not share.allow_external:
                    # The exact message is not published; this says what the documentation says.
                    share.principals[principal] = _Association(
                        principal,
                        ready,
                        status="FAILED",
                        external=True,
                        message=(
                            f"Account {principal} is not in the organization of the resource share owner "
                            f"{share.owner}, and the resource share does not allow external principals"
                        ),
                    )
                    continue
                invitation = _Invitation(
                    arn=f"arn:aws:ram:{share.region}:{share.owner}:resource-share-invitation/{uuid.uuid4()}",
                    share_arn=share.arn,
                    share_name=share.name,
                    sender=share.owner,
                    receiver=principal,
                    region=share.region,
                    sent_at=ready,
                )
                share.principals[principal] = _Association(
                    principal, ready, external=True, invitation=invitation
                )
            self._shares[share.arn] = share

    def share(self, arn: str) -> _Share | None:
        with self._lock:
            return self._shares.get(arn)

    def deactivate(self, arn: str) -> None:
        with self._lock:
            share = self._shares.get(arn)
            if share is not None:
                share.active = False

    def association_status(self, share: _Share, principal: str) -> tuple[str, str | None]:
        """Status of one principal as of now: ASSOCIATING until RAM has propagated and, for an invited
        account, until it accepted; ASSOCIATED after; FAILED stays FAILED."""
        with self._lock:
            association = share.principals.get(principal)
            if association is None:
                return "DISASSOCIATED", None
            if not share.active:
                return "DISASSOCIATED", None
            if association.status == "FAILED":
                return "FAILED", association.message
            now = self.clock.now()
            if now < association.ready_at:
                return "ASSOCIATING", None
            invitation = association.invitation
            if invitation is not None:
                self._expire(invitation, now)
                if invitation.status != "ACCEPTED":
                    return ("FAILED" if invitation.status in ("REJECTED", "EXPIRED") else "ASSOCIATING"), None
            return "ASSOCIATED", None

    def shared_with(self, resource_arn: str, account_id: str) -> bool:
        """Rule 3: is the resource in an active share associated with ``account_id`` right now?"""
        with self._lock:
            shares = [s for s in self._shares.values() if s.active and resource_arn in s.resources]
        return any(self.association_status(s, account_id)[0] == "ASSOCIATED" for s in shares)

    # --- invitations ----------------------------------------------------------------------------------

    def invitations_for(
        self, receiver: str, region: str, share_arns: list[str] | None, invitation_arns: list[str] | None
    ) -> list[dict[str, Any]]:
        """GetResourceShareInvitations: "Retrieves details about invitations that you have received for
        resource shares." https://docs.aws.amazon.com/ram/latest/APIReference/API_GetResourceShareInvitations.html
        """
        now = self.clock.now()
        found: list[dict[str, Any]] = []
        with self._lock:
            for share in self._shares.values():
                association = share.principals.get(receiver)
                invitation = association.invitation if association else None
                if invitation is None or invitation.region != region or now < invitation.sent_at:
                    continue
                if share_arns and share.arn not in share_arns:
                    continue
                if invitation_arns and invitation.arn not in invitation_arns:
                    continue
                self._expire(invitation, now)
                found.append(invitation.describe())
        return found

    def accept(self, receiver: str, invitation_arn: str) -> dict[str, Any]:
        """AcceptResourceShareInvitation, with its documented faults.
        https://docs.aws.amazon.com/ram/latest/APIReference/API_AcceptResourceShareInvitation.html
        """
        now = self.clock.now()
        with self._lock:
            for share in self._shares.values():
                association = share.principals.get(receiver)
                invitation = association.invitation if association else None
                if invitation is None or invitation.arn != invitation_arn or now < invitation.sent_at:
                    continue
                self._expire(invitation, now)
                if invitation.status == "ACCEPTED":
                    raise _ram_error(
                        "ResourceShareInvitationAlreadyAcceptedException",
                        f"The invitation {invitation_arn} was already accepted.",
                    )
                if invitation.status == "REJECTED":
                    raise _ram_error(
                        "ResourceShareInvitationAlreadyRejectedException",
                        f"The invitation {invitation_arn} was already rejected.",
                    )
                if invitation.status == "EXPIRED":
                    raise _ram_error(
                        "ResourceShareInvitationExpiredException",
                        f"The invitation {invitation_arn} has expired.",
                    )
                invitation.status = "ACCEPTED"
                return invitation.describe()
        raise _ram_error(
            "ResourceShareInvitationArnNotFoundException",
            f"The invitation {invitation_arn} could not be found for account {receiver}.",
        )

    @staticmethod
    def _expire(invitation: _Invitation, now: datetime) -> None:
        if invitation.status == "PENDING" and now > invitation.sent_at + INVITATION_LIFETIME:
            invitation.status = "EXPIRED"


# ------------------------------------------------------------------------------------------------------
# RDS: restore_db_cluster_to_point_in_time (clones)
# ------------------------------------------------------------------------------------------------------


def _arn_parts(identifier: str) -> tuple[str, str, str] | None:
    """(region, account, cluster id) of a cluster ARN; None for a bare identifier."""
    parts = identifier.split(":")
    if len(parts) == 7 and parts[0] == "arn" and parts[2] == "rds" and parts[5] == "cluster":
        return parts[3], parts[4], parts[6]
    return None


def _is_encrypted(cluster: Any) -> bool:
    return bool(getattr(cluster, "storage_encrypted", False))


def _all_clusters(accounts: list[str], region: str) -> list[Any]:
    found: list[Any] = []
    for account in accounts:
        found.extend(rds_backends[account][region].clusters.values())
    return found


def _build_rds_patches(registry: CloneRegistry, accounts: list[str]) -> dict[tuple[type, str], Any]:
    patches: dict[tuple[type, str], Any] = {}

    def restore_db_cluster_to_point_in_time(
        self: Any,
        db_cluster_identifier: str,
        source_db_cluster_identifier: str,
        restore_type: str = "full-copy",
        restore_to_time: Any = None,
        use_latest_restorable_time: bool = False,
        **overrides: Any,
    ) -> Any:
        """Rules 3, 4 and 5 for RestoreDBClusterToPointInTime (RESTORE_PITR_DOC, CLONE_DOC, CROSS_ACCOUNT_DOC)."""
        if restore_to_time is not None and use_latest_restorable_time:
            raise InvalidParameterCombination("Cannot specify both RestoreToTime and UseLatestRestorableTime")
        owner = _arn_parts(source_db_cluster_identifier)
        cross = owner is not None and owner[1] != self.account_id
        if owner is not None and cross:
            region, account, cluster_id = owner
            source = rds_backends[account][region].clusters.get(cluster_id.lower())
            # "If the ARN passed as the SourceDBClusterIdentifier hasn't been shared, then the same error is
            # returned as if the specified cluster doesn't exist." (CROSS_ACCOUNT_DOC)
            if source is None or not registry.shared_with(source.arn, self.account_id):
                raise DBClusterNotFoundError(source_db_cluster_identifier)
            # Through describe, so the twin's clock has moved the cluster on (ferry_cli.twin.rules, rule 1).
            source = rds_backends[account][region].describe_db_clusters(db_cluster_identifier=cluster_id)[0]
            if region != self.region_name:
                # "You can't create a clone in a different AWS Region from the source" (CLONE_DOC)
                raise InvalidParameterValue(
                    f"Twin: can't clone {source_db_cluster_identifier} from {region} into {self.region_name}; "
                    "Aurora clones stay in the source cluster's Region."
                )
        else:
            source = self.describe_db_clusters(db_cluster_identifier=source_db_cluster_identifier)[0]
        copy_on_write = restore_type == "copy-on-write"
        if copy_on_write:
            if restore_to_time is not None:
                raise InvalidParameterCombination(
                    "RestoreToTime cannot be specified when RestoreType is copy-on-write"
                )
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
        kms_key_id = overrides.get("kms_key_id")
        encrypted = _is_encrypted(source)
        if kms_key_id and not encrypted:
            # "If DBClusterIdentifier refers to a DB cluster that isn't encrypted, then the restore request is
            # rejected." (RESTORE_PITR_DOC, KmsKeyId)
            raise InvalidParameterCombination(
                f"Cannot specify KmsKeyId: source DB cluster {source.db_cluster_identifier} is not encrypted."
            )
        group = getattr(source, "clone_group_id", None)
        if cross:
            _check_cross_account(self, source, kms_key_id, encrypted, group, accounts)
        props: dict[str, Any] = {}
        for key, value in source.__dict__.items():
            name = key[1:] if key.startswith("_") else key
            if key in _TWIN_CLONE_ATTRIBUTES or name in (
                "backend",
                "db_subnet_group",
                "vpc_security_group_ids",
            ):
                continue
            props[name] = value
        if cross:
            # The owner's tags and networking are the owner's; the clone starts with what the caller gives.
            props["tags"] = []
            props.pop("db_subnet_group_name", None)
        props.update(overrides)
        props["db_cluster_identifier"] = db_cluster_identifier
        siblings = [
            c
            for c in _all_clusters(accounts, self.region_name)
            if group and getattr(c, "clone_group_id", None) == group
        ]
        in_group = copy_on_write and (
            cross or len([c for c in siblings if c is not source]) < MAX_COPY_ON_WRITE_CLONES
        )
        # create_db_cluster is the twin's (ferry_cli.twin.rules): key checks, then "creating" on the clock.
        clone = self.create_db_cluster(props)
        if in_group:
            group = group or f"clone-group-{uuid.uuid4()}"
            setattr(source, "clone_group_id", group)  # noqa: B010 - moto's DBCluster has no such attribute
            setattr(clone, "clone_group_id", group)  # noqa: B010
        setattr(clone, "_twin_cross_account_clone", cross)  # noqa: B010
        return clone

    patches[(RDSBackend, "restore_db_cluster_to_point_in_time")] = restore_db_cluster_to_point_in_time

    def _cross_account_clone(self: Any) -> bool:
        """Rule 5: "the CrossAccountClone field indicates whether the cluster is a clone of a DB cluster
        that is owned by another AWS account." (CROSS_ACCOUNT_DOC#Aurora.Managing.Clone.CrossAccount.checking)"""
        return bool(getattr(self, "_twin_cross_account_clone", False))

    patches[(DBCluster, "cross_account_clone")] = property(_cross_account_clone)
    return patches


def _check_cross_account(
    backend: Any, source: Any, kms_key_id: str | None, encrypted: bool, group: str | None, accounts: list[str]
) -> None:
    """Rule 4 across accounts (CROSS_ACCOUNT_DOC#Aurora.Managing.Clone.CrossAccount.Limitations)."""
    caller = backend.account_id
    if encrypted and is_default_rds_key(source.kms_key_id, source.account_id, source.region):
        # "You can't create a cross-account clone of a cluster that is encrypted with the default RDS key."
        raise InvalidParameterValue(
            f"You can't create a cross-account clone of DB cluster {source.arn}: it is encrypted with the "
            "default RDS key (alias/aws/rds) of its account."
        )
    if encrypted and not kms_key_id:
        # "You can't create nonencrypted clones in one AWS account from encrypted Aurora DB clusters that have
        # been shared by another AWS account."
        raise InvalidParameterCombination(
            f"DB cluster {source.arn} is encrypted and shared from another account: specify KmsKeyId."
        )
    if encrypted:
        # "The cluster owner must grant permission to access the source cluster's AWS KMS key."
        _check_key_usable(
            source.kms_key_id, caller, source.region, "source cluster", CROSS_ACCOUNT_COPY_ACTIONS
        )
    if not group:
        return
    cross_clones = [
        c
        for c in _all_clusters(accounts, source.region)
        if getattr(c, "clone_group_id", None) == group and getattr(c, "_twin_cross_account_clone", False)
    ]
    if any(c.account_id == caller for c in cross_clones):
        # "you can only create one cross-account clone of a cluster within any AWS account" and "the original
        # cluster and its clone are considered to be the same for purposes of enforcing limits"
        raise InvalidDBClusterStateFault(
            f"Account {caller} already has a cross-account clone of DB cluster {source.arn} (or of its clone "
            "group); only one cross-account clone of a cluster is allowed per AWS account. (Twin; exact AWS "
            "message not published.)"
        )
    if len(cross_clones) >= MAX_CROSS_ACCOUNT_CLONES:
        raise InvalidDBClusterStateFault(
            f"DB cluster {source.arn} already has {len(cross_clones)} cross-account clones; the maximum is "
            f"{MAX_CROSS_ACCOUNT_CLONES}. (Twin; exact AWS message not published.)"
        )


# ------------------------------------------------------------------------------------------------------
# RAM: invitations, association status, tags, filters
# ------------------------------------------------------------------------------------------------------


def _build_ram_patches(registry: CloneRegistry) -> dict[tuple[type, str], Any]:
    patches: dict[tuple[type, str], Any] = {}
    orig_create = ResourceAccessManagerBackend.create_resource_share
    orig_associations = ResourceAccessManagerBackend.get_resource_share_associations
    orig_delete = ResourceAccessManagerBackend.delete_resource_share

    def create_resource_share(self: Any, **kwargs: Any) -> dict[str, Any]:
        """Rules 1 and 2 for CreateResourceShare."""
        for resource in kwargs.get("resourceArns", []):
            parts = _arn_parts(resource)
            if parts is None:
                continue
            region, account, cluster_id = parts
            if account != self.account_id:
                # "You can't share resources (clones or Aurora DB clusters) that have been shared with your
                # AWS account." (CROSS_ACCOUNT_DOC#Aurora.Managing.Clone.CrossAccount.Limitations)
                raise UnknownResourceException(
                    f"Resource {resource} is not owned by account {self.account_id}; a resource shared with "
                    "you can't be shared again."
                )
            backend = rds_backends[account][region]
            if cluster_id.lower() not in backend.clusters:
                raise UnknownResourceException(f"Resource {resource} could not be found.")
            # Through describe, so the twin's clock has moved the cluster on (ferry_cli.twin.rules, rule 1).
            cluster = backend.describe_db_clusters(db_cluster_identifier=cluster_id)[0]
            if cluster.status != "available":
                # "You can't share an Aurora DB cluster with other AWS accounts unless the cluster is in an
                # ACTIVE state."
                raise InvalidParameterException(
                    f"DB cluster {resource} is {cluster.status}; only an active cluster can be shared."
                )
        response = orig_create(self, **kwargs)
        described = response["resourceShare"]
        share = _Share(
            arn=described["resourceShareArn"],
            name=described["name"],
            owner=self.account_id,
            region=self.region_name,
            allow_external=bool(kwargs.get("allowExternalPrincipals", True)),
            resources=list(kwargs.get("resourceArns", [])),
            tags=list(kwargs.get("tags", [])),
        )
        registry.register(share, list(kwargs.get("principals", [])))
        described["tags"] = share.tags
        return response

    patches[(ResourceAccessManagerBackend, "create_resource_share")] = create_resource_share

    def get_resource_share_associations(
        self: Any,
        association_type: str | None,
        association_status: str | None,
        resource_share_arns: list[str],
        resource_arn: str | None,
        principal: str | None,
    ) -> dict[str, Any]:
        """Rule 1: each principal's real status (moto reports every association as ASSOCIATED)."""
        found = orig_associations(self, association_type, None, resource_share_arns, resource_arn, principal)
        associations = []
        for association in found["resourceShareAssociations"]:
            share = registry.share(association["resourceShareArn"])
            if share is not None and association["associationType"] == "PRINCIPAL":
                status, message = registry.association_status(share, association["associatedEntity"])
                entry = share.principals.get(association["associatedEntity"])
                association["status"] = status
                association["external"] = bool(entry and entry.external)
                if message:
                    association["statusMessage"] = message
            if association_status and association["status"] != association_status:
                continue
            associations.append(association)
        return {"resourceShareAssociations": associations}

    patches[(ResourceAccessManagerBackend, "get_resource_share_associations")] = (
        get_resource_share_associations
    )

    def delete_resource_share(self: Any, resource_share_arn: str | None) -> dict[str, Any]:
        result = orig_delete(self, resource_share_arn)
        registry.deactivate(resource_share_arn or "")
        return result

    patches[(ResourceAccessManagerBackend, "delete_resource_share")] = delete_resource_share

    def get_resource_shares_response(self: Any) -> str:
        """GetResourceShares with the name / ARN / status filters and the tags moto leaves out.
        https://docs.aws.amazon.com/ram/latest/APIReference/API_GetResourceShares.html"""
        backend = ram_backends[self.current_account][self.region]
        owner = self._get_param("resourceOwner")
        if owner != "SELF":
            return json.dumps(backend.get_resource_shares(owner))
        name = self._get_param("name")
        arns = self._get_param("resourceShareArns") or []
        status = self._get_param("resourceShareStatus")
        shares = []
        for share in backend.resource_shares:
            described = share.describe()
            if name and described["name"] != name:
                continue
            if arns and described["resourceShareArn"] not in arns:
                continue
            if status and described["status"] != status:
                continue
            known = registry.share(described["resourceShareArn"])
            described["tags"] = known.tags if known else []
            shares.append(described)
        return json.dumps({"resourceShares": shares})

    patches[(ResourceAccessManagerResponse, "get_resource_shares")] = get_resource_shares_response

    def get_resource_share_invitations(self: Any) -> str:
        invitations = registry.invitations_for(
            self.current_account,
            self.region,
            self._get_param("resourceShareArns"),
            self._get_param("resourceShareInvitationArns"),
        )
        return json.dumps({"resourceShareInvitations": invitations})

    patches[(ResourceAccessManagerResponse, "get_resource_share_invitations")] = (
        get_resource_share_invitations
    )

    def accept_resource_share_invitation(self: Any) -> str:
        accepted = registry.accept(self.current_account, self._get_param("resourceShareInvitationArn"))
        accepted["status"] = "ACCEPTED"
        return json.dumps(
            {"resourceShareInvitation": accepted, "clientToken": self._get_param("clientToken")}
        )

    patches[(ResourceAccessManagerResponse, "accept_resource_share_invitation")] = (
        accept_resource_share_invitation
    )
    return patches


_active_lock = threading.Lock()
_active = False

_RAM_ROUTES = {
    "{0}/getresourceshareinvitations$": ResourceAccessManagerResponse.dispatch,
    "{0}/acceptresourceshareinvitation$": ResourceAccessManagerResponse.dispatch,
}


@contextmanager
def clone_rules(clock: TwinClock, world: World) -> Iterator[CloneRegistry]:
    """Enforce the twin's clone and RAM rules on moto while the context is active.

    Use inside ``mock_aws()`` and after ``aws_rules`` (the clone is created through its create_db_cluster).
    Not re-entrant: the patches are process-wide class attributes.
    """
    global _active  # noqa: PLW0603 - one set of process-wide patches at a time
    with _active_lock:
        if _active:
            raise RuntimeError("clone_rules is already active in this process")
        _active = True
    try:
        accounts = [account.account_id for account in world.accounts]
        registry = CloneRegistry(clock, {a.account_id: a.organization_id for a in world.accounts})
        with ExitStack() as stack:
            stack.enter_context(patch.dict(ram_urls.url_paths, _RAM_ROUTES))
            for (owner, name), replacement in {
                **_build_rds_patches(registry, accounts),
                **_build_ram_patches(registry),
            }.items():
                stack.enter_context(patch.object(owner, name, replacement, create=True))
            yield registry
    finally:
        with _active_lock:
            _active = False
