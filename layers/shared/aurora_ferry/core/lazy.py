"""Package surfaces that load on first use (PEP 562).

Each package's ``__init__`` maps its public names to the modules that define them and derives ``__all__`` from
that map; at run time a name's module is imported the first time the name is used. A Lambda handler so loads
only the modules its step needs (the summary handlers never load boto3), and the CLI can read an input without
creating Powertools' logger, which takes its level from the environment once, when it is created (the twin sets
that environment only while it runs).

For mypy and readers the ``__init__`` also imports each name under ``TYPE_CHECKING``, as ``from module import
name as name``: mypy reads a module's exports from a literal ``__all__`` only (a computed one would export
nothing), so the map and ``__all__`` stand where mypy does not look, and the redundant alias makes each import a
re-export. tests/unit/test_layer_architecture.py keeps the imports and the map naming the same names.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_surface(
    package: str, origins: Mapping[str, tuple[str, ...]], eager: tuple[str, ...] = ()
) -> tuple[Callable[[str], object], list[str]]:
    """``package``'s module ``__getattr__`` and ``__all__``, both from ``origins`` (each module's public names):
    a name is imported from its module on first use and then kept in the package; a name that is the module's
    own is the module. ``__all__`` lists ``eager`` too, the names the package imports itself."""
    where = {name: module for module, names in origins.items() for name in names}

    def load(name: str) -> object:
        origin = where.get(name)
        if origin is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{origin}")
        value = module if name == origin else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    return load, [*eager, *where]
