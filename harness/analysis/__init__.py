"""Analysis: records and timeline in, the numbers of summary.json v1 out. Pure functions.

Modules, one job each: ``index`` (the timeline sorted and indexed once), ``endpoint_history``
(the Service's endpoint set over time), ``deletions`` (each deletion's observed moments, the
kind of event each came from, and its window), ``phases`` (attribution of a failure to a
deletion and a phase, and what each phase means), ``basis`` (what each phase rests on: the app's
own lines or the platform's events), ``scan`` (the one pass over records), ``pipeline``
(those steps in order), ``stats`` (nearest-rank percentiles), ``dataplane`` (a deletion's data
plane moment from its nodes' and methods' ``removal_applied``), ``propagation`` (its stages) and
``proxygap`` (its data-plane blocks), ``semantics`` (the conditions the endpoint events
carried, and the failures a readiness flip cost under the serving-terminating fallback),
``recommend``,
``pods`` (per-pod lifecycle rows, durations, findings) and ``summary`` (the summary.json
blocks). Records files are read by ``harness.records``.
"""

from harness.analysis.phases import DELETION_PHASES, PHASES
from harness.analysis.pods import lifecycle_report, pod_lifecycles
from harness.analysis.recommend import PropagationSample, recommend
from harness.analysis.stats import percentile
from harness.analysis.summary import (
    OrderAnalysis,
    analyse_order,
    analyse_order_file,
    build_order_summary,
    build_summary,
    summary_of_orders,
)

__all__ = [
    "DELETION_PHASES",
    "PHASES",
    "OrderAnalysis",
    "PropagationSample",
    "analyse_order",
    "analyse_order_file",
    "build_order_summary",
    "build_summary",
    "lifecycle_report",
    "percentile",
    "pod_lifecycles",
    "recommend",
    "summary_of_orders",
]
