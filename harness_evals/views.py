"""Text views of traces and eval cases: the text that gets embedded and clustered.

The view name is part of the embedding cache key, so two views never share vectors.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from harness_evals.errors import UserError

MAX_VIEW_CHARS = 2000  # MiniLM reads 256 word pieces; longer text only costs tokenising time

_WHITESPACE = re.compile(r"\s+")


def intent_view(request: str) -> str:
    """The user's request, whitespace folded."""
    return _WHITESPACE.sub(" ", request).strip()[:MAX_VIEW_CHARS]


VIEWS: dict[str, Callable[[str], str]] = {"intent": intent_view}


def get_view(name: str) -> Callable[[str], str]:
    try:
        return VIEWS[name]
    except KeyError:
        raise UserError(f"unknown view {name!r}: choose one of {', '.join(VIEWS)}") from None
