"""The data plane: when each node's Service proxy really stopped routing to a deleted pod.

- correlate.py: pure; matches the controller's endpoint removals to what the observers read on
  each node (kube-proxy's metrics, the node's NAT rules) → ``removal_applied`` events;
- agent.py: the stdlib-only script the kube backend runs on every node (a DaemonSet) to read
  kube-proxy's metrics and, where allowed, the NAT rules; one JSON line per change on stdout;
- natrules.py: the Service's endpoints in ``iptables-save -t nat`` text;
- hostnat.py: polls a node's NAT rules from outside it (the local cluster's ground truth).

The kube backend wires them (harness.backends.kube.dataplane).
"""
