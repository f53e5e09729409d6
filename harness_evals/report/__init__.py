"""Reading the store: `describe` (names and keywords per region), `workspace` (notebook tables,
read-only), `html` (the self-contained report), `tools` (how the agent uses its tools), `review`
(a release's reading list)."""
