"""User-facing errors: each carries one clear line; the CLI prints it and exits non-zero."""


class LivehmrError(Exception):
    """A problem the user can fix (bad path, bad option, malformed input)."""


class SourceError(LivehmrError):
    """A frame source cannot be opened or has failed for good."""


class GyroFormatError(LivehmrError):
    """A gyroscope sample or file is malformed."""


class OutputExistsError(LivehmrError):
    """An output file already exists and overwriting it was not asked for (``--force``)."""
