"""``python -m jobs ...`` is the same as ``cde ...``."""

from jobs.cli import entry

entry()
