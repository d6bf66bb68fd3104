"""Clients per member account, and translation of AWS faults into named domain errors.

The orchestrator's functions act in other accounts only through roles they assume; sessions are cached
per (account, region, role) for the life of the Lambda container and refreshed before the assumed
credentials expire.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.loaders import Loader

from aurora_ferry.core.accounts import AccountAccess
from aurora_ferry.core.errors import (
    AssumeRoleError,
    AwsThrottledError,
    FerryError,
    KmsKeyNotUsableError,
    SnapshotQuotaError,
)

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_rds import RDSClient
    from mypy_boto3_sts import STSClient

# Standard retry mode absorbs short throttling bursts inside one invocation; what is left becomes
# AwsThrottledError and the state machine backs off between invocations.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, user_agent_extra="aurora-ferry")
_REFRESH_BEFORE = timedelta(minutes=10)
_SESSION_NAME = "aurora-ferry"

THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
)


_sts: STSClient | None = None
_sessions: dict[AccountAccess, tuple[boto3.Session, datetime]] = {}
# Clients per session: a client costs tens of milliseconds to build, and every step needs the same few.
_clients: weakref.WeakKeyDictionary[boto3.Session, dict[str, Any]] = weakref.WeakKeyDictionary()
_loader: Loader | None = None
_lock = threading.Lock()


def _botocore_session() -> botocore.session.Session:
    """A botocore session sharing the container's one model loader, so that a session per assumed role does
    not read every service model from disk again."""
    global _loader  # noqa: PLW0603 - one loader per container
    core = botocore.session.get_session()
    with _lock:
        if _loader is None:
            _loader = core.get_component("data_loader")
        else:
            core.register_component("data_loader", _loader)
    return core


def _sts_client() -> STSClient:
    global _sts  # noqa: PLW0603 - one STS client per container, created lazily so imports stay cheap
    if _sts is None:
        _sts = boto3.client("sts", config=CLIENT_CONFIG)
    return _sts


def session_for(access: AccountAccess) -> boto3.Session:
    with _lock:
        cached = _sessions.get(access)
        if cached and cached[1] - datetime.now(UTC) > _REFRESH_BEFORE:
            return cached[0]
    params: dict[str, Any] = {"RoleArn": access.role_arn, "RoleSessionName": _SESSION_NAME}
    if access.external_id:
        params["ExternalId"] = access.external_id
    try:
        credentials = _sts_client().assume_role(**params)["Credentials"]
    except ClientError as error:
        raise AssumeRoleError.in_account(
            access, f"cannot assume {access.role_arn}: {error.response['Error'].get('Message', error)}"
        ) from error
    session = boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=access.region,
        botocore_session=_botocore_session(),
    )
    with _lock:
        _sessions[access] = (session, credentials["Expiration"])
    return session


def forget_sessions() -> None:
    """Drop cached sessions (the twin resets accounts between runs)."""
    global _sts  # noqa: PLW0603
    with _lock:
        _sessions.clear()
        _sts = None


_orchestrator_clients: dict[tuple[str, str], Any] = {}


def orchestrator_client(service: str) -> Any:
    """A client of the orchestrator's own account (DynamoDB, Step Functions), one per service and region."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
    with _lock:
        client = _orchestrator_clients.get((service, region))
        if client is None:
            client = boto3.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]
            _orchestrator_clients[(service, region)] = client
        return client


def session_client(session: boto3.Session, service: str) -> Any:
    """The session's client for ``service``, built once (with the run's retry behaviour)."""
    with _lock:
        clients = _clients.setdefault(session, {})
        client = clients.get(service)
        if client is None:
            client = clients[service] = session.client(service, config=CLIENT_CONFIG)  # type: ignore[call-overload]
        return client


def rds(access: AccountAccess) -> RDSClient:
    client: RDSClient = session_client(session_for(access), "rds")
    return client


def kms(access: AccountAccess) -> KMSClient:
    client: KMSClient = session_client(session_for(access), "kms")
    return client


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", "")) or str(error)


@contextmanager
def translated(access: AccountAccess, action: str) -> Iterator[None]:
    """Turn the AWS faults every step can meet into named errors that say where they happened."""
    try:
        yield
    except FerryError:
        raise
    except ClientError as error:
        code = error_code(error)
        message = f"{action}: {code}: {error_message(error)}"
        if code in THROTTLING_CODES:
            raise AwsThrottledError.in_account(access, message) from error
        if code in ("KMSKeyNotAccessibleFault", "KMSKeyNotAccessible"):
            raise KmsKeyNotUsableError.in_account(access, message) from error
        if code in ("SnapshotQuotaExceeded", "SnapshotQuotaExceededFault"):
            raise SnapshotQuotaError.in_account(access, message) from error
        raise
