"""Step Functions' execution status-change events, and the intrinsic references in a rule's event pattern.

Step Functions puts a "Step Functions Execution Status Change" event on the default event bus of the
execution's account and Region when a standard workflow's execution starts (RUNNING) and when it ends
(SUCCEEDED, FAILED, TIMED_OUT, ABORTED); express workflows send none, and delivery is best effort
(https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html; the event shapes are the
examples of https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html). moto's interpreter sends
none, so the twin hooks the two points where moto's execution changes status and queues the event for its
EventBridge (ferry_cli.twin.events), which routes it like an RDS event.

An EventBridgeRule pattern may name the stack's own resources (``stateMachineArn: [!Ref MigrationStateMachine]``);
:func:`resolve_refs` gives them the values CloudFormation would.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from ferry_cli.twin.clock import TwinClock

__all__ = [
    "DETAIL_TYPE",
    "epoch_ms",
    "execution_status_events",
    "resolve_refs",
    "status_change_event",
    "stop_patches",
]

DETAIL_TYPE = "Step Functions Execution Status Change"

# (account, region, event): hands an event to the twin's EventBridge without waiting for its delivery.
Emit = Callable[[str, str, dict[str, Any]], None]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(at: datetime) -> int:
    """Milliseconds since the epoch, as the event's startDate and stopDate give them."""
    return (at - _EPOCH) // timedelta(milliseconds=1)


def status_change_event(
    execution: Any, status: str, at: datetime, start_ms: int, stop_ms: int | None
) -> dict[str, Any]:
    """The status-change event of moto's ``execution`` entering ``status`` at twin time ``at``."""
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
    from moto.stepfunctions.parser.backend.state_machine import StateMachineVersion

    machine = execution.state_machine
    # An execution of a version reports the state machine it is a version of, as DescribeExecution does.
    machine_arn = machine.source_arn if isinstance(machine, StateMachineVersion) else machine.arn
    raw_input = execution.execution_input
    output = None
    if status == "SUCCEEDED":
        output = to_json_str(execution.output, separators=(",", ":"))
    error, cause = execution.error, execution.cause
    if status == "ABORTED":
        # moto keeps StopExecution's error and cause only in the program state, not on the execution.
        worker = execution.exec_worker
        state = worker.env.program_state() if worker is not None and worker.env is not None else None
        if isinstance(state, ProgramStopped):
            error, cause = state.error, state.cause
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.states",
        "account": execution.account_id,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": execution.region_name,
        "resources": [execution.exec_arn],
        "detail": {
            "executionArn": execution.exec_arn,
            "stateMachineArn": machine_arn,
            "name": execution.name,
            "status": status,
            "startDate": start_ms,
            "stopDate": stop_ms,
            "input": raw_input if isinstance(raw_input, str) else to_json_str(execution.input_data),
            "output": output,
            "inputDetails": {"included": True},
            # AWS's examples give outputDetails only with an output (a success), null otherwise.
            "outputDetails": {"included": True} if output is not None else None,
            "error": error,
            "cause": cause,
        },
    }


