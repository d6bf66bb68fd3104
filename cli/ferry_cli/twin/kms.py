"""KMS in the twin: the AWS managed ``aws/rds`` key (rule 5) and whether an account may use a key (rule 6).

Rule 5. RDS encrypts with the account's AWS managed key ``alias/aws/rds`` when ``StorageEncrypted`` is true
and no ``KmsKeyId`` is given; moto's API refuses ``aws/`` aliases and, when one is looked up, invents a
customer managed key called "Default key". The twin builds the real-looking AWS managed key instead.
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Overview.Encryption.Keys.html

Rule 6. RDS uses a key for the caller: the key must exist in the Region of the call, be enabled, and, when
it belongs to another account, be a customer managed key whose key policy lets the calling account use it
through RDS. The key policy is judged by the twin's own IAM evaluator (ferry_cli.twin.iam.policy), never by
the product's (aurora_ferry.core.kms_policy), so that a bug in the product's evaluator shows in twin tests.
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/share-encrypted-snapshot.html

:class:`KmsRules` is the twin's one patch of ``KmsBackend``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from unittest import mock

from moto.kms.models import KmsBackend, kms_backends
from moto.rds.exceptions import KMSKeyNotAccessibleFault
from moto.rds.models import KMS_ARN_PATTERN

from ferry_cli.twin.iam.policy import AuthRequest, PolicyDocument, Principal, Verdict, authorize, statements
from ferry_cli.twin.patching import MotoPatch

__all__ = [
    "CREATE_WITH_KEY_ACTIONS",
    "CROSS_ACCOUNT_COPY_ACTIONS",
    "DEFAULT_RDS_KEY_ALIAS",
    "DEFAULT_RDS_KEY_DESCRIPTION",
    "MOTO_PLACEHOLDER_KEY",
    "KmsRules",
    "check_key_usable",
    "default_rds_key_arn",
    "find_key",
    "is_default_rds_key",
    "key_policy_refusals",
    "symmetric_keys_share_one_rsa_key",
]

DEFAULT_RDS_KEY_ALIAS = "alias/aws/rds"
DEFAULT_RDS_KEY_DESCRIPTION = "Default key that protects my RDS database volumes when no other key is defined"

# What RDS does with the keys during a cross-account copy (and a restore or clone from another account's
# snapshot or cluster): it creates a grant, describes the key, decrypts with the source key and re-encrypts /
# generates data keys under the target key. The key policy example for other accounts grants exactly these
# (with the wildcards kms:ReEncrypt* and kms:GenerateDataKey*):
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying-external-accounts.html
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/share-encrypted-snapshot.html
CROSS_ACCOUNT_COPY_ACTIONS: tuple[str, ...] = (
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
)

# Creating an RDS resource encrypted with a customer managed key needs these two:
# https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Overview.Encryption.Keys.html
CREATE_WITH_KEY_ACTIONS: tuple[str, ...] = ("kms:CreateGrant", "kms:DescribeKey")

# moto's placeholder when a cluster is encrypted without a KmsKeyId; never a real key.
MOTO_PLACEHOLDER_KEY = "default_kms_key_id"

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


def find_key(key_id_or_arn: str, account_id: str, region: str) -> Any | None:
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
    key = find_key(key_id_or_arn, account, region)
    return key is not None and DEFAULT_RDS_KEY_ALIAS in key.aliases


# --------------------------------------------------------------------------------------------------
# Rule 6: may the calling account use the key through RDS?
# --------------------------------------------------------------------------------------------------

# KMS allows a principal when the key policy allows it directly, or names its account (delegating to the
# account's IAM policies) and its IAM policies allow it too; an explicit Deny anywhere wins:
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html
# The twin's question here is the account-level half only: "may this account use the key through RDS", asked
# of the key policy for the account's root principal. Its identity policies allow everything, on purpose: the
# per-role IAM half is enforced separately, on every call a handler makes, by ferry_cli.twin.iam.authorizer
# (which judges the caller's real role against its identity policies and this same key policy). Asking it here
# as well would need a caller the moto backend does not know, and would refuse twice for one missing grant.
_ACCOUNT_LEVEL_IDENTITY: tuple[tuple[str, PolicyDocument], ...] = (
    (
        "twin-account-level-question",
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    ),
)

# kms:GrantIsForAWSResource is in the request context of the grant operations, and true when RDS creates the
# grant for its own resource:
# https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-is-for-aws-resource
_GRANT_ACTIONS = frozenset({"kms:creategrant", "kms:listgrants", "kms:revokegrant"})


def key_policy_refusals(
    policy: PolicyDocument,
    key_arn: str,
    key_account: str,
    caller_account: str,
    region: str,
    actions: Iterable[str],
) -> dict[str, Verdict]:
    """The ``actions`` the key policy does not let ``caller_account`` perform through RDS in ``region``,
    with the twin evaluator's verdict for each (empty: all allowed).

    The request is the one RDS makes for a principal of the account (its root stands for the account):
    ``kms:ViaService`` is ``rds.<region>.amazonaws.com``, ``kms:CallerAccount`` the account, and
    ``kms:GrantIsForAWSResource`` true on the grant operations.
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
    """
    # The account may use the key if its root (every principal, through IAM) or any one of its principals
    # the policy names may: the per-role half is the twin's IAM's business (ferry_cli.twin.iam.authorizer),
    # so a policy naming a role of the account must not be refused here.
    candidates = [f"arn:aws:iam::{caller_account}:root", *_named_principals(policy, caller_account)]
    refused: dict[str, Verdict] = {}
    for action in dict.fromkeys(actions):
        context: dict[str, str] = {
            "kms:ViaService": f"rds.{region}.amazonaws.com",
            "kms:CallerAccount": caller_account,
            # RDS of that Region calls KMS there (aws:RequestedRegion, in every request's context).
            "aws:RequestedRegion": region,
        }
        if action.lower() in _GRANT_ACTIONS:
            context["kms:GrantIsForAWSResource"] = "true"
        verdicts = [
            authorize(
                Principal(arn=arn, account_id=caller_account, principal_arn=arn),
                AuthRequest(action, key_arn, context),
                _ACCOUNT_LEVEL_IDENTITY,
                policy,
                key_account,
                resource_policy_required=True,
                resource_policy_name="key-policy",
            )
            for arn in candidates
        ]
        if not any(verdict.allowed for verdict in verdicts):
            refused[action] = verdicts[0]
    return refused


def _named_principals(policy: PolicyDocument, account_id: str) -> list[str]:
    """IAM role and user ARNs of `account_id` that the policy's statements name as principals."""
    named: list[str] = []
    for _, statement in statements(policy):
        principal = statement.get("Principal")
        values = principal.get("AWS", []) if isinstance(principal, dict) else []
        for value in [values] if isinstance(values, str) else list(values):
            text = str(value)
            if text.startswith(f"arn:aws:iam::{account_id}:") and not text.endswith(":root"):
                named.append(text)
    return list(dict.fromkeys(named))


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


