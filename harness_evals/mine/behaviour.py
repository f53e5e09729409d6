"""Behaviour coverage: an eval case that states the tools it expects covers a trace's behaviour,
not only its wording.

An eval case whose `expected` names `required_tools` or `forbidden_tools` (suite.model.Expected)
says how the agent should get there. A production trace the coverage judge finds it covers, by
request, but whose trajectory takes another path (a required tool never called, a forbidden one
called) is flagged `path_differs`, naming the case and the tools, like a silent failure: the
eval case may pass while production does something else. The agent's calls are its tool and
subagent calls (signals.agent_tools), as a suite's tool checks read a target's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

PATH_DIFFERS = "path_differs"


@dataclass(frozen=True)
class ToolPath:
    """What an eval case expects of the agent's calls."""

    required: tuple[str, ...]
    forbidden: tuple[str, ...]


def tool_paths(cases: Iterable[tuple[str, Any]]) -> dict[str, ToolPath]:
    """The path each eval case of (case_id, expected) states, by case id: its `required_tools` and
    `forbidden_tools`, where `expected` is an object of checks naming either. Other cases (a reference
    answer, checks on the answer only) state none and are left out."""
    paths = {}
    for case_id, expected in cases:
        if not isinstance(expected, dict):
            continue
        required, forbidden = _names(expected.get("required_tools")), _names(expected.get("forbidden_tools"))
        if required or forbidden:
            paths[case_id] = ToolPath(required, forbidden)
    return paths


def _names(value: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for name in value if isinstance(name, str) and name)) \
        if isinstance(value, list) else ()


def path_difference(case_id: str, path: ToolPath, called: Iterable[str]) -> str | None:
    """Why a trace covered by eval case `case_id` takes another path than it states, or None."""
    called = set(called)
    missing = [name for name in path.required if name not in called]
    used = [name for name in path.forbidden if name in called]
    if not missing and not used:
        return None
    parts = [f"required {', '.join(missing)} never called"] if missing else []
    parts += [f"forbidden {', '.join(used)} called"] if used else []
    return f"covered by eval case {case_id}, whose path differs: {'; '.join(parts)}"
