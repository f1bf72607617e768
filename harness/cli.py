"""`harness`: argument parsing only; the work happens in harness.run, harness.report, harness.gate.

Exit codes: 0 ok, 1 a gate did not hold, 2 bad usage or unreadable input, 3 the run failed,
4 the gated variant is inconclusive (GATE_EXITS), 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from harness import __version__
from harness.classify import ERROR_CLASSES
from harness.console import Console
from harness.errors import HarnessError, UsageError, one_line
from harness.gate import EVIDENCE_LIMITS, GateLimits, GateResult, check_limits

EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_RUN, EXIT_INCONCLUSIVE, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
GATE_EXITS = (
    "exit codes: 0 the gate held, 1 a limit was broken, 2 bad usage or unreadable input, "
    "3 the run failed, 4 inconclusive: no deletion, no request inside a deletion window, "
    "or less evidence than --min-deletions/--max-upper-bound/--max-outage-s ask (never a pass)"
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2 (no usage dump)."""

    def error(self, message: str) -> Any:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)}\n")


def _prog() -> str:
    """The command's name as typed: `drainlab`, or `harness` (the alias; also for python -m)."""
    name = os.path.basename(sys.argv[0]) if sys.argv else ""
    return name if name in ("drainlab", "harness") else "harness"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=_prog(), description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"drainlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser(
        "run",
        help="run every shutdown order under traffic and pod deletions",
        epilog=f"{GATE_EXITS}; 130 interrupted",
    )
    run.add_argument("--backend", default="auto", help="auto | embedded | local | kind | kube")
    run.add_argument("--scenario", type=Path, help="scenario YAML (default: built-in defaults)")
    run.add_argument(
        "--variants",
        "--orders",
        dest="variants",
        help="comma-separated variants to run (of the scenario's; the sample app's orders), "
        "e.g. naive,graceful",
    )
    run.add_argument("--duration", type=float, help="seconds of traffic per order (at most 86400)")
    run.add_argument("--users", type=int, help="concurrent simulated users")
    run.add_argument("--replicas", type=int, help="pods per order")
    run.add_argument("--seed", type=int, help="seed for chaos and traffic (repeatable runs)")
    run.add_argument("--deletions", type=int, help="chaos actions per order (at most 10000)")
    run.add_argument(
        "--new-connections",
        action="store_true",
        help="open a new connection per request instead of keep-alive",
    )
    run.add_argument("--out", type=Path, default=Path("reports"), help="where run folders go")
    run.add_argument("--context", help="kubeconfig context (kube backend)")
    run.add_argument("--allow-context", help="allow this non-kind context (kube backend)")
    run.add_argument("--namespace", help="namespace for the kube/kind backends")
    run.add_argument(
        "--allow-namespace", help="allow this existing namespace drainlab did not make (kube)"
    )
    run.add_argument(  # not `target`: that is `gate`'s path, made absolute in main
        "--target", dest="kube_target", help="deployment/NAME: test it as it runs (--namespace)"
    )
    run.add_argument("--target-service", help="the target's Service, when several select it")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print what the run would create, start and delete; touch nothing",
    )
    run.add_argument("--gate", metavar="VARIANT", help="after the run, gate on this variant")
    run.add_argument(
        "--verify-fix",
        action="store_true",
        help="then run each variant that dropped requests again with its fix, as <variant>+fix",
    )
    _add_limits(run)
    run.add_argument("--quiet", action="store_true", help="no progress output")

    report = sub.add_parser("report", help="regenerate report.html from a run folder")
    report.add_argument("run_dir", type=Path)

    gate = sub.add_parser("gate", help="exit 1: a limit broken, 4: inconclusive", epilog=GATE_EXITS)
    gate.add_argument("target", type=Path, help="a run folder or its summary.json")
    gate.add_argument(
        "--variant",
        "--order",
        dest="order",
        help="the variant to gate on (default: the run's gate.order)",
    )
    _add_limits(gate)
    gate.add_argument("--junit", type=Path, help="also write JUnit XML here")

    check = sub.add_parser("validate", help="validate a scenario file and print it in full")
    check.add_argument(
        "scenario", type=Path, nargs="?", help="scenario YAML (default: the shipped default.yaml)"
    )
    return parser


