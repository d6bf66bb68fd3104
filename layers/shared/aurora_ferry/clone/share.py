"""Clone step 2 (cross-account): the owner shares the source cluster with the target account through AWS
RAM, and the target accepts the invitation when it gets one (accounts outside the owner's organization).

- https://docs.aws.amazon.com/ram/latest/APIReference/API_GetResourceShareInvitations.html
- https://docs.aws.amazon.com/ram/latest/APIReference/API_AcceptResourceShareInvitation.html
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from aurora_ferry.clone.contract import CloneRequest
from aurora_ferry.clone.names import share_name, source_access, target_access
from aurora_ferry.core import (
    AccountAccess,
    CloneNotAllowedError,
    PollResult,
    ResourceFailedError,
    logger,
    metrics,
    naming,
    session_client,
    session_for,
    translated,
)


def ram(access: AccountAccess) -> Any:
    """An AWS RAM client acting in the member account (typed loosely: no RAM stubs are installed)."""
    return session_client(session_for(access), "ram")


def share_source_cluster(request: CloneRequest, run_id: str, source_arn: str) -> dict[str, Any]:
    """Create (or find, on a retry) this run's resource share naming only the target account.

    Principals outside the owner's organization are allowed only when sharing.allowExternalPrincipals says so.
    """
    access = source_access(request)
    client = ram(access)
    name = share_name(run_id)
    existing = own_share(client, access, name, run_id)
    if existing is not None:
        return _share_json(existing, request)
    tags = [{"key": t["Key"], "value": t["Value"]} for t in naming.tags_for(run_id, "clone-share")]
    with translated(access, f"share {source_arn} with {request.target.account_id}"):
        share = client.create_resource_share(
            name=name,
            resourceArns=[source_arn],
            principals=[request.target.account_id],
            allowExternalPrincipals=request.sharing.allow_external_principals,
            tags=tags,
            clientToken=name,
        )["resourceShare"]
    metrics.add_metric(name="ResourceSharesCreated", unit=MetricUnit.Count, value=1)
    logger.info(
        "cluster shared through RAM", extra={"share": share["resourceShareArn"], "cluster": source_arn}
    )
    return _share_json(share, request)


def _share_json(share: dict[str, Any], request: CloneRequest) -> dict[str, Any]:
    return {
        "resourceShareArn": share["resourceShareArn"],
        "name": share["name"],
        "principal": request.target.account_id,
        "allowExternalPrincipals": bool(share.get("allowExternalPrincipals")),
    }


def own_share(client: Any, access: AccountAccess, name: str, run_id: str) -> dict[str, Any] | None:
    """This run's active share, found by its name and checked by its tags."""
    with translated(access, f"find resource share {name}"):
        shares = client.get_resource_shares(
            resourceOwner="SELF", name=name, resourceShareStatus="ACTIVE"
        ).get("resourceShares", [])
    for share in shares:
        if share.get("name") != name:
            continue
        tags = [{"Key": t["key"], "Value": t["value"]} for t in share.get("tags", [])]
        if naming.is_tagged_by_run(tags, run_id):
            found: dict[str, Any] = share
            return found
        logger.warning(
            "resource share has this run's name but not its tags; ignoring it", extra={"name": name}
        )
    return None


def accept_share(request: CloneRequest, share: dict[str, Any], attempt: int) -> PollResult:
    """One look at the share, for the bounded wait: the target accepts a pending invitation (accounts outside
    the owner's organization get one); ready once the owner's share lists the target as ASSOCIATED."""
    owner = source_access(request)
    target = target_access(request)
    share_arn = share["resourceShareArn"]
    target_ram = ram(target)
    with translated(target, f"read invitations to {share_arn}"):
        invitations = target_ram.get_resource_share_invitations(resourceShareArns=[share_arn]).get(
            "resourceShareInvitations", []
        )
    accepted = None
    for invitation in invitations:
        if invitation.get("receiverAccountId") not in (None, target.account_id):
            continue
        status = invitation.get("status")
        if status in ("REJECTED", "EXPIRED"):
            raise ResourceFailedError.in_account(
                target,
                f"the invitation {invitation['resourceShareInvitationArn']} to resource share {share_arn} is "
                f"{status}; the owner must share again",
            )
        if status == "PENDING":
            with translated(target, f"accept invitation {invitation['resourceShareInvitationArn']}"):
                target_ram.accept_resource_share_invitation(
                    resourceShareInvitationArn=invitation["resourceShareInvitationArn"],
                    clientToken=share["name"],
                )
            logger.info("resource share invitation accepted", extra={"share": share_arn})
        accepted = invitation["resourceShareInvitationArn"]
    with translated(owner, f"read associations of {share_arn}"):
        associations = (
            ram(owner)
            .get_resource_share_associations(
                associationType="PRINCIPAL", resourceShareArns=[share_arn], principal=target.account_id
            )
            .get("resourceShareAssociations", [])
        )
    status = associations[0].get("status", "ASSOCIATING") if associations else "ASSOCIATING"
    if status == "FAILED":
        message = associations[0].get("statusMessage") or "association failed"
        hint = (
            " The target account is outside the owner's organization: set sharing.allowExternalPrincipals to "
            "true to share with it (the target then accepts an invitation)."
            if not request.sharing.allow_external_principals
            else ""
        )
        raise CloneNotAllowedError.in_account(
            owner,
            f"resource share {share_arn} could not be associated with account {target.account_id}: {message}.{hint}",
        )
    details: dict[str, Any] = {"invitationArn": accepted}
    return PollResult(status.lower(), status == "ASSOCIATED", attempt + 1, details)
