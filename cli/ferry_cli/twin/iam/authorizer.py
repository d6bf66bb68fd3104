"""The twin's IAM: every AWS call a Lambda handler makes is authorised before moto answers it.

Moto answers every request through ``BaseResponse.call_action``; while ``enforced()`` is active that method
first works out who is calling (the function's own execution role, or the member role it assumed), turns the
request into IAM checks (ferry_cli.twin.iam.actions), judges each with the twin's own policy evaluator
(ferry_cli.twin.iam.policy) against the caller's identity policies, the KMS key policy or the role trust
policy, and answers a denial the way the service does: its error code, and AWS's message naming the
principal, the action and the resource.
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html

Calls the twin itself makes (building the world, inspecting it) are not a handler's and are not checked.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from unittest import mock

from moto.core.exceptions import ServiceException
from moto.core.parse import PROTOCOL_PARSERS
from moto.core.request import determine_request_protocol
from moto.core.responses import ActionResult, BaseResponse
from moto.core.utils import get_service_model
from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from ferry_cli.twin.iam.actions import Call, Check, checks_for
from ferry_cli.twin.iam.answers import TwinAnswerError, answer
from ferry_cli.twin.iam.lookup import MotoLookup, create_rds_service_linked_role, policy_document
from ferry_cli.twin.iam.policy import Principal, Verdict, authorize, denial_message

# The error code each service answers an IAM denial with.
_DENIED_CODE = {
    "rds": "AccessDenied",
    "sts": "AccessDenied",
    "iam": "AccessDenied",
    "ec2": "UnauthorizedOperation",
    "kms": "AccessDeniedException",
    "ram": "AccessDeniedException",
    "dynamodb": "AccessDeniedException",
    "stepfunctions": "AccessDeniedException",
    "sns": "AuthorizationError",
}
_PARTITION = "aws"
# The twin's own administrator in member accounts, and the access key of its own clients
# (ferry_cli.twin.runtime.Twin.client): calls the twin makes to build and inspect the world, even from a
# handler's thread (a test's scripted handler), are not a function's and are not checked.
TWIN_OPERATOR_ROLE = "twin-operator"
TWIN_ACCESS_KEY = "AKIATWINOPERATOR0000"


class _NoIdentityError(Exception):
    def __init__(self, access_key: str, function: str | None = None) -> None:
        super().__init__(
            f"twin: a call with access key {access_key} made outside any deployed function"
            + (f" ({function} has no execution role in template.yaml)" if function else "")
            + "; run product code under Twin.iam.acting_as('<FunctionLogicalId>')"
        )


class TwinDenied(ServiceException):
    """A denial, serialised by moto in the answering service's own error format."""


@dataclass(frozen=True)
class Denial:
    """One refused call, as the twin recorded it (what `ferry local plan` and tests read)."""

    principal: str
    action: str
    resource: str
    code: str
    message: str
    dependent_of: str | None


