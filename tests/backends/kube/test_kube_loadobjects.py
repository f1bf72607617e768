"""The load pods' objects (traffic.from: cluster): what they select, own and run."""

from __future__ import annotations

from harness.backends.kube import loadobjects
from harness.backends.kube.objects import names_for, selector_of
from harness.load.config import LoadConfig


def test_load_pods_are_never_the_apps_and_go_with_their_service() -> None:
    names = names_for("naive@evict", "drainlab", "run-1")
    service = loadobjects.service(names)
    service["metadata"]["uid"] = "uid-1"
    assert service["metadata"]["labels"]["drainlab.dev/run-id"] == "run-1"
    master = loadobjects.pod(names, service, "img", ["--master"], {"A": "1"}, None, 22)
    worker = loadobjects.pod(names, service, "img", ["--worker"], {}, 1, 22)
    app_selector = set(names.labels.items())
    for pod in (master, worker):
        labels = pod["metadata"]["labels"]
        assert not app_selector <= set(labels.items())  # neither the app's Service nor its watch
        assert labels["drainlab.dev/run-id"] == "run-1"
        (owner,) = pod["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"]) == ("Service", "uid-1")
        spec = pod["spec"]
        assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
        (container,) = spec["containers"]
        assert container["command"][:5] == ["python3", "-m", "locust", "-f", loadobjects.LOCUSTFILE]
        assert container["securityContext"]["runAsNonRoot"] is True
    # The Service reaches the master alone.
    selected = set(service["spec"]["selector"].items())
    assert selected <= set(master["metadata"]["labels"].items())
    assert not selected <= set(worker["metadata"]["labels"].items())
    assert master["metadata"]["name"] == "drainlab-load-naive-evict-master"
    assert worker["metadata"]["name"] == "drainlab-load-naive-evict-w1"
    assert "affinity" in worker["spec"] and "affinity" not in master["spec"]
    assert loadobjects.pods_selector(names) == selector_of(
        {
            "app.kubernetes.io/name": "drainlab-load",
            "app.kubernetes.io/managed-by": "drainlab",
            "drainlab.dev/run-id": "run-1",
        }
    )


def test_a_pod_writes_its_records_and_status_to_its_log() -> None:
    from pathlib import Path

    from harness.load.traffic import Traffic

    stdout = Path(loadobjects.STDOUT)
    env = LoadConfig(stdout, stdout, Traffic(), 7, 10.0, workers=2, worker=1).to_env()
    assert env["DRAINLAB_RECORDS"] == env["DRAINLAB_STATUS"] == "/dev/stdout"
    assert (env["DRAINLAB_WORKERS"], env["DRAINLAB_WORKER"]) == ("2", "1")
