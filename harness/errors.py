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
