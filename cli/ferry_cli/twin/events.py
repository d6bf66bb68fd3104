"""RDS events, EventBridge delivery, schedules and task-token callbacks in the local twin.

moto stores EventBridge rules but delivers events only to a few target types (not to Lambda), and nothing in
moto emits RDS events. The twin closes that gap, so the event-driven waits run end to end:

* a ticker advances the TwinRegistry at each resource's ready time (twin clock), so resources become
  available when they are due, not only when someone describes them;
* every registry transition becomes the RDS event AWS would send (detail-type, source ``aws.rds``, EventID,
  SourceArn, account and Region of the resource), put on the default bus of the resource's account;
* the rules deployed on a bus (the member accounts' forwarding rule from member-accounts/*.yaml, in each
  account's Region, ferry_cli.twin.forwarding, and the template's EventBridgeRule event sources in the
  orchestrator account) are matched with moto's own event pattern matcher; a forwarding rule hands the event
  to the bus its target names, in the orchestrator's Region also from another Region, when the rule's role may
  put events there and that bus's policy (the template's OrchestratorEventBusPolicy) allows the sending
  account, and a Lambda target runs the real handler in-process, asynchronously, as EventBridge invokes Lambda;
* the template's Schedule event sources (the wait sweeper) run on the twin clock;
* Step Functions' execution status-change events (ferry_cli.twin.sfn_events) take the same way from the
  orchestrator's bus, so a rule on a run's end (its pattern's ``!Ref`` of a state machine resolved to its ARN)
  runs its function.

RDS events are best effort (https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/working-with-events.html);
tests set ``TwinEvents.drop`` to lose some, to rehearse the fallbacks.

It also adapts moto's Step Functions callbacks (``.waitForTaskToken``) to the twin: TimeoutSeconds and
HeartbeatSeconds of a callback wait run on the twin clock, a completion that arrives before the heartbeat
timer is armed is not lost, SendTaskFailure keeps its cause, and history timestamps are twin time.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast
from unittest import mock

from ferry_cli.template import TWIN_STACK_NAME, FunctionSpec
from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.forwarding import ForwardingRule, deploy_forwarding_rule, forwarding_rule
from ferry_cli.twin.lifecycle import Transition
from ferry_cli.twin.notifications import deploy_notifications
from ferry_cli.twin.sfn_events import execution_status_events, resolve_refs

LOG = logging.getLogger(__name__)

__all__ = ["RDS_EVENTS", "RdsEventSpec", "TwinEvents", "rds_event", "wired_events"]


@dataclass(frozen=True)
class RdsEventSpec:
    event_id: str
    detail_type: str
    source_type: str
    category: str
    message: str


# The RDS events of the resources a migration creates, per (kind, busy status it leaves or enters, status).
# Event ids and messages: https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/USER_Events.Messages.html
# Detail types: https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-rds.html
# A cluster snapshot copy that finishes has no event of its own: ("cluster-snapshot", "copying", ...) is absent.
RDS_EVENTS: dict[tuple[str, str, str], RdsEventSpec] = {
    ("cluster-snapshot", "creating", "creating"): RdsEventSpec(
        "RDS-EVENT-0074", "RDS DB Cluster Snapshot Event", "CLUSTER_SNAPSHOT", "backup",
        "Creating manual cluster snapshot",
    ),
    ("cluster-snapshot", "creating", "available"): RdsEventSpec(
        "RDS-EVENT-0075", "RDS DB Cluster Snapshot Event", "CLUSTER_SNAPSHOT", "backup",
        "Manual cluster snapshot created",
    ),
    ("cluster", "creating", "available"): RdsEventSpec(
        "RDS-EVENT-0170", "RDS DB Cluster Event", "CLUSTER", "creation", "DB cluster created"
    ),
    ("instance", "creating", "available"): RdsEventSpec(
        "RDS-EVENT-0005", "RDS DB Instance Event", "DB_INSTANCE", "creation", "DB instance created"
    ),
}  # fmt: skip


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def rds_event(transition: Transition, at: datetime) -> dict[str, Any] | None:
    """The EventBridge event RDS sends for a transition, or None when RDS sends none."""
    if transition.kind == "cluster-snapshot" and transition.snapshot_type != "manual":
        return None
    spec = RDS_EVENTS.get((transition.kind, transition.busy_status, transition.status))
    if spec is None:
        return None
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": spec.detail_type,
        "source": "aws.rds",
        "account": transition.account_id,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": transition.region,
        "resources": [transition.arn],
        "detail": {
            "EventCategories": [spec.category],
            "SourceType": spec.source_type,
            "SourceArn": transition.arn,
            "Date": _iso(at),
            "Message": spec.message,
            "SourceIdentifier": transition.identifier,
            "EventID": spec.event_id,
        },
    }


@dataclass
class Delivery:
    """One event handed to a Lambda target (or dropped on the way), for tests and the benchmark."""

    function: str
    event: dict[str, Any]
    at: datetime
    result: Any = None


@dataclass
class _Schedule:
    function: FunctionSpec
    interval: float
    next_at: float
    running: threading.Lock = field(default_factory=threading.Lock)


class TwinEvents:
    """EventBridge and RDS events for one running twin (see the module docstring)."""

    def __init__(self, twin: Any) -> None:
        self.twin = twin
        self.clock: TwinClock = twin.clock
        self.region: str = twin.world.region
        self.orchestrator: str = twin.world.orchestrator_account_id
        self.published: list[dict[str, Any]] = []
        self.dropped: list[dict[str, Any]] = []
        self.deliveries: list[Delivery] = []
        # Tests: return True to lose an event before EventBridge sees it (RDS events are best effort).
        self.drop: Callable[[dict[str, Any]], bool] | None = None
        # Tests: False stops the template's schedules (the wait sweeper) from running.
        self.schedules_enabled = True
        self._lock = threading.Lock()
        # Events (RDS, Step Functions) waiting for EventBridge; the dispatcher waits on the twin clock (a
        # queue.Queue would block outside the clock's sight and hold twin time still).
        self._pending: deque[tuple[str, str, dict[str, Any]]] = deque()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._workers: list[threading.Thread] = []
        self._schedules: list[_Schedule] = []
        # The member accounts' forwarding rules, by (account, Region) of the bus they are on.
        self._forwarding: dict[tuple[str, str], ForwardingRule] = {}

    # --- deployment ---------------------------------------------------------------------------------------

    def deploy(self) -> None:
        """Create the template's tables, notification topic (ferry_cli.twin.notifications), rules and bus policy,
        and each member account's forwarding rule."""
        template = self.twin.template
        deploy_notifications(self.twin)
        dynamodb = self.twin.client("dynamodb")
        for table in template.tables.values():
            dynamodb.create_table(
                TableName=table.physical_name,
                KeySchema=[{"AttributeName": n, "KeyType": t} for n, t in table.key_schema],
                AttributeDefinitions=[
                    {"AttributeName": n, "AttributeType": t} for n, t in table.attribute_types.items()
                ],
                BillingMode="PAY_PER_REQUEST",
                SSESpecification={"Enabled": True},
            )
            if table.ttl_attribute:
                dynamodb.update_time_to_live(
                    TableName=table.physical_name,
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
                )
        events = self.twin.client("events")
        refs = self._refs()
        for logical_id, spec in template.functions.items():
            for source in spec.events:
                name = f"{TWIN_STACK_NAME}-{logical_id}-{source.name}"[:64]
                if source.kind == "Schedule":
                    events.put_rule(Name=name, ScheduleExpression=source.schedule, State="ENABLED")
                    interval = source.rate_seconds
                    self._schedules.append(_Schedule(spec, interval, self.clock.elapsed() + interval))
                else:
                    pattern = resolve_refs(source.pattern, refs, f"{logical_id} event {source.name}")
                    events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
                events.put_targets(
                    Rule=name, Targets=[{"Id": logical_id, "Arn": self.twin.function_arns[logical_id]}]
                )
        members = [a.account_id for a in self.twin.world.accounts if a.account_id != self.orchestrator]
        self._deploy_bus_policy(events, members)
        for account in self.twin.world.accounts:
            if account.account_id != self.orchestrator:
                rule = forwarding_rule(self.twin, account)
                deploy_forwarding_rule(self.twin, rule)
                self._forwarding[(rule.account_id, rule.region)] = rule

    def _refs(self) -> dict[str, str]:
        """What CloudFormation's Ref gives for the stack's resources: a state machine's ARN, but a function's
        and a table's name (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference-ref.html)."""
        refs = {"AWS::AccountId": self.orchestrator, "AWS::Region": self.region, "AWS::Partition": "aws"}
        refs.update({i: arn.rsplit(":", 1)[-1] for i, arn in self.twin.function_arns.items()})
        refs.update({i: table.physical_name for i, table in self.twin.template.tables.items()})
        refs.update(self.twin.state_machine_arns)
        return refs

    def _deploy_bus_policy(self, events: Any, members: list[str]) -> None:
        """template.yaml's OrchestratorEventBusPolicy, as deployed with EventSourceAccountIds = the members."""
        resource = self.twin.template.raw["Resources"].get("OrchestratorEventBusPolicy")
        if resource is None or not members:
            return
        statement = dict(resource["Properties"]["Statement"])
        statement["Sid"] = f"{TWIN_STACK_NAME}-rds-events"
        statement["Principal"] = {"AWS": [f"arn:aws:iam::{m}:root" for m in members]}
        statement["Resource"] = f"arn:aws:events:{self.region}:{self.orchestrator}:event-bus/default"
        events.put_permission(
            EventBusName="default", Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        )

    # --- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self.twin.rules.add_listener(self._on_transition)
        for target, name in ((self._dispatch_loop, "twin-eventbridge"), (self._tick_loop, "twin-ticker")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self.twin.rules.remove_listener(self._on_transition)
        self._stop.set()
        self.twin.rules.changed.set()
        for thread in self._threads + self._workers:
            thread.join(timeout=5)

    def pause_schedules(self) -> None:
        """Stop the template's schedules, and wait for a run in progress to end (tests)."""
        self.schedules_enabled = False
        for schedule in self._schedules:
            with schedule.running:
                pass

    # --- RDS events -----------------------------------------------------------------------------------------

    def _on_transition(self, transition: Transition) -> None:
        event = rds_event(transition, self.clock.now())
        if event is not None:
            self.queue_event(transition.account_id, transition.region, event)

    def queue_event(self, account: str, region: str, event: dict[str, Any]) -> None:
        """Hand an event to the dispatcher without waiting for it: callers are moto's own threads."""
        self._pending.append((account, region, event))
        self.clock.poke()

    def _dispatch_loop(self) -> None:
        while True:
            self.clock.wait_until(lambda: bool(self._pending) or self._stop.is_set())
            if self._stop.is_set():
                return
            account, region, event = self._pending.popleft()
            try:
                self.put_event(account, region, event)
            except Exception:
                LOG.exception("twin EventBridge could not deliver a %s event", event.get("detail-type"))

    def put_event(self, account: str, region: str, event: dict[str, Any]) -> None:
        """An event on `account`'s default bus in `region`, as the service that emits it puts it there."""
        with self._lock:
            self.published.append(event)
        if self.drop is not None and self.drop(event):
            with self._lock:
                self.dropped.append(event)
            return
        self._route(account, region, event, hops=0)

    def _route(self, account: str, region: str, event: dict[str, Any], hops: int) -> None:
        from moto.events.models import events_backends

        bus = events_backends[account][region].event_buses.get("default")
        if bus is None:
            return
        for rule in list(bus.rules.values()):
            if rule.state != "ENABLED" or rule.scheduled_expression or not rule.event_pattern.get_pattern():
                continue
            if not rule.event_pattern.matches_event(cast(Any, event)):
                continue
            for target in rule.targets:
                arn = str(target["Arn"])
                parts = arn.split(":", 5)
                if parts[2] == "events" and parts[5].startswith("event-bus/") and hops == 0:
                    # Delivery to another account's bus, in its Region or another, keeps the event as it is, account
                    # and region fields included; it needs the rule's role and the receiving bus's policy.
                    if self._role_allows(account, region, arn) and self._bus_allows(
                        parts[4], parts[3], account
                    ):
                        self._route(parts[4], parts[3], event, hops + 1)
                elif parts[2] == "lambda":
                    self._invoke_async(arn, event)

    def _role_allows(self, account: str, region: str, bus_arn: str) -> bool:
        """A member account's forwarding rule puts events on the bus as its execution role
        (ferry_cli.twin.forwarding), whose policy must allow events:PutEvents on that bus."""
        rule = self._forwarding.get((account, region))
        if rule is None or rule.role_allows(bus_arn):
            return True
        LOG.warning("twin EventBridge: role %s may not put events on %s; dropped", rule.role_arn, bus_arn)
        return False

    def _bus_allows(self, bus_account: str, region: str, sender: str) -> bool:
        """The receiving bus's resource policy must allow the sending account to put events."""
        if bus_account == sender:
            return True
        from moto.events.models import events_backends

        bus = events_backends[bus_account][region].event_buses.get("default")
        policy = json.loads(bus.policy) if bus is not None and bus.policy else {"Statement": []}
        for statement in policy.get("Statement", []):
            principals = statement.get("Principal", {})
            aws = principals.get("AWS", []) if isinstance(principals, dict) else principals
            aws = [aws] if isinstance(aws, str) else aws
            allowed = {str(p).removeprefix("arn:aws:iam::").removesuffix(":root") for p in aws}
            action = statement.get("Action")
            actions = [action] if isinstance(action, str) else list(action or [])
            if statement.get("Effect") == "Allow" and sender in allowed and "events:PutEvents" in actions:
                return True
        LOG.warning("twin EventBridge: bus of %s does not allow events from %s; dropped", bus_account, sender)
        return False

    def _invoke_async(self, function_arn: str, event: dict[str, Any]) -> None:
        spec = self.twin._by_name.get(function_arn)
        delivery = Delivery(spec.logical_id if spec else function_arn, event, self.clock.now())
        with self._lock:
            self.deliveries.append(delivery)

        def run() -> None:
            body = json.dumps(event).encode()
            delivery.result = json.loads(self.twin._invoke(function_arn, body, {}) or b"null")

        worker = threading.Thread(target=run, name="twin-lambda-async", daemon=True)
        with self._lock:
            self._workers = [w for w in self._workers if w.is_alive()] + [worker]
        worker.start()

    # --- the clock: ready times and schedules -----------------------------------------------------------------

    def _tick_loop(self) -> None:
        registry = self.twin.rules
        while not self._stop.is_set():
            registry.changed.clear()
            now = self.clock.elapsed()
            deadlines = [s.next_at for s in self._schedules if self.schedules_enabled]
            ready = registry.next_ready_at()
            if ready is not None:
                deadlines.append((ready - self.clock.start).total_seconds())
            # Until the next ready time or schedule, or until a new resource is tracked (twin seconds).
            registry.changed.wait(timeout=min(deadlines) - now if deadlines else None)
            if self._stop.is_set():
                return
            registry.advance()
            now = self.clock.elapsed()
            for schedule in self._schedules:
                if self.schedules_enabled and now >= schedule.next_at:
                    schedule.next_at = now + schedule.interval
                    self._run_schedule(schedule)

    def _run_schedule(self, schedule: _Schedule) -> None:
        if not schedule.running.acquire(blocking=False):
            return  # the previous run is still going: EventBridge would overlap, the twin skips
        arn = self.twin.function_arns[schedule.function.logical_id]
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.orchestrator,
            "time": self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.region,
            "resources": [],
            "detail": {},
        }

        def run() -> None:
            try:
                self.twin._invoke(arn, json.dumps(event).encode(), {})
            finally:
                schedule.running.release()

        worker = threading.Thread(target=run, name="twin-schedule", daemon=True)
        with self._lock:
            self._workers = [w for w in self._workers if w.is_alive()] + [worker]
        worker.start()


