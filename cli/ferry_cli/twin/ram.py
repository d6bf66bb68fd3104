"""AWS RAM in the twin: invitations, association status, no re-sharing.

moto 5.2's RAM backend shares with no invitations at all, reports every association as ASSOCIATED and has no
GetResourceShareInvitations / AcceptResourceShareInvitation. ``ram_rules(clock, organizations)`` adds, for as
long as it is active:

1. Invitations. An account outside the owner's organization gets a PENDING invitation (visible after
   ``RAM_PROPAGATION_SECONDS``) that it must accept; an account in the same organization is associated
   without one. A share that does not allow external principals can't be associated with an account outside
   the organization (the association FAILS). Invitations expire after seven days.
2. A cluster shared with an account can't be shared again by it, and only an available cluster can be shared.
3. GetResourceShares filters by name, ARN and status, and returns the share's tags.

Each rule cites the AWS documentation it follows. :class:`RamBackendRules` patches moto's
``ResourceAccessManagerBackend`` and :class:`RamResponseRules` its ``ResourceAccessManagerResponse`` (the two
operations moto lacks and the GetResourceShares filters live at the HTTP layer).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import patch

from moto.core.exceptions import JsonRESTError
from moto.ram import urls as ram_urls
from moto.ram.exceptions import InvalidParameterException, UnknownResourceException
from moto.ram.models import ResourceAccessManagerBackend, ram_backends
from moto.ram.responses import ResourceAccessManagerResponse
from moto.rds.models import rds_backends

from ferry_cli.twin.arns import parse_rds_arn
from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.patching import MotoPatch

__all__ = [
    "INVITATION_LIFETIME",
    "RAM_PROPAGATION_SECONDS",
    "RamBackendRules",
    "RamRegistry",
    "RamResponseRules",
    "Share",
    "ram_rules",
]

# RAM associates principals asynchronously: an invitation shows up, and an account in the organization is
# associated, a while after the share is created (long enough in the twin for the wait loop to loop).
RAM_PROPAGATION_SECONDS = 120.0
# "Invitations expire after 7 days" (RAM user guide, Accessing resources shared with you).
INVITATION_LIFETIME = timedelta(days=7)

_RAM_ROUTES = {
    "{0}/getresourceshareinvitations$": ResourceAccessManagerResponse.dispatch,
    "{0}/acceptresourceshareinvitation$": ResourceAccessManagerResponse.dispatch,
}


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
class Share:
    """A resource share as the twin knows it (ferry_cli.twin.iam.lookup reads its ARN, owner and tags)."""

    arn: str
    name: str
    owner: str
    region: str
    allow_external: bool
    resources: list[str]
    tags: list[dict[str, str]]
    principals: dict[str, _Association] = field(default_factory=dict)
    active: bool = True


class RamRegistry:
    """The twin's RAM state: shares, their principals' association status, and invitations."""

    def __init__(self, clock: TwinClock, organizations: dict[str, str | None]) -> None:
        self.clock = clock
        self.organizations = organizations
        self._lock = threading.RLock()
        self._shares: dict[str, Share] = {}

    # --- organizations ------------------------------------------------------------------------------

    def same_organization(self, one: str, other: str) -> bool:
        org = self.organizations.get(one)
        return org is not None and org == self.organizations.get(other)

    # --- shares ---------------------------------------------------------------------------------------

    def register(self, share: Share, principals: list[str]) -> None:
        """Who gets an invitation, who is associated directly, who can't be associated.

        "If any of the accounts is in a different AWS organization, AWS generates a sharing invitation. The
        other account must accept the invitation before proceeding."
        (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.Cross-Account.html)
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

    def share(self, arn: str) -> Share | None:
        with self._lock:
            return self._shares.get(arn)

    def deactivate(self, arn: str) -> None:
        with self._lock:
            share = self._shares.get(arn)
            if share is not None:
                share.active = False

    def association_status(self, share: Share, principal: str) -> tuple[str, str | None]:
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
        """Is the resource in an active share associated with ``account_id`` right now? (The clone rules'
        "not found" until it is, ferry_cli.twin.clones.)"""
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
            for share, invitation in self._sent_to(receiver, now):
                if invitation.region != region:
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
            for _, invitation in self._sent_to(receiver, now):
                if invitation.arn != invitation_arn:
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

    def _sent_to(self, receiver: str, now: datetime) -> Iterator[tuple[Share, _Invitation]]:
        """Each share that has invited ``receiver`` by ``now``, with the invitation (the caller holds the lock)."""
        for share in self._shares.values():
            association = share.principals.get(receiver)
            invitation = association.invitation if association else None
            if invitation is not None and now >= invitation.sent_at:
                yield share, invitation

    @staticmethod
    def _expire(invitation: _Invitation, now: datetime) -> None:
        if invitation.status == "PENDING" and now > invitation.sent_at + INVITATION_LIFETIME:
            invitation.status = "EXPIRED"


