"""Exception hierarchy: every error names the file, field or option at fault."""

from __future__ import annotations


class NeurratorError(Exception):
    """Base class of every error raised on purpose by neurrator-bench."""


class NWBFormatError(NeurratorError, ValueError):
    """An NWB file lacks a path, table or column the Allen layout requires, or holds a bad value."""


class DatasetFormatError(NeurratorError, ValueError):
    """A built dataset folder is missing a config, split, file or column, or holds a bad value."""


class PredictionsError(NeurratorError, ValueError):
    """A predictions file does not match the dataset it claims to score."""


class ResultEntryError(NeurratorError, ValueError):
    """A result entry fails validation."""


class DownloadError(NeurratorError, OSError):
    """A download failed, was truncated, or did not match its checksum."""


class ModelDirectoryError(NeurratorError, ValueError):
    """A model directory is missing files, declares an unknown kind, or holds a pickle."""


class NoUsableUnitsError(NeurratorError, ValueError):
    """A session has no unit that passes quality control."""
