"""Package surfaces that load on first use (PEP 562).

Each package's ``__init__`` lists its public names in ``__all__`` and imports them for mypy and readers under
``TYPE_CHECKING``; at run time a name's module is imported the first time the name is used. A Lambda handler so
loads only the modules its step needs (the summary handlers never load boto3), and the CLI can read an input
without creating Powertools' logger, which takes its level from the environment once, when it is created (the
twin sets that environment only while it runs).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_attributes(package: str, origins: Mapping[str, tuple[str, ...]]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package``: each name listed under a module of ``origins`` is imported
    from that module on first use and then kept in the package; a name that is the module's own is the module.
    """
    where = {name: module for module, names in origins.items() for name in names}

    def load(name: str) -> object:
        origin = where.get(name)
        if origin is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{origin}")
        value = module if name == origin else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    return load
