"""Every RDS call of the twin answered whole, one at a time, as AWS answers each API call.

moto is not thread-safe, and the twin runs the handlers of concurrent runs (and a Map's iterations) on threads:
a describe iterating moto's snapshots while another run created one failed with "OrderedDict mutated during
iteration", and the copy limit (ferry_cli.twin.snapshots, rule 4) was counted and applied in two steps, so
copies asked for in the same instant all saw four in progress and six or seven ran at once. One lock around
each ``RDSBackend`` method (the twin's rules included, installed before this) and the registry's ``advance`` and
``settle_all`` makes each call atomic. Nothing inside these calls waits on the twin's clock (the registry's
listeners only enqueue), so the lock cannot stall twin time; it is always taken before the registry's own, so
the two cannot deadlock.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

from moto.rds.models import RDSBackend

from ferry_cli.twin.lifecycle import TwinRegistry

__all__ = ["atomic_rds_calls"]


@contextmanager
def atomic_rds_calls() -> Iterator[None]:
    """While active, every ``RDSBackend`` method and the registry's time steps run under one lock."""
    lock = threading.RLock()

    def serialised(method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return call

    with ExitStack() as stack:
        for name, attribute in inspect.getmembers(RDSBackend, inspect.isfunction):
            if name.startswith("__"):
                continue
            # A static method stays one: wrapped as a plain function it would be handed the backend too.
            static = isinstance(inspect.getattr_static(RDSBackend, name), staticmethod)
            wrapped = staticmethod(serialised(attribute)) if static else serialised(attribute)
            stack.enter_context(mock.patch.object(RDSBackend, name, wrapped))
        for name in ("advance", "settle_all"):
            stack.enter_context(
                mock.patch.object(TwinRegistry, name, serialised(getattr(TwinRegistry, name)))
            )
        yield
