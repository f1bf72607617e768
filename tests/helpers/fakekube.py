"""For tests: a fake of the kube API client layer (api.Api's verbs), for the ownership, Lease and
label logic: objects in memory, with the API server's rules that logic relies on (409 on a create of
an existing name, resourceVersion checks on replace, UID and resourceVersion preconditions on
delete, equality and inequality label selectors, a namespace's objects going with it)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

from harness.backends.kube.kinds import NAMESPACE, SERVICE_ACCOUNT, Kind

Key = tuple[str, str | None, str]  # kind, namespace, name


class FakeApi:
    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, str]] = []  # (verb, kind, name)
        self._ids = itertools.count(1)

    # ----- helpers for tests -------------------------------------------------------------------

    def put(self, kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
        """Stores an object as if someone else created it; returns it as stored."""
        made = self.create(kind, body, body["metadata"].get("namespace"))
        assert made, f"{kind.name} {body['metadata']['name']} already there"
        return made

    def get(self, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return self.objects.get((kind.name, namespace if kind.namespaced else None, name))

    def writes(self) -> list[tuple[str, str, str]]:
        return [c for c in self.calls if c[0] not in ("read", "list")]

    # ----- the verbs of api.Api ----------------------------------------------------------------

    def read(self, kind: Kind, name: str, namespace: str | None = None) -> dict[str, Any]:
        self.calls.append(("read", kind.name, name))
        found = self.get(kind, name, namespace)
        return copy.deepcopy(found) if found else {}

    def list(self, kind: Kind, namespace: str | None = None, **selectors: str) -> dict[str, Any]:
        self.calls.append(("list", kind.name, namespace or ""))
        wanted = _parse(selectors.get("label_selector", ""))
        items = [
            copy.deepcopy(obj)
            for (k, ns, _), obj in sorted(self.objects.items(), key=lambda kv: str(kv[0]))
            if k == kind.name
            and (namespace is None or ns == namespace)
            and _matches(obj["metadata"].get("labels") or {}, wanted)
        ]
        return {"items": items}

    def create(
        self, kind: Kind, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self.calls.append(("create", kind.name, name))
        key = (kind.name, namespace if kind.namespaced else None, name)
        if key in self.objects:
            return {}
        if kind.namespaced and (NAMESPACE.name, None, namespace) not in self.objects:
            raise AssertionError(f"namespace {namespace} does not exist")
        obj = copy.deepcopy(body)
        meta = obj["metadata"]
        meta["uid"] = f"uid-{next(self._ids)}"
        meta["resourceVersion"] = str(next(self._ids))
        meta.setdefault("creationTimestamp", "2026-11-30T15:00:00Z")
        if kind.namespaced:
            meta["namespace"] = namespace
        self.objects[key] = obj
        if kind.name == NAMESPACE.name:
            obj["status"] = {"phase": "Active"}
            # The service account controller's work: pods are admitted once it is there.
            account_meta = {"name": "default", "namespace": name, "uid": f"uid-{next(self._ids)}"}
            account = {"metadata": account_meta, "secrets": [{}]}
            self.objects[(SERVICE_ACCOUNT.name, name, "default")] = account
        return copy.deepcopy(obj)

    def _call(
        self, verb: str, kind: Kind, namespace: str | None, name: str
    ) -> tuple[Key, dict[str, Any] | None]:
        """Records a call on one object: its key, and the object if there is one."""
        self.calls.append((verb, kind.name, name))
        key = (kind.name, namespace if kind.namespaced else None, name)
        return key, self.objects.get(key)

    def replace(
        self, kind: Kind, name: str, namespace: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        key, current = self._call("replace", kind, namespace, name)
        if current is None:
            return {}
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            return {}
        obj = copy.deepcopy(body)
        obj["metadata"]["uid"] = current["metadata"]["uid"]
        obj["metadata"]["resourceVersion"] = str(next(self._ids))
        obj["metadata"]["namespace"] = current["metadata"].get("namespace")
        self.objects[key] = obj
        return copy.deepcopy(obj)

    def delete(
        self, kind: Kind, name: str, namespace: str | None, body: dict[str, Any]
    ) -> dict[str, Any]:
        key, current = self._call("delete", kind, namespace, name)
        if current is None:
            return {}
        pre = body.get("preconditions") or {}
        meta = current["metadata"]
        if "uid" in pre and pre["uid"] != meta["uid"]:
            return {}
        if pre.get("resourceVersion") not in (None, meta["resourceVersion"]):
            return {}
        del self.objects[key]
        if kind.name == NAMESPACE.name:
            for other in [k for k in self.objects if k[1] == name]:
                del self.objects[other]
        return copy.deepcopy(current)


def _parse(selector: str) -> list[tuple[str, str, bool]]:
    terms = []
    for term in filter(None, selector.split(",")):
        if "!=" in term:
            k, v = term.split("!=", 1)
            terms.append((k, v, False))
        elif "=" not in term:  # an existence term: the label is there, whatever its value
            terms.append((term, "", False))
        else:
            k, v = term.split("=", 1)
            terms.append((k, v, True))
    return terms


def _matches(labels: dict[str, str], terms: list[tuple[str, str, bool]]) -> bool:
    return all((labels.get(k) == v) is equal for k, v, equal in terms)
