"""Assembled prompts: what the model was given, block by block, and the contracts it must keep.

Prompt composition has no type system: an add-on block assumes a base block that is no longer
there, and the agent quietly answers something plausible and wrong. So each trace's assembled
prompt (system prompt split into its blocks, tool definitions, injected context) is kept as a
snapshot per distinct assembly, compared across releases, and checked against a small contract.

A system prompt is split into blocks at markdown headings (`# Refunds`) or top-level XML-style
tags (`<refund_policy>…</refund_policy>`), which is how composed prompts are written; text
before the first heading is the block `preamble`, and an unstructured prompt is one block
`system`. Each tool definition is a block `tool:NAME`; later system or developer messages are
`context` blocks.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from harness_evals.chat import message_text
from harness_evals.errors import UserError, describe_validation_error

RELEASE_KEYS = ("release", "prompt_version", "app_version", "version", "service.version")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_TAG = re.compile(r"^<([A-Za-z][\w-]*)>\s*$(.*?)^</\1>\s*$", re.MULTILINE | re.DOTALL)


class PromptBlock(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["system", "tool", "context"]
    name: str
    text: str


class PromptAssembly(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blocks: list[PromptBlock]

    @property
    def digest(self) -> str:
        canonical = json.dumps([b.model_dump() for b in self.blocks], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def names(self) -> list[str]:
        return [block.name for block in self.blocks]

    def text(self) -> str:
        """The whole assembly as one reviewable document."""
        return "".join(f"===== {b.kind}: {b.name} =====\n{b.text.rstrip()}\n\n" for b in self.blocks)


def split_system_prompt(text: str, *, kind: Literal["system", "context"] = "system") -> list[PromptBlock]:
    text = text.strip()
    if not text:
        return []
    tags = list(_TAG.finditer(text))
    if tags:
        blocks, position = [], 0
        for match in tags:
            if text[position:match.start()].strip():
                blocks.append(PromptBlock(kind=kind, name="preamble" if not blocks else f"between {blocks[-1].name}",
                                          text=text[position:match.start()].strip()))
            blocks.append(PromptBlock(kind=kind, name=match.group(1), text=match.group(2).strip()))
            position = match.end()
        if text[position:].strip():
            blocks.append(PromptBlock(kind=kind, name="after " + blocks[-1].name, text=text[position:].strip()))
        return blocks
    headings = list(_HEADING.finditer(text))
    if not headings:
        return [PromptBlock(kind=kind, name=kind, text=text)]
    blocks = []
    if text[: headings[0].start()].strip():
        blocks.append(PromptBlock(kind=kind, name="preamble", text=text[: headings[0].start()].strip()))
    for number, heading in enumerate(headings):
        end = headings[number + 1].start() if number + 1 < len(headings) else len(text)
        blocks.append(PromptBlock(kind=kind, name=heading.group(1), text=text[heading.end():end].strip()))
    return blocks


def tool_block(definition: dict[str, Any]) -> PromptBlock | None:
    """An OpenAI-style `{"type": "function", "function": {...}}` or a bare `{"name", ...}` definition."""
    function = definition.get("function", definition) if isinstance(definition, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        return None
    return PromptBlock(kind="tool", name=f"tool:{function['name']}",
                       text=json.dumps(function, sort_keys=True, indent=2, ensure_ascii=False))


def assemble(system_texts: list[str], tools: list[Any]) -> PromptAssembly | None:
    """The first system text is the system prompt; later ones are injected context. None if empty."""
    blocks: list[PromptBlock] = []
    for number, text in enumerate(system_texts):
        blocks += split_system_prompt(text, kind="system" if number == 0 else "context")
    blocks += [block for block in (tool_block(t) for t in tools) if block is not None]
    unique = list(dict.fromkeys(blocks))
    return PromptAssembly(blocks=unique) if unique else None


def assembly_from_messages(messages: list[dict[str, Any]] | None, tools: list[Any] | None = None) -> PromptAssembly | None:
    """From chat messages (system and developer roles) and the request's tool definitions."""
    if not messages and not tools:
        return None
    texts = [message_text(m.get("content")) for m in messages or [] if m.get("role") in ("system", "developer")]
    return assemble([t for t in texts if t.strip()], tools or [])


def release_of(metadata: dict[str, Any]) -> str | None:
    for key in RELEASE_KEYS:
        if metadata.get(key) not in (None, ""):
            return str(metadata[key])
    return None


# ---- contracts ----------------------------------------------------------------------------------

class PromptContract(BaseModel):
    """What every assembly must hold. Names are block names (headings, tags, `tool:NAME`)."""

    model_config = ConfigDict(extra="forbid")

    required_blocks: list[str] = []
    required_markers: list[str] = []  # text every assembly must contain somewhere
    block_requires: dict[str, list[str]] = {}  # a block present needs these blocks too
    forbidden: list[str] = []  # text no assembly may contain, e.g. "{{" of an unrendered template
    tools_defined_when_used: bool = True  # a tool the trace calls must be defined in its assembly


