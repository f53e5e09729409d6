"""Labelling: `queue` fills the labelling queue from a mining run and exports it; `labels` takes
the filled-in file back."""
