"""`harness run --backend kube` while the real API server's answers are refused, cut or delayed.

The faults come from tests/apiproxy.py, a TLS proxy between the harness and the local cluster's
kube-apiserver: a few calls get 5xx, 429 or a reset connection, one call gets no answer until the
client's timeout, and every watch and log stream is cut once mid-run. The run must retry (and
say so), resume its watches, and still measure every deletion. A failure that does not pass
must end the run with one line, a partial report and the cluster cleaned up.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers.apiproxy import FaultyApiProxy, Rule
from helpers.e2e import ROOT
from kubernetes import client
from kubernetes import config as _config

from harness.backends.clusters.local import LocalCluster
from harness.jsonl import iter_jsonl
from harness.records import read_records

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
config: Any = _config  # untyped loader

POD = r"^/api/v1/namespaces/[^/]+/pods/[^/]+$"
DEPLOYMENT = r"^/apis/apps/v1/namespaces/[^/]+/deployments/[^/]+$"


@pytest.fixture
def proxy(local_cluster: LocalCluster) -> Iterator[FaultyApiProxy]:
    kubeconfig = yaml.safe_load(local_cluster.kubeconfig.read_text())
    (cluster,) = kubeconfig["clusters"]
    proxy = FaultyApiProxy(cluster["cluster"]["server"], local_cluster.kubeconfig.parent / "pki")
    proxy.start()
    yield proxy
    proxy.stop()


def _api(local_cluster: LocalCluster) -> Any:
    return config.new_client_from_config(
        config_file=str(local_cluster.kubeconfig), context=local_cluster.context
    )


def _proxied_kubeconfig(local_cluster: LocalCluster, proxy: FaultyApiProxy, tmp: Path) -> Path:
    """The cluster's kubeconfig, same context name and credentials, server = the proxy."""
    kubeconfig = yaml.safe_load(local_cluster.kubeconfig.read_text())
    kubeconfig["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    path = tmp / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig))
    return path


def _start_run(
    local_cluster: LocalCluster, kubeconfig: Path, namespace: str, out: Path, deletions: int
) -> subprocess.Popen[str]:
    scenario = out.parent / "scenario.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "orders": ["graceful"],
                # Three replicas: the retries may delay one deletion into the next, and two
                # pods terminating at once must still leave a ready one.
                "replicas": 3,
                "duration_s": 24,
                "traffic": {"users": 4},
                "chaos": {"count": deletions, "start_after_s": 4, "every_s": 6},
                "kube": {
                    "context": local_cluster.context,
                    "namespace": namespace,
                    # The API is reached through the proxy; the NodePorts are on the node.
                    "node_host": local_cluster.node_host,
                    "request_timeout_s": 3,
                },
            }
        )
    )
    return subprocess.Popen(
        [
            sys.executable, "-m", "harness", "run", "--backend", "kube", "--scenario",
            str(scenario), "--out", str(out), "--quiet",
        ],
        cwd=ROOT,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _wait_for_deletions(out: Path, count: int, proc: subprocess.Popen[str], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        timelines = list(out.glob("*/timeline-graceful.jsonl"))
        if timelines:
            kinds = [e.get("kind") for e in iter_jsonl(timelines[0])]
            if kinds.count("delete_requested") >= count:
                return
        time.sleep(0.2)
    ended = "" if proc.poll() is None else proc.communicate()[1]
    raise AssertionError(f"fewer than {count} deletions seen; harness exit {proc.poll()}\n{ended}")


def _finish(proc: subprocess.Popen[str], timeout_s: float) -> tuple[int, str, str]:
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
        raise AssertionError(f"the run did not end in {timeout_s} s:\n{stderr}") from None
    return proc.returncode, stdout, stderr


def _harness_objects(local_cluster: LocalCluster, namespace: str) -> list[str]:
    api = _api(local_cluster)
    selector = "app.kubernetes.io/managed-by=drainlab"
    found = [
        f"deployment/{d.metadata.name}"
        for d in client.AppsV1Api(api)
        .list_namespaced_deployment(namespace, label_selector=selector)
        .items
    ]
    found += [
        f"pod/{p.metadata.name}"
        for p in client.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items
    ]
    return found


def test_api_hiccups_are_retried_logged_and_the_run_goes_on(
    local_cluster: LocalCluster, proxy: FaultyApiProxy, namespace: str, tmp_path: Path
) -> None:
    rules = [
        proxy.add(Rule("GET", r"^/apis/?$", "status", status=500)),  # discovery, at start
        proxy.add(Rule("DELETE", POD, "status", status=503, times=2)),  # the first delete
        # The read before the first delete: first no answer (the client's 3 s timeout must
        # fire), then a reset connection; the third attempt passes.
        proxy.add(Rule("GET", POD, "stall")),
        proxy.add(Rule("GET", POD, "reset")),
        proxy.add(Rule("GET", DEPLOYMENT, "status", status=429, retry_after_s=1)),
    ]
    kubeconfig = _proxied_kubeconfig(local_cluster, proxy, tmp_path)
    out = tmp_path / "runs"
    proc = _start_run(local_cluster, kubeconfig, namespace, out, deletions=3)
    _wait_for_deletions(out, 1, proc, limit_s=300)
    cut = proxy.cut_streams()  # as if the API server restarted: every watch and log stream
    code, stdout, stderr = _finish(proc, timeout_s=400)

    assert code == 0, stdout + stderr
    assert cut >= 3, "the watches and log streams should have been open"
    for rule in rules:
        assert rule.hits == rule.times, rule
    assert "Traceback" not in stderr
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    log = (run_dir / "logs" / "harness.log").read_text()
    for said in ("API discovery failed", "delete pod", "read pod", "read deployment"):
        assert said in stderr and said in log, said
    assert stderr.count("retrying in") >= 5
    assert "reconnecting" in log  # the cut watches resumed
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["partial"] is False
    graceful = summary["orders"]["graceful"]
    assert graceful["deletions"] == 3
    assert graceful["failed"] == 0
    # Every deletion, including those after the cut, was followed to its endpoint removal.
    assert all(d["removal"] is not None for d in graceful["per_deletion"]), graceful
    assert _harness_objects(local_cluster, namespace) == []


def test_an_api_failure_that_persists_ends_the_run_with_one_line(
    local_cluster: LocalCluster, proxy: FaultyApiProxy, namespace: str, tmp_path: Path
) -> None:
    refusal = proxy.add(Rule("DELETE", POD, "status", status=503, times=None))
    kubeconfig = _proxied_kubeconfig(local_cluster, proxy, tmp_path)
    out = tmp_path / "runs"
    proc = _start_run(local_cluster, kubeconfig, namespace, out, deletions=3)
    code, stdout, stderr = _finish(proc, timeout_s=400)

    assert code == 3, stdout + stderr
    # The retry policy's attempts, then it gave up; teardown, which starts with a delete of
    # something else, asks once per wait to remove pods that ended (reap.py) and is refused too.
    deletes = [(seen.path, seen.outcome) for seen in proxy.seen if seen.method == "DELETE"]
    first_other = next(i for i, (path, _) in enumerate(deletes) if not re.search(POD, path))
    assert deletes[:first_other] == [(deletes[0][0], "status")] * 5
    assert refusal.hits - 5 <= 2  # one reap per wait: the agent's pods, then the app's
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("harness: error: kube API: delete pod "), stderr
    assert "failed after 5 attempts: HTTP 503" in last
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["partial"] is True
    assert "HTTP 503" in summary["error"]
    assert (run_dir / "report.html").exists()
    # The run stopped at the failure, not at the end of its 24 s of load, and cleaned up.
    records = read_records(run_dir / "records-graceful.jsonl")
    assert records and records[-1].end - records[0].start < 20
    assert _harness_objects(local_cluster, namespace) == []