@contextmanager
def callback_patches(clock: TwinClock) -> Iterator[None]:
    """moto's .waitForTaskToken with its early-completion and cause gaps closed, history times on the twin
    clock (its timeouts and heartbeats wait on threading.Event, which the clock already owns)."""
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, HeartbeatEndpoint
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.responses import StepFunctionResponse

    def setup_heartbeat_endpoint(self: Any, heartbeat_seconds: int) -> Any:
        endpoint = HeartbeatEndpoint(heartbeat_seconds=heartbeat_seconds)
        self._heartbeat_endpoint = endpoint
        if self._outcome is not None:
            # moto arms the heartbeat timer only after the Lambda returned; a token completed during the
            # invocation (register, then check) would otherwise wait out the heartbeat and time out.
            endpoint.notify()  # type: ignore[no-untyped-call]
        return endpoint

    def send_task_failure(self: Any) -> Any:
        # moto's handler drops `cause`; AWS keeps it, and the run's failure summary shows it.
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    with ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(CallbackEndpoint, "setup_heartbeat_endpoint", setup_heartbeat_endpoint)
        )
        stack.enter_context(mock.patch.object(StepFunctionResponse, "send_task_failure", send_task_failure))
        stack.enter_context(
            mock.patch.object(EventManager, "_get_current_timestamp", staticmethod(clock.now))
        )
        yield


@contextmanager
def wired_events(twin: Any) -> Iterator[TwinEvents]:
    """Deploy the template's event resources into the twin and run its events until the context ends."""
    events = TwinEvents(twin)
    with callback_patches(twin.clock), execution_status_events(twin.clock, events.queue_event):
        events.deploy()
        events.start()
        twin.events = events
        try:
            yield events
        finally:
            events.stop()
