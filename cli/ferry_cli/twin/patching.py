"""How the twin changes moto: one patch class per moto class, installed by its own context manager.

A :class:`MotoPatch` subclass names the moto class it changes (``target``) and the methods it replaces
(``replaces``); it defines a method of the same name for each, taking the moto object (the backend, the
response) as its first argument after ``self``. The patch object itself holds the state the rules need (the
lifecycle registry, the RAM registry) and reaches moto's own behaviour through :meth:`MotoPatch.original`.
``installed()`` puts the replacements on the moto class for as long as it is active and restores moto's own
attributes on exit; a patch class can be installed once at a time per process, because the replacements are
class attributes that every moto backend of every account shares.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, ClassVar, Self
from unittest.mock import patch

__all__ = ["MotoPatch"]

_installed_lock = threading.Lock()
_installed: set[type[MotoPatch]] = set()


class MotoPatch:
    """Replacements for attributes of one moto class, active while :meth:`installed` is."""

    target: ClassVar[type]
    """The moto class whose attributes are replaced."""
    replaces: ClassVar[tuple[str, ...]] = ()
    """Methods of ``target`` replaced by the same-named methods of the patch."""
    creates: ClassVar[bool] = False
    """Whether a replaced attribute may be missing from ``target`` (an operation moto does not have)."""

    def __init__(self) -> None:
        self._originals: dict[str, Any] = {}

    def original(self, name: str) -> Callable[..., Any]:
        """``target``'s own attribute ``name`` as it was when the patch was installed (call it with the
        moto object first)."""
        original: Callable[..., Any] = self._originals[name]
        return original

    def replacements(self) -> dict[str, Any]:
        """What to put on ``target`` by attribute name: by default a function forwarding each name in
        ``replaces`` to the patch's method of the same name. Subclasses add properties or wrappers."""
        return {name: self._forwarder(name) for name in self.replaces}

    def _forwarder(self, name: str) -> Callable[..., Any]:
        method: Callable[..., Any] = getattr(self, name)

        # A plain function, so that moto calling ``backend.name(...)`` binds the backend as the first argument.
        def replacement(moto_object: Any, *args: Any, **kwargs: Any) -> Any:
            return method(moto_object, *args, **kwargs)

        replacement.__name__ = name
        replacement.__qualname__ = f"{type(self).__name__}.{name}"
        replacement.__doc__ = method.__doc__
        return replacement

    @contextmanager
    def installed(self) -> Iterator[Self]:
        """Replace the attributes while the context is active; moto's own come back on exit."""
        kind = type(self)
        with _installed_lock:
            if kind in _installed:
                raise RuntimeError(f"{kind.__name__} is already installed in this process")
            _installed.add(kind)
        try:
            with ExitStack() as stack:
                for name, replacement in self.replacements().items():
                    # Read from the class: a method comes back as the plain function, a property as itself.
                    self._originals[name] = getattr(self.target, name, None)
                    stack.enter_context(patch.object(self.target, name, replacement, create=self.creates))
                yield self
        finally:
            with _installed_lock:
                _installed.discard(kind)
