"""Retrying API calls through hiccups, and one-line errors when they persist.

Retried: HTTP 429 and 5xx answers, and connection-level failures (refused, reset, timed out,
broken stream). Not retried: any other 4xx, which a retry cannot fix (the caller handles 404/409
itself), and TLS verification failures. Backoff is exponential with jitter (0.2 s, 0.4 s, ...
capped at 5 s), at most 5 attempts; a 429's ``Retry-After`` is honoured up to the cap. Every
retry is logged; the last failure becomes a one-line :class:`ApiUnavailable` (a BackendError).

urllib3's own retries are turned off in client.py, so this is the only retry layer.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)

from harness.errors import ApiUnavailable, BackendError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    initial_s: float = 0.2
    max_s: float = 5.0
    jitter_s: float = 0.1


DEFAULT_POLICY = RetryPolicy()


def is_retryable(exc: BaseException) -> bool:
    """True for failures that may pass on their own: 429, 5xx, connection trouble."""
    if isinstance(exc, ApiException):
        status = exc.status or 0
        return status == 429 or status >= 500
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        return not isinstance(exc.reason, urllib3.exceptions.SSLError)
    if isinstance(exc, (urllib3.exceptions.SSLError, ssl.SSLError)):
        return False
    return isinstance(exc, (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError))


def describe(exc: BaseException) -> str:
    """One line for any API failure: ``HTTP 503 Service Unavailable: etcd timeout``."""
    if isinstance(exc, ApiException):
        message = ""
        try:
            body = json.loads(exc.body) if exc.body else {}
            if isinstance(body, dict):
                message = str(body.get("message") or "")
        except (TypeError, ValueError):
            message = ""
        text = f"HTTP {exc.status} {exc.reason or ''}".strip()
        return _one_line(f"{text}: {message}" if message else text)
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return _one_line(f"cannot reach the API server ({exc.reason})")
    return _one_line(f"{type(exc).__name__}: {exc}")


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _retry_after(exc: BaseException | None) -> float:
    if isinstance(exc, ApiException) and exc.status == 429 and exc.headers:
        try:
            return float(exc.headers.get("Retry-After", 0))
        except (TypeError, ValueError):
            return 0.0
    return 0.0


def call(
    what: str,
    fn: Callable[[], T],
    policy: RetryPolicy = DEFAULT_POLICY,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Runs ``fn`` (a blocking API call), retrying hiccups; BackendError when they persist.

    Failures that are not hiccups (404, 409, 422...) are raised unchanged for the caller.
    """

    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        backoff = retry_wait(policy, state.attempt_number) + random.uniform(0, policy.jitter_s)
        return min(policy.max_s, max(backoff, _retry_after(exc)))

    def before_sleep(state: RetryCallState) -> None:
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "kube API: %s failed (attempt %d of %d): %s; retrying in %.1f s",
            what,
            state.attempt_number,
            policy.attempts,
            describe(exc) if exc is not None else "?",
            delay,
        )

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        retry=retry_if_exception(is_retryable),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=False,
    )
    try:
        return retrying(fn)
    except RetryError as err:
        last = err.last_attempt.exception()
        detail = describe(last) if last is not None else "unknown error"
        raise ApiUnavailable(
            f"kube API: {what} failed after {policy.attempts} attempts: {detail}"
        ) from None


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of an API error, None for anything else."""
    return exc.status if isinstance(exc, ApiException) else None


def api_error(what: str, exc: BaseException) -> BackendError:
    """A one-line BackendError for a failure that was not retried."""
    return BackendError(f"kube API: {what} failed: {describe(exc)}")


def retry_wait(policy: RetryPolicy, failures: int) -> float:
    """The backoff before reconnecting a watch after ``failures`` failures in a row."""
    delay: float = policy.initial_s * (2 ** max(0, failures - 1))
    return float(min(policy.max_s, delay))
