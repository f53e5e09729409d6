"""Mining: the store's traffic → regions, coverage verdicts and the labelling queue, one run at a time.

The modules in the order a run uses them: `views` (which text of a trace is embedded) and
`signals` (silent-failure detectors), `embed` (vectors cached by content, model and view),
`cluster` (the `Clusterer`: PCA + HDBSCAN by default), `identity` and `regions` (stable cluster
ids, lineage, placing new traces into the last fit), `coverage` (the `CoverageJudge`), `sample`
(the picks for labelling), and `pipeline`, whose `mine` calls one named stage after another.
"""
