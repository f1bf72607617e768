"""The node agent as the DaemonSet runs it: a subprocess reading fake kube-proxy metrics (a
loopback HTTP server) and a fake iptables-save on PATH."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.dataplane import agent

METRICS = """# HELP kubeproxy_sync_proxy_rules_last_timestamp_seconds [ALPHA] ...
# TYPE kubeproxy_sync_proxy_rules_last_timestamp_seconds gauge
kubeproxy_sync_proxy_rules_last_timestamp_seconds 1.7e+09
kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds 1.6999999995e+09
kubeproxy_sync_proxy_rules_endpoint_changes_total 12
kubeproxy_sync_proxy_rules_endpoint_changes_pending 0
kubeproxy_sync_proxy_rules_duration_seconds_sum 0.5
kubeproxy_sync_proxy_rules_duration_seconds_count 7
kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.001"} 0
"""

# A stand-in for helper N's natrules.py: the agent imports whatever sits beside it.
FAKE_NATRULES = """
def service_endpoints(nat_text, namespace, service):
    wanted = f"{namespace}/{service}"
    return frozenset(
        line.split("--to-destination ")[1].split()[0]
        for line in nat_text.splitlines()
        if wanted in line and "--to-destination" in line
    )
"""
NAT = (
    "*nat\n"
    '-A KUBE-SEP-AAA -p tcp -m comment --comment "ns1/web:http" -m tcp -j DNAT'
    " --to-destination 10.1.0.5:8080\n"
    '-A KUBE-SEP-BBB -p tcp -m comment --comment "other/x" -m tcp -j DNAT'
    " --to-destination 10.1.0.9:80\nCOMMIT\n"
)


@pytest.fixture
def metrics_server() -> Iterator[tuple[str, dict[str, Any]]]:
    served: dict[str, Any] = {"text": METRICS, "status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = served["text"].encode()
            self.send_response(served["status"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics", served
    finally:
        server.shutdown()
        server.server_close()


def run_agent(
    tmp_path: Path, url: str, *extra: str, path: str = "", polls: int = 3
) -> list[dict[str, Any]]:
    script = tmp_path / "agent.py"
    shutil.copy(agent.__file__, script)
    (tmp_path / "natrules.py").write_text(FAKE_NATRULES)
    env = {**os.environ, "NODE_NAME": "node-a", "PATH": path or os.environ["PATH"]}
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            "--namespace",
            "ns1",
            "--service",
            "web",
            "--metrics-url",
            url,
            "--interval-ms",
            "10",
            "--polls",
            str(polls),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=True,
        cwd=tmp_path,
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


def fake_iptables_save(tmp_path: Path, text: str, code: int = 0) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "rules.txt").write_text(text)
    program = bin_dir / "iptables-save"
    program.write_text(
        f'#!/bin/sh\n[ "$1 $2" = "-t nat" ] || exit 9\ncat "{bin_dir}/rules.txt"\n'
        f"echo denied >&2\nexit {code}\n"
    )
    program.chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def test_parse_metrics_reads_what_the_agent_reports() -> None:
    assert agent.parse_metrics(METRICS) == {
        "sync_ts": 1.7e9,
        "queued_ts": 1.6999999995e9,
        "changes_total": 12.0,
        "changes_pending": 0.0,
        "duration_sum": 0.5,
        "duration_count": 7.0,
    }


def test_the_agent_prints_the_metrics_once_and_its_states(
    tmp_path: Path, metrics_server: tuple[str, dict[str, Any]]
) -> None:
    url, _ = metrics_server
    lines = run_agent(tmp_path, url, path="/nonexistent")
    assert all(line["node"] == "node-a" and line["drainlab_agent"] == 1 for line in lines)
    kinds = [(line["kind"], line.get("method"), line.get("state")) for line in lines]
    assert kinds == [
        ("state", "kube_proxy_metrics", "watching"),
        ("metrics", None, None),
        ("state", "nat_rules", "unavailable"),
    ]
    assert lines[1]["sync_ts"] == 1.7e9 and lines[1]["changes_total"] == 12
    assert lines[2]["reason"] == "reading NAT rules not allowed (data_plane.read_nat is false)"


def test_without_iptables_save_the_agent_says_so(
    tmp_path: Path, metrics_server: tuple[str, dict[str, Any]]
) -> None:
    url, _ = metrics_server
    lines = run_agent(
        tmp_path, url, "--read-nat", path=str(Path(sys.executable).parent) + ":/nonexistent"
    )
    (nat,) = [line for line in lines if line.get("method") == "nat_rules"]
    assert nat["state"] == "unavailable" and nat["reason"] == "no iptables-save in the agent image"


def test_the_agent_reads_the_services_endpoints_from_the_nat_rules(
    tmp_path: Path, metrics_server: tuple[str, dict[str, Any]]
) -> None:
    url, _ = metrics_server
    lines = run_agent(tmp_path, url, "--read-nat", path=fake_iptables_save(tmp_path, NAT))
    nat = [line for line in lines if line["kind"] == "nat"]
    assert [line["addresses"] for line in nat] == [["10.1.0.5:8080"]]  # once: it did not change
    assert {"kind": "state", "method": "nat_rules", "state": "watching"}.items() <= next(
        line for line in lines if line.get("method") == "nat_rules"
    ).items()


def test_a_failing_iptables_save_is_an_unavailable_state(
    tmp_path: Path, metrics_server: tuple[str, dict[str, Any]]
) -> None:
    url, _ = metrics_server
    lines = run_agent(tmp_path, url, "--read-nat", path=fake_iptables_save(tmp_path, "", code=1))
    (nat,) = [line for line in lines if line.get("method") == "nat_rules"]
    assert nat["reason"] == "iptables-save failed: denied"


def test_unreachable_metrics_are_an_unavailable_state(
    tmp_path: Path, metrics_server: tuple[str, dict[str, Any]]
) -> None:
    url, served = metrics_server
    served["text"] = "nothing: not kube-proxy\n"
    lines = run_agent(tmp_path, url, path="/nonexistent", polls=1)
    (state,) = [line for line in lines if line.get("method") == "kube_proxy_metrics"]
    assert state["state"] == "unavailable" and "lack kubeproxy_sync" in state["reason"]
    closed = run_agent(tmp_path, "http://127.0.0.1:9/metrics", path="/nonexistent", polls=1)
    assert closed[0]["reason"].startswith(
        "kube-proxy metrics not reachable at http://127.0.0.1:9/metrics"
    )
