"""One exception family for cardiolens.

Every error about input data names the file (or folder) and the problem, so a
researcher running a batch can find and fix the bad case. The CLI maps
:class:`CardiolensError` to exit code 2 (bad usage or bad input); anything else
is an internal error (exit code 1).
"""

from __future__ import annotations

from os import PathLike


class CardiolensError(Exception):
    """Base class of every error cardiolens raises on purpose."""


class UsageError(CardiolensError):
    """A bad argument or option (not about a particular file)."""


class DataError(CardiolensError):
    """A problem with one input file or folder.

    Attributes:
        path: the offending file or folder.
        problem: what is wrong with it, in words.
    """

    def __init__(self, path: str | PathLike[str], problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class EmptyFileError(DataError):
    """A 0-byte file."""


class CorruptFileError(DataError):
    """A truncated or otherwise unreadable file."""


class MissingDataError(DataError):
    """Missing slices, frames, files or required fields."""


class InconsistentGeometryError(DataError):
    """Spacing, orientation or shape that does not agree within one study."""


class MixedSeriesError(DataError):
    """A folder holding more than one DICOM series (or mixed orientations)."""


class NonFiniteValueError(DataError):
    """NaN or Inf values in an image or signal."""


class LeadConfigurationError(DataError):
    """Wrong ECG lead count, unknown lead names or a sampling-rate mismatch."""


class UnreadableVideoError(DataError):
    """A video that cannot be decoded."""


class MalformedTableError(DataError):
    """A CSV/config table with missing columns or unparseable values."""


class UnknownLayoutError(DataError):
    """A folder whose dataset layout cannot be detected."""
