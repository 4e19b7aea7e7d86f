"""Errors raised by the data layer; each message says what is wrong and what to do."""


class DataError(RuntimeError):
    """Base class for every data problem (missing, corrupt, unsafe)."""


class ChecksumError(DataError):
    """A file's md5 is not the one on record; the file is never used."""

    def __init__(self, path: str, expected: str, actual: str):
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(
            f"checksum mismatch for {path}: expected md5 {expected}, got {actual}. "
            "The file was not used; delete it and download again, or import a copy explicitly "
            "with `sharebench import`."
        )


class MissingDataError(DataError):
    """Files that are needed are neither cached, mirrored, downloadable nor imported."""


class UnsafeArchiveError(DataError):
    """An archive member would be written outside its extraction folder."""
