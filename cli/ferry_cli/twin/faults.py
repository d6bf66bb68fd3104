"""Faults a test plants in the twin's Lambda tasks: the next invocation made by a named state fails.

A test names the state (as the ASL names it) and what its function does: raise a named error, or hang until
Lambda stops it. The twin tells which state an invocation comes from by the Step Functions context of the
interpreter thread that makes it (ferry_cli.twin.interpreter), so a function that several states call (the
poll function, the cleanup) fails only where it was told to.

A hang is Lambda's function timeout: after the function's `Timeout` (twin seconds), Lambda ends the
invocation with the error type `Sandbox.Timedout` and the message "Task timed out after N seconds", which
Step Functions reports as the task's error.
https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-timeouts
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from ferry_cli.twin.clock import TwinClock

__all__ = ["LAMBDA_TIMEOUT_ERROR", "Fault", "Faults", "timed_out"]

LAMBDA_TIMEOUT_ERROR = "Sandbox.Timedout"
Kind = Literal["error", "hang"]


@dataclass(frozen=True)
class Fault:
    """What the next invocation from `state` does: `kind` "error" raises `error` with `message`; "hang" runs
    until the function's timeout."""

    state: str
    kind: Kind
    error: str = "TwinInjectedError"
    message: str = "a fault planted by the test"


def timed_out(timeout_seconds: int) -> dict[str, Any]:
    """The error payload Lambda returns for an invocation it stopped at the function's timeout."""
    return {
        "errorType": LAMBDA_TIMEOUT_ERROR,
        "errorMessage": f"RequestId: {uuid.uuid4()} Error: Task timed out after {timeout_seconds:.2f} seconds",
    }


class Faults:
    """The faults still to happen; each happens once, at the first invocation from its state."""

    def __init__(self) -> None:
        self._planned: list[Fault] = []
        self.happened: list[Fault] = []
        self._lock = threading.Lock()

    def plant(self, fault: Fault) -> None:
        with self._lock:
            self._planned.append(fault)

    def take(self, state: str | None) -> Fault | None:
        """The fault planted for `state`, now happening (so removed), or None."""
        if state is None:
            return None
        with self._lock:
            for fault in self._planned:
                if fault.state == state:
                    self._planned.remove(fault)
                    self.happened.append(fault)
                    return fault
        return None

    @staticmethod
    def answer(fault: Fault, timeout_seconds: int, clock: TwinClock) -> dict[str, Any]:
        """The failed invocation's payload; a hang first lets the function's timeout pass in twin time."""
        if fault.kind == "hang":
            clock.sleep(timeout_seconds)
            return timed_out(timeout_seconds)
        return {"errorType": fault.error, "errorMessage": fault.message}
