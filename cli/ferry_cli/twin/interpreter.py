"""moto's Step Functions interpreter, adapted to the twin.

moto runs the real ASL. The twin changes how it reaches Lambda (the real handlers, in-process), how long its
Wait states last (twin time, see ferry_cli.twin.clock), which clock stamps its states, and how often it does
work that no AWS behaviour depends on: parsing the same definition and building a boto3 client for every
Lambda task.
"""

from __future__ import annotations

import copy
import functools
import json
import pickle
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any
from unittest import mock

from ferry_cli.twin.cache import cache_path, read_cached, write_cached
from ferry_cli.twin.clock import TwinClock
from ferry_cli.twin.redrive import redrive_patches

__all__ = [
    "current_state",
    "execution",
    "history_length",
    "history_since",
    "interpreter_patches",
    "invoking_state",
    "is_running",
    "shared_client_classes",
]

Invoke = Callable[[str, Any, dict[str, str]], bytes]

_PARSED: dict[str, tuple[bytes, Any]] = {}
_CLIENTS: dict[str, Any] = {}
_LOCK = threading.RLock()
# The state whose Lambda task the current interpreter thread is invoking (ferry_cli.twin.faults reads it).
_INVOKING = threading.local()


def invoking_state() -> str | None:
    """The name of the state whose Lambda invocation this thread is making, if it is making one."""
    name = getattr(_INVOKING, "state", None)
    return name if isinstance(name, str) else None


