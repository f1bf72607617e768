"""Errors that are the user's to fix: the CLI prints them as one line, never a traceback."""


class HarnessError(Exception):
    """A problem the user can act on (bad input, missing tool, refused context)."""


class UsageError(HarnessError):
    """Bad input on the command line or in a file: exit code 2."""


class ScenarioError(UsageError):
    """A scenario file or option that does not validate."""


class BackendError(HarnessError):
    """A backend that cannot be brought up, reached, or used safely."""


class ApiUnavailable(BackendError):
    """The cluster's API kept failing through every retry: the run cannot go on."""


class WriteError(HarnessError):
    """A file of the run folder could not be written (disk full, read-only, I/O error): the run
    ends with this one line (exit code 3); what was written before stays readable."""

    def __init__(self, path: object, reason: OSError | str) -> None:
        why = reason if isinstance(reason, str) else (reason.strerror or str(reason))
        super().__init__(f"cannot write {path}: {why}")
        self.path = path
        self.reason = why
        self.errno = reason.errno if isinstance(reason, OSError) else None
