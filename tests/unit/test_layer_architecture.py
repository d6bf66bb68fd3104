"""The shared layer's architecture, as the code shows it: packages with a chosen public surface, imported in
one direction, no private names borrowed across modules, no module over 500 lines, and nothing of the test
tooling shipped to Lambda."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.unit

LAYER = REPO / "layers" / "shared" / "aurora_ferry"
FUNCTIONS = REPO / "functions"
CLI = REPO / "cli" / "ferry_cli"
TWIN = CLI / "twin"
MAX_MODULE_LINES = 500

# Each package of the layer, and the packages it may import; core imports none of them.
PACKAGES: dict[str, set[str]] = {
    "core": set(),
    "migration": {"core"},
    "clone": {"core"},
    "waits": {"core"},
    "preflight": {"core", "migration"},
    "ended": {"core", "migration", "clone"},
    "managed": {"core", "migration", "clone", "ended"},
}
# What the layer must never import: the test double, the CLI, the tests.
NEVER_IN_THE_LAYER = ("moto", "ferry_cli", "tests")


def _sources(*folders: Path) -> list[Path]:
    return sorted(path for folder in folders for path in folder.rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(module, imported name, line) for every import of a file; the name is None for ``import x``; the
    module of ``import_module("x")`` and ``__import__("x")`` calls counts too."""
    found: list[tuple[str, str | None, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found += [(node.module, alias.name, node.lineno) for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.append((str(node.args[0].value), None, node.lineno))
    return found


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(REPO)}:{line}" if path.is_relative_to(REPO) else f"{path.name}:{line}"


def private_imports(paths: list[Path]) -> list[str]:
    """``from X import _private`` (or from a private module ``X._mod``) anywhere in ``paths``."""
    return [
        f"{_where(path, line)}: from {module} import {name}"
        for path in paths
        for module, name, line in _imports(path)
        if name is not None and (_is_private(name) or any(_is_private(part) for part in module.split(".")))
    ]


def package_of(path: Path) -> str | None:
    """The layer package a file belongs to (None outside the layer, or for the layer's own __init__)."""
    if not path.is_relative_to(LAYER):
        return None
    parts = path.relative_to(LAYER).parts
    return parts[0] if len(parts) > 1 else None


def surface_violations(paths: list[Path]) -> list[str]:
    """Imports of a layer package from outside it that bypass its ``__init__`` or name something its
    ``__all__`` does not list."""
    found: dict[str, None] = {}
    for path in paths:
        own = package_of(path)
        for module, name, line in _imports(path):
            parts = module.split(".")
            if parts[0] != "aurora_ferry" or len(parts) < 2 or parts[1] == own:
                continue
            where = _where(path, line)
            if len(parts) > 2:
                found[f"{where}: {module} is inside aurora_ferry.{parts[1]}; import from the package"] = None
            elif name is not None and name not in importlib.import_module(module).__all__:
                found[f"{where}: {name} is not in {module}.__all__"] = None
    return list(found)


def test_the_layer_is_packages_only() -> None:
    # Given the layer's top folder / When its modules and packages are listed
    modules = sorted(path.name for path in LAYER.glob("*.py"))
    packages = sorted(path.name for path in LAYER.iterdir() if (path / "__init__.py").is_file())

    # Then there is no flat module left (no old name re-exporting a new one), only the packages
    assert modules == ["__init__.py"]
    assert packages == sorted(PACKAGES)


def test_no_layer_module_is_over_500_lines() -> None:
    # Given every module of the layer
    modules = _sources(LAYER)
    assert len(modules) >= 20, "the scan must see the layer's modules"

    # When their lines are counted
    sizes = {
        str(path.relative_to(LAYER)): len(path.read_text(encoding="utf-8").splitlines()) for path in modules
    }

    # Then none is over the limit
    assert {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}


def test_no_private_name_is_imported_across_modules() -> None:
    # Given every Python file of the layer, the functions and the CLI (the twin included)
    sources = _sources(LAYER, FUNCTIONS, CLI)
    assert len(sources) >= 60, "the scan must see the runtime and CLI modules"

    # When their imports are read / Then none borrows a private name (or a private module) from another module
    assert private_imports(sources) == []


def test_every_package_defines_all_and_binds_it() -> None:
    # Given every package of the layer, the layer itself included
    inits = sorted(LAYER.rglob("__init__.py"))
    assert len(inits) == len(PACKAGES) + 1

    for init in inits:
        name = ".".join(init.parent.relative_to(LAYER.parent).parts)
        # When its __init__ is read (a package computes __all__ in its `if not TYPE_CHECKING:` block, with its
        # __getattr__: `__getattr__, __all__ = lazy_surface(...)`)
        tree = ast.parse(init.read_text(encoding="utf-8"))
        assigned = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign | ast.AnnAssign)
            and any(
                isinstance(name, ast.Name) and name.id == "__all__"
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                for name in (target.elts if isinstance(target, ast.Tuple) else [target])
            )
        ]
        # Then it assigns __all__ once, a list of names, each bound once in the package
        assert len(assigned) == 1, f"{name}: __init__ must define __all__"
        exported = importlib.import_module(name).__all__
        assert isinstance(exported, list) and all(isinstance(item, str) for item in exported), name
        assert len(set(exported)) == len(exported), f"{name}.__all__ lists a name twice"
        unbound = [item for item in exported if not hasattr(importlib.import_module(name), item)]
        assert unbound == [], f"{name}.__all__ names what the package does not define"