@contextmanager
def execution_status_events(clock: TwinClock, emit: Emit) -> Iterator[None]:
    """Emit the status-change events of moto's standard executions while the context is active (with
    StopExecution as AWS has it, see :func:`stop_patches`)."""
    from moto.stepfunctions.parser.api import ExecutionStatus, StateMachineType
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    start_worker: Callable[[Any], None] = ExecutionWorker.start
    reflect_status: Callable[[Any], None] = BaseExecutionWorkerCommunication._reflect_execution_status
    started_ms: dict[str, int] = {}
    lock = threading.Lock()

    def standard(execution: Any) -> bool:
        return execution is not None and execution.sm_type == StateMachineType.STANDARD

    def worker_start(worker: Any) -> None:
        # Execution.start has set RUNNING and calls this just before the interpreter thread exists: the
        # RUNNING event is queued before anything the thread does, so its end can never overtake it. A
        # SyncExecutionWorker (express, synchronous) overrides start and never comes here.
        execution: Any = getattr(worker._execution_communication, "execution", None)
        if standard(execution):
            at = clock.now()
            with lock:
                started_ms[execution.exec_arn] = epoch_ms(at)
            emit(
                execution.account_id,
                execution.region_name,
                status_change_event(execution, "RUNNING", at, epoch_ms(at), None),
            )
        start_worker(worker)

    def reflect_execution_status(comm: Any) -> None:
        # The one place moto makes an execution's status terminal (its interpreter thread, once the program
        # ended, was stopped or failed); only queue here, delivery must never hold the interpreter thread.
        reflect_status(comm)
        execution = comm.execution
        if not standard(execution) or execution.exec_status == ExecutionStatus.RUNNING:
            return
        at = clock.now()
        with lock:
            start_ms = started_ms.pop(execution.exec_arn, None)
        if start_ms is None:
            start_ms = epoch_ms(execution.start_date)
        status = str(execution.exec_status.value)
        emit(
            execution.account_id,
            execution.region_name,
            status_change_event(execution, status, at, start_ms, epoch_ms(at)),
        )

    with ExitStack() as stack:
        stack.enter_context(stop_patches(clock))
        stack.enter_context(mock.patch.object(ExecutionWorker, "start", worker_start))
        stack.enter_context(
            mock.patch.object(
                BaseExecutionWorkerCommunication, "_reflect_execution_status", reflect_execution_status
            )
        )
        yield


@contextmanager
def stop_patches(clock: TwinClock) -> Iterator[None]:
    """StopExecution as AWS has it: it keeps the caller's error and cause, works just after StartExecution,
    and always ends the execution ABORTED."""
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.responses import StepFunctionResponse

    set_error: Callable[[Any, Any], None] = Environment.set_error

    def stop_execution(response: Any) -> Any:
        # moto's StopExecution drops the caller's error and cause (AWS keeps them: the ExecutionAborted
        # history event and the ABORTED status-change event carry them), and fails when it comes before the
        # interpreter thread has built its environment, just after StartExecution.
        execution = response.stepfunction_backend.describe_execution(response._get_param("executionArn"))
        stop_date = clock.now()
        worker = execution.exec_worker
        if worker is not None:
            # Twin seconds, so only until the interpreter thread settles. It builds the environment first, and
            # the program has a state (running) only once it entered its first state: a stop before that is
            # dropped by moto, and the execution would run on to its end.
            clock.wait_until(lambda: _started(worker), timeout=60)
            if worker.env is not None:
                execution.stop(
                    stop_date=stop_date,
                    error=response._get_param("error"),
                    cause=response._get_param("cause"),
                )
        return ActionResult({"stopDate": stop_date})

    def set_error_unless_stopped(env: Any, error: Any) -> None:
        # A stop that lands while a state is part-way through its evaluation makes moto skip ("prune") the
        # rest of its components, the state then trips over its own half-built stack, and moto's set_error
        # turns the stopped execution into FAILED. StopExecution aborts the execution whatever it was doing.
        with env._state_mutex:  # re-entrant: moto's set_error takes it again
            if not isinstance(env._program_state, ProgramStopped):
                set_error(env, error)

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(StepFunctionResponse, "stop_execution", stop_execution))
        stack.enter_context(mock.patch.object(Environment, "set_error", set_error_unless_stopped))
        yield


def _started(worker: Any) -> bool:
    return worker.env is not None and worker.env._program_state is not None


def resolve_refs(value: Any, refs: Mapping[str, str], where: str) -> Any:
    """``value`` with every ``{"Ref": logical_id}`` (``!Ref``) replaced by ``refs[logical_id]``, at any depth.

    An unknown reference raises ValueError naming it and ``where`` (CloudFormation would refuse the stack).
    """
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            name = value["Ref"]
            if not isinstance(name, str) or name not in refs:
                raise ValueError(
                    f"{where}: !Ref {name} names no resource or pseudo parameter the twin deploys"
                )
            return refs[name]
        return {key: resolve_refs(item, refs, where) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_refs(item, refs, where) for item in value]
    return value