@dataclass
class Authorizer:
    """Who is calling, and whether they may: the IAM of every account of the twin."""

    enabled: bool = True
    lookup: MotoLookup = field(default_factory=MotoLookup)
    # Function logical id -> the ARN of its execution role (template.yaml as SAM translates it).
    function_roles: dict[str, str] = field(default_factory=dict)
    # Account id -> {quota name: max} for rds:DescribeAccountAttributes.
    quotas: dict[str, dict[str, int]] = field(default_factory=dict)
    denials: list[Denial] = field(default_factory=list)
    _local: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def acting_as(self, function_logical_id: str) -> Iterator[None]:
        """Calls made on this thread inside the block are the function's, under its execution role."""
        previous = getattr(self._local, "function", None)
        self._local.function = function_logical_id
        try:
            yield
        finally:
            self._local.function = previous

    def current_function(self) -> str | None:
        """The function whose handler runs on this thread, if any."""
        function = getattr(self._local, "function", None)
        return str(function) if function else None

    # --- who is calling ---------------------------------------------------------------------------------

    def principal(self, access_key: str) -> Principal | None:
        """The caller behind an access key; None for the twin itself."""
        if access_key == TWIN_ACCESS_KEY:
            return None
        for account_id, backends in list(iam_backends.items()):
            key = backends[_PARTITION].access_keys.get(access_key)
            role_arn = getattr(key, "role_arn", None) if key is not None else None
            if role_arn:
                role = self.lookup.role(role_arn)
                if role is None or role.name == TWIN_OPERATOR_ROLE:
                    return None
                return _session(
                    account_id, str(role.arn), str(role.name), _session_name(account_id, access_key)
                )
        function = getattr(self._local, "function", None)
        if function is None:
            raise _NoIdentityError(access_key)
        role_arn = self.function_roles.get(function)
        if role_arn is None:
            raise _NoIdentityError(access_key, function)
        role = self.lookup.role(role_arn)
        account_id = role_arn.split(":")[4]
        name = str(role.name) if role is not None else role_arn.rsplit("/", 1)[-1]
        return _session(account_id, role_arn, name, str(function))

    def identity_policies(self, principal: Principal) -> list[tuple[str, Mapping[str, Any]]]:
        role = self.lookup.role(principal.principal_arn)
        if role is None:
            return []
        policies: list[tuple[str, Mapping[str, Any]]] = [
            (str(name), policy_document(document)) for name, document in role.policies.items()
        ]
        for arn, managed in role.managed_policies.items():
            # A managed policy's text is its default version's document.
            default = next((v for v in managed.versions if v.version_id == managed.default_version_id), None)
            policies.append((str(arn), policy_document(default.document if default is not None else None)))
        return policies

    # --- deciding ---------------------------------------------------------------------------------------

    def judge(self, principal: Principal, check: Check) -> Verdict:
        return authorize(
            principal,
            check.request,
            self.identity_policies(principal),
            check.resource_policy,
            check.resource_account,
            resource_policy_required=check.policy_required,
        )

    def first_denial(self, principal: Principal, call: Call, checks: Sequence[Check]) -> Denial | None:
        for check in checks:
            verdict = self.judge(principal, check)
            if verdict.allowed:
                continue
            message = denial_message(principal, check.request, verdict)
            code = check.fault or _DENIED_CODE.get(call.service, "AccessDenied")
            if check.fault == "KMSKeyNotAccessibleFault":
                # RDS's own words for a key it may not use for the caller; the twin adds which grant is missing.
                message = (
                    f"The KMS key [{check.request.resource}] does not exist, is not enabled or you do not "
                    f"have permissions to access it. Twin: {message}"
                )
            return Denial(
                principal.arn, check.request.action, check.request.resource, code, message, check.dependent_of
            )
        return None

    # --- the hook ---------------------------------------------------------------------------------------

    def intercept(self, response: BaseResponse) -> Any | None:
        """moto's answer to a refused or twin-answered request; None lets moto answer as usual."""
        service = response.boto3_service_name
        operation = response._get_action()
        try:
            principal = self.principal(response.get_access_key())
        except _NoIdentityError as unknown:
            if service == "lambda":
                # Step Functions invoking a task's function (moto's interpreter, with its own placeholder
                # key), under the state machine's role: the twin does not model that role's grants.
                return None
            # Product code outside any function (a test, the CLI) must say whose call it is, or nothing of
            # it would be checked: refuse instead of letting it through.
            return _error(response, "TwinNoIdentity", str(unknown))
        call = Call(
            service,
            operation,
            _parameters(response),
            principal.account_id if principal else response.current_account,
            response.region,
        )
        if principal is not None:
            mapped = checks_for(call, self.lookup)
            if mapped is None:
                # A call outside the map would bypass the twin's IAM; refuse it loudly instead.
                return _error(
                    response,
                    "TwinUnmappedOperation",
                    f"twin: {service}:{operation} is not in ferry_cli/twin/iam/actions.py; map it to its IAM "
                    "actions before the runtime code calls it.",
                )
            checks = [in_requested_region(check, call) for check in mapped]
            if self.enabled:
                denial = self.first_denial(principal, call, checks)
                if denial is not None:
                    with self._lock:
                        self.denials.append(denial)
                    return _error(response, denial.code, denial.message)
                self._create_service_linked_role(call, checks)
        try:
            answered = answer(self, call)
        except TwinAnswerError as error:
            return _error(response, error.code, error.message)
        return None if answered is None else response.serialized(ActionResult(answered))

    def _create_service_linked_role(self, call: Call, checks: Sequence[Check]) -> None:
        """RDS creates AWSServiceRoleForRDS the first time an account needs it (once it was authorised)."""
        if any(check.request.action == "iam:CreateServiceLinkedRole" for check in checks):
            create_rds_service_linked_role(call.account_id)


