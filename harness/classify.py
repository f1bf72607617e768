"""The error classes, and sorting a failed request into one of them.

Pure, and free of locust/gevent imports, so the harness (asyncio) side can use it too. Exceptions
are recognised by class name along their MRO instead of ``isinstance``, because importing
geventhttpclient's classes here would pull gevent into processes that must not have it.

What FastHttpUser (locust 2.47, geventhttpclient 2.6) actually hands to ``events.request``, proven
end to end by tests/test_classify.py against real loopback servers:

- closed port: ``ConnectionRefusedError`` (raised by connect, no wrapping).
- server resets (SO_LINGER 0) after reading the request: ``HTTPConnectionClosed`` whose
  ``__context__`` is the ``ConnectionResetError`` (geventhttpclient turns ECONNRESET before the
  first response byte into "connection closed."); a reset while sending or mid-body arrives as a
  bare ``ConnectionResetError`` / ``BrokenPipeError``.
- server closes (FIN) without answering: ``HTTPConnectionClosed`` with no context; closing in the
  middle of a response: ``HTTPParseError`` ("Incomplete response." and the like).
- no answer within the timeout: ``RetriesExceeded`` whose ``original`` is a ``TimeoutError``
  (geventhttpclient treats timeouts as retryable, and with ``max_retries=0`` gives up at once).
- 500 / 404: ``LocustBadStatusCode`` with ``code``; the response's status is the better source.
  drainlab's locustfile judges statuses itself (a request's ``expect``, harness.load.mix) and
  fails any other with ``UnexpectedStatus``, which is sorted by the same rule.
"""

from __future__ import annotations

CONNECTION_REFUSED = "connection_refused"
CONNECTION_RESET = "connection_reset"
REMOTE_DISCONNECTED = "remote_disconnected"
TIMEOUT = "timeout"
HTTP_5XX = "http_5xx"
HTTP_OTHER = "http_other"
OTHER = "other"

# Every class, in the order tables show them: the contract of records and summary.json. A new
# class is a name here and a rule in ``_classify``; nothing else in drainlab lists them.
ERROR_CLASSES: tuple[str, ...] = (
    CONNECTION_REFUSED,
    CONNECTION_RESET,
    REMOTE_DISCONNECTED,
    TIMEOUT,
    HTTP_5XX,
    HTTP_OTHER,
    OTHER,
)

# Class names, matched anywhere in the exception's MRO.
_REFUSED = frozenset({"ConnectionRefusedError"})
_RESET = frozenset({"ConnectionResetError", "BrokenPipeError"})
_DISCONNECTED = frozenset(
    {
        "RemoteDisconnected",  # http.client
        "HTTPConnectionClosed",  # geventhttpclient: EOF before the status line
        "HTTPParseError",  # geventhttpclient: EOF inside headers or body
    }
)
# TimeoutError is also socket.timeout; Timeout is gevent's.
_TIMEOUT = frozenset({"TimeoutError", "Timeout"})
_BAD_STATUS = frozenset({"BadStatusCode", "LocustBadStatusCode", "UnexpectedStatus"})

# How deep to follow wrapped causes (``original``, ``__cause__``, ``__context__``); a guard
# against cycles, real chains are one or two long.
_MAX_DEPTH = 5


class UnexpectedStatus(Exception):
    """A response whose status the request does not accept (its ``expect``)."""

    def __init__(self, code: int, expect: str) -> None:
        super().__init__(f"{code} is not among the expected statuses {expect}")
        self.code = code


def classify(exception: BaseException | None, status: int) -> str | None:
    """The error class of a request, or None when it succeeded.

    ``status`` is the HTTP status that arrived (0 when none did). A request locust counted as
    successful (no exception) is a success whatever its status.
    """
    if exception is None:
        return None
    return _classify(exception, status, 0)


def status_class(status: int) -> str:
    """The class of a response that arrived with a status locust rejects."""
    return HTTP_5XX if 500 <= status <= 599 else HTTP_OTHER


def describe(exception: BaseException) -> str:
    """The record's human message: type and text, plus the socket error underneath when the
    client re-raised one as something vaguer (a reset shown as "connection closed.")."""
    text = f"{type(exception).__name__}: {exception}"
    context = exception.__context__
    if isinstance(context, OSError):
        text += f" (after {type(context).__name__}: {context})"
    return text


def _classify(exc: BaseException, status: int, depth: int) -> str:
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _BAD_STATUS:
        code = status or _int_attr(exc, "code")
        return status_class(code)
    if names & _REFUSED:
        return CONNECTION_REFUSED
    if names & _TIMEOUT:
        return TIMEOUT
    # Before resets: http.client.RemoteDisconnected subclasses ConnectionResetError.
    if names & _DISCONNECTED:
        # geventhttpclient raises "connection closed." for a FIN and for an RST alike; only the
        # exception it was raised while handling tells them apart.
        context = exc.__context__
        if context is not None and depth < _MAX_DEPTH:
            inner = _classify(context, 0, depth + 1)
            if inner in (CONNECTION_RESET, TIMEOUT):
                return inner
        return REMOTE_DISCONNECTED
    if names & _RESET:
        return CONNECTION_RESET
    if depth < _MAX_DEPTH:
        # Wrappers (RetriesExceeded, geventhttpclient's ConnectionError) carry the real error.
        for inner_exc in (getattr(exc, "original", None), exc.__cause__, exc.__context__):
            if isinstance(inner_exc, BaseException):
                inner = _classify(inner_exc, status, depth + 1)
                if inner != OTHER:
                    return inner
    return OTHER


def _int_attr(exc: BaseException, name: str) -> int:
    value = getattr(exc, name, 0)
    return value if isinstance(value, int) else 0
