"""Labelling: `queue` fills the labelling queue from a mining run and exports it with each item's
trajectory, `suggest` drafts the checks a labeller accepts or edits, `labels` takes the filled-in
file back."""