def _policy_of(key: Any) -> Mapping[str, Any]:
    try:
        policy = json.loads(key.policy)
    except (TypeError, ValueError):
        return {}
    return policy if isinstance(policy, Mapping) else {}


def check_key_usable(
    key_ref: str | None,
    caller_account: str,
    region: str,
    role: str,
    actions: Iterable[str],
) -> None:
    """Raise KMSKeyNotAccessibleFault unless ``caller_account`` may use the key in ``region``.

    ``role`` is "source snapshot", "source cluster" or "target" and only shapes the message, which follows
    the one RDS returns ("The source snapshot KMS key [...] does not exist, is not enabled or you do not
    have permissions to access it.").
    """
    if not key_ref or key_ref == MOTO_PLACEHOLDER_KEY:
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
    key = find_key(key_ref, owner, key_region)
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
    refused = key_policy_refusals(_policy_of(key), str(key.arn), owner, caller_account, region, actions)
    if refused:
        missing = ", ".join(
            f"{action} (denied by {verdict.decided_by})" if verdict.decided_by else action
            for action, verdict in refused.items()
        )
        raise _kms_not_accessible(
            key_ref,
            f"{prefix} Twin: the key policy of {key_ref} (owned by account {owner}) does not allow "
            f"account {caller_account}: {missing}.",
        )


class KmsRules(MotoPatch):
    """The twin's patch of ``KmsBackend`` (rule 5)."""

    target = KmsBackend
    replaces = ("_generate_default_keys",)

    def _generate_default_keys(self, backend: Any, alias_name: str) -> Any:
        """When moto lazily creates ``alias/aws/rds`` (e.g. ``describe_key`` or a KmsKeyId of
        "alias/aws/rds"), create the realistic AWS managed key instead of moto's "Default key".
        https://docs.aws.amazon.com/kms/latest/developerguide/concepts.html#aws-managed-cmk
        """
        if alias_name == DEFAULT_RDS_KEY_ALIAS:
            arn = default_rds_key_arn(backend.account_id, backend.region_name)
            return arn.split(":key/", 1)[1]
        return self.original("_generate_default_keys")(backend, alias_name)


_SPARE_RSA_KEY: list[Any] = []


@contextmanager
def symmetric_keys_share_one_rsa_key() -> Iterator[None]:
    """moto gives every key, symmetric ones included, a fresh RSA-2048 private key (about 90 ms each); a
    symmetric key never uses it, so those share one. Asymmetric keys still get their own."""
    from moto.kms import models
    from moto.kms.utils import generate_private_key as generate

    def private_key(key_spec: str) -> Any:
        if key_spec != "SYMMETRIC_DEFAULT":
            return generate(key_spec)
        if not _SPARE_RSA_KEY:
            _SPARE_RSA_KEY.append(generate(key_spec))
        return _SPARE_RSA_KEY[0]

    with mock.patch.object(models, "generate_private_key", private_key):
        yield
