"""Errors that are the user's to fix: the CLI prints them as one line, never a traceback."""


class HarnessError(Exception):
    """A problem the user can act on (bad input, missing tool, refused context)."""


class UsageError(HarnessError):
    """Bad input on the command line or in a file: exit code 2. Its text is one line, also when
    it quotes a name or path that holds a line break."""

    def __str__(self) -> str:
        return one_line(super().__str__())


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


def shown(value: object, limit: int = 60) -> str:
    """A value as an error line quotes it: its repr, cut short (a line, not a dump)."""
    return cut(repr(value), limit)


def cut(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Every line break str.splitlines knows: a message with one of them escaped stays one line.
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: str) -> str:
    """``text`` with its line breaks escaped (a path or value the user typed may hold one)."""
    return text.translate(_LINE_BREAKS)
