"""The retry policy: what is retried, how often, what is logged, and the one-line failure."""

from __future__ import annotations

import json
import logging

import pytest
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from harness.backends.kube.retry import (
    RetryPolicy,
    call,
    describe,
    is_retryable,
    retry_wait,
)
from harness.errors import BackendError

FAST = RetryPolicy(attempts=4, initial_s=0.0, max_s=0.0, jitter_s=0.0)


class Flaky:
    """Fails with the given exceptions in turn, then returns ``result``."""

    def __init__(self, failures: list[BaseException], result: str = "ok") -> None:
        self.failures = list(failures)
        self.result = result
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.result


def _api(status: int, message: str = "", headers: dict[str, str] | None = None) -> ApiException:
    exc = ApiException(status=status, reason="Reason")
    exc.body = json.dumps({"message": message}) if message else None
    exc.headers = headers
    return exc


def _refused() -> urllib3.exceptions.MaxRetryError:
    cause = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    return urllib3.exceptions.MaxRetryError(None, "/api", cause)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        (_api(500), True),
        (_api(503), True),
        (_api(429), True),
        (_api(404), False),
        (_api(409), False),
        (_api(403), False),
        (_api(422), False),
        (_refused(), True),
        (urllib3.exceptions.ProtocolError("reset"), True),
        (ConnectionResetError(), True),
        (TimeoutError(), True),
        (ValueError("bad"), False),
        (
            urllib3.exceptions.MaxRetryError(
                None,  # type: ignore[arg-type]
                "/",
                urllib3.exceptions.SSLError("certificate verify failed"),
            ),
            False,
        ),
    ],
)
def test_what_is_retried(exc: BaseException, retried: bool) -> None:
    assert is_retryable(exc) is retried


def test_hiccups_are_retried_until_success_and_each_retry_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fn = Flaky([_api(503, "etcd timeout"), _refused(), _api(429)])
    with caplog.at_level(logging.WARNING, logger="harness.backends.kube.retry"):
        assert call("list pods", fn, FAST) == "ok"
    assert fn.calls == 4
    retries = [r.getMessage() for r in caplog.records]
    assert len(retries) == 3
    assert "list pods failed (attempt 1 of 4): HTTP 503 Reason: etcd timeout" in retries[0]
    assert "cannot reach the API server" in retries[1]


def test_a_persistent_failure_is_one_backend_error_line() -> None:
    fn = Flaky([_api(500, "boom\nwith a second line")] * 10)
    with pytest.raises(BackendError) as err:
        call("create deployment x", fn, FAST)
    assert fn.calls == 4
    text = str(err.value)
    assert text == (
        "kube API: create deployment x failed after 4 attempts: "
        "HTTP 500 Reason: boom with a second line"
    )


def test_a_client_error_is_not_retried_and_reaches_the_caller() -> None:
    fn = Flaky([_api(404)])
    with pytest.raises(ApiException):
        call("read pod", fn, FAST)
    assert fn.calls == 1


def test_retry_after_of_a_429_is_honoured_up_to_the_cap() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=3, initial_s=0.0, max_s=0.05, jitter_s=0.0)
    fn = Flaky(
        [_api(429, headers={"Retry-After": "30"}), _api(429, headers={"Retry-After": "0.01"})]
    )
    assert call("list", fn, policy, sleep=sleeps.append) == "ok"
    assert sleeps == [0.05, 0.01]  # 30 s asked: capped at max_s; 0.01 s asked: waited


def test_backoff_grows_exponentially() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=4, initial_s=0.2, max_s=5.0, jitter_s=0.0)
    fn = Flaky([_api(502)] * 3)
    assert call("list", fn, policy, sleep=sleeps.append) == "ok"
    assert sleeps == [0.2, 0.4, 0.8]


def test_describe_is_one_line() -> None:
    assert describe(_api(409, "already exists")) == "HTTP 409 Reason: already exists"
    assert "\n" not in describe(RuntimeError("a\nb"))


def test_watch_reconnect_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_s=0.2, max_s=1.0)
    assert [retry_wait(policy, n) for n in (1, 2, 3, 4, 5)] == [0.2, 0.4, 0.8, 1.0, 1.0]
