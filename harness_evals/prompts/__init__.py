"""Assembled prompts: `assembly` (the blocks and tool definitions kept at ingest, their diffs and
contracts), `snapshots` (a release's assemblies written out and checked against the store)."""
