"""Which pods a ReplicaSet deletes on a scale-down, as its controller ranks them.

The ReplicaSet controller's ``getPodsToDelete`` (pkg/controller/replicaset/replica_set.go) sorts
the candidates with ``ActivePodsWithRanks.Less`` (pkg/controller/controller_utils.go) and deletes
the first ones; the rules, in order, each deciding only when the ones before tie:

1. unassigned (not scheduled to a node) before assigned;
2. phase Pending before Unknown before Running (here: no container running yet is Pending);
3. not ready before ready;
4. lower ``controller.kubernetes.io/pod-deletion-cost`` first (embedded pods have none: a tie);
5. more pods of the ReplicaSet on the same node first ("doubled up"; embedded has one node: a tie);
6. ready for less time first (newest readiness first);
7. more container restarts first;
8. newer creation first.

So with every pod ready, the newest pod goes: a scale-down takes the youngest replica.
(Since 1.21 ``LogarithmicScaleDown`` compares rules 6 and 8 on a log2 scale of age; pods started
within the same second or two compare the same way.)
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.backends.embedded.pod import Pod


def deletion_rank(pod: Pod) -> tuple[bool, bool, bool, float, int, float]:
    """The sort key: the pod to delete first has the smallest."""
    return (
        pod.node is not None,
        pod.container is not None and pod.container.running,
        pod.ready,
        -(pod.ready_since or 0.0),
        -pod.restarts,
        -pod.created,
    )


def pods_to_delete(pods: Sequence[Pod], count: int) -> list[Pod]:
    """The ``count`` pods the controller deletes, first to go first."""
    return sorted(pods, key=deletion_rank)[: max(0, count)]
