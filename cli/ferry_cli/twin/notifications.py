"""template.yaml's notification resources in the twin: its KMS keys, SNS topics and subscriptions, and CloudWatch
alarms, with the identities CloudFormation gives them (the same ones the functions' policies name, see
ferry_cli.twin.stacks.render_sam_stack).

Keys are created straight in moto's KMS backend with their key policy (the twin's IAM judges a publish to an
encrypted topic against it, ferry_cli.twin.iam.actions); topics, subscriptions and alarms through the twin's
own clients. A function's environment variable that names a topic (``!Ref``) gets the topic's ARN here, once
the topic exists (ferry_cli.template.DEPLOYED_LATER).
"""

from __future__ import annotations

import os
from typing import Any

from ferry_cli.template import DEPLOYED_LATER, TWIN_STACK_NAME
from ferry_cli.twin.cfn import RenderedResource, RenderedStack
from ferry_cli.twin.stacks import SamStack, create_key, render_sam_stack

__all__ = ["deploy_notifications", "rendered_template"]

_ALARM_NUMBERS = {"EvaluationPeriods": int, "DatapointsToAlarm": int, "Threshold": float, "Period": int}


def rendered_template(twin: Any) -> RenderedStack:
    """template.yaml rendered as the twin deployed it (no parameters given: every default)."""
    physical_ids = {
        **twin.function_arns,
        **twin.state_machine_arns,
        **{i: table.physical_name for i, table in twin.template.tables.items()},
    }
    world = twin.world
    return render_sam_stack(
        SamStack(
            twin.template_path, {}, world.orchestrator_account_id, world.region, TWIN_STACK_NAME, physical_ids
        )
    )


def deploy_notifications(twin: Any) -> RenderedStack:
    """Create the template's keys, topics, subscriptions and alarms in the orchestrator account."""
    from moto.kms.models import kms_backends

    rendered = rendered_template(twin)
    account, region = twin.world.orchestrator_account_id, twin.world.region
    topics: dict[str, str] = {}
    for resource in rendered.resources.values():
        props = resource.properties
        if resource.type == "AWS::KMS::Key":
            create_key(kms_backends[account][region], resource)
        elif resource.type == "AWS::SNS::Topic":
            attributes = (
                {"KmsMasterKeyId": str(props["KmsMasterKeyId"])} if props.get("KmsMasterKeyId") else {}
            )
            name = resource.attributes["TopicName"]
            topics[resource.logical_id] = twin.client("sns").create_topic(Name=name, Attributes=attributes)[
                "TopicArn"
            ]
        elif resource.type == "AWS::SNS::Subscription":
            twin.client("sns").subscribe(
                TopicArn=str(props["TopicArn"]),
                Protocol=str(props["Protocol"]),
                Endpoint=str(props["Endpoint"]),
            )
        elif resource.type == "AWS::CloudWatch::Alarm":
            twin.client("cloudwatch").put_metric_alarm(**_alarm(resource))
    for name, value in list(os.environ.items()):
        if value.startswith(DEPLOYED_LATER):
            logical_id = value.removeprefix(DEPLOYED_LATER)
            if logical_id not in topics:
                raise ValueError(f"environment variable {name}: the twin deployed no topic {logical_id}")
            os.environ[name] = topics[logical_id]
    return rendered


def _alarm(resource: RenderedResource) -> dict[str, Any]:
    """PutMetricAlarm's parameters from the alarm's properties (the same names), numbers as numbers."""
    props = dict(resource.properties)
    props.setdefault("AlarmName", resource.physical_id)
    for name, kind in _ALARM_NUMBERS.items():
        if name in props:
            props[name] = kind(props[name])
    for query in props.get("Metrics", []):
        stat = query.get("MetricStat")
        if stat is not None:
            stat["Period"] = int(stat["Period"])
        if "ReturnData" in query:
            query["ReturnData"] = str(query["ReturnData"]).lower() == "true"
    return props
