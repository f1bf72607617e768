"""Which endpoints a node's kube-proxy routes a Service to, read from ``iptables-save -t nat``.

Standard library only and no harness import: the data-plane agent ships this file beside its
script and imports it as ``natrules``; drainlab imports it as ``harness.dataplane.natrules``.

kube-proxy in iptables mode (``pkg/proxy/iptables/proxier.go`` of kubernetes/kubernetes) writes,
per Service port and endpoint, a chain ``KUBE-SEP-<hash>`` whose last rule DNATs to the endpoint,
and jumps to it from the Service's chains. As saved on the local cluster (v1.20.2; the test
fixtures are captured there):

    -A KUBE-SERVICES -d 10.96.97.72/32 -p tcp -m comment --comment "ns/svc:http cluster IP" \
        -m tcp --dport 80 -j KUBE-SVC-GJH2YSBSJU24SMU7
    -A KUBE-SVC-GJH2YSBSJU24SMU7 -m comment --comment "ns/svc:http" -m statistic --mode random \
        --probability 0.50000000000 -j KUBE-SEP-S5CCDSTFQNZKUAJL
    -A KUBE-SEP-S5CCDSTFQNZKUAJL -s 10.244.0.6/32 -m comment --comment "ns/svc:http" \
        -j KUBE-MARK-MASQ
    -A KUBE-SEP-S5CCDSTFQNZKUAJL -p tcp -m comment --comment "ns/svc:http" -m tcp \
        -j DNAT --to-destination 10.244.0.6:8080

:func:`service_endpoints` returns the ``--to-destination`` of every such chain of the Service
(all its ports) that the node routes to. What it absorbs, from kube-proxy 1.20 to 1.32:

- The comment names the Service port: ``ns/svc:port``, ``ns/svc`` for an unnamed port (1.20;
  releases before wrote ``ns/svc:``), sometimes followed by words (``"ns/svc:port cluster IP"``).
  Later releases write the KUBE-SVC -> KUBE-SEP jumps with ``"ns/svc:port -> 10.0.0.1:80"``
  (``writeServiceToEndpointRules``) and keep ``ns/svc:port`` on the KUBE-SEP rules
  (``appendServiceCommentLocked(args, svcPortNameString)``). Some comments name the Service in
  the middle (``"masquerade traffic for ns/svc:port external destinations"``: the KUBE-EXT
  chains that replaced KUBE-XLB, beside KUBE-SVL for a Local traffic policy). The first word
  of a comment that has the form ``ns/svc[:port]`` is the one read, and a Service named ``app``
  is not ``app-single``.
- With more than 1000 endpoint chains kube-proxy drops those comments to save space
  (``appendServiceCommentLocked``: ``endpointChainsNumberThreshold`` in 1.20,
  ``largeClusterMode`` later): a chain without a comment of its own belongs to the Service that
  the rules jumping into it name (KUBE-SERVICES' ``"ns/svc:port cluster IP"`` keeps its comment),
  through kube-proxy's per-Service chains only (KUBE-SVC, KUBE-SVL, KUBE-EXT, KUBE-FW, KUBE-XLB,
  KUBE-SEP: its ``isServiceChainName``).
- In that mode stale chains are deleted once per sync period only ("Stale chains will not be
  referenced by any active rules"): an endpoint counts only while its KUBE-SEP chain is reached
  by jumps from a built-in chain (PREROUTING, INPUT, OUTPUT, POSTROUTING). In 1.20 a removed
  endpoint's chain and the jump to it go in the same iptables-restore.
- ``iptables-save`` quotes a comment only when it holds a character outside ``[A-Za-z0-9_-]``
  (``xtables_save_string``), escaping ``"`` and ``\\``; kube-proxy's test fixtures write them
  unquoted: both are read. Counters (``iptables-save -c``: ``[0:0] -A ...``) are skipped.

Not visible here: kube-proxy in IPVS or nftables mode (no KUBE-SERVICES in this table:
:func:`has_kube_proxy_rules` says so), and rules written by an iptables variant (legacy or nft)
other than the one that saved them.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

Service = tuple[str, str]  # (namespace, name)

BUILTIN_CHAINS = ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")
ENDPOINT_CHAIN_PREFIX = "KUBE-SEP-"
# kube-proxy's per-Service chains (isServiceChainName; KUBE-XLB before 1.24): the ones whose
# Service a chain without a comment of its own inherits.
SERVICE_CHAIN_PREFIXES = (
    "KUBE-SVC-",
    "KUBE-SVL-",
    "KUBE-EXT-",
    "KUBE-FW-",
    "KUBE-XLB-",
    "KUBE-SEP-",
)

_COUNTERS = re.compile(r"^\[\d+:\d+\] ")
_COMMENT = re.compile(r'--comment (?:"((?:[^"\\]|\\.)*)"|(\S+))')
_TARGET = re.compile(r"(?:^| )-[jg] (\S+)")
_DESTINATION = re.compile(r"--to-destination (\S+)")
_UNESCAPE = re.compile(r"\\(.)")
# A Service port as kube-proxy names it: namespace/name, then ":port name" (empty or absent for
# an unnamed port). Both names are DNS labels.
_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_SERVICE_PORT = re.compile(rf"({_LABEL})/({_LABEL})(?::[-a-z0-9]*)?")


@dataclass(frozen=True, slots=True)
class _Rule:
    chain: str
    service: Service | None  # named by the rule's own comment
    target: str | None  # -j / -g
    destination: str | None  # DNAT --to-destination


def service_endpoints(nat_text: str, namespace: str, service: str) -> frozenset[str]:
    """The ``IP:PORT`` destinations that the node's kube-proxy DNATs the Service to, over all of
    its ports: those of its KUBE-SEP chains that a jump from a built-in chain reaches. Empty when
    it has none (or the text holds no kube-proxy rules)."""
    rules = list(_nat_rules(nat_text))
    reached = _reachable(rules)
    owners = _Owners(rules)
    wanted = (namespace, service)
    return frozenset(
        rule.destination
        for rule in rules
        if rule.destination is not None
        and rule.chain.startswith(ENDPOINT_CHAIN_PREFIX)
        and rule.chain in reached
        and wanted in owners.of(rule.chain)
    )


def has_kube_proxy_rules(nat_text: str) -> bool:
    """Whether kube-proxy programs this nat table (its KUBE-SERVICES chain is there): without
    it, an empty :func:`service_endpoints` says nothing about the Service."""
    return any(
        _COUNTERS.sub("", line).startswith((":KUBE-SERVICES ", "-A KUBE-SERVICES "))
        for line in _nat_lines(nat_text)
    )


def _nat_lines(text: str) -> Iterator[str]:
    """The lines of the nat table: all of them when the text has no ``*table`` headers."""
    lines = [line.strip() for line in text.splitlines()]
    if not any(line.startswith("*") for line in lines):
        yield from lines
        return
    table = None
    for line in lines:
        if line.startswith("*"):
            table = line[1:]
        elif line == "COMMIT":
            table = None
        elif table == "nat":
            yield line


def _nat_rules(text: str) -> Iterator[_Rule]:
    # Nodes with thousands of endpoints save tens of thousands of lines: the cheap string tests
    # keep the regular expressions to the lines that need them.
    for line in _nat_lines(text):
        if line.startswith("["):
            line = _COUNTERS.sub("", line)
        if not line.startswith("-A "):
            continue
        chain, _, spec = line[3:].partition(" ")
        comment = _COMMENT.search(spec) if "--comment" in spec else None
        # A comment may hold anything, "-j" too: the target is looked for outside it.
        bare = spec if comment is None else spec[: comment.start()] + spec[comment.end() :]
        target = _TARGET.search(bare)
        destination = _DESTINATION.search(bare) if "--to-destination" in bare else None
        yield _Rule(
            chain=chain,
            service=None if comment is None else _service_named(*comment.groups()),
            target=target.group(1) if target else None,
            destination=destination.group(1) if destination else None,
        )


@functools.lru_cache(maxsize=4096)  # every rule of a Service port repeats its comment
def _service_named(quoted: str | None, bare: str | None) -> Service | None:
    text = (_UNESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted) if quoted else bare
    for word in (text or "").split():
        match = _SERVICE_PORT.fullmatch(word)
        if match:
            return match.group(1), match.group(2)
    return None


def _reachable(rules: Iterable[_Rule]) -> set[str]:
    jumps: defaultdict[str, set[str]] = defaultdict(set)
    for rule in rules:
        if rule.target is not None:
            jumps[rule.chain].add(rule.target)
    reached = set(BUILTIN_CHAINS)
    todo = deque(BUILTIN_CHAINS)
    while todo:
        for target in jumps[todo.popleft()] - reached:
            reached.add(target)
            todo.append(target)
    return reached


class _Owners:
    """The Services each chain belongs to: named by its own rules' comments, else by the rules
    that jump into it (their comment, or the Service of their per-Service chain)."""

    def __init__(self, rules: Iterable[_Rule]) -> None:
        self._own: defaultdict[str, set[Service]] = defaultdict(set)
        self._into: defaultdict[str, list[tuple[str, Service | None]]] = defaultdict(list)
        for rule in rules:
            if rule.service is not None:
                self._own[rule.chain].add(rule.service)
            if rule.target is not None:
                self._into[rule.target].append((rule.chain, rule.service))
        self._known: dict[str, frozenset[Service]] = {}

    def of(self, chain: str, visiting: frozenset[str] = frozenset()) -> frozenset[Service]:
        if chain in self._known:
            return self._known[chain]
        if self._own[chain]:
            return frozenset(self._own[chain])
        found: set[Service] = set()
        for source, named in self._into[chain]:
            if named is not None:
                found.add(named)
            elif source.startswith(SERVICE_CHAIN_PREFIXES) and source not in visiting:
                found |= self.of(source, visiting | {chain})
        if not visiting:  # inside a walk, a loop cut short may have hidden an owner
            self._known[chain] = frozenset(found)
        return frozenset(found)
