"""Load sent from inside the cluster (traffic.from: cluster): locust's master and workers as pods
in drainlab's namespace, their records read back from their logs.

:func:`start_cluster_load` makes the load Service and pods (loadobjects.py), watches the pods and
follows each one's log from its start (logs.py), and returns a ``harness.load.runner.LoadRun``
whose processes are the pods (:class:`PodProcess`): the orchestrator drives it as it drives
locust on this machine. Each line a pod prints goes where the same line of a local locust would:

- a record (``{"start":...``) to ``records-<order>.w<k>.jsonl``, with the pod and its node
  appended (``harness.records.with_client``): every record says which client sent it;
- a lifecycle line (``{"event":...``) to the process's status file;
- anything else (locust's own log) to its log file.

A pod's process has ended only when its container has ended and its whole log was read, so the
records are complete when the run joins them. A worker whose container ended while the load ran
is a death, as on this machine. Before the load starts, the clock of every node a worker runs on
is held against this machine's (clockprobe.py), and ``clocks-<order>.json`` keeps what was
measured; joining the records applies it (harness.load.clocks).

``close`` (teardown) stops the threads, deletes the Service (the pods are its dependents) and
waits until the pods are gone.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import runfolder
from harness.backends.base import Target
from harness.backends.clusters import LoadImageMaker
from harness.backends.kube import cleanup, loadobjects, reap
from harness.backends.kube.api import Api
from harness.backends.kube.checks import DEFAULT_PATIENCE, wait_until
from harness.backends.kube.clockprobe import probe_clock
from harness.backends.kube.kinds import NODE, POD, SERVICE
from harness.backends.kube.loadprocs import PodFiles, PodProcess, container_state
from harness.backends.kube.logs import LogFollower
from harness.backends.kube.objects import LABEL_ORDER, Names
from harness.backends.kube.watch import Watcher
from harness.errors import BackendError, UsageError
from harness.load.clocks import Clocks
from harness.load.config import LoadConfig
from harness.load.runner import (
    LoadPlan,
    LoadRun,
    locust_arguments,
    master_arguments,
    start_files,
    stop_timeout_for,
    worker_arguments,
)
from harness.load.traffic import Traffic
from harness.load.workers import AUTO
from harness.records import client_suffix
from harness.runfolder import worker_file

log = logging.getLogger(__name__)

START_S = 120.0  # pods not running by then: the load does not start (one line names them)


class ClusterLoad:
    """The load pods of one order: made, watched, followed, removed (module docstring)."""

    def __init__(self, api: Api, names: Names, config: LoadConfig, log_path: Path) -> None:
        self.api = api
        self.names = names
        self.config = config
        self.log_path = log_path
        self.lock = threading.Lock()
        self.pods: dict[str, PodProcess] = {}
        self.watcher: Watcher | None = None
        self.service: dict[str, Any] | None = None
        self.stop_timeout_s = stop_timeout_for(config.traffic)

    # ----- making --------------------------------------------------------------------------------

    def make(self, image: str, target_url: str) -> None:
        """The Service, then the master and the workers; starts the pod watch."""
        names = self.names
        self._clear_leftovers()
        self.service = self.api.create(SERVICE, loadobjects.service(names), names.namespace)
        cluster_ip = (self.service.get("spec") or {}).get("clusterIP")
        arguments = locust_arguments(target_url, self.config.traffic, self.config.duration_s)
        port = loadobjects.MASTER_PORT
        master = [*arguments, *master_arguments("0.0.0.0", port, self.config.workers)]
        worker_args = worker_arguments(str(cluster_ip), port)
        bodies = [(None, master)] + [(k, worker_args) for k in range(self.config.workers)]
        watch = functools.partial(
            self.api.method(POD, "list"),
            names.namespace,
            label_selector=loadobjects.pods_selector(names),
        )
        self.watcher = Watcher("load pods", watch, self._listed, self._changed)
        self.watcher.start()
        for worker, args in bodies:
            env = self._env(worker)
            body = loadobjects.pod(
                names, self.service, image, args, env, worker, self.stop_timeout_s
            )
            pod_name = body["metadata"]["name"]
            log_path = self.log_path if worker is None else worker_file(self.log_path, worker)
            with self.lock:
                self.pods[pod_name] = PodProcess(pod_name, worker, log_path, self.delete_pod)
            self.api.create(POD, body, names.namespace)

    def _clear_leftovers(self) -> None:
        """Load objects of these names left by a killed run: the namespace's Lease is this run's,
        so they are a gone run's (cleanup.sweep_leftovers deletes its Service; its pods follow,
        or are deleted here). Waited for, so that the new ones can take their names."""
        names, service = self.names, loadobjects.service_name(self.names)
        ours = {f"{service}-master", *(f"{service}-w{k}" for k in range(self.config.workers))}

        def leftovers() -> tuple[bool, str]:
            found = [service] if self.api.read(SERVICE, service, names.namespace) else []
            items = self.api.list(
                POD, names.namespace, label_selector=loadobjects.pods_selector(names, any_run=True)
            )
            for item in items.get("items") or ():
                meta = item.get("metadata") or {}
                if meta.get("name") in ours:
                    found.append(str(meta["name"]))
                    if not meta.get("deletionTimestamp"):
                        body = {"gracePeriodSeconds": 0, "preconditions": {"uid": meta.get("uid")}}
                        self.api.delete(POD, str(meta["name"]), names.namespace, body)
            return not found, f"left by an earlier run: {', '.join(found)}"

        wait_until("the earlier run's load objects to go", START_S, leftovers)

    def _env(self, worker: int | None) -> dict[str, str]:
        stdout = Path(loadobjects.STDOUT)
        own = LoadConfig(
            records_path=stdout,
            status_path=stdout,
            traffic=self.config.traffic,
            seed=self.config.seed,
            duration_s=self.config.duration_s,
            record=self.config.record,
            client_retries=self.config.client_retries,
            workers=self.config.workers,
            worker=worker,
        )
        return own.to_env()

    # ----- the pod watch (a thread) --------------------------------------------------------------

    def _listed(self, items: list[dict[str, Any]], observed: float) -> None:
        for obj in items:
            self._changed("ADDED", obj, observed)

    def _changed(self, kind: str, obj: dict[str, Any], observed: float) -> None:
        name = str((obj.get("metadata") or {}).get("name") or "")
        with self.lock:
            pod = self.pods.get(name)
            if pod is None or pod.code is not None:
                return
            pod.node = (obj.get("spec") or {}).get("nodeName") or pod.node
            state = container_state(obj)
            if kind == "DELETED" and "terminated" not in state:
                self._ended(pod, -9, observed)  # gone without an exit the kubelet reported
                return
            if ("running" in state or "terminated" in state) and pod.follower is None:
                self._follow(pod)
            if "terminated" in state:
                self._ended(pod, int(state["terminated"].get("exitCode") or 0), observed)

    def _ended(self, pod: PodProcess, code: int, observed: float) -> None:
        pod.code = code
        pod.ended_at = observed

    def _follow(self, pod: PodProcess) -> None:
        records = None
        if pod.worker is not None:
            records = worker_file(self.config.records_path, pod.worker)
        status = self.config.status_path
        if pod.worker is not None:
            status = worker_file(status, pod.worker)
        pod.files = PodFiles(records, status, pod.log_path, client_suffix(pod.name, pod.node))
        read_log = self.api.method(POD, "read", "log")
        opened = functools.partial(
            read_log,
            pod.name,
            self.names.namespace,
            container=loadobjects.CONTAINER,
            follow=True,
            _preload_content=False,
        )
        files = pod.files
        pod.follower = LogFollower(
            f"load {pod.name}",
            opened,
            lambda line, _arrived: files.line(line),
            lambda: pod.code is None,
        )
        pod.follower.start()

    # ----- what the run asks ----------------------------------------------------------------------

    def wait_running(self, timeout_s: float = START_S) -> None:
        """Until every load pod runs; one line naming those that do not."""

        def running() -> tuple[bool, str]:
            with self.lock:
                waiting = [p.name for p in self.pods.values() if p.follower is None]
            return not waiting, f"load pods not running: {', '.join(waiting)}"

        wait_until("the load pods to run", timeout_s, running)

    def measure_clocks(self) -> Clocks:
        """Each worker node's clock against this machine's (one worker pod per node)."""
        with self.lock:
            workers = [p for p in self.pods.values() if p.worker is not None]
        by_node: dict[str, PodProcess] = {}
        for pod in workers:
            by_node.setdefault(pod.node or "", pod)
        nodes = {}
        for node, pod in by_node.items():
            nodes[node] = probe_clock(
                self.api, self.names.namespace, pod.name, loadobjects.CONTAINER
            )
        placement = {
            p.worker: {"pod": p.name, "node": p.node} for p in workers if p.worker is not None
        }
        return Clocks(nodes=nodes, workers=placement)

    def delete_pod(self, pod: PodProcess, graceful: bool) -> None:
        grace = self.stop_timeout_s + 10 if graceful else 0
        body = {"gracePeriodSeconds": grace, "propagationPolicy": "Background"}
        try:
            self.api.delete(POD, pod.name, self.names.namespace, body)
        except BackendError as exc:
            log.warning("kube: deleting load pod %s: %s", pod.name, exc)

    def close(self) -> None:
        """Stops the threads, deletes the Service (and so the pods), waits until they are gone."""
        if self.watcher is not None:
            self.watcher.stop()
        with self.lock:
            pods = list(self.pods.values())
        for pod in pods:
            if pod.follower is not None:
                pod.follower.stop()
            if pod.files is not None:
                pod.files.close()
        names = self.names
        if self.service is not None:
            name = loadobjects.service_name(names)
            try:
                cleanup.delete_owned(self.api, SERVICE, names, name)
            except BackendError as exc:
                log.warning("kube teardown: the load Service: %s", exc)
            try:
                reaper, patience = reap.Reaper(self.api), DEFAULT_PATIENCE.teardown_s
                wait_until("the load pods to go", patience, lambda: reaper.gone(self._pods()))
            except BackendError as exc:
                log.warning("kube teardown: %s", exc)

    def _pods(self) -> list[dict[str, Any]]:
        selector = loadobjects.pods_selector(self.names)
        return self.api.list(POD, self.names.namespace, label_selector=selector).get("items") or []


@dataclass(frozen=True)
class Where:
    """What the load pods need of the backend: the API, the order's names, the provisioner."""

    api: Api
    names: Names
    cluster: object | None  # the ClusterProvisioner, if the harness made the cluster
    backend: str  # its --backend name, for messages


