"""Process-wide caches for what botocore and moto recompute although it cannot change inside a process.

A twin run builds dozens of botocore sessions (one per assumed role per Lambda container, as AWS does), moto
builds a loader per service it serves, and moto's EC2 parses megabytes of instance-type data at import. None
of it differs between two sessions of one process, so the twin computes it once:

- every botocore ``Loader`` over the same search paths shares one cache, so ``endpoints.json`` and each service
  model are parsed once, and the answers are the objects a single loader would return on its second call;
- every ``EventAliaser`` with botocore's default aliases shares its alias-name cache (a pure function of the
  event name);
- moto's ``BackendDict`` skips its lock and its list scan when the account's backend exists and the dict is
  registered already (moto's check compares dicts by value, on every backend lookup of every request);
- botocore's data files and moto's packaged JSON resources are kept pickled in the twin's cache folder (an
  unpickle takes a third of a JSON parse), keyed by the file's path, size and modification time for botocore's,
  by moto's version and the resource's name for moto's.

Last, the cyclic garbage collector runs less often and skips what was loaded before the first twin started:
with Python's default thresholds it walks the twin's large heap of long-lived models (moto's backends and
botocore's service models) over and over while a run makes millions of short-lived objects.

Nothing here changes an answer: each cache holds what the uncached code returns for the same inputs.
"""

from __future__ import annotations

import gc
import os
import pickle
import threading
from typing import Any

from botocore import hooks, loaders
from botocore.utils import EVENT_ALIASES

from ferry_cli.twin.cache import cache_path, read_cached, write_cached

__all__ = ["freeze_loaded_heap", "install_speedups"]

# Python's defaults are (700, 10, 10); a twin run allocates millions of objects, few of them in cycles.
_GC_THRESHOLDS = (50_000, 50, 1_000)
_loader_caches: dict[tuple[object, ...], dict[Any, Any]] = {}
_alias_cache: dict[str, str] = {}
_lock = threading.Lock()
_original_loader_init = loaders.Loader.__init__
_original_aliaser_init = hooks.EventAliaser.__init__
_original_load_file = loaders.JSONFileLoader.load_file


def _pickled(kind: str, key: str, load: Any) -> Any:
    """``load()``, kept pickled in the twin's cache folder under ``key``; None answers are not kept."""
    path = cache_path(kind, key, suffix=".pickle")
    cached = read_cached(path)
    if cached is not None:
        return pickle.loads(cached)  # noqa: S301 - the twin's own cache folder, written below
    loaded = load()
    if loaded is not None:
        write_cached(path, pickle.dumps(loaded, protocol=pickle.HIGHEST_PROTOCOL))
    return loaded


def _file_key(file_path: str) -> str | None:
    for suffix in (".json", ".json.gz"):
        try:
            found = os.stat(file_path + suffix)
        except OSError:
            continue
        return f"{file_path}{suffix}:{found.st_size}:{found.st_mtime_ns}"
    return None


def _cached_load_file(self: loaders.JSONFileLoader, file_path: str) -> Any:
    key = _file_key(file_path)
    if key is None:
        return None
    return _pickled("botocore-data", key, lambda: _original_load_file(self, file_path))


def _shared_loader_init(self: loaders.Loader, *args: Any, **kwargs: Any) -> None:
    _original_loader_init(self, *args, **kwargs)
    key = (tuple(self.search_paths), tuple(self.extras_types), type(self.file_loader))
    with _lock:
        self._cache = _loader_caches.setdefault(key, {})  # type: ignore[attr-defined]


def _shared_aliaser_init(self: hooks.EventAliaser, event_emitter: Any, event_aliases: Any = None) -> None:
    _original_aliaser_init(self, event_emitter, event_aliases)
    # A client's aliaser is a copy of its session's, made with a copy of the default aliases.
    if event_aliases is None or event_aliases == EVENT_ALIASES:
        self._alias_name_cache = _alias_cache  # type: ignore[attr-defined]


def _install_moto_speedups() -> None:
    import moto
    from moto.core import base_backend
    from moto.utilities import utils

    backend_dict: Any = base_backend.BackendDict
    original_create = backend_dict._create_account_specific_backend
    original_load = utils.load_resource

    def create_account_specific_backend(self: Any, account_id: str) -> None:
        if dict.__contains__(self, account_id) and any(known is self for known in backend_dict._instances):
            return
        original_create(self, account_id)

    def load_resource(resource: str) -> Any:
        return _pickled("moto-resource", f"{moto.__version__}:{resource}", lambda: original_load(resource))

    backend_dict._create_account_specific_backend = create_account_specific_backend
    utils.load_resource = load_resource


def install_speedups() -> None:
    """Install the caches (idempotent). Before moto's services are imported: EC2 builds sessions and reads its
    resources at import."""
    if loaders.Loader.__init__ is _shared_loader_init:
        return
    gc.set_threshold(*_GC_THRESHOLDS)
    loaders.Loader.__init__ = _shared_loader_init  # type: ignore[method-assign]
    hooks.EventAliaser.__init__ = _shared_aliaser_init  # type: ignore[method-assign]
    loaders.JSONFileLoader.load_file = _cached_load_file  # type: ignore[method-assign]
    _install_moto_speedups()


def freeze_loaded_heap() -> None:
    """Once per process, when the first twin starts: what is loaded by then (moto, botocore, the twin) lives as
    long as the process, so the collector stops walking it."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
