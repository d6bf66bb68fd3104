"""What the Lambda runtime gives a function that the twin runs in-process: its context object, its code, and
the count of its invocations."""

from __future__ import annotations

import functools
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType

__all__ = ["InvocationStats", "LambdaContext", "handler_code"]


@dataclass
class LambdaContext:
    """What Powertools and handlers read from the Lambda context object."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    deadline_ms: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self.deadline_ms - time.time() * 1000))


@dataclass
class InvocationStats:
    by_function: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, logical_id: str) -> None:
        with self._lock:
            self.by_function[logical_id] = self.by_function.get(logical_id, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.by_function.values())


@functools.cache
def handler_code(path: Path) -> CodeType:
    """A handler module's code, compiled once per process: each twin runs it afresh in a new module (a new
    deployment's containers), but reading and compiling it again would only repeat the same work."""
    return compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
