"""Swappable parts looked up by name: one registry type for detectors, views, embedders and formats.

A registry holds the parts that ship with harness-evals. Two ways in from outside the package,
without a fork: a Python entry point in the registry's group (`[project.entry-points."harness_evals.detectors"]`
in the plugin's pyproject.toml), discovered on the first lookup and imported only when its name is
looked up; or `module:function` where a name is expected, in the settings or a flag, imported from
the working directory as well, as pytest finds tests. Nothing here imports more than the standard
library: the suite runner uses it on the core install.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from harness_evals.errors import UserError

T = TypeVar("T")
SPEC_SEPARATOR = ":"  # module:function; a registered name never holds one


def load_object(spec: str, *, what: str, accepts: Callable[[Any], bool] = callable, wanted: str = "function") -> Any:
    """The `wanted` named by `package.module:name`, found in the working directory as well.

    The working directory is on `sys.path` for the import only: loading an object does not change
    where every later import in the process looks."""
    module_name, _, attribute = spec.partition(SPEC_SEPARATOR)
    if not module_name or not attribute:
        raise UserError(f"{what} {spec!r}: write it as module:function, e.g. my_agent.entry:answer")
    try:
        with _working_directory_importable():
            module = importlib.import_module(module_name)
    except ImportError as error:
        raise UserError(f"{what} {spec!r}: cannot import {module_name}: {error}") from error
    found = getattr(module, attribute, None)
    if not accepts(found):
        raise UserError(f"{what} {spec!r}: {module_name} has no {wanted} {attribute}")
    return found


def load_callable(spec: str, *, what: str = "--target") -> Callable[..., Any]:
    """The function `package.module:function` names (an agent, a grader, a namer)."""
    return load_object(spec, what=what)


@contextmanager
def _working_directory_importable() -> Iterator[None]:
    """The working directory first on `sys.path` while the block runs; the entry is taken out
    again after, leaving whatever the imported modules added themselves."""
    directory = os.getcwd()
    if directory in sys.path:
        yield
        return
    sys.path.insert(0, directory)
    try:
        yield
    finally:
        sys.path.remove(directory)


class Registry(Generic[T]):
    """Named parts of one kind, e.g. `Registry("detector", "harness_evals.detectors")`.

    `kind` names a part in messages; `group` is the entry-point group third parties register in.
    `entries` are the built-in parts. Entries are functions (an embedder's is its factory, which does
    its heavy imports when called), unless `instance_of` says what type they are. `also` lists the
    choices a caller handles before it looks a name up ("auto", "st:FOLDER"), for the unknown-name
    message."""

    def __init__(self, kind: str, group: str, entries: Mapping[str, T] | None = None, *,
                 instance_of: type | None = None, also: Sequence[str] = ()) -> None:
        self.kind = kind
        self.group = group
        self.also = tuple(also)
        self._wanted = "function" if instance_of is None else instance_of.__name__
        self._accepts: Callable[[Any], bool] = callable if instance_of is None else \
            (lambda entry: isinstance(entry, instance_of))
        self._entries: dict[str, T] = {}
        self._entry_points: dict[str, EntryPoint] | None = None  # None: the group is not read yet
        self._by_spec: dict[str, T] = {}  # module:function specs, each imported once
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    def register(self, name: str, entry: T | None = None) -> Any:
        """Add `entry` under `name`; without an entry, a decorator that adds what it decorates."""
        if entry is None:
            return lambda decorated: self.register(name, decorated)
        if SPEC_SEPARATOR in name:
            raise ValueError(f"{self.kind} {name!r}: a name holds no {SPEC_SEPARATOR!r}, which marks module:function")
        if name in self._entries or name in (self._entry_points or {}):
            raise ValueError(f"a {self.kind} named {name!r} is registered already: unregister it first")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Take a name out again (a test or notebook that registered a part for a while)."""
        del self._entries[name]

    def names(self) -> list[str]:
        """The names registered here, in their order, then those of the group's entry points."""
        return [*self._entries, *(name for name in self._discovered() if name not in self._entries)]

    def get(self, name: str) -> T:
        """The entry registered as `name`, or the one `module:function` names."""
        if SPEC_SEPARATOR in name:
            if name not in self._by_spec:
                self._by_spec[name] = load_object(name, what=self.kind, accepts=self._accepts, wanted=self._wanted)
            return self._by_spec[name]
        discovered = self._discovered()  # first, so a plugin clashing with a registered name is named
        if name not in self._entries and name in discovered:
            self._entries[name] = self._loaded(discovered[name])
        if name not in self._entries:
            raise UserError(f"unknown {self.kind} {name!r}: choose one of {', '.join([*self.names(), *self.also])}, "
                            "or name a module:function")
        return self._entries[name]

    def items(self) -> list[tuple[str, T]]:
        """(name, entry) for every name, each entry point imported."""
        return [(name, self.get(name)) for name in self.names()]

    def _discovered(self) -> dict[str, EntryPoint]:
        """The group's entry points, read once: installing a plugin takes effect in the next process."""
        if self._entry_points is None:
            points = {point.name: point for point in entry_points(group=self.group)}
            for name, point in points.items():
                if name in self._entries:
                    raise UserError(f"entry point {name} = {point.value} in {self.group} takes the name of a "
                                    f"{self.kind} registered already: rename it in the package that declares it")
            self._entry_points = points
        return self._entry_points

    def _loaded(self, point: EntryPoint) -> T:
        where = f"{self.kind} {point.name!r} (entry point {point.value} in {self.group})"
        try:
            entry = point.load()
        except (ImportError, AttributeError) as error:
            raise UserError(f"{where}: cannot load it: {error}; fix or uninstall the package that declares it") \
                from None
        if not self._accepts(entry):
            raise UserError(f"{where}: it is a {type(entry).__name__}, not a {self._wanted}")
        return entry
