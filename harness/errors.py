"""Errors that are the user's to fix: the CLI prints them as one line, never a traceback."""


class HarnessError(Exception):
    """A problem the user can act on (bad input, missing tool, refused context)."""


class ScenarioError(HarnessError):
    """A scenario file or option that does not validate."""


class BackendError(HarnessError):
    """A backend that cannot be brought up, reached, or used safely."""
