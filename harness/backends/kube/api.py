"""A small client for the kube API: a few verbs on any kind of kinds.py, with the retry policy.

Every call blocks (the backend runs them in threads), goes through retry.py, and ends in the
answer's JSON dict or a one-line BackendError. A status the caller expects (404 for an object
that is not there, 409 for one that is, or that changed meanwhile) comes back as ``{}``, so
callers test the answer instead of catching. Watches and log streams call the generated methods
themselves (:meth:`Api.method`); they have their own loops in watch.py and logs.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.backends.kube import retry
from harness.backends.kube.client import (
    REQUEST_TIMEOUT_S,
    Connection,
    raw,
    served_group_versions,
    server_version,
)
from harness.backends.kube.kinds import Kind
from harness.errors import BackendError

T = TypeVar("T")
Body = dict[str, Any]

NOT_FOUND = frozenset({404})
CONFLICT = frozenset({409})
GONE_OR_CHANGED = frozenset({404, 409})
_NAMED_VERBS = ("read", "replace", "delete", "patch")  # their generated methods take a name first


class Api:
    """The verbs on one connection (see the module docstring)."""

    def __init__(
        self,
        conn: Connection,
        policy: retry.RetryPolicy = retry.DEFAULT_POLICY,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self.conn = conn
        self.policy = policy
        self.request_timeout_s = request_timeout_s

    # ----- the building blocks -----------------------------------------------------------------

    def method(self, kind: Kind, verb: str, subresource: str | None = None) -> Callable[..., Any]:
        """The generated method for ``verb`` on ``kind`` (``read`` + ``log``: a pod's log)."""
        api = getattr(client, kind.api)(self.conn.api)
        # CustomObjectsApi calls reading "get", and takes the namespace before the name.
        named = kind.group_version is not None and verb in _NAMED_VERBS
        verb = "get" if named and verb == "read" else verb
        fn: Callable[..., Any] = getattr(
            api, f"{verb}_{kind.method}" + (f"_{subresource}" if subresource else "")
        )
        if kind.group_version is None:
            return fn
        group, version = kind.group_version.split("/")

        def custom(*args: Any, **kwargs: Any) -> Any:
            if named:  # (name, namespace, ...) as the other kinds take them
                name, namespace, *rest = args
                return fn(group, version, namespace, kind.plural, name, *rest, **kwargs)
            namespace, *rest = args
            return fn(group, version, namespace, kind.plural, *rest, **kwargs)

        return custom

    def request(self, kind: Kind, verb: str, *args: Any, **kwargs: Any) -> Callable[[], Body]:
        """One call of ``verb`` on ``kind``, ready to run (and to run again): its JSON answer."""
        kwargs.setdefault("_request_timeout", self.request_timeout_s)
        return functools.partial(raw, self.method(kind, verb), *args, **kwargs)

    def call(
        self, what: str, fn: Callable[[], Body], tolerate: frozenset[int] = frozenset()
    ) -> Body:
        """Runs ``fn`` with retries; ``{}`` for a tolerated status (404, 409...)."""
        try:
            return self._retried(what, fn)
        except ApiException as exc:
            if exc.status in tolerate:
                return {}
            raise retry.api_error(what, exc) from None

    def call_any(self, what: str, fn: Callable[[], T]) -> T:
        """Runs ``fn`` with retries; every failure becomes a one-line BackendError."""
        try:
            return self._retried(what, fn)
        except ApiException as exc:
            raise retry.api_error(what, exc) from None

    def _retried(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return retry.call(what, fn, self.policy)
        except (ApiException, BackendError):
            raise
        except Exception as exc:  # a failure retrying cannot fix (TLS, a bad answer...)
            raise retry.api_error(what, exc) from None

    # ----- the verbs ---------------------------------------------------------------------------

    def read(self, kind: Kind, name: str, namespace: str | None = None) -> Body:
        """The object, or ``{}`` when there is none."""
        fn = self.request(kind, "read", name, *_scope(kind, namespace))
        return self.call(f"read {kind.name} {name}", fn, NOT_FOUND)

    def list(self, kind: Kind, namespace: str | None = None, **selectors: str) -> Body:
        """The list object (``items``) of ``kind``, selected as the keywords say."""
        fn = self.request(kind, "list", *_scope(kind, namespace), **selectors)
        return self.call(f"list {kind.plural}", fn)

    def create(self, kind: Kind, body: Body, namespace: str | None = None) -> Body:
        """The object made, or ``{}`` when one of that name exists."""
        fn = self.request(kind, "create", *_scope(kind, namespace), body)
        return self.call(f"create {kind.name} {body['metadata']['name']}", fn, CONFLICT)

    def replace(self, kind: Kind, name: str, namespace: str, body: Body) -> Body:
        """The object as replaced, or ``{}`` when it changed since ``body``'s resourceVersion."""
        fn = self.request(kind, "replace", name, namespace, body)
        return self.call(f"replace {kind.name} {name}", fn, CONFLICT)

    def patch(self, kind: Kind, name: str, namespace: str, body: Body, content_type: str) -> Body:
        fn = self.request(kind, "patch", name, namespace, body, _content_type=content_type)
        return self.call(f"patch {kind.name} {name}", fn)

    def delete(self, kind: Kind, name: str, namespace: str | None, body: Body) -> Body:
        """Starts the deletion; ``{}`` when the object is gone, or is not the one the
        preconditions in ``body`` name."""
        fn = self.request(kind, "delete", name, *_scope(kind, namespace), body=body)
        return self.call(f"delete {kind.name} {name}", fn, GONE_OR_CHANGED)

    def discover(self) -> tuple[set[str], tuple[str | None, int | None]]:
        """Every ``group/version`` the server serves, and its version: gitVersion and minor
        (20 for v1.20)."""
        served = self.call_any(
            "API discovery", lambda: served_group_versions(self.conn.api, self.request_timeout_s)
        )
        version = self.call_any(
            "server version", lambda: server_version(self.conn.api, self.request_timeout_s)
        )
        return served, version


def _scope(kind: Kind, namespace: str | None) -> tuple[str, ...]:
    """The namespace argument the generated method takes: one for a namespaced kind, else none."""
    if not kind.namespaced:
        return ()
    if namespace is None:
        raise ValueError(f"{kind.name} is namespaced: a namespace is needed")
    return (namespace,)
