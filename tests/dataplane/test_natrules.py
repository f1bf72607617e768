"""Reading a Service's endpoints out of ``iptables-save -t nat``: real text saved on the local
cluster (kube-proxy v1.20.2, fixtures/), and hand-written lines in the formats of later
kube-proxy releases (as their pkg/proxy/iptables/proxier.go writes them and iptables-save prints
them)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.dataplane import natrules
from harness.dataplane.natrules import has_kube_proxy_rules, service_endpoints

FIXTURES = Path(__file__).parent / "fixtures"
NS = "drainlab-hn-capture"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def nat(*rules: str) -> str:
    """A nat table as iptables-save prints it, with kube-proxy's jumps from the built-in chains
    and ``rules`` (each one line, written without the line's leading ``-A``)."""
    lines = [
        "*nat",
        ":PREROUTING ACCEPT [0:0]",
        ":OUTPUT ACCEPT [0:0]",
        ":KUBE-SERVICES - [0:0]",
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        *(f"-A {rule}" for rule in rules),
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


# -- real text, kube-proxy v1.20.2 ----------------------------------------------------------------


def test_v120_every_port_of_the_service() -> None:
    text = fixture("v1.20.2-three-pods.txt")
    assert service_endpoints(text, NS, "natapp") == {
        "10.244.0.6:8080",
        "10.244.0.7:8080",
        "10.244.0.8:8080",
        "10.244.0.6:9090",  # port "alt" targets 9090
        "10.244.0.7:9090",
        "10.244.0.8:9090",
    }


def test_v120_a_name_that_another_service_starts_with_is_not_matched() -> None:
    """natapp-single (unnamed port: comment "ns/natapp-single", sessionAffinity ClientIP) has
    only its own port; natapp's :9090 endpoints would be there if "natapp" matched."""
    text = fixture("v1.20.2-three-pods.txt")
    assert service_endpoints(text, NS, "natapp-single") == {
        "10.244.0.6:8080",
        "10.244.0.7:8080",
        "10.244.0.8:8080",
    }


def test_v120_other_services_and_namespaces() -> None:
    text = fixture("v1.20.2-three-pods.txt")
    assert service_endpoints(text, "default", "kubernetes") == {"10.250.77.2:6443"}
    assert service_endpoints(text, "default", "natapp") == frozenset()
    assert service_endpoints(text, NS, "nat") == frozenset()
    assert service_endpoints(text, NS, "absent") == frozenset()


def test_v120_a_deleted_pod_leaves_every_port() -> None:
    text = fixture("v1.20.2-one-pod-deleted.txt")
    assert service_endpoints(text, NS, "natapp") == {
        "10.244.0.6:8080",
        "10.244.0.7:8080",
        "10.244.0.6:9090",
        "10.244.0.7:9090",
    }
    assert service_endpoints(text, NS, "natapp-single") == {"10.244.0.6:8080", "10.244.0.7:8080"}


def test_v120_fixtures_have_kube_proxy_rules() -> None:
    assert has_kube_proxy_rules(fixture("v1.20.2-three-pods.txt"))


# -- later formats, hand-written ------------------------------------------------------------------


def test_since_1_26_jumps_say_which_endpoint_and_comments_may_be_unquoted() -> None:
    """Later releases: the KUBE-SVC -> KUBE-SEP jump's comment is "ns/svc:port -> IP:PORT", the
    cluster IP's masquerade rule sits in the KUBE-SVC chain; the KUBE-SEP rules keep
    "ns/svc:port", which kube-proxy's own tests write unquoted."""
    text = nat(
        'KUBE-SERVICES -m comment --comment "ns1/web:http cluster IP" -m tcp -p tcp '
        "-d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O",
        'KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/web:http cluster IP" -m tcp -p tcp '
        "-d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ",
        'KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/web:http -> 10.180.0.1:80" '
        "-m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-SXIVWICOYRO3J4NJ",
        'KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/web:http -> 10.180.0.2:80" '
        "-j KUBE-SEP-RS4RBKLTHTF2IUXJ",
        "KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/web:http -s 10.180.0.1 "
        "-j KUBE-MARK-MASQ",
        "KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/web:http -m tcp -p tcp -j DNAT "
        "--to-destination 10.180.0.1:80",
        'KUBE-SEP-RS4RBKLTHTF2IUXJ -p tcp -m comment --comment "ns1/web:http" -m tcp -j DNAT '
        "--to-destination 10.180.0.2:80",
    )
    assert service_endpoints(text, "ns1", "web") == {"10.180.0.1:80", "10.180.0.2:80"}


def test_large_cluster_mode_without_comments_on_the_service_chains() -> None:
    """Over 1000 endpoint chains kube-proxy drops the KUBE-SVC and KUBE-SEP comments: the
    Service is the one the KUBE-SERVICES rule names, through KUBE-EXT (NodePort) too."""
    text = nat(
        'KUBE-SERVICES -m comment --comment "ns1/web:http cluster IP" -m tcp -p tcp '
        "-d 172.30.0.41 --dport 80 -j KUBE-SVC-AAAAAAAAAAAAAAAA",
        'KUBE-SERVICES -m comment --comment "ns1/other:http cluster IP" -m tcp -p tcp '
        "-d 172.30.0.42 --dport 80 -j KUBE-SVC-BBBBBBBBBBBBBBBB",
        'KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be '
        'the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
        "KUBE-NODEPORTS -m comment --comment ns1/web:http -m tcp -p tcp --dport 30001 "
        "-j KUBE-EXT-AAAAAAAAAAAAAAAA",
        'KUBE-EXT-AAAAAAAAAAAAAAAA -m comment --comment "masquerade traffic for ns1/web:http '
        'external destinations" -j KUBE-MARK-MASQ',
        "KUBE-EXT-AAAAAAAAAAAAAAAA -j KUBE-SVC-AAAAAAAAAAAAAAAA",
        "KUBE-SVC-AAAAAAAAAAAAAAAA -m statistic --mode random --probability 0.5000000000 "
        "-j KUBE-SEP-AAAAAAAAAAAAAAA1",
        "KUBE-SVC-AAAAAAAAAAAAAAAA -j KUBE-SEP-AAAAAAAAAAAAAAA2",
        "KUBE-SVC-BBBBBBBBBBBBBBBB -j KUBE-SEP-BBBBBBBBBBBBBBB1",
        "KUBE-SEP-AAAAAAAAAAAAAAA1 -s 10.180.0.1 -j KUBE-MARK-MASQ",
        "KUBE-SEP-AAAAAAAAAAAAAAA1 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80",
        "KUBE-SEP-AAAAAAAAAAAAAAA2 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80",
        "KUBE-SEP-BBBBBBBBBBBBBBB1 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80",
    )
    assert service_endpoints(text, "ns1", "web") == {"10.180.0.1:80", "10.180.0.2:80"}
    assert service_endpoints(text, "ns1", "other") == {"10.180.0.3:80"}


def test_a_stale_endpoint_chain_no_rule_reaches_is_not_routed() -> None:
    """In large clusters stale chains are deleted once per sync period only: a KUBE-SEP chain
    (or a whole KUBE-SVC chain) that no longer has a jump into it routes nothing."""
    text = nat(
        'KUBE-SERVICES -m comment --comment "ns1/web:http cluster IP" -j KUBE-SVC-AAAAAAAAAAAAAAAA',
        'KUBE-SVC-AAAAAAAAAAAAAAAA -m comment --comment "ns1/web:http" -j KUBE-SEP-LIVE00000000000',
        'KUBE-SEP-LIVE00000000000 -m comment --comment "ns1/web:http" -j DNAT '
        "--to-destination 10.180.0.1:80",
        'KUBE-SEP-STALE00000000000 -m comment --comment "ns1/web:http" -j DNAT '
        "--to-destination 10.180.0.9:80",
        'KUBE-SVC-STALE00000000000 -m comment --comment "ns1/web:old" -j KUBE-SEP-STALE11111111111',
        'KUBE-SEP-STALE11111111111 -m comment --comment "ns1/web:old" -j DNAT '
        "--to-destination 10.180.0.9:81",
    )
    assert service_endpoints(text, "ns1", "web") == {"10.180.0.1:80"}


def test_local_traffic_policy_chain() -> None:
    """Later releases: a Local traffic policy routes through KUBE-EXT and KUBE-SVL chains."""
    text = nat(
        'KUBE-SERVICES -m comment --comment "ns1/web:http external IP" -d 192.168.99.22 '
        "-j KUBE-EXT-AAAAAAAAAAAAAAAA",
        'KUBE-EXT-AAAAAAAAAAAAAAAA -m comment --comment "pod traffic for ns1/web:http external '
        'destinations" -s 10.0.0.0/8 -j KUBE-SVL-AAAAAAAAAAAAAAAA',
        'KUBE-SVL-AAAAAAAAAAAAAAAA -m comment --comment "ns1/web:http -> 10.180.0.1:80" '
        "-j KUBE-SEP-AAAAAAAAAAAAAAA1",
        "KUBE-SEP-AAAAAAAAAAAAAAA1 -m comment --comment ns1/web:http -m tcp -p tcp -j DNAT "
        "--to-destination 10.180.0.1:80",
    )
    assert service_endpoints(text, "ns1", "web") == {"10.180.0.1:80"}


def test_comments_that_look_like_rules_and_old_unnamed_ports() -> None:
    """A comment's text is not read as options (iptables-save escapes its quotes); releases
    before 1.20 wrote an unnamed port as "ns/svc:"."""
    text = nat(
        'KUBE-SERVICES -m comment --comment "ns1/web: cluster IP" -j KUBE-SVC-AAAAAAAAAAAAAAAA',
        'KUBE-SVC-AAAAAAAAAAAAAAAA -m comment --comment "ns1/web:" -j KUBE-SEP-AAAAAAAAAAAAAAA1',
        'KUBE-SEP-AAAAAAAAAAAAAAA1 -m comment --comment "ns1/web: \\"-j DNAT '
        '--to-destination 6.6.6.6:6\\"" -p tcp -m tcp -j DNAT --to-destination 10.180.0.1:80',
    )
    assert service_endpoints(text, "ns1", "web") == {"10.180.0.1:80"}


def test_counters_ipv6_and_other_tables() -> None:
    """``iptables-save -c`` prefixes counters; ip6tables-save writes [addr]:port; the filter
    table's rules (a REJECT for a Service without endpoints) are not the nat table's."""
    text = "\n".join(
        [
            "*filter",
            ":KUBE-SERVICES - [0:0]",
            '-A KUBE-SERVICES -m comment --comment "ns1/web:http has no endpoints" -j REJECT',
            "-A KUBE-SERVICES -j KUBE-SEP-FILTER",
            '-A KUBE-SEP-FILTER -m comment --comment "ns1/web:http" -j DNAT '
            "--to-destination 10.9.9.9:80",
            "COMMIT",
            "*nat",
            ":KUBE-SERVICES - [0:0]",
            "[5:300] -A OUTPUT -j KUBE-SERVICES",
            '[1:60] -A KUBE-SERVICES -m comment --comment "ns1/web:http cluster IP" '
            "-j KUBE-SVC-AAAAAAAAAAAAAAAA",
            '[1:60] -A KUBE-SVC-AAAAAAAAAAAAAAAA -m comment --comment "ns1/web:http" '
            "-j KUBE-SEP-AAAAAAAAAAAAAAA1",
            '[1:60] -A KUBE-SEP-AAAAAAAAAAAAAAA1 -p tcp -m comment --comment "ns1/web:http" '
            "-m tcp -j DNAT --to-destination [fd00:10:244::5]:8080",
            "COMMIT",
        ]
    )
    assert service_endpoints(text, "ns1", "web") == {"[fd00:10:244::5]:8080"}
    assert has_kube_proxy_rules(text)


def test_no_kube_proxy_rules() -> None:
    """IPVS or nftables mode: kube-proxy writes nothing here, and the reader says so."""
    empty = "*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
    assert not has_kube_proxy_rules(empty)
    assert service_endpoints(empty, "ns1", "web") == frozenset()
    assert not has_kube_proxy_rules("")
    assert has_kube_proxy_rules(nat())


def test_text_without_table_headers_is_read_as_the_nat_table() -> None:
    text = "\n".join(
        [
            "-A OUTPUT -j KUBE-SERVICES",
            '-A KUBE-SERVICES -m comment --comment "ns1/web cluster IP" -j KUBE-SVC-A',
            '-A KUBE-SVC-A -m comment --comment "ns1/web" -j KUBE-SEP-A',
            '-A KUBE-SEP-A -m comment --comment "ns1/web" -j DNAT --to-destination 10.1.1.1:80',
        ]
    )
    assert service_endpoints(text, "ns1", "web") == {"10.1.1.1:80"}


# -- the agent imports it as a plain module -------------------------------------------------------


def test_importable_alone_as_a_sibling_module(tmp_path: Path) -> None:
    """The agent ships natrules.py beside its script and runs it with a bare python3: the module
    may import nothing but the standard library (``-I -S``: no site-packages, no harness)."""
    shutil.copy(natrules.__file__, tmp_path / "natrules.py")
    script = (
        "import sys, natrules; "
        f"print(sorted(natrules.service_endpoints(sys.stdin.read(), {NS!r}, 'natapp-single')))"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, '.'); {script}"],
        cwd=tmp_path,
        input=fixture("v1.20.2-three-pods.txt"),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(["10.244.0.6:8080", "10.244.0.7:8080", "10.244.0.8:8080"])


@pytest.mark.parametrize("name", ["v1.20.2-three-pods.txt", "v1.20.2-one-pod-deleted.txt"])
def test_fixtures_are_real_saves(name: str) -> None:
    """The fixtures are what iptables-save printed, with a provenance comment on top."""
    lines = fixture(name).splitlines()
    assert lines[2].startswith("# Generated by iptables-save")
    assert lines[3] == "*nat" and lines[-2] == "COMMIT"