def load_image(where: Where, traffic: Traffic) -> str:
    """``traffic.load_image``, else the image the provisioner makes (the local cluster), else
    one line saying what to give."""
    if traffic.load_image:
        return traffic.load_image
    if isinstance(where.cluster, LoadImageMaker):
        return where.cluster.load_image()
    raise UsageError(
        f"traffic.from: cluster on {where.backend}: give traffic.load_image, an image with "
        "python3, locust and drainlab's harness package (README: load from inside the cluster)"
    )


def worker_pods(api: Api, workers: str) -> int:
    """``traffic.workers`` in the cluster: ``auto`` is one per schedulable node."""
    if workers != AUTO:
        return int(workers)
    items = api.list(NODE).get("items") or []
    return max(1, sum(1 for n in items if not (n.get("spec") or {}).get("unschedulable")))


async def start_cluster_load(
    where: Where, target: Target, plan: LoadPlan
) -> tuple[LoadRun, ClusterLoad]:
    """Makes the load pods, measures the worker nodes' clocks, and returns once locust started
    (or raises one line). The caller closes the ``ClusterLoad`` when the order ends."""
    if target.cluster_url is None:
        raise BackendError("kube: the Service has no ClusterIP to send the load to")
    image = await asyncio.to_thread(load_image, where, plan.traffic)
    workers = await asyncio.to_thread(worker_pods, where.api, plan.traffic.workers)
    records_path, log_path = plan.records_path, plan.log_path
    config = LoadConfig(
        records_path=records_path,
        status_path=log_path.with_suffix(".status.jsonl"),
        traffic=plan.traffic,
        seed=plan.seed,
        duration_s=plan.duration_s,
        workers=workers,
    )
    start_files(config, log_path, workers)
    order = where.names.labels.get(LABEL_ORDER, "run")
    load = ClusterLoad(where.api, where.names, config, log_path)
    try:
        await asyncio.to_thread(load.make, image, target.cluster_url)
        await asyncio.to_thread(load.wait_running)
        clocks = await asyncio.to_thread(load.measure_clocks)
        clocks_path = records_path.parent / runfolder.clocks_name(order)
        clocks_path.write_text(json.dumps(clocks.to_dict(), indent=1))
        with load.lock:
            pods = list(load.pods.values())
        master = next(p for p in pods if p.worker is None)
        workers_ = sorted((p for p in pods if p.worker is not None), key=lambda p: p.worker or 0)
        run = LoadRun(master, list(workers_), config, log_path, load.stop_timeout_s)
        await run.wait_started(START_S)
    except BaseException:
        await asyncio.shield(asyncio.to_thread(load.close))
        raise
    return run, load
