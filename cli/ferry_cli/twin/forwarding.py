"""The member accounts' RDS event forwarding (member-accounts/*.yaml ``RdsEventForwardingRule``) in the twin.

Each member account's rule is deployed in the account's Region (``World.region_of``) as its stack renders it with
``ForwardRdsEvents=true`` and the account's own parameters, so its target is the bus the template names: the
orchestrator's default bus, in the orchestrator's Region through ``OrchestratorRegion`` for an account elsewhere.
EventBridge puts a matched event on a bus of another account or Region as the rule's execution role, so the
role's policy must allow ``events:PutEvents`` on that bus (the receiving bus's own policy is checked as well, by
ferry_cli.twin.events):
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-region.html
https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cross-account.html
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferry_cli.template import load_cfn_yaml
from ferry_cli.twin.cfn import render_stack
from ferry_cli.twin.iam.policy import AuthRequest, PolicyDocument, Principal, authorize
from ferry_cli.twin.world import AccountSpec, member_stack_parameters

__all__ = ["FORWARDING_RULE_NAME", "ForwardingRule", "deploy_forwarding_rule", "forwarding_rule"]

FORWARDING_RULE_NAME = "aurora-ferry-rds-event-forwarding"
_TARGET_ID = "orchestrator-default-bus"


@dataclass(frozen=True)
class ForwardingRule:
    """One member account's forwarding rule, as deployed: where it is, what it matches, where it sends."""

    account_id: str
    region: str
    pattern: Mapping[str, Any]
    target_arn: str
    role_arn: str
    # The execution role's policies as the stack renders them; None for an account without a member stack,
    # whose rule the twin makes up (the role is not modelled, and only its own Region's bus is a target).
    role_policies: tuple[tuple[str, PolicyDocument], ...] | None

    def role_allows(self, bus_arn: str) -> bool:
        """May the rule's execution role put events on ``bus_arn``?"""
        if self.role_policies is None:
            return True
        principal = Principal(arn=self.role_arn, account_id=self.account_id, principal_arn=self.role_arn)
        # Only the identity half: the receiving bus's policy is the events router's (TwinEvents._bus_allows).
        # EventBridge puts the event in the bus's Region: that is the request's aws:RequestedRegion.
        request = AuthRequest("events:PutEvents", bus_arn, {"aws:RequestedRegion": bus_arn.split(":")[3]})
        verdict = authorize(principal, request, self.role_policies, None, self.account_id)
        return verdict.allowed


def forwarding_rule(twin: Any, account: AccountSpec) -> ForwardingRule:
    """The account's forwarding rule: rendered from its member stack, or, for an account without one, the
    template's pattern sending to the orchestrator's bus in the account's Region (the world's, then)."""
    world = twin.world
    region = world.region_of(account.account_id)
    stack = account.member_stack
    name = stack.template if stack is not None else "source-account" if account.clusters else "target-account"
    template = load_cfn_yaml(Path(twin.member_templates) / f"{name}.yaml")
    if stack is None:
        properties = template["Resources"]["RdsEventForwardingRule"]["Properties"]
        return ForwardingRule(
            account.account_id,
            region,
            properties["EventPattern"],
            f"arn:aws:events:{region}:{world.orchestrator_account_id}:event-bus/default",
            f"arn:aws:iam::{account.account_id}:role/twin-rds-event-forwarding",
            None,
        )
    parameters = {**member_stack_parameters(world, account, twin.stack_outputs), "ForwardRdsEvents": "true"}
    rendered = render_stack(
        template,
        parameters,
        account_id=account.account_id,
        region=region,
        stack_name=stack.stack_name,
        key_ids={stack.key_logical_id: stack.key_id},
    )
    rule = rendered.resources["RdsEventForwardingRule"].properties
    target = next(t for t in rule["Targets"] if t.get("Id") == _TARGET_ID)
    role = next(
        r
        for r in rendered.of_type("AWS::IAM::Role").values()
        if r.attributes.get("Arn", r.arn) == target.get("RoleArn")
    )
    policies = tuple(
        (str(policy["PolicyName"]), dict(policy["PolicyDocument"]))
        for policy in role.properties.get("Policies", [])
    )
    return ForwardingRule(
        account.account_id, region, rule["EventPattern"], str(target["Arn"]), str(target["RoleArn"]), policies
    )


def deploy_forwarding_rule(twin: Any, rule: ForwardingRule) -> None:
    """Put the rule and its target on the account's default bus in its Region."""
    events = twin.client("events", rule.account_id, rule.region)
    events.put_rule(Name=FORWARDING_RULE_NAME, EventPattern=json.dumps(rule.pattern), State="ENABLED")
    events.put_targets(
        Rule=FORWARDING_RULE_NAME,
        Targets=[{"Id": _TARGET_ID, "Arn": rule.target_arn, "RoleArn": rule.role_arn}],
    )