@contextmanager
def interpreter_patches(clock: TwinClock, invoke: Invoke) -> Iterator[None]:
    """Lambda tasks call ``invoke(function_name, body, response_headers)``; Wait states and state times
    follow ``clock``; definitions are parsed and Lambda clients built once per process."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.stepfunctions.parser.asl.component.state import state as state_module
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
    from moto.stepfunctions.responses import StepFunctionResponse

    def lambda_invoke(
        backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        return invoke(function_name, body, response_headers)

    def wait_interval(wait_function: Any, env: Any, wait_seconds: int) -> None:
        # moto measures a Wait by wall time and waits again for what it thinks is left; in twin time the
        # event's wait is the whole wait (it ends early only when the execution stops).
        if wait_seconds > 0:
            env.program_state_event.wait(wait_seconds)

    clock_datetime = SimpleNamespace(
        datetime=SimpleNamespace(now=lambda tz=None: clock.now()), timezone=timezone
    )
    integrate = lambda_eval_utils.execute_lambda_function_integration
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    def lambda_integration(env: Any, *args: Any, **kwargs: Any) -> None:
        _INVOKING.state = env.states.context_object.context_object_data["State"]["Name"]
        try:
            integrate(env, *args, **kwargs)
        finally:
            _INVOKING.state = None

    parse = functools.partial(_parsed_definition, AmazonStateLanguageParser.parse)
    client_for = functools.partial(_client_for, boto_client_for)
    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(LambdaSimpleBackend, "invoke", lambda_invoke))
        stack.enter_context(mock.patch.object(WaitFunction, "_wait_interval", wait_interval))
        stack.enter_context(_ended_stays_ended())
        stack.enter_context(redrive_patches(clock))
        stack.enter_context(mock.patch.object(AmazonStateLanguageParser, "parse", staticmethod(parse)))
        stack.enter_context(mock.patch.object(lambda_eval_utils, "boto_client_for", client_for))
        stack.enter_context(
            mock.patch.object(lambda_eval_utils, "execute_lambda_function_integration", lambda_integration)
        )
        # moto parses a JSONPath (building a new parser, under a millisecond each) every time a state reads or
        # writes one, hundreds of times a run; a parsed path is never changed by its use.
        for module in (result_path, json_path):
            stack.enter_context(mock.patch.object(module, "parse", _parsed_path(module.parse)))
        stack.enter_context(mock.patch.object(StepFunctionResponse, "get_execution_history", _history_page))
        # State entered times (and so the run's per-step timings) follow twin time.
        stack.enter_context(mock.patch.object(state_module, "datetime", clock_datetime))
        yield


@contextmanager
def _ended_stays_ended() -> Iterator[None]:
    """An execution that timed out or was stopped has ended: AWS records ExecutionTimedOut or ExecutionAborted,
    and nothing after. moto keeps recording what a state still in flight at that moment does (its stack cleared
    under it: a bogus LambdaFunctionFailed, then the Map "succeeding"), and lets that state's error replace the
    outcome (ExecutionFailed)."""
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped, ProgramTimedOut

    record_error, record_event = Environment.set_error, EventManager.add_event
    ended = (ProgramTimedOut, ProgramStopped)

    def set_error(env: Any, error: Any) -> None:
        if not isinstance(env._program_state, ended):
            record_error(env, error)

    def end(original: Callable[..., None]) -> Callable[..., None]:
        def ending(env: Any, *args: Any, **kwargs: Any) -> None:
            original(env, *args, **kwargs)
            if isinstance(env._program_state, ended):
                env.event_manager.twin_ended = True
                # AWS ends the execution at once, whatever it is waiting for; moto leaves a .waitForTaskToken
                # task waiting for its token or heartbeat (the sweeper's, up to 5 twin minutes later). The pool
                # is the execution's own (its Map iterations share it), so no other execution is woken.
                # (An environment torn down for a timeout may have no pool left.)
                # (moto 5.2's CallbackPoolManager keeps its endpoints in _pool: a test fails if that changes.)
                pool = getattr(getattr(env, "callback_pool_manager", None), "_pool", {})
                for endpoint in list(pool.values()):
                    endpoint.interrupt_all()

        return ending

    def add_event(manager: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        kind = str(getattr(event_type, "value", event_type))
        if getattr(manager, "twin_ended", False) and not kind.startswith("Execution"):
            return 0
        return int(record_event(manager, context, event_type, *args, **kwargs))

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(Environment, "set_error", set_error))
        for name in ("set_timed_out", "set_stop"):
            stack.enter_context(mock.patch.object(Environment, name, end(getattr(Environment, name))))
        stack.enter_context(mock.patch.object(EventManager, "add_event", add_event))
        yield


@contextmanager
def shared_client_classes() -> Iterator[None]:
    """botocore builds a new client class, with a method and docstring per operation, for every client, and
    inspects every handler it registers; in AWS each Lambda container does that once per session, in the twin
    every function and account multiplies it (tens of milliseconds each). The class depends only on the
    service and its API version (boto3 registers the same class hooks in every session), and a handler's
    signature only on its function, so the twin works each out once per process."""
    from botocore.client import ClientCreator

    build = ClientCreator.__dict__["_create_client_class"]
    classes: dict[tuple[str, str], Any] = {}

    def create_client_class(creator: Any, service_name: str, service_model: Any) -> Any:
        key = (service_name, str(service_model.api_version))
        with _LOCK:
            cls = classes.get(key)
        if cls is None:
            cls = build(creator, service_name, service_model)
            with _LOCK:
                classes.setdefault(key, cls)
        return cls

    import botocore.hooks

    accepts = botocore.hooks.accepts_kwargs
    answers: dict[Any, bool] = {}

    def accepts_kwargs(func: Any) -> bool:
        # Asked for every handler a new client registers; the answer depends on the function alone.
        key = getattr(func, "__func__", func)
        try:
            known = answers.get(key)
        except TypeError:
            return bool(accepts(func))
        if known is None:
            known = answers[key] = bool(accepts(func))
        return known

    with (
        mock.patch.object(ClientCreator, "_create_client_class", create_client_class),
        mock.patch.object(botocore.hooks, "accepts_kwargs", accepts_kwargs),
    ):
        yield


def _parsed_definition(parse: Callable[[str], tuple[Any, Any]], definition: str) -> tuple[Any, Any]:
    """moto's ASL parse, once per definition (about half a second each; every twin deploys the same two state
    machines and parses them again at every execution): in memory for the process, and on disk for the next
    process (``ferry local run`` and each test worker). Each caller gets its own copy of the program (an
    execution's components must not be shared with another's), unpickled: six times faster than a deep copy."""
    with _LOCK:
        cached = _PARSED.get(definition)
    if cached is None:
        cached = _stored_parse(parse, definition)
        with _LOCK:
            if len(_PARSED) >= 16:
                _PARSED.clear()
            _PARSED[definition] = cached
    pickled, tree = cached
    # Our own pickle, made by _stored_parse in this process or read from this user's cache folder.
    return pickle.loads(pickled), tree  # noqa: S301


def _stored_parse(parse: Callable[[str], tuple[Any, Any]], definition: str) -> tuple[bytes, Any]:
    """The pickled program from the cache folder when this moto parsed this definition before; the parse tree
    (only moto's describe calls read it) is parsed again when first used."""
    import moto

    path = cache_path("asl", moto.__version__, definition, suffix=".pickle")
    stored = read_cached(path)
    if stored is not None:
        try:
            # Our own pickle, written below by this user for this moto version and definition.
            pickle.loads(stored)  # noqa: S301
            return stored, _LazyTree(parse, definition)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            pass
    program, tree = parse(definition)
    pickled = pickle.dumps(program)
    write_cached(path, pickled)
    return pickled, tree


class _LazyTree:
    """A parse tree that is built when something first reads it."""

    def __init__(self, parse: Callable[[str], tuple[Any, Any]], definition: str) -> None:
        self._parse = parse
        self._definition = definition
        self._tree: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._tree is None:
            self._tree = self._parse(self._definition)[1]
        return getattr(self._tree, name)


@functools.cache
def _parsed_path(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    return functools.lru_cache(maxsize=1024)(parse)


def _client_for(build: Callable[..., Any], region: str, service: str, state_credentials: Any = None) -> Any:
    """moto's client for a Lambda task, one per Region and credentials instead of one per task (clients are
    thread-safe; building one takes tens of milliseconds)."""
    from moto.core.models import botocore_stubber

    key = json.dumps(
        [region, service, state_credentials, botocore_stubber.enabled], sort_keys=True, default=str
    )
    with _LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = _CLIENTS[key] = build(region, service, state_credentials)
        return client


# GetExecutionHistory: "The default is 100 and the maximum allowed page size is 1000. A value of 0 uses the
# default." https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html
HISTORY_PAGE_DEFAULT = 100
HISTORY_PAGE_MAX = 1000


def _history_page(response: Any) -> Any:
    """GetExecutionHistory with AWS's paging (maxResults, nextToken, reverseOrder); moto returns every event at
    once, so a follower reading only what is new would otherwise serialise the whole history each time."""
    from moto.core.exceptions import JsonRESTError
    from moto.core.responses import ActionResult

    moto_execution = response.stepfunction_backend.describe_execution(response._get_param("executionArn"))
    asked = int(response._get_param("maxResults") or 0)
    if not 0 <= asked <= HISTORY_PAGE_MAX:
        # The API model's PageSize is 0 to 1000; AWS refuses anything else rather than clamping it.
        raise JsonRESTError(
            "ValidationException",
            f"1 validation error detected: Value '{asked}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value less than or equal to {HISTORY_PAGE_MAX}",
        )
    size = asked or HISTORY_PAGE_DEFAULT
    reverse = bool(response._get_param("reverseOrder"))
    events = _recorded_events(moto_execution)
    # The token is the position of the next event to return: stable while the history grows at its end.
    token = response._get_param("nextToken")
    position = int(token) if token else (len(events) - 1 if reverse else 0)
    if reverse:
        page = events[max(0, position - size + 1) : position + 1][::-1] if position >= 0 else []
        following = position - size
        more = following >= 0
    else:
        page = events[position : position + size]
        following = position + size
        more = following < len(events)
    result: dict[str, Any] = {"events": copy.deepcopy(page)}
    if more:
        result["nextToken"] = str(following)
    return ActionResult(result)


def execution(account_id: str, region: str, execution_arn: str) -> Any:
    """moto's execution object (its status and history length are read without an API call)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    return stepfunctions_parser_backends[account_id][region].describe_execution(execution_arn)


def is_running(moto_execution: Any) -> bool:
    from moto.stepfunctions.parser.api import ExecutionStatus

    return bool(moto_execution.exec_status == ExecutionStatus.RUNNING)


def history_length(moto_execution: Any) -> int:
    """How many history events the execution has; cheap and lock-free, so a clock predicate may read it."""
    return len(_recorded_events(moto_execution))


def history_since(moto_execution: Any, last_id: int) -> list[dict[str, Any]]:
    """The history events after event ``last_id`` (ids count from 1), shaped as boto3 returns them from
    GetExecutionHistory, read from moto's list: a follower of the twin's own run need not serialise them
    through the API (moto's serialiser takes milliseconds per event)."""
    shaped = copy.deepcopy(_recorded_events(moto_execution)[last_id:])
    for event in shaped:
        # moto keeps the type as its enum and the time as ISO text; boto3 gives a string and a datetime.
        event["type"] = str(getattr(event["type"], "value", event["type"]))
        event["timestamp"] = datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))
    return shaped


def current_state(moto_execution: Any) -> str | None:
    """The state the execution last entered and has not left yet (None between states); cheap and lock-free,
    so a clock predicate may read it. In a Map with one iteration running, the iteration's state."""
    for event in reversed(_recorded_events(moto_execution)):
        kind = str(getattr(event["type"], "value", event["type"]))
        if kind.endswith("StateExited"):
            return None
        if kind.endswith("StateEntered"):
            return str(event["stateEnteredEventDetails"]["name"])
    return None


def _recorded_events(moto_execution: Any) -> list[dict[str, Any]]:
    """moto's own list of the execution's history events (empty until its interpreter built its environment):
    callers slice or measure it, never change it, and a clock predicate may read it (no copy, no lock)."""
    worker = moto_execution.exec_worker
    env = worker.env if worker is not None else None
    events: list[dict[str, Any]] = [] if env is None else env.event_manager._history_event_list
    return events
