"""Who acts where in a clone run, and the names it gives what it makes: derived from the request and the run
id alone, so every step (and cleanup after a failure) finds the same clone and share."""

from __future__ import annotations

import hashlib
from typing import Any

from aurora_ferry.clone.contract import CloneRequest
from aurora_ferry.core import AccountAccess, naming

REFRESH_OF_TAG = "aurora-ferry:refresh-of"
_SHORT_ID = 8


def source_access(request: CloneRequest) -> AccountAccess:
    """The source's AccountAccess alone, without what the source adds: sessions are cached, and a run's accounts
    told apart, by it."""
    source = request.source
    return AccountAccess(source.account_id, source.region, source.role_arn, source.external_id)


def target_access(request: CloneRequest) -> AccountAccess:
    return request.target.access(request.source.region)


def short_run_id(run_id: str) -> str:
    """8 hex characters of the run id's hash: a refresh clone's suffix, unique per run."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:_SHORT_ID]


def clone_identifier(request: CloneRequest, run_id: str) -> str:
    """The clone's cluster id: target.cloneIdentifier, or "<refresh.replaces>-<short run id>" for a refresh."""
    if request.refresh is not None:
        return f"{request.refresh.replaces}-{short_run_id(run_id)}"
    assert request.target.clone_identifier is not None  # the contract requires one without refresh
    return request.target.clone_identifier


def share_name(run_id: str) -> str:
    return f"aurora-ferry-{run_id}"


def clone_tags(request: CloneRequest, run_id: str, purpose: str) -> list[dict[str, str]]:
    extra = dict(request.target.tags)
    if request.refresh is not None:
        extra[REFRESH_OF_TAG] = request.refresh.replaces
    return naming.tags_for(run_id, purpose, extra)


def plan(request: CloneRequest, run_id: str) -> dict[str, Any]:
    """What the state machine branches on: the clone's id, whether it crosses accounts, the share's name."""
    return {
        "cloneIdentifier": clone_identifier(request, run_id),
        "crossAccount": request.cross_account,
        "shareName": share_name(run_id),
    }