class RamBackendRules(MotoPatch):
    """The twin's patch of ``ResourceAccessManagerBackend``."""

    target = ResourceAccessManagerBackend
    replaces = ("create_resource_share", "get_resource_share_associations", "delete_resource_share")

    def __init__(self, registry: RamRegistry) -> None:
        super().__init__()
        self.registry = registry

    def create_resource_share(self, backend: Any, **kwargs: Any) -> dict[str, Any]:
        """Rules 1 and 2 for CreateResourceShare.
        https://docs.aws.amazon.com/ram/latest/APIReference/API_CreateResourceShare.html
        """
        for resource in kwargs.get("resourceArns", []):
            arn = parse_rds_arn(resource)
            if arn is None or arn.service != "rds" or arn.resource_type != "cluster":
                continue
            if arn.account != backend.account_id:
                # "You can't share resources (clones or Aurora DB clusters) that have been shared with your
                # AWS account."
                # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Clone.Cross-Account.html#Aurora.Managing.Clone.CrossAccount.Limitations
                raise UnknownResourceException(
                    f"Resource {resource} is not owned by account {backend.account_id}; a resource shared with "
                    "you can't be shared again."
                )
            rds = rds_backends[arn.account][arn.region]
            if arn.identifier.lower() not in rds.clusters:
                raise UnknownResourceException(f"Resource {resource} could not be found.")
            # Through describe, so the twin's clock has moved the cluster on (ferry_cli.twin.lifecycle).
            cluster = rds.describe_db_clusters(db_cluster_identifier=arn.identifier)[0]
            if cluster.status != "available":
                # "You can't share an Aurora DB cluster with other AWS accounts unless the cluster is in an
                # ACTIVE state." (same page)
                raise InvalidParameterException(
                    f"DB cluster {resource} is {cluster.status}; only an active cluster can be shared."
                )
        response: dict[str, Any] = self.original("create_resource_share")(backend, **kwargs)
        described = response["resourceShare"]
        share = Share(
            arn=described["resourceShareArn"],
            name=described["name"],
            owner=backend.account_id,
            region=backend.region_name,
            allow_external=bool(kwargs.get("allowExternalPrincipals", True)),
            resources=list(kwargs.get("resourceArns", [])),
            tags=list(kwargs.get("tags", [])),
        )
        self.registry.register(share, list(kwargs.get("principals", [])))
        described["tags"] = share.tags
        return response

    def get_resource_share_associations(
        self,
        backend: Any,
        association_type: str | None,
        association_status: str | None,
        resource_share_arns: list[str],
        resource_arn: str | None,
        principal: str | None,
    ) -> dict[str, Any]:
        """Rule 1: each principal's real status (moto reports every association as ASSOCIATED).
        https://docs.aws.amazon.com/ram/latest/APIReference/API_GetResourceShareAssociations.html
        """
        found = self.original("get_resource_share_associations")(
            backend, association_type, None, resource_share_arns, resource_arn, principal
        )
        associations = []
        for association in found["resourceShareAssociations"]:
            share = self.registry.share(association["resourceShareArn"])
            if share is not None and association["associationType"] == "PRINCIPAL":
                status, message = self.registry.association_status(share, association["associatedEntity"])
                entry = share.principals.get(association["associatedEntity"])
                association["status"] = status
                association["external"] = bool(entry and entry.external)
                if message:
                    association["statusMessage"] = message
            if association_status and association["status"] != association_status:
                continue
            associations.append(association)
        return {"resourceShareAssociations": associations}

    def delete_resource_share(self, backend: Any, resource_share_arn: str | None) -> dict[str, Any]:
        """A deleted share no longer associates anyone.
        https://docs.aws.amazon.com/ram/latest/APIReference/API_DeleteResourceShare.html
        """
        result: dict[str, Any] = self.original("delete_resource_share")(backend, resource_share_arn)
        self.registry.deactivate(resource_share_arn or "")
        return result


