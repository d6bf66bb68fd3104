"""The shared kernel every workflow builds on: reaching member accounts, named errors, deterministic names,
input validation, the orchestrator's DynamoDB tables, one look at a resource, snapshots, a target's cluster and
its instances, KMS key policies, summaries, and the one decorator every Lambda entry point wears. Imports no
other aurora_ferry package."""

from typing import TYPE_CHECKING

from aurora_ferry.core.lazy import lazy_surface as lazy_surface

if TYPE_CHECKING:
    # Re-exports for mypy, which does not read the computed __all__ below (see aurora_ferry.core.lazy).
    from aurora_ferry.core import naming as naming
    from aurora_ferry.core.access import CLIENT_CONFIG as CLIENT_CONFIG
    from aurora_ferry.core.access import THROTTLING_CODES as THROTTLING_CODES
    from aurora_ferry.core.access import error_code as error_code
    from aurora_ferry.core.access import error_message as error_message
    from aurora_ferry.core.access import forget_sessions as forget_sessions
    from aurora_ferry.core.access import orchestrator_client as orchestrator_client
    from aurora_ferry.core.access import rds as rds
    from aurora_ferry.core.access import session_client as session_client
    from aurora_ferry.core.access import session_for as session_for
    from aurora_ferry.core.access import translated as translated
    from aurora_ferry.core.accounts import AccountAccess as AccountAccess
    from aurora_ferry.core.accounts import ClusterTarget as ClusterTarget
    from aurora_ferry.core.accounts import InstanceRequest as InstanceRequest
    from aurora_ferry.core.accounts import MasterCredentials as MasterCredentials
    from aurora_ferry.core.accounts import ParameterGroups as ParameterGroups
    from aurora_ferry.core.carry import CARRIED_SETTINGS_FIELDS as CARRIED_SETTINGS_FIELDS
    from aurora_ferry.core.carry import CarriedSettings as CarriedSettings
    from aurora_ferry.core.carry import Scaling as Scaling
    from aurora_ferry.core.carry import SourceConfiguration as SourceConfiguration
    from aurora_ferry.core.carry import configuration_from_cluster as configuration_from_cluster
    from aurora_ferry.core.carry import configuration_from_snapshot as configuration_from_snapshot
    from aurora_ferry.core.carry import valid_carried_settings as valid_carried_settings
    from aurora_ferry.core.carry_plan import CarryPlan as CarryPlan
    from aurora_ferry.core.carry_plan import PlanRow as PlanRow
    from aurora_ferry.core.carry_plan import apply_cluster_settings as apply_cluster_settings
    from aurora_ferry.core.carry_plan import plan_carry as plan_carry
    from aurora_ferry.core.clusters import cluster_parameters as cluster_parameters
    from aurora_ferry.core.clusters import create_cluster as create_cluster
    from aurora_ferry.core.clusters import create_cluster_instances as create_cluster_instances
    from aurora_ferry.core.clusters import describe_cluster as describe_cluster
    from aurora_ferry.core.clusters import require_own_cluster as require_own_cluster
    from aurora_ferry.core.credentials import master_credentials_summary as master_credentials_summary
    from aurora_ferry.core.credentials import own_master_credentials as own_master_credentials
    from aurora_ferry.core.credentials import target_master_credentials as target_master_credentials
    from aurora_ferry.core.errors import CLONE_ERRORS as CLONE_ERRORS
    from aurora_ferry.core.errors import DOMAIN_ERRORS as DOMAIN_ERRORS
    from aurora_ferry.core.errors import IN_USE_ERRORS as IN_USE_ERRORS
    from aurora_ferry.core.errors import QUEUED_ERRORS as QUEUED_ERRORS
    from aurora_ferry.core.errors import TRANSIENT_ERRORS as TRANSIENT_ERRORS
    from aurora_ferry.core.errors import AssumeRoleError as AssumeRoleError
    from aurora_ferry.core.errors import AwsThrottledError as AwsThrottledError
    from aurora_ferry.core.errors import CloneNotAllowedError as CloneNotAllowedError
    from aurora_ferry.core.errors import CloneVerificationError as CloneVerificationError
    from aurora_ferry.core.errors import ConfigurationError as ConfigurationError
    from aurora_ferry.core.errors import CopyQueueFullError as CopyQueueFullError
    from aurora_ferry.core.errors import FerryError as FerryError
    from aurora_ferry.core.errors import InvalidInputError as InvalidInputError
    from aurora_ferry.core.errors import LeftoverCleanupError as LeftoverCleanupError
    from aurora_ferry.core.errors import MasterCredentialsError as MasterCredentialsError
    from aurora_ferry.core.errors import PayloadError as PayloadError
    from aurora_ferry.core.errors import PreflightFailedError as PreflightFailedError
    from aurora_ferry.core.errors import ResourceFailedError as ResourceFailedError
    from aurora_ferry.core.errors import RunParkedError as RunParkedError
    from aurora_ferry.core.errors import SharedSnapshotInUseError as SharedSnapshotInUseError
    from aurora_ferry.core.errors import SharedSnapshotNotVisibleError as SharedSnapshotNotVisibleError
    from aurora_ferry.core.errors import SnapshotNotShareableError as SnapshotNotShareableError
    from aurora_ferry.core.errors import SourceNotFoundError as SourceNotFoundError
    from aurora_ferry.core.errors import TargetConflictError as TargetConflictError
    from aurora_ferry.core.handler import lambda_entry as lambda_entry
    from aurora_ferry.core.instance_plan import create_target_instances as create_target_instances
    from aurora_ferry.core.instance_plan import instance_rows as instance_rows
    from aurora_ferry.core.instance_plan import plan_instances as plan_instances
    from aurora_ferry.core.instance_plan import source_instances as source_instances
    from aurora_ferry.core.instance_plan import unknown_instances_problem as unknown_instances_problem
    from aurora_ferry.core.instances import MAX_INSTANCES as MAX_INSTANCES
    from aurora_ferry.core.instances import MONITORING_INTERVALS as MONITORING_INTERVALS
    from aurora_ferry.core.instances import PI_RETENTION_DAYS as PI_RETENTION_DAYS
    from aurora_ferry.core.instances import SERVERLESS as SERVERLESS
    from aurora_ferry.core.instances import InstanceShape as InstanceShape
    from aurora_ferry.core.instances import instance_parameters as instance_parameters
    from aurora_ferry.core.instances import monitoring_role_arn as monitoring_role_arn
    from aurora_ferry.core.kms_policy import CROSS_ACCOUNT_COPY_ACTIONS as CROSS_ACCOUNT_COPY_ACTIONS
    from aurora_ferry.core.kms_policy import SOURCE_KEY_COPY_ACTIONS as SOURCE_KEY_COPY_ACTIONS
    from aurora_ferry.core.kms_policy import KeyPolicyVerdict as KeyPolicyVerdict
    from aurora_ferry.core.kms_policy import evaluate_key_policy as evaluate_key_policy
    from aurora_ferry.core.kms_policy import rds_via_service as rds_via_service
    from aurora_ferry.core.kms_policy import without_account_delegation as without_account_delegation
    from aurora_ferry.core.observability import logger as logger
    from aurora_ferry.core.observability import metrics as metrics
    from aurora_ferry.core.parameter_groups import GROUP_PURPOSES as GROUP_PURPOSES
    from aurora_ferry.core.parameter_groups import MAX_PARAMETERS_PER_MODIFY as MAX_PARAMETERS_PER_MODIFY
    from aurora_ferry.core.parameter_groups import GroupContent as GroupContent
    from aurora_ferry.core.parameter_groups import GroupKind as GroupKind
    from aurora_ferry.core.parameter_groups import Parameter as Parameter
    from aurora_ferry.core.parameter_groups import Replication as Replication
    from aurora_ferry.core.parameter_groups import ReplicationJson as ReplicationJson
    from aurora_ferry.core.parameter_groups import alternative_name as alternative_name
    from aurora_ferry.core.parameter_groups import apply_method as apply_method
    from aurora_ferry.core.parameter_groups import copyable as copyable
    from aurora_ferry.core.parameter_groups import decide_placement as decide_placement
    from aurora_ferry.core.parameter_groups import delete_unused_groups as delete_unused_groups
    from aurora_ferry.core.parameter_groups import describe_group as describe_group
    from aurora_ferry.core.parameter_groups import groups_to_replicate as groups_to_replicate
    from aurora_ferry.core.parameter_groups import is_default_group as is_default_group
    from aurora_ferry.core.parameter_groups import modify_batches as modify_batches
    from aurora_ferry.core.parameter_groups import names_source_resource as names_source_resource
    from aurora_ferry.core.parameter_groups import planned_instance_groups as planned_instance_groups
    from aurora_ferry.core.parameter_groups import replicate_groups as replicate_groups
    from aurora_ferry.core.pending_reboot import reboot_pending_instances as reboot_pending_instances
    from aurora_ferry.core.polling import PollEvent as PollEvent
    from aurora_ferry.core.polling import PollResult as PollResult
    from aurora_ferry.core.polling import poll_cluster as poll_cluster
    from aurora_ferry.core.polling import poll_instances as poll_instances
    from aurora_ferry.core.polling import poll_snapshot as poll_snapshot
    from aurora_ferry.core.renames import cluster_ready as cluster_ready
    from aurora_ferry.core.renames import described_instance as described_instance
    from aurora_ferry.core.renames import found_cluster as found_cluster
    from aurora_ferry.core.renames import rename_aside as rename_aside
    from aurora_ferry.core.renames import rename_into_place as rename_into_place
    from aurora_ferry.core.renames import roll_back_rename as roll_back_rename
    from aurora_ferry.core.renames import serving as serving
    from aurora_ferry.core.renames import swap_into_place as swap_into_place
    from aurora_ferry.core.runs import RunPayload as RunPayload
    from aurora_ferry.core.snapshots import Encryption as Encryption
    from aurora_ferry.core.snapshots import SnapshotRef as SnapshotRef
    from aurora_ferry.core.snapshots import classify_encryption as classify_encryption
    from aurora_ferry.core.snapshots import describe_snapshot as describe_snapshot
    from aurora_ferry.core.snapshots import encrypted_at_rest as encrypted_at_rest
    from aurora_ferry.core.snapshots import require_snapshot as require_snapshot
    from aurora_ferry.core.snapshots import snapshot_ref as snapshot_ref
    from aurora_ferry.core.stores import TableStore as TableStore
    from aurora_ferry.core.stores import dynamodb_errors as dynamodb_errors
    from aurora_ferry.core.stores import resource_key as resource_key
    from aurora_ferry.core.stores import scan_items as scan_items
    from aurora_ferry.core.summaries import TARGET_FAILED as TARGET_FAILED
    from aurora_ferry.core.summaries import TARGET_PARKED as TARGET_PARKED
    from aurora_ferry.core.summaries import cleanup_action as cleanup_action
    from aurora_ferry.core.summaries import explain as explain
    from aurora_ferry.core.summaries import explain_failure as explain_failure
    from aurora_ferry.core.summaries import explain_run_failure as explain_run_failure
    from aurora_ferry.core.summaries import left_in_place as left_in_place
    from aurora_ferry.core.summaries import mark_at as mark_at
    from aurora_ferry.core.summaries import seconds_between as seconds_between
    from aurora_ferry.core.summaries import step_places as step_places
    from aurora_ferry.core.validation import CLUSTER_SETTINGS_FIELDS as CLUSTER_SETTINGS_FIELDS
    from aurora_ferry.core.validation import CLUSTER_SNAPSHOT_ARN as CLUSTER_SNAPSHOT_ARN
    from aurora_ferry.core.validation import INPUT_BUDGET_BYTES as INPUT_BUDGET_BYTES
    from aurora_ferry.core.validation import KMS_KEY_ARN as KMS_KEY_ARN
    from aurora_ferry.core.validation import NO_CROSS_REGION_COPY as NO_CROSS_REGION_COPY
    from aurora_ferry.core.validation import PARTITION as PARTITION
    from aurora_ferry.core.validation import PAYLOAD_LIMIT_BYTES as PAYLOAD_LIMIT_BYTES
    from aurora_ferry.core.validation import POLL_FIELDS as POLL_FIELDS
    from aurora_ferry.core.validation import SNAPSHOT_ID as SNAPSHOT_ID
    from aurora_ferry.core.validation import SOURCE_ACCOUNT_FIELDS as SOURCE_ACCOUNT_FIELDS
    from aurora_ferry.core.validation import JsonRecord as JsonRecord
    from aurora_ferry.core.validation import Problems as Problems
    from aurora_ferry.core.validation import camel_json as camel_json
    from aurora_ferry.core.validation import check_input_size as check_input_size
    from aurora_ferry.core.validation import check_own_key as check_own_key
    from aurora_ferry.core.validation import copies_across_regions as copies_across_regions
    from aurora_ferry.core.validation import input_object as input_object
    from aurora_ferry.core.validation import input_size as input_size
    from aurora_ferry.core.validation import partition_of as partition_of
    from aurora_ferry.core.validation import record_json as record_json
    from aurora_ferry.core.validation import reject_unknown as reject_unknown
    from aurora_ferry.core.validation import required_choice as required_choice
    from aurora_ferry.core.validation import required_field as required_field
    from aurora_ferry.core.validation import valid_account_id as valid_account_id
    from aurora_ferry.core.validation import valid_bool as valid_bool
    from aurora_ferry.core.validation import valid_cluster_id as valid_cluster_id
    from aurora_ferry.core.validation import valid_cluster_settings as valid_cluster_settings
    from aurora_ferry.core.validation import valid_instance_class as valid_instance_class
    from aurora_ferry.core.validation import valid_int as valid_int
    from aurora_ferry.core.validation import valid_kms_key_arn as valid_kms_key_arn
    from aurora_ferry.core.validation import valid_master_credentials as valid_master_credentials
    from aurora_ferry.core.validation import valid_object as valid_object
    from aurora_ferry.core.validation import valid_optional_external_id as valid_optional_external_id
    from aurora_ferry.core.validation import valid_optional_name as valid_optional_name
    from aurora_ferry.core.validation import valid_poll_settings as valid_poll_settings
    from aurora_ferry.core.validation import valid_region as valid_region
    from aurora_ferry.core.validation import valid_role_arn as valid_role_arn
    from aurora_ferry.core.validation import valid_security_groups as valid_security_groups
    from aurora_ferry.core.validation import valid_source_account as valid_source_account
    from aurora_ferry.core.validation import valid_string as valid_string
    from aurora_ferry.core.validation import valid_tags as valid_tags