def _surface(init: Path) -> tuple[dict[str, str], dict[str, str], set[str], list[str]]:
    """What a package's ``__init__`` says of each public name: its module as imported for type checkers,
    its module as loaded on first use (the ``_ORIGINS`` map it hands ``lazy_surface``), the names it
    imports eagerly, and the type-checking imports that do not re-export their name (``import x as x``)."""
    package = ".".join(init.parent.relative_to(LAYER.parent).parts)
    tree = ast.parse(init.read_text(encoding="utf-8"))
    static: dict[str, str] = {}
    eager: set[str] = set()
    hidden: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for imported in node.body:
                assert isinstance(imported, ast.ImportFrom) and imported.module is not None
                inside = imported.module.removeprefix(package).lstrip(".")
                static.update({alias.name: inside or alias.name for alias in imported.names})
                hidden += [alias.name for alias in imported.names if alias.asname != alias.name]
        elif isinstance(node, ast.ImportFrom):
            eager.update(alias.name for alias in node.names)
    lazy: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_ORIGINS" for t in node.targets):
            origins = node.value
            assert isinstance(origins, ast.Dict)
            for key, names in zip(origins.keys, origins.values, strict=True):
                assert isinstance(key, ast.Constant) and isinstance(names, ast.Tuple)
                lazy.update(
                    {str(name.value): str(key.value) for name in names.elts if isinstance(name, ast.Constant)}
                )
    return static, lazy, eager, hidden


def test_each_package_surface_says_the_same_twice() -> None:
    # Given every package's __init__: names imported for type checkers, and the modules they load from at run
    # time (from which __all__ is computed)
    for init in sorted(LAYER.glob("*/__init__.py")):
        name = ".".join(init.parent.relative_to(LAYER.parent).parts)
        static, lazy, eager, hidden = _surface(init)
        exported = set(importlib.import_module(name).__all__)

        # Then each public name comes from the same module for type checkers and at run time, mypy sees each
        # as re-exported, and __all__ lists exactly those (and what the package binds eagerly)
        assert static, f"{name}: no names imported under TYPE_CHECKING"
        assert static == lazy, f"{name}: TYPE_CHECKING imports and the lazy map disagree"
        assert hidden == [], f"{name}: import these as `name as name`, or mypy does not export them"
        assert set(lazy) <= exported <= set(lazy) | eager, f"{name}: __all__ disagrees with the lazy map"


def test_importing_the_packages_loads_none_of_their_modules() -> None:
    # Given a fresh interpreter with the layer on its path, as Lambda has it
    probe = (
        "import importlib, sys\n"
        f"for package in {sorted(PACKAGES)!r}:\n"
        "    importlib.import_module(f'aurora_ferry.{package}')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('aurora_ferry', 'boto3', 'aws_lambda_powertools'))))\n"
    )
    # When every package is imported
    loaded = subprocess.run(
        [sys.executable, "-s", "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(LAYER.parent)},
        cwd=LAYER.parent,
    ).stdout

    # Then only the packages themselves are loaded: a handler loads the modules its step uses, and Powertools'
    # logger is not created before the twin sets its environment
    assert ast.literal_eval(loaded) == sorted(
        ["aurora_ferry", "aurora_ferry.core.lazy", *(f"aurora_ferry.{package}" for package in PACKAGES)]
    )


def test_the_layer_imports_nothing_from_moto_the_cli_or_the_tests() -> None:
    # Given every module of the layer (shipped to Lambda)
    # When their imports are read
    offenders = [
        f"{_where(path, line)}: {module}"
        for path in _sources(LAYER)
        for module, _, line in _imports(path)
        if module.split(".")[0] in NEVER_IN_THE_LAYER
    ]

    # Then none brings in moto, the twin or CLI, or the tests
    assert offenders == []


def test_packages_import_each_other_only_in_the_architecture_direction() -> None:
    # Given every module of each package / When its imports of other layer packages are read
    crossings = sorted(
        f"{_where(path, line)}: {package_of(path)} imports {module.split('.')[1]}"
        for path in _sources(LAYER)
        for module, _, line in _imports(path)
        if (own := package_of(path)) is not None
        and module.split(".")[0] == "aurora_ferry"
        and len(module.split(".")) > 1
        and module.split(".")[1] not in {own, *PACKAGES[own]}
    )

    # Then each imports only what the architecture allows it (core nothing; preflight core and migration)
    assert crossings == []


def test_other_packages_use_only_a_packages_public_surface() -> None:
    # Given the layer's packages, the functions and the CLI's commands (the twin, a test double that patches
    # the layer's session cache, is left out)
    sources = [path for path in _sources(LAYER, FUNCTIONS, CLI) if not path.is_relative_to(TWIN)]

    # When their imports of another layer package are read
    # Then each goes through the package's __init__ and names only what its __all__ lists
    assert surface_violations(sources) == []


def test_the_scans_would_catch_each_violation(tmp_path: Path) -> None:
    # Given a file with one of each violation the scans look for
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from __future__ import annotations\n"
        "from aurora_ferry.migration.contract import _Problems\n"
        "from aurora_ferry.core._hidden import thing\n"
        "from aurora_ferry.migration.copies import copy_snapshot\n"
        "from aurora_ferry.core import _CLIENT_CONFIG\n"
        "from aurora_ferry.core import access\n"
        "from aurora_ferry.waits import WaitStore\n",
        encoding="utf-8",
    )

    # Then the private-name scan sees the three private imports, and the surface scan the six bypasses
    assert len(private_imports([sample])) == 3
    assert len(surface_violations([sample])) == 6