# aws:RequestedRegion, a global condition key in every request's context: "the AWS Region that was called in
# the request". IAM has a single endpoint, physically in us-east-1 (in the aws partition), so every IAM request
# is made to us-east-1 whatever Region the client names.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-requestedregion
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_aws_deny-requested-region.html
REQUESTED_REGION = "aws:RequestedRegion"
_GLOBAL_SERVICE_REGION = {"iam": "us-east-1"}


def requested_region(call: Call) -> str:
    """The Region a request is made to, as aws:RequestedRegion holds it."""
    return _GLOBAL_SERVICE_REGION.get(call.service, call.region)


def in_requested_region(check: Check, call: Call) -> Check:
    """The check with aws:RequestedRegion in its context, unless the mapper set it (a key another Region's
    service uses for the caller, ``actions._key_use``)."""
    context = check.request.context
    if any(key.lower() == REQUESTED_REGION.lower() for key in context):
        return check
    request = replace(check.request, context={**context, REQUESTED_REGION: requested_region(call)})
    return replace(check, request=request)


def _session(account_id: str, role_arn: str, role_name: str, session_name: str) -> Principal:
    return Principal(
        arn=f"arn:{_PARTITION}:sts::{account_id}:assumed-role/{role_name}/{session_name}",
        account_id=account_id,
        principal_arn=role_arn,
    )


def _session_name(account_id: str, access_key: str) -> str:
    for backend in sts_backends[account_id].values():
        for assumed in backend.assumed_roles:
            if assumed.access_key_id == access_key:
                return str(assumed.session_name)
    return "session"


def _parameters(response: BaseResponse) -> Mapping[str, Any]:
    """The request's parameters under their API names, parsed with the service's own model (any protocol).

    Parsed apart from moto's own parse (which some services map to snake_case names), leaving it untouched.
    """
    request = response.normalized_request
    service_model = get_service_model(response.boto3_service_name)
    operation_model = service_model.operation_model(response._get_action())
    protocol = determine_request_protocol(service_model, request.content_type)
    parser = PROTOCOL_PARSERS[protocol](operation_model, map_type=dict)
    parsed = parser.parse(
        {
            "method": request.method,
            "values": request.values,
            "headers": request.headers,
            "body": request.data,
            "url_path": request.path,
            "url_params": response.uri_match,
        }
    )
    plain: dict[str, Any] = _plain(parsed)
    return plain


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _error(response: BaseResponse, code: str, message: str) -> Any:
    return response.serialized(ActionResult(TwinDenied(code, message)))


_active: Authorizer | None = None
_active_lock = threading.Lock()


def active() -> Authorizer:
    """The twin's IAM while a twin runs (for code that acts as a function, such as `ferry local plan`)."""
    if _active is None:
        raise RuntimeError("no twin is running")
    return _active


@contextmanager
def enforced(authorizer: Authorizer) -> Iterator[Authorizer]:
    """Authorise every moto request with ``authorizer`` while the context is active (inside mock_aws)."""
    global _active  # noqa: PLW0603 - one process-wide hook at a time, like the twin's other patches
    with _active_lock:
        if _active is not None:
            raise RuntimeError("the twin's IAM is already active in this process")
        _active = authorizer
    original = BaseResponse.call_action

    def call_action(self: BaseResponse) -> Any:
        answered = authorizer.intercept(self)
        return original(self) if answered is None else answered

    try:
        with mock.patch.object(BaseResponse, "call_action", call_action):
            yield authorizer
    finally:
        with _active_lock:
            _active = None