def load_contract(path: str | Path) -> PromptContract:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such contract file")
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(path.read_text()) or {}
        else:
            data = tomllib.loads(path.read_text())
        return PromptContract.model_validate(data)
    except ValidationError as error:
        raise UserError(f"{path}: {describe_validation_error(error)}") from None
    except (tomllib.TOMLDecodeError, ValueError) as error:
        raise UserError(f"{path}: not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'TOML'}: {error}") from None


def violations(assembly: PromptAssembly, tools_called: list[str], contract: PromptContract) -> list[str]:
    names = set(assembly.names)
    text = assembly.text()
    found = [f"block {name!r} is missing" for name in contract.required_blocks if name not in names]
    found += [f"marker {marker!r} is missing" for marker in contract.required_markers if marker not in text]
    for block, needed in contract.block_requires.items():
        if block in names:
            found += [f"block {block!r} needs block {need!r}, which is missing" for need in needed if need not in names]
    found += [f"forbidden text {bad!r} is present" for bad in contract.forbidden if bad in text]
    if contract.tools_defined_when_used and any(b.kind == "tool" for b in assembly.blocks):
        defined = {b.name.removeprefix("tool:") for b in assembly.blocks if b.kind == "tool"}
        found += [f"tool {tool!r} is called but not defined" for tool in dict.fromkeys(tools_called)
                  if tool not in defined]
    return found


# ---- diffs --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AssemblyChange:
    status: Literal["appeared", "vanished", "changed"]
    before: str | None  # assembly digests
    after: str | None
    traffic_before: float  # share of its release's traced traffic
    traffic_after: float
    block_diffs: list[str] = field(default_factory=list)  # unified diffs, one per block added, dropped or edited


def _similarity(a: PromptAssembly, b: PromptAssembly) -> float:
    names_a, names_b = set(a.names), set(b.names)
    return len(names_a & names_b) / len(names_a | names_b) if names_a | names_b else 1.0


def block_diffs(before: PromptAssembly, after: PromptAssembly) -> list[str]:
    old = {b.name: b for b in before.blocks}
    new = {b.name: b for b in after.blocks}
    diffs = []
    for name in list(dict.fromkeys(list(old) + list(new))):
        a, b = old.get(name), new.get(name)
        if a is not None and b is not None and a.text == b.text:
            continue
        diffs.append("".join(difflib.unified_diff(
            (a.text + "\n").splitlines(keepends=True) if a else [],
            (b.text + "\n").splitlines(keepends=True) if b else [],
            fromfile=f"before/{name}" if a else "/dev/null", tofile=f"after/{name}" if b else "/dev/null",
        )))
    return diffs


def closest(assembly: PromptAssembly, others: dict[str, PromptAssembly]) -> str | None:
    """The digest of the one of `others` that shares most of `assembly`'s block names (ties: the
    greater digest, as `diff_releases` breaks them); None when none shares any."""
    similarity, digest = max(((_similarity(other, assembly), digest) for digest, other in others.items()),
                             default=(0.0, None))
    return digest if similarity > 0 else None


def changed_blocks(before: PromptAssembly | None, after: PromptAssembly) -> list[str]:
    """What `after` changes from `before`, block by block in prompt order: "dropped Policy", "added
    tool:refund", "edited Refunds"; with no `before`, every block of `after` is added."""
    old = {b.name: b.text for b in before.blocks} if before is not None else {}
    new = {b.name: b.text for b in after.blocks}
    changes = []
    for name in dict.fromkeys(list(old) + list(new)):
        if name not in new:
            changes.append(f"dropped {name}")
        elif name not in old:
            changes.append(f"added {name}")
        elif old[name] != new[name]:
            changes.append(f"edited {name}")
    return changes


def diff_releases(before: dict[str, tuple[PromptAssembly, float]], after: dict[str, tuple[PromptAssembly, float]],
                  *, min_similarity: float = 0.5) -> list[AssemblyChange]:
    """Assemblies (digest -> (assembly, traffic share)) of two releases: which appeared, vanished or
    changed. A new assembly is a change of the vanished one sharing most of its block names."""
    gone = {digest: value for digest, value in before.items() if digest not in after}
    changes = []
    for digest, (assembly, share) in sorted(after.items(), key=lambda item: (-item[1][1], item[0])):
        if digest in before:
            continue
        candidates = [(_similarity(old, assembly), old_digest) for old_digest, (old, _) in gone.items()]
        similarity, match = max(candidates, key=lambda c: (c[0], c[1]), default=(0.0, None))
        if match is not None and similarity >= min_similarity:
            old, old_share = gone.pop(match)
            changes.append(AssemblyChange("changed", match, digest, old_share, share, block_diffs(old, assembly)))
        else:
            changes.append(AssemblyChange("appeared", None, digest, 0.0, share))
    changes += [AssemblyChange("vanished", digest, None, share, 0.0) for digest, (_, share) in sorted(gone.items())]
    return changes