class RamResponseRules(MotoPatch):
    """The twin's patch of ``ResourceAccessManagerResponse``: operations answered at the HTTP layer."""

    target = ResourceAccessManagerResponse
    replaces = ("get_resource_shares", "get_resource_share_invitations", "accept_resource_share_invitation")
    creates = True

    def __init__(self, registry: RamRegistry) -> None:
        super().__init__()
        self.registry = registry

    def get_resource_shares(self, response: Any) -> str:
        """Rule 3: GetResourceShares with the name / ARN / status filters and the tags moto leaves out.
        https://docs.aws.amazon.com/ram/latest/APIReference/API_GetResourceShares.html"""
        backend = ram_backends[response.current_account][response.region]
        owner = response._get_param("resourceOwner")
        if owner != "SELF":
            return json.dumps(backend.get_resource_shares(owner))
        name = response._get_param("name")
        arns = response._get_param("resourceShareArns") or []
        status = response._get_param("resourceShareStatus")
        shares = []
        for share in backend.resource_shares:
            described = share.describe()
            if name and described["name"] != name:
                continue
            if arns and described["resourceShareArn"] not in arns:
                continue
            if status and described["status"] != status:
                continue
            known = self.registry.share(described["resourceShareArn"])
            described["tags"] = known.tags if known else []
            shares.append(described)
        return json.dumps({"resourceShares": shares})

    def get_resource_share_invitations(self, response: Any) -> str:
        """Rule 1. https://docs.aws.amazon.com/ram/latest/APIReference/API_GetResourceShareInvitations.html"""
        invitations = self.registry.invitations_for(
            response.current_account,
            response.region,
            response._get_param("resourceShareArns"),
            response._get_param("resourceShareInvitationArns"),
        )
        return json.dumps({"resourceShareInvitations": invitations})

    def accept_resource_share_invitation(self, response: Any) -> str:
        """Rule 1. https://docs.aws.amazon.com/ram/latest/APIReference/API_AcceptResourceShareInvitation.html"""
        accepted = self.registry.accept(
            response.current_account, response._get_param("resourceShareInvitationArn")
        )
        accepted["status"] = "ACCEPTED"
        return json.dumps(
            {"resourceShareInvitation": accepted, "clientToken": response._get_param("clientToken")}
        )


@contextmanager
def ram_rules(clock: TwinClock, organizations: dict[str, str | None]) -> Iterator[RamRegistry]:
    """Enforce the twin's RAM rules on moto while the context is active; yields the :class:`RamRegistry`.

    ``organizations`` maps each account to its AWS Organizations organization id (None: in none). Use inside
    ``mock_aws()``. Not re-entrant: the patches are process-wide class attributes.
    """
    registry = RamRegistry(clock, organizations)
    with (
        patch.dict(ram_urls.url_paths, _RAM_ROUTES),
        RamBackendRules(registry).installed(),
        RamResponseRules(registry).installed(),
    ):
        yield registry
