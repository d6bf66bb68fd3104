"""RedriveExecution in the twin: moto 5.2.5's Step Functions has no redrive, so the twin adds it as AWS documents it.

"When you redrive an execution, it continues the failed execution from the unsuccessful step and uses the same
input. Step Functions preserves the results and execution history of the successful steps ... Redriven
executions use the same state machine definition and execution ARN", for executions that did not succeed and
ended within the last 14 days; a running or succeeded execution is refused with ExecutionNotRedrivable
("Execution is RUNNING and cannot be redriven", "Execution redrivable period exceeded").
https://docs.aws.amazon.com/step-functions/latest/dg/redrive-executions.html
https://docs.aws.amazon.com/step-functions/latest/apireference/API_RedriveExecution.html

The twin restarts the top-level state that the execution entered last and never left, with the input it
entered with, appends ExecutionRedriven (with the redrive count) to the same history, and gives the context
object's Execution.RedriveCount and RedriveTime. AWS redrives only the failed iterations of an inline Map or
Parallel; the twin does not model that and refuses such a redrive (TwinLimitation) rather than run more or less
than AWS would: aurora-ferry's workflows always end in a top-level state.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta
from typing import Any, cast
from unittest import mock

from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

from ferry_cli.twin.clock import TwinClock

__all__ = ["REDRIVABLE_FOR", "redrive_patches", "unsuccessful_state"]

REDRIVABLE_FOR = timedelta(days=14)
_ENTERED, _EXITED = "stateEnteredEventDetails", "stateExitedEventDetails"


def unsuccessful_state(events: list[dict[str, Any]], top_level: set[str]) -> tuple[str, Any] | None:
    """The top-level state the execution entered last and did not leave, and the input it entered with."""
    entered: dict[str, Any] = {}
    order: list[str] = []
    for event in events:
        if _ENTERED in event and event[_ENTERED]["name"] in top_level:
            name = event[_ENTERED]["name"]
            entered[name] = event[_ENTERED].get("input")
            order.append(name)
        elif _EXITED in event and event[_EXITED]["name"] in top_level:
            entered.pop(event[_EXITED]["name"], None)
    for name in reversed(order):
        if name in entered:
            raw = entered[name]
            return name, json.loads(raw) if isinstance(raw, str) else raw
    return None


@contextmanager
def redrive_patches(clock: TwinClock) -> Iterator[None]:
    """The RedriveExecution API on moto's Step Functions, and the context object's redrive fields."""
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication
    from moto.stepfunctions.responses import StepFunctionResponse

    terminated = BaseExecutionWorkerCommunication.terminated
    environment = ExecutionWorker._get_evaluation_environment

    def stamp_end(comm: Any) -> None:
        # moto stamps the end with wall time; the redrivable period counts twin time.
        comm.execution.twin_stopped_at = clock.now()
        terminated(comm)

    def with_redrive_fields(worker: Any) -> Any:
        env = environment(worker)
        data: Any = env.states.context_object.context_object_data["Execution"]
        data["RedriveCount"] = getattr(worker, "twin_redrive_count", 0)
        if getattr(worker, "twin_redrive_time", None):
            data["RedriveTime"] = worker.twin_redrive_time
        return env

    def redrive_execution(response: Any) -> Any:
        from moto.core.responses import ActionResult

        moto_execution = response.stepfunction_backend.describe_execution(response._get_param("executionArn"))
        redriven_at = _redrive(moto_execution, clock.now())
        return ActionResult({"redriveDate": redriven_at})

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(BaseExecutionWorkerCommunication, "terminated", stamp_end))
        stack.enter_context(
            mock.patch.object(ExecutionWorker, "_get_evaluation_environment", with_redrive_fields)
        )
        stack.enter_context(
            mock.patch.object(StepFunctionResponse, "redrive_execution", redrive_execution, create=True)
        )
        yield


def _refused(code: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(code, message)


def _redrive(moto_execution: Any, now: datetime) -> datetime:
    from moto.stepfunctions.parser.api import ExecutionStatus

    status = moto_execution.exec_status
    if status in (ExecutionStatus.RUNNING, ExecutionStatus.SUCCEEDED):
        raise _refused("ExecutionNotRedrivable", f"Execution is {status.value} and cannot be redriven.")
    stopped_at = getattr(moto_execution, "twin_stopped_at", None) or now
    if now - stopped_at > REDRIVABLE_FOR:
        raise _refused("ExecutionNotRedrivable", "Execution redrivable period exceeded.")
    old = moto_execution.exec_worker
    events: list[dict[str, Any]] = list(old.env.event_manager._history_event_list) if old.env else []
    states = json.loads(moto_execution.state_machine.definition)["States"]
    found = unsuccessful_state(events, set(states))
    if found is None:
        raise _refused("ExecutionNotRedrivable", "Execution has no unsuccessful state to redrive.")
    name, state_input = found
    if states[name]["Type"] in ("Map", "Parallel"):
        raise _refused(
            "TwinLimitation",
            f"the twin does not model redriving a {states[name]['Type']} state ({name}): AWS redrives only its "
            "failed iterations or branches",
        )
    count = getattr(moto_execution, "twin_redrive_count", 0) + 1
    worker = moto_execution._get_start_execution_worker()
    worker.__class__ = _RedriveWorker
    worker.twin_redrive_count = count
    worker.twin_redrive_time = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    worker.twin_resume = (name, state_input, events)
    moto_execution.twin_redrive_count = count
    moto_execution.exec_status = ExecutionStatus.RUNNING
    moto_execution.stop_date = moto_execution.error = moto_execution.cause = None
    moto_execution.exec_worker = worker
    worker.start()
    return now


class _RedriveWorker(ExecutionWorker):
    """An execution worker that goes on from the unsuccessful state, in the same history."""

    twin_redrive_count: int
    twin_redrive_time: str
    twin_resume: tuple[str, Any, list[dict[str, Any]]]

    def _execution_logic(self) -> None:
        from moto.stepfunctions.parser.api import ExecutionRedrivenEventDetails, HistoryEventType
        from moto.stepfunctions.parser.asl.component.common.flow.start_at import StartAt
        from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

        name, state_input, events = self.twin_resume
        program: Any = self._get_evaluation_entrypoint()
        program.start_at = StartAt(name)
        self.env = env = self._get_evaluation_environment()
        manager: Any = env.event_manager
        manager._history_event_list.extend(events)
        manager._event_id_gen._next_id = len(events) + 1
        env.states.reset(state_input)
        manager.add_event(
            context=env.event_history_context,
            event_type=HistoryEventType.ExecutionRedriven,
            # moto's EventDetails lists no executionRedrivenEventDetails; its history event takes any details.
            event_details=cast(
                EventDetails,
                {
                    "executionRedrivenEventDetails": ExecutionRedrivenEventDetails(
                        redriveCount=self.twin_redrive_count
                    )
                },
            ),
            update_source_event_id=False,
        )
        program.eval(env)
        self._execution_communication.terminated()