def _add_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-failed", type=int, help="failed requests allowed (default 0)")
    parser.add_argument("--max-failure-rate", type=float, help="failure rate allowed, 0..1")
    parser.add_argument(
        "--classes",
        help=f"count only these error classes (comma-separated: {','.join(ERROR_CLASSES)})",
    )
    for key, (kind, what) in EVIDENCE_LIMITS.items():
        parser.add_argument("--" + key.replace("_", "-"), type=kind, help=what)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error argparse printed
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    _absolute_pythonpath()
    for name in ("out", "scenario", "run_dir", "target", "junit"):
        # Every path the user gives means what it meant in the folder they typed it in.
        if getattr(args, name, None) is not None:
            setattr(args, name, Path(os.path.abspath(getattr(args, name))))  # `..` folded
    console = Console(quiet=getattr(args, "quiet", False))
    try:
        if args.command == "run":
            return _cmd_run(args, console)
        if args.command == "report":
            return _cmd_report(args, console)
        if args.command == "gate":
            return _cmd_gate(args)
        return _cmd_validate(args)
    except HarnessError as exc:
        console.done()
        print(f"harness: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE if args.command != "run" else _run_error_code(exc)
    except KeyboardInterrupt:
        console.done()
        print("harness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run_error_code(exc: HarnessError) -> int:
    return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_RUN


def _limits(args: argparse.Namespace, base: GateLimits, order: str | None) -> GateLimits:
    """The scenario's (or the run's) gate limits with the command line's flags on top; checked
    here, so a nonsense limit is a usage error before anything runs."""
    changes: dict[str, Any] = {}
    if order is not None:
        changes["order"] = order
    if args.max_failed is not None:
        changes["max_failed"] = args.max_failed
    if args.max_failure_rate is not None:
        changes["max_failure_rate"] = args.max_failure_rate
        if args.max_failed is None:
            changes["max_failed"] = None  # a rate given alone replaces the count limit
    if args.classes:
        changes["classes"] = tuple(c.strip() for c in args.classes.split(",") if c.strip())
    for key in EVIDENCE_LIMITS:
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    limits = dataclasses.replace(base, **changes)
    check_limits(limits)
    return limits


def shown(path: Path) -> str:
    """A path as the user can paste it: relative to the current folder when it lies below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _absolute_pythonpath() -> None:
    """Children run in other folders (locust in the run's logs/): a relative PYTHONPATH entry must
    keep meaning what it meant here."""
    entries = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    absolute = [os.path.abspath(e) for e in entries if e]
    if absolute:
        os.environ["PYTHONPATH"] = os.pathsep.join(absolute)
    else:
        os.environ.pop("PYTHONPATH", None)


def _cmd_run(args: argparse.Namespace, console: Console) -> int:
    from harness.backends.select import choose_backend
    from harness.scenario import load_scenario
    from harness.terminal import print_run_result

    overrides: dict[str, Any] = {}
    for flag, key in (
        ("duration", "duration_s"),
        ("users", "traffic.users"),
        ("replicas", "replicas"),
        ("seed", "seed"),
        ("deletions", "chaos.count"),
        ("context", "kube.context"),
        ("allow_context", "kube.allow_context"),
        ("namespace", "kube.namespace"),
        ("allow_namespace", "kube.allow_namespace"),
        ("kube_target", "kube.target"),
        ("target_service", "kube.target_service"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides[key] = value
    if args.new_connections:
        overrides["traffic.keepalive"] = False
    only = [v.strip() for v in args.variants.split(",") if v.strip()] if args.variants else None
    scenario = load_scenario(args.scenario, overrides, only=only)
    limits = None
    if args.gate:
        if args.gate not in scenario.order_names():
            raise UsageError(
                f"--gate: {args.gate!r} is not a variant of this run "
                f"(variants: {', '.join(scenario.order_names())})"
            )
        limits = _limits(args, scenario.gate, args.gate)
    elif any(
        getattr(args, key) is not None
        for key in ("max_failed", "max_failure_rate", "classes", *EVIDENCE_LIMITS)
    ):
        raise UsageError("--max-*, --min-deletions and --classes go with --gate VARIANT")
    choice = choose_backend(args.backend, scenario)
    if scenario.kube.target is not None:
        _refuse_target(args, choice.name, scenario)
    if args.verify_fix and scenario.kube.target is not None:
        raise UsageError("--verify-fix: a --target runs as it is; its fix cannot be deployed")
    _refuse_matrix(args, choice.name, scenario)
    if args.dry_run:
        return _dry_run(choice, scenario)
    from harness.backends.plan import refuse_before_run

    refuse_before_run(choice, scenario)
    if scenario.kube.target is not None and choice.name == "kube":
        from harness.backends.kube.target import preflight

        preflight(scenario.kube)  # a missing target: one line, and no run folder
    from harness.journal import RunJournal
    from harness.logsetup import log_to_console
    from harness.run import install_signal_handlers, run_experiment
    from harness.verify import measured_fixes

    log_to_console(console)

    async def go() -> RunJournal:
        task = asyncio.current_task()
        assert task is not None
        install_signal_handlers(task, console)
        fixes = measured_fixes if args.verify_fix else None
        return await run_experiment(scenario, choice, args.out, console, limits, fixes)

    result = asyncio.run(go())
    print_run_result(result.run_dir, result.summary or {})  # set once run_experiment returns
    code = EXIT_OK
    if result.partial:
        print("the run was interrupted: the report is partial")
        code = EXIT_INTERRUPTED
    elif result.gate is not None:
        print(result.gate.line)
        code = gate_exit(result.gate)
    print(f"report: {shown(result.run_dir / 'report.html')}")  # last, so it can be pasted
    return code


def _refuse_target(args: argparse.Namespace, backend: str, scenario: Any) -> None:
    """A target (--target or kube.target) is tested where it runs, in a namespace the user
    names on the command line: never the default one by accident."""
    if args.namespace is None:
        raise UsageError("--target needs --namespace NS: the namespace the Deployment runs in")
    from harness.backends.kube.target import target_refusal

    target_refusal(backend, scenario.kube)


def _refuse_matrix(args: argparse.Namespace, backend: str, scenario: Any) -> None:
    """What a matrix cannot do: profiles on a real cluster, and --verify-fix (a fix is derived
    per variant, a matrix measures each variant under several actions)."""
    from harness.matrix import backend_problem

    refused = backend_problem(scenario.matrix, backend)
    if refused is not None:
        raise UsageError(refused)
    if args.verify_fix and scenario.matrix.is_set:
        raise UsageError("--verify-fix: not with a matrix; verify one action's run without it")


def _dry_run(choice: Any, scenario: Any) -> int:
    """``run --dry-run``: the plan, one line per step; no cluster, no API write, no run folder."""
    from harness.backends.plan import dry_run_lines

    lines = dry_run_lines(choice, scenario)  # first: a refusal is the only line
    print(f"backend: {choice.name} ({choice.why})")
    for line in lines:
        print(line)
    return EXIT_OK


def _cmd_report(args: argparse.Namespace, console: Console) -> int:
    from harness.outputs import recover
    from harness.report.html import write_report
    from harness.runfolder import RUN_JOURNAL, SUMMARY

    run_dir: Path = args.run_dir
    if not os.path.exists(run_dir / SUMMARY) and os.path.exists(run_dir / RUN_JOURNAL):
        path = recover(run_dir)
        print(f"{shown(run_dir)}: no summary; rebuilt it from the run's files (partial, recovered)")
    else:
        path = write_report(run_dir)
    print(shown(path))
    return EXIT_OK


def _cmd_gate(args: argparse.Namespace) -> int:
    from harness.gate import evaluate_run
    from harness.report.junit import write_junit
    from harness.summaryfile import OrderNotInSummaryError, load_summary

    summary = load_summary(args.target)
    limits = _limits(args, _run_gate_limits(summary), args.order)
    verdicts = evaluate_run(summary, limits)
    if args.junit:
        # Written before the verdict, so CI shows a missing order as a failed testcase too.
        try:
            write_junit(summary, verdicts, args.junit)
        except OSError as exc:
            raise UsageError(f"cannot write {args.junit}: {exc.strerror or exc}") from None
    if limits.order not in verdicts.results:
        ran = ", ".join(verdicts.results) or "none"
        raise OrderNotInSummaryError(
            f"order {limits.order!r} is not in the summary (orders run: {ran})"
        )
    result = verdicts.results[limits.order]
    print(result.line)
    return gate_exit(result)


def gate_exit(result: GateResult) -> int:
    """0 the gate held, 1 a limit was broken, 4 inconclusive (never 0: no evidence, no pass)."""
    return EXIT_OK if result.ok else EXIT_INCONCLUSIVE if result.inconclusive else EXIT_GATE


def _run_gate_limits(summary: dict[str, Any]) -> GateLimits:
    """The limits the run was gated with (its summary's gate section), else the gate its scenario
    declared, else the defaults: without flags, `harness gate` repeats the run's own verdict."""
    scenario = summary.get("scenario")
    for section in (
        summary.get("gate"),
        scenario.get("gate") if isinstance(scenario, dict) else None,
    ):
        if isinstance(section, dict):
            return GateLimits.from_mapping(section)
    return GateLimits()


def _cmd_validate(args: argparse.Namespace) -> int:
    import yaml

    from harness.load.pacing import load_sentence
    from harness.packaged import default_scenario_path
    from harness.scenario import load_scenario

    scenario = load_scenario(args.scenario or default_scenario_path())
    if scenario.app.manifests is not None:  # rendered, and every variant applied to them
        from harness.backends.kube.adapt import checked

        checked(scenario, on_kind=False)
    print(yaml.safe_dump(scenario.to_dict(), sort_keys=False), end="")
    print(f"# {load_sentence(scenario.traffic)}")
    if scenario.matrix.is_set:
        orders = scenario.order_names()
        print(f"# matrix: {len(orders)} orders, one per variant and cell: {', '.join(orders)}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
