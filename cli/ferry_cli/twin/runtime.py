"""The local two-account AWS: moto, this repo's template deployed into it, handlers run in-process.

Moto's Step Functions interpreter runs the real ASL; its Lambda backend is pointed at the real handler
modules under functions/ (loaded from their CodeUri like the Lambda runtime does); its Wait states, retry
back-offs, callback timeouts and heartbeats run on the twin's virtual clock (ferry_cli.twin.clock), so a
two-hour copy takes no real time but every wait loop still loops, at the same twin times on any machine.
The AWS rules moto lacks come from ferry_cli.twin.rules.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import boto3
from moto import mock_aws

from ferry_cli.template import TWIN_STACK_NAME, FunctionSpec, SamTemplate
from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.estate import build_world
from ferry_cli.twin.events import wired_events
from ferry_cli.twin.faults import Faults, timed_out
from ferry_cli.twin.functions import InvocationStats, LambdaContext, handler_code
from ferry_cli.twin.iam.authorizer import TWIN_ACCESS_KEY, Authorizer, enforced
from ferry_cli.twin.iam.lookup import MotoLookup
from ferry_cli.twin.interpreter import (
    execution,
    history_length,
    history_since,
    interpreter_patches,
    invoking_state,
    is_running,
    shared_client_classes,
)
from ferry_cli.twin.inventory import inventory
from ferry_cli.twin.rules import aws_rules
from ferry_cli.twin.speedups import freeze_loaded_heap
from ferry_cli.twin.stacks import (
    SamStack,
    create_function_roles,
    publish_outputs,
    render_sam_stack,
    sam_function_roles,
)
from ferry_cli.twin.world import World

_TWIN_ENV = {
    "AWS_ACCESS_KEY_ID": "twin",
    "AWS_SECRET_ACCESS_KEY": "twin",
    "AWS_SESSION_TOKEN": "twin",
    # Lambda handlers would otherwise write EMF metrics and X-Ray segments to a daemon that is not here.
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_DEV": "false",
    # The CLI prints progress on stdout; function logs below WARNING would drown it.
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
# How long an ending twin waits, in real seconds, for its running workers to reach a wait: each is a handler or
# a delivery, which takes well under a second; longer means one is blocked where the clock cannot see.
_SETTLE_REAL_SECONDS = 60.0
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


class Twin:
    """A running twin: use `Twin.started(world, template_path)` as a context manager."""

    def __init__(
        self,
        world: World,
        template: SamTemplate,
        clock: TwinClock,
        handler_overrides: dict[str, Callable[[Any, Any], Any]] | None = None,
    ) -> None:
        self.world = world
        # State-machine tests swap chosen functions for scripted fakes to drive the ASL's error paths.
        self.handler_overrides = dict(handler_overrides or {})
        # ... and plant faults in chosen states (ferry_cli.twin.faults).
        self.faults = Faults()
        self.template = template
        self.template_path = Path("template.yaml")
        self._session: boto3.Session | None = None
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._operator_credentials: dict[str, dict[str, Any]] = {}
        self.member_templates = Path("member-accounts")
        self.clock = clock
        self.invocations = InvocationStats()
        self.function_arns: dict[str, str] = {}
        self.state_machine_arns: dict[str, str] = {}
        self._modules: dict[str, ModuleType] = {}
        self._by_name: dict[str, FunctionSpec] = {}
        self._import_lock = threading.Lock()
        self.rules: Any = None
        self.clones: Any = None  # ferry_cli.twin.clones.CloneRegistry, once started
        self.events: Any = None  # ferry_cli.twin.events.TwinEvents, once started
        self.iam = Authorizer()
        # Outputs of the member-account stacks, per account (RoleArn, ShareKeyArn, TargetKeyArn, ...).
        self.stack_outputs: dict[str, dict[str, str]] = {}

    # --- lifecycle -------------------------------------------------------------------------------------

    @classmethod
    @contextmanager
    def started(
        cls,
        world: World,
        template_path: Path,
        handler_overrides: dict[str, Callable[[Any, Any], Any]] | None = None,
        enforce_iam: bool = True,
        member_templates: Path | None = None,
        stack_outputs: bool = True,
    ) -> Iterator[Twin]:
        """The twin, running. ``enforce_iam=False`` switches the twin's IAM off: only to show that a test
        fails without it, never to make a run pass. ``stack_outputs=False`` leaves the stack's outputs out of
        CloudFormation (a caller that never asks DescribeStacks spares the import of moto's CloudFormation,
        which loads most of moto's services)."""
        freeze_loaded_heap()
        clock = TwinClock(start=world.clock_start)
        twin = cls(world, SamTemplate.load(template_path), clock, handler_overrides)
        twin.template_path = template_path
        twin.member_templates = member_templates or template_path.parent / "member-accounts"
        env = {**_TWIN_ENV, "AWS_DEFAULT_REGION": world.region}
        for spec in twin.template.functions.values():
            env.update({k: v for k, v in spec.environment.items() if k not in env})
        with ExitStack() as stack:
            # Moto logs every failed state with its whole parsed definition; the run's history says it better.
            stack.enter_context(_quiet_logger("moto"))
            # SAM's translator warns about its own unpublished usage metrics on every translation.
            stack.enter_context(_quiet_logger("samtranslator"))
            stack.enter_context(warnings.catch_warnings())
            warnings.filterwarnings("ignore", message="No application metrics to publish")
            # moto warns that the twin's access-denied codes are not in its error models; they are AWS's.
            warnings.filterwarnings("ignore", message=r"Exception\(TwinDenied\)")
            stack.enter_context(mock.patch.dict(os.environ, env))
            # First in, last out: every thread the twin starts from here on is a worker of its clock.
            stack.enter_context(clock.patched())
            stack.enter_context(
                mock_aws(
                    config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
                )
            )
            stack.enter_context(_container_credentials())
            twin.rules = stack.enter_context(aws_rules(clock, world.durations))
            # Aurora clones and AWS RAM invitations (statemachine/clone.asl.json); after aws_rules, whose
            # create_db_cluster the clones go through.
            from ferry_cli.twin.clones import clone_rules

            twin.clones = stack.enter_context(clone_rules(clock, world))
            # StorageEncryptionType and the AWS owned key's rules; after clone_rules, whose clones it wraps.
            from ferry_cli.twin.encryption_kinds import encryption_kind_rules

            stack.enter_context(encryption_kind_rules())
            # Every call a handler makes is authorised under the deployed templates' IAM (twin/iam/).
            twin.iam = Authorizer(enabled=enforce_iam, lookup=MotoLookup(twin.clones))
            twin.iam.quotas = {a.account_id: dict(a.quotas) for a in world.accounts}
            stack.enter_context(enforced(twin.iam))
            stack.enter_context(twin._patched_runtime())
            _forget_cached_sessions()
            twin._build_world()
            twin._deploy(stack_outputs)
            # RDS events, EventBridge rules and schedules, the wait table, task-token callbacks on twin time.
            stack.enter_context(wired_events(twin))
            try:
                yield twin
            finally:
                # A caller may leave while a worker runs (a test done before the run is): let every worker
                # reach a wait first, or it would go on, after this twin, into the next one's accounts.
                # Twin time does not move meanwhile, and a waiting worker of an ended twin never runs again.
                twin.clock.quiesce(real_limit=_SETTLE_REAL_SECONDS)
            _forget_cached_sessions()

    @contextmanager
    def _patched_runtime(self) -> Iterator[None]:
        import aurora_ferry.core.access as runtime_aws

        with ExitStack() as stack:
            # Each Lambda function is its own container in AWS: one function's assumed-role sessions must
            # never serve another, whose role may not be allowed to assume that role at all.
            stack.enter_context(mock.patch.object(runtime_aws, "_sessions", _PerFunctionSessions(self.iam)))
            stack.enter_context(interpreter_patches(self.clock, self._invoke))
            stack.enter_context(shared_client_classes())
            yield

    # --- world and deployment -----------------------------------------------------------------------------

    def client(self, service: str, account_id: str | None = None, region: str | None = None) -> Any:
        """A boto3 client acting in `account_id` (default: the orchestrator account) in `region` (default: the
        Region the account lives in, ``World.region_of``: its own ``region`` in the world file, else the world's,
        which is always the orchestrator's), one per service, account and Region (the twin builds and inspects
        the world with hundreds of calls)."""
        account = account_id or self.world.orchestrator_account_id
        where = region or self.world.region_of(account)
        key = (service, account, where)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = self._new_client(service, account, where)
        return client

    def _new_client(self, service: str, account_id: str, region: str) -> Any:
        own = self._own_session()
        if account_id == self.world.orchestrator_account_id:
            return own.client(service, region_name=region)  # type: ignore[call-overload]
        credentials = self._operator_credentials.get(account_id)
        if credentials is None:
            # One session in each account for all its clients, as an operator's profile would be.
            credentials = self._operator_credentials[account_id] = self.client("sts").assume_role(
                RoleArn=f"arn:aws:iam::{account_id}:role/twin-operator", RoleSessionName="twin"
            )["Credentials"]
        return own.client(  # type: ignore[call-overload]
            service,
            region_name=region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def _own_session(self) -> boto3.Session:
        """The twin's own credentials: its calls (building and inspecting the world) are never a function's.
        One session, so its clients share the loaded service models."""
        if self._session is None:
            self._session = boto3.Session(
                aws_access_key_id=TWIN_ACCESS_KEY,
                aws_secret_access_key=_TWIN_ENV["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=_TWIN_ENV["AWS_SESSION_TOKEN"],
                region_name=self.world.region,
            )
        return self._session

    def _build_world(self) -> None:
        build_world(self)

    def _deploy(self, stack_outputs: bool) -> None:
        stack = TWIN_STACK_NAME
        region = self.world.region
        account = self.world.orchestrator_account_id
        names = {logical_id: f"{stack}-{logical_id}"[:64] for logical_id in self.template.functions}
        physical_ids: dict[str, str] = {
            **{i: f"arn:aws:lambda:{region}:{account}:function:{name}" for i, name in names.items()},
            **{
                i: f"arn:aws:states:{region}:{account}:stateMachine:{stack}-{i}"
                for i in self.template.state_machines
            },
            **{i: table.physical_name for i, table in self.template.tables.items()},
        }
        # Each function runs under the execution role SAM makes for it from template.yaml, so what the
        # template grants the orchestrator is exactly what its functions may do in the twin.
        sam_stack = SamStack(self.template_path, {}, account, region, stack, physical_ids)
        roles = sam_function_roles(sam_stack)
        create_function_roles(roles, account)
        self.iam.function_roles = {logical_id: role.role_arn for logical_id, role in roles.items()}
        lam = self.client("lambda")
        for logical_id, spec in self.template.functions.items():
            if not spec.module_file.is_file():
                raise FileNotFoundError(f"{logical_id}: handler module {spec.module_file} does not exist")
            name = names[logical_id]
            arn = lam.create_function(
                FunctionName=name,
                Runtime="python3.13",
                Role=roles[logical_id].role_arn,
                Handler=spec.handler,
                Code={"ZipFile": b"twin: handlers run in-process from CodeUri"},
                Timeout=spec.timeout,
            )["FunctionArn"]
            self.function_arns[logical_id] = arn
            self._by_name[name] = spec
            self._by_name[arn] = spec
        iam = self.client("iam")
        role_arn = iam.create_role(
            RoleName=f"{stack}-state-machines",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        )["Role"]["Arn"]
        sfn = self.client("stepfunctions")
        for logical_id in self.template.state_machines:
            definition = self.template.definition(logical_id, self.function_arns)
            self.state_machine_arns[logical_id] = sfn.create_state_machine(
                name=f"{stack}-{logical_id}", definition=definition, roleArn=role_arn
            )["stateMachineArn"]
        # The stack's outputs answer cloudformation:DescribeStacks as in AWS, so the CLI's real-AWS commands
        # (`ferry start`, `watch`, `runs`, `stop`) run against the twin through the same calls.
        if stack_outputs:
            publish_outputs(self.client("cloudformation"), stack, render_sam_stack(sam_stack).outputs)

    # --- Lambda, in-process ---------------------------------------------------------------------------------

    def _handler_module(self, spec: FunctionSpec) -> ModuleType:
        with self._import_lock:
            module = self._modules.get(spec.logical_id)
            if module is None:
                module_name = f"ferry_twin_fn_{spec.logical_id}"
                loader_spec = importlib.util.spec_from_file_location(module_name, spec.module_file)
                if loader_spec is None or loader_spec.loader is None:
                    raise ImportError(f"cannot load {spec.module_file}")
                module = importlib.util.module_from_spec(loader_spec)
                exec(handler_code(spec.module_file), module.__dict__)  # noqa: S102 - the function's own module
                self._modules[spec.logical_id] = module
            return module

    def _invoke(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        spec = self._by_name.get(function_name) or self._by_name.get(function_name.rsplit(":", 1)[-1])
        if spec is None:
            raise KeyError(f"twin: no deployed function {function_name}")
        self.invocations.count(spec.logical_id)
        fault = self.faults.take(invoking_state())
        if fault is not None:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(self.faults.answer(fault, spec.timeout, self.clock)).encode()
        event = json.loads(body) if body else {}
        # A Lambda container always has its role's credentials in its environment; in the twin that environment
        # is this process's, which a test's own patching (moto's, a profile) must not leave without them.
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            os.environ.setdefault(key, _TWIN_ENV[key])
        handler = self.handler_overrides.get(spec.logical_id) or getattr(
            self._handler_module(spec), spec.handler_name
        )
        context = LambdaContext(
            function_name=spec.logical_id,
            invoked_function_arn=self.function_arns[spec.logical_id],
            deadline_ms=time.time() * 1000 + spec.timeout * 1000,
        )
        started = self.clock.elapsed()
        try:
            with self.iam.acting_as(spec.logical_id):
                result = handler(event, context)
            if self.clock.elapsed() - started > spec.timeout:
                # Lambda would have stopped it at its timeout (the twin cannot stop a thread, so it finishes,
                # but its answer is the timeout's).
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps(timed_out(spec.timeout)).encode()
        except Exception as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = {
                "errorType": type(error).__name__,
                "errorMessage": str(error),
                "stackTrace": traceback.format_tb(error.__traceback__)[-3:],
            }
            return json.dumps(payload).encode()
        return json.dumps(result, default=str).encode()

    # --- executions -------------------------------------------------------------------------------------------

    def start(
        self, execution_input: Any, machine: str = "MigrationStateMachine", name: str | None = None
    ) -> str:
        sfn = self.client("stepfunctions")
        return str(
            sfn.start_execution(
                stateMachineArn=self.state_machine_arns[machine],
                name=name or f"twin-{uuid.uuid4().hex[:12]}",
                input=json.dumps(execution_input),
            )["executionArn"]
        )

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = sfn.get_execution_history(
                executionArn=execution_arn, maxResults=1000, **({"nextToken": token} if token else {})
            )
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                return events

    def wait(
        self,
        execution_arn: str,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        timeout_real_seconds: float = 300.0,
    ) -> dict[str, Any]:
        """Follow the execution to its end, calling on_event for each new history event.

        The caller waits on the twin's clock, so twin time moves while it waits; ``timeout_real_seconds``
        only catches a twin that no longer moves (a worker blocked outside the clock's sight).
        """
        sfn = self.client("stepfunctions")
        moto_execution = execution(self.world.orchestrator_account_id, self.world.region, execution_arn)
        seen = 0
        real_deadline = time.monotonic() + timeout_real_seconds
        while True:
            if on_event:
                for event in history_since(moto_execution, seen):
                    on_event(event)
                    seen = int(event["id"])
            if not is_running(moto_execution):
                # What the end set off (its status-change event, the functions that event starts) runs now,
                # before the caller looks at the accounts.
                self.clock.quiesce(real_limit=max(0.0, real_deadline - time.monotonic()))
                return dict(sfn.describe_execution(executionArn=execution_arn))
            watched = seen if on_event else None

            def moved(known: int | None = watched) -> bool:
                return not is_running(moto_execution) or (
                    known is not None and history_length(moto_execution) > known
                )

            try:
                self.clock.wait_until(
                    moved, stall_error=True, real_limit=max(0.0, real_deadline - time.monotonic())
                )
            except TimeoutError:
                sfn.stop_execution(
                    executionArn=execution_arn, error="TwinTimeout", cause="twin run took too long"
                )
                raise

    # --- inspection -------------------------------------------------------------------------------------------

    def inventory(self) -> dict[str, Any]:
        """Every cluster, instance and cluster snapshot per account, for summaries and no-harm checks."""
        return inventory(self)


@contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    target = logging.getLogger(name)
    previous = target.level
    target.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        target.setLevel(previous)


class _PerFunctionSessions:
    """aurora_ferry.core.access's session cache, one per function (each function is its own container in AWS)."""

    def __init__(self, iam: Authorizer) -> None:
        self._iam = iam
        self._sessions: dict[tuple[str | None, Any], Any] = {}
        self._lock = threading.Lock()

    def get(self, access: Any) -> Any:
        with self._lock:
            return self._sessions.get((self._iam.current_function(), access))

    def __setitem__(self, access: Any, value: Any) -> None:
        with self._lock:
            self._sessions[(self._iam.current_function(), access)] = value

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()


@contextmanager
def _container_credentials() -> Iterator[None]:
    """boto3's default session, which the handlers' clients come from, with the credentials the environment
    has now, for as long as the twin runs: a Lambda container's credentials do not change under it, while this
    process's environment is shared with the test and the CLI, and a client made in a moment it lacked them
    (seen: NoCredentialsError from STS mid-run, in a test that ran the CLI beside the handlers) fails every
    call."""
    import boto3

    previous = boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = boto3.Session(
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN"),
        region_name=os.environ.get("AWS_DEFAULT_REGION"),
    )
    try:
        yield
    finally:
        boto3.DEFAULT_SESSION = previous


def _forget_cached_sessions() -> None:
    from aurora_ferry.core import forget_sessions

    forget_sessions()