if not TYPE_CHECKING:
    # Each public name under its module, which is imported when the name is first used.
    _ORIGINS = {
        "access": (
            "CLIENT_CONFIG",
            "THROTTLING_CODES",
            "error_code",
            "error_message",
            "forget_sessions",
            "orchestrator_client",
            "rds",
            "session_client",
            "session_for",
            "translated",
        ),
        "accounts": (
            "AccountAccess",
            "ClusterTarget",
            "InstanceRequest",
            "MasterCredentials",
            "ParameterGroups",
        ),
        "carry": (
            "CARRIED_SETTINGS_FIELDS",
            "CarriedSettings",
            "Scaling",
            "SourceConfiguration",
            "configuration_from_cluster",
            "configuration_from_snapshot",
            "valid_carried_settings",
        ),
        "carry_plan": ("CarryPlan", "PlanRow", "apply_cluster_settings", "plan_carry"),
        "clusters": (
            "cluster_parameters",
            "create_cluster",
            "create_cluster_instances",
            "describe_cluster",
            "require_own_cluster",
        ),
        "credentials": ("master_credentials_summary", "own_master_credentials", "target_master_credentials"),
        "pending_reboot": ("reboot_pending_instances",),
        "errors": (
            "CLONE_ERRORS",
            "DOMAIN_ERRORS",
            "IN_USE_ERRORS",
            "QUEUED_ERRORS",
            "TRANSIENT_ERRORS",
            "AssumeRoleError",
            "AwsThrottledError",
            "CloneNotAllowedError",
            "CloneVerificationError",
            "ConfigurationError",
            "CopyQueueFullError",
            "FerryError",
            "InvalidInputError",
            "LeftoverCleanupError",
            "MasterCredentialsError",
            "RunParkedError",
            "PayloadError",
            "PreflightFailedError",
            "ResourceFailedError",
            "SharedSnapshotInUseError",
            "SharedSnapshotNotVisibleError",
            "SnapshotNotShareableError",
            "SourceNotFoundError",
            "TargetConflictError",
        ),
        "handler": ("lambda_entry",),
        "instance_plan": (
            "create_target_instances",
            "instance_rows",
            "plan_instances",
            "source_instances",
            "unknown_instances_problem",
        ),
        "instances": (
            "MAX_INSTANCES",
            "MONITORING_INTERVALS",
            "PI_RETENTION_DAYS",
            "SERVERLESS",
            "InstanceShape",
            "instance_parameters",
            "monitoring_role_arn",
        ),
        "kms_policy": (
            "CROSS_ACCOUNT_COPY_ACTIONS",
            "SOURCE_KEY_COPY_ACTIONS",
            "KeyPolicyVerdict",
            "evaluate_key_policy",
            "rds_via_service",
            "without_account_delegation",
        ),
        "naming": ("naming",),
        "observability": ("logger", "metrics"),
        "parameter_groups": (
            "GROUP_PURPOSES",
            "MAX_PARAMETERS_PER_MODIFY",
            "GroupContent",
            "GroupKind",
            "Parameter",
            "Replication",
            "ReplicationJson",
            "alternative_name",
            "apply_method",
            "copyable",
            "decide_placement",
            "delete_unused_groups",
            "describe_group",
            "groups_to_replicate",
            "is_default_group",
            "modify_batches",
            "names_source_resource",
            "planned_instance_groups",
            "replicate_groups",
        ),
        "polling": ("PollEvent", "PollResult", "poll_cluster", "poll_instances", "poll_snapshot"),
        "renames": (
            "cluster_ready",
            "described_instance",
            "found_cluster",
            "rename_aside",
            "rename_into_place",
            "roll_back_rename",
            "serving",
            "swap_into_place",
        ),
        "runs": ("RunPayload",),
        "snapshots": (
            "Encryption",
            "SnapshotRef",
            "classify_encryption",
            "describe_snapshot",
            "encrypted_at_rest",
            "require_snapshot",
            "snapshot_ref",
        ),
        "stores": ("TableStore", "dynamodb_errors", "resource_key", "scan_items"),
        "summaries": (
            "TARGET_FAILED",
            "TARGET_PARKED",
            "cleanup_action",
            "explain",
            "explain_failure",
            "explain_run_failure",
            "left_in_place",
            "mark_at",
            "seconds_between",
            "step_places",
        ),
        "validation": (
            "CLUSTER_SETTINGS_FIELDS",
            "CLUSTER_SNAPSHOT_ARN",
            "INPUT_BUDGET_BYTES",
            "KMS_KEY_ARN",
            "NO_CROSS_REGION_COPY",
            "PARTITION",
            "PAYLOAD_LIMIT_BYTES",
            "POLL_FIELDS",
            "SNAPSHOT_ID",
            "SOURCE_ACCOUNT_FIELDS",
            "JsonRecord",
            "Problems",
            "camel_json",
            "check_input_size",
            "check_own_key",
            "copies_across_regions",
            "input_object",
            "input_size",
            "partition_of",
            "record_json",
            "reject_unknown",
            "required_choice",
            "required_field",
            "valid_account_id",
            "valid_bool",
            "valid_cluster_id",
            "valid_cluster_settings",
            "valid_instance_class",
            "valid_int",
            "valid_kms_key_arn",
            "valid_master_credentials",
            "valid_object",
            "valid_optional_external_id",
            "valid_optional_name",
            "valid_poll_settings",
            "valid_region",
            "valid_role_arn",
            "valid_security_groups",
            "valid_source_account",
            "valid_string",
            "valid_tags",
        ),
    }
    __getattr__, __all__ = lazy_surface(__name__, _ORIGINS, eager=("lazy_surface",))
