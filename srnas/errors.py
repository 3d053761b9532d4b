"""The one expected-failure type of srnas.

Library code raises :class:`SrnasError` where a bad file, field or value is known; ``srnas.cli.main`` catches it,
prints its message as one line on stderr and exits with code 2. Any other exception is a bug and keeps its traceback.
"""


class SrnasError(Exception):
    """A user-facing error: bad option file, image, checkpoint, genotype or CLI flag."""


class Interrupted(SrnasError):
    """SIGINT/SIGTERM arrived: the loop saved a checkpoint at the end of the current step and stopped (exit 130)."""
