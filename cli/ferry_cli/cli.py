"""`ferry`: rehearse migrations in the local twin, check input files, and see what the tool left behind.

ferry local run [--world WORLD] [--input INPUT] [--json] [--leftovers]
ferry local plan [--world WORLD] [--input INPUT] [--json]
ferry plan --input INPUT [--json]
ferry leftovers [--stack NAME] [--since DAYS] [--input FILE ...] [--json]
ferry validate --input INPUT
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from aurora_ferry.core import InvalidInputError
from aurora_ferry.migration import parse_migration_request

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORLD = REPO_ROOT / "worlds" / "two-accounts.json"
DEFAULT_INPUT = REPO_ROOT / "events" / "migrate-cmk.json"
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

# State types worth a line of their own while a run is followed; Pass marks and Choices are noise.
_SHOWN_ENTERED = {"TaskStateEntered", "MapStateEntered", "FailStateEntered"}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "command"):
        parser.print_help()
        return 2
    result: int = args.command(args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ferry", description="Move Aurora clusters across AWS accounts.")
    commands = parser.add_subparsers()

    local = commands.add_parser("local", help="the local two-account twin (no AWS account needed)")
    local_commands = local.add_subparsers()
    run = local_commands.add_parser("run", help="run a migration in the twin and follow it")
    run.add_argument(
        "--world",
        type=Path,
        default=None,
        help=f"world file (default {_rel(DEFAULT_WORLD)}; worlds/clones.json for a clone input)",
    )
    run.add_argument(
        "--input", type=Path, default=DEFAULT_INPUT, help=f"execution input (default {_rel(DEFAULT_INPUT)})"
    )
    run.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="SAM template to deploy")
    run.add_argument(
        "--json", action="store_true", help="print one machine-readable summary instead of progress"
    )
    run.add_argument("--timeout", type=float, default=600.0, help="real seconds before the run is stopped")
    run.add_argument(
        "--leftovers",
        action="store_true",
        help="after the run, list what the tool left in the twin's accounts (as `ferry leftovers` does)",
    )
    run.set_defaults(command=_local_run)
    local_plan = local_commands.add_parser(
        "plan", help="preflight checks and the plan, in the twin; changes nothing"
    )
    local_plan.add_argument("--world", type=Path, default=DEFAULT_WORLD)
    local_plan.add_argument("--input", type=Path, default=DEFAULT_INPUT)
    local_plan.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    local_plan.add_argument("--json", action="store_true", help="print the report as JSON")
    local_plan.set_defaults(command=_local_plan)

    plan = commands.add_parser(
        "plan", help="preflight checks and the plan against real AWS (read-only; uses your credentials)"
    )
    plan.add_argument("--input", type=Path, required=True)
    plan.add_argument("--json", action="store_true", help="print the report as JSON")
    plan.set_defaults(command=_plan)

    leftovers = commands.add_parser(
        "leftovers",
        help="list what the tool left in the member accounts, and whether anything is shared (read-only; "
        "invokes the stack's ListManagedResourcesFunction with your credentials)",
        description="Exit status: 0 nothing shared, 1 something shared, 2 usage or invocation error or an "
        "incomplete listing (an account or state machine could not be read).",
    )
    leftovers.add_argument(
        "--stack",
        default="aurora-ferry",
        metavar="NAME",
        help="the orchestrator stack (default aurora-ferry)",
    )
    leftovers.add_argument(
        "--since",
        type=_since_days,
        default=None,
        metavar="DAYS",
        help="days of executions to read (default 14, at most 90)",
    )
    leftovers.add_argument(
        "--input",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="execution input files whose accounts are read too (runs older than --since, or never started)",
    )
    leftovers.add_argument("--json", action="store_true", help="print the function's result as JSON")
    leftovers.set_defaults(command=_leftovers)

    validate = commands.add_parser("validate", help="check an execution input against the contract, offline")
    validate.add_argument("--input", type=Path, required=True)
    validate.set_defaults(command=_validate)
    return parser


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"ferry: {what} file {path} not found") from None
    except IsADirectoryError:
        raise SystemExit(f"ferry: {what} file {path} is a directory") from None
    except UnicodeDecodeError as error:
        bad = error.object[error.start : error.start + 1]
        raise SystemExit(
            f"ferry: {what} file {path} is not UTF-8 text (byte {error.start}: {bad!r}); save it as UTF-8 JSON"
        ) from None
    except json.JSONDecodeError as error:
        raise SystemExit(f"ferry: {what} file {path} is not valid JSON: {error}") from None


def _since_days(text: str) -> int:
    from aurora_ferry.managed import MAX_SINCE_DAYS

    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if not 1 <= days <= MAX_SINCE_DAYS:
        raise argparse.ArgumentTypeError(f"from 1 to {MAX_SINCE_DAYS} days, got {days}")
    return days


def _leftovers(args: argparse.Namespace) -> int:
    from aurora_ferry.ended import parse_run_input
    from ferry_cli.leftovers import EXIT_ERROR, leftovers_command

    inputs = []
    for path in args.input:
        try:
            raw = _read_json(path, "input")
            parse_run_input(raw)
        except SystemExit as error:
            sys.stderr.write(f"{error}\n")
            return EXIT_ERROR
        except InvalidInputError as error:
            for problem in error.problems:
                sys.stderr.write(f"invalid: {path}: {problem}\n")
            return EXIT_ERROR
        inputs.append(raw)
    return leftovers_command(
        args.stack, args.since, inputs, as_json=args.json, out=sys.stdout, err=sys.stderr
    )


def _validate(args: argparse.Namespace) -> int:
    from aurora_ferry.clone import is_clone_input, parse_clone_request

    raw = _read_json(args.input, "input")
    try:
        request = parse_clone_request(raw) if is_clone_input(raw) else parse_migration_request(raw)
    except InvalidInputError as error:
        for problem in error.problems:
            sys.stderr.write(f"invalid: {problem}\n")
        return 1
    sys.stdout.write(json.dumps(request.to_json(), indent=2) + "\n")
    return 0


def _parse_or_report(raw: Any) -> Any:
    try:
        return parse_migration_request(raw)
    except InvalidInputError as error:
        for problem in error.problems:
            sys.stderr.write(f"invalid: {problem}\n")
        return None


def _plan(args: argparse.Namespace) -> int:
    from aurora_ferry.preflight import run_preflight

    request = _parse_or_report(_read_json(args.input, "input"))
    if request is None:
        return 1
    report = run_preflight(request).to_json()
    return _print_plan(sys.stdout, report, as_json=args.json)


def _local_plan(args: argparse.Namespace) -> int:
    from aurora_ferry.preflight import run_preflight
    from ferry_cli.twin.runtime import Twin
    from ferry_cli.twin.world import WorldError, load_world

    request = _parse_or_report(_read_json(args.input, "input"))
    if request is None:
        return 1
    try:
        world = load_world(args.world)
    except WorldError as error:
        sys.stderr.write(f"ferry: world {args.world}: {error}\n")
        return 2
    with Twin.started(world, args.template) as twin, twin.iam.acting_as("PreflightFunction"):
        # Exactly as the state machine's Preflight step: under that function's role, assuming the member roles.
        report = run_preflight(request).to_json()
    return _print_plan(sys.stdout, report, as_json=args.json)


def _print_plan(out: TextIO, report: dict[str, Any], *, as_json: bool) -> int:
    if as_json:
        out.write(json.dumps(report, indent=2, default=str) + "\n")
        return 0 if report["ok"] else 1
    out.write("plan:\n")
    for number, step in enumerate(report["plan"], start=1):
        details = ", ".join(f"{k}: {v}" for k, v in step.items() if k not in ("step", "accountId") and v)
        out.write(f"  {number:>2}. [{step.get('accountId', '-')}] {step['step']}: {details}\n")
    findings = report["findings"]
    out.write("findings:\n" if findings else "findings: none\n")
    for finding in findings:
        where = f"[{finding.get('accountId') or '-'}] {finding.get('resource') or ''}".rstrip()
        out.write(
            f"  {finding['severity'].upper():<7} {finding['check']} {where}\n          {finding['message']}\n"
        )
    out.write("preflight: OK\n" if report["ok"] else "preflight: FAILED (nothing was changed)\n")
    return 0 if report["ok"] else 1


def _local_run(args: argparse.Namespace) -> int:
    # Imported here: the twin pulls in moto, which `ferry validate` and real-AWS commands never need.
    from ferry_cli.clone_run import machine_for, world_for
    from ferry_cli.leftovers import FUNCTION_LOGICAL_ID, fetch_listing, listing_event, print_listing
    from ferry_cli.twin.runtime import Twin
    from ferry_cli.twin.world import WorldError, load_world

    execution_input = _read_json(args.input, "input")
    # A clone input ("target", not "targets") runs the CloneStateMachine, by default in worlds/clones.json.
    args.world = world_for(execution_input, args.world, DEFAULT_WORLD)
    try:
        world = load_world(args.world)
    except WorldError as error:
        sys.stderr.write(f"ferry: world {args.world}: {error}\n")
        return 2
    out = sys.stdout
    with Twin.started(world, args.template) as twin:
        before = twin.inventory()
        if not args.json:
            out.write(
                f"twin: {world.description or args.world.name} ({world.region}, "
                f"twin time from {twin.clock.start:%Y-%m-%dT%H:%M:%SZ})\n"
            )
            out.write(f"input: {_rel(args.input)}\n")
        execution_arn = twin.start(execution_input, machine=machine_for(execution_input))
        printer = _ProgressPrinter(out) if not args.json else None
        description = twin.wait(execution_arn, printer.on_event if printer else None, args.timeout)
        history = twin.history(execution_arn)
        after = twin.inventory()
        report = _report(
            description, history, twin.invocations.by_function, before, after, twin.clock.elapsed()
        )
        # The deployed ListManagedResourcesFunction, invoked as `ferry leftovers` invokes it in AWS.
        listing = (
            fetch_listing(twin.client("lambda"), twin.function_arns[FUNCTION_LOGICAL_ID], listing_event())
            if args.leftovers
            else None
        )
    if args.json:
        if listing is not None:
            report["leftovers"] = listing.to_json()
        out.write(json.dumps(report, indent=2, default=str) + "\n")
    else:
        _print_outcome(out, report)
        if listing is not None:
            out.write("\nleftovers:\n")
            print_listing(out, sys.stderr, listing)
    status = 0 if report["status"] == "SUCCEEDED" else 1
    return listing.exit_status if listing is not None and status == 0 else status


class _ProgressPrinter:
    """Prints each step as the execution history reports it, at its time from the start of the execution."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.last_status: dict[str, str] = {}
        self.started: Any = None
        self.at: Any = None

    def on_event(self, event: dict[str, Any]) -> None:
        self.at = event["timestamp"]
        if self.started is None:
            self.started = self.at
        kind = event["type"]
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        if kind in _SHOWN_ENTERED and details and not details["name"].startswith("Check"):
            self._line(details["name"])
        elif kind == "TaskStateExited" and details and details["name"].startswith("Check"):
            output = json.loads(details.get("output") or "{}").get("poll", {})
            status = str(output.get("status"))
            key = f"{details['name']}"
            if self.last_status.get(key) != status or output.get("ready"):
                self._line(f"{details['name']}: {status} (check {output.get('attempt')})")
                self.last_status[key] = status
        elif kind.endswith("Failed") and kind != "ExecutionFailed":
            failed = event.get(_details_key(event)) or {}
            self._line(f"! {kind}: {failed.get('error', '')}")

    def _line(self, text: str) -> None:
        seconds = int((self.at - self.started).total_seconds())
        self.out.write(f"[{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}] {text}\n")
        self.out.flush()


def _details_key(event: dict[str, Any]) -> str:
    for key in event:
        if key.endswith("EventDetails"):
            return key
    return ""


def _report(
    description: dict[str, Any],
    history: list[dict[str, Any]],
    invocations: dict[str, int],
    before: dict[str, Any],
    after: dict[str, Any],
    twin_seconds: float,
) -> dict[str, Any]:
    status = description["status"]
    report: dict[str, Any] = {
        "status": status,
        "executionArn": description["executionArn"],
        "twinSeconds": round(twin_seconds, 1),
        "stateTransitions": sum(1 for e in history if e["type"].endswith("StateEntered")),
        "historyEvents": len(history),
        "lambdaInvocations": {
            "total": sum(invocations.values()),
            "byFunction": dict(sorted(invocations.items())),
        },
        "resources": {"before": before, "after": after},
        # Twin seconds from the start at which each state was entered: the same on any machine (the twin's
        # clock is virtual), so two runs of one world and input can be compared line by line.
        "timeline": _timeline(history),
    }
    if status == "SUCCEEDED":
        report["output"] = json.loads(description.get("output") or "null")
    else:
        report["error"] = description.get("error")
        report["cause"] = description.get("cause")
        report["failedState"] = _failed_state(history)
    return report


def _timeline(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not history:
        return []
    start = history[0]["timestamp"]
    return [
        {"at": (e["timestamp"] - start).total_seconds(), "state": e["stateEnteredEventDetails"]["name"]}
        for e in history
        if e["type"].endswith("StateEntered")
    ]


def _failed_state(history: list[dict[str, Any]]) -> str | None:
    """The state whose failure ended the run: the one entered last before the first failure event."""
    last_entered: str | None = None
    for event in history:
        details = event.get("stateEnteredEventDetails")
        if details:
            last_entered = details["name"]
        if event["type"] in ("TaskFailed", "LambdaFunctionFailed", "MapStateFailed", "FailStateEntered"):
            return last_entered
    return last_entered


def _print_outcome(out: TextIO, report: dict[str, Any]) -> None:
    counts = (
        f"{report['stateTransitions']} state transitions, {report['lambdaInvocations']['total']} Lambda invocations, "
        f"{report['historyEvents']} history events"
    )
    if report["status"] != "SUCCEEDED":
        out.write(f"\nFAILED in state {report.get('failedState')}\n  error: {report.get('error')}\n")
        out.write(f"  cause: {report.get('cause')}\n  {counts}\n")
        return
    output = report["output"]
    if isinstance(output, dict) and output.get("kind") == "clone":
        from ferry_cli.clone_run import print_clone_outcome

        print_clone_outcome(out, report, counts)
        return
    out.write(f"\nSUCCEEDED: run {output['runId']} in {report['twinSeconds']:.0f} twin seconds ({counts})\n")
    out.write(f"  source {output['source']['accountId']}: {output['source']['snapshotArn']} ")
    out.write(f"(encryption: {output['source']['encryption']})\n")
    for target in output["targets"]:
        out.write(
            f"  target {target['accountId']}: {target['clusterArn']}\n    endpoint {target['endpoint']}\n"
        )
        for timing in target["timings"]:
            out.write(f"    {timing['step']:<18} {timing['seconds']:>8.0f} s\n")
    for timing in output["timings"]["source"] + output["timings"]["cleanup"]:
        out.write(f"  {timing['step']:<26} {timing['seconds']:>8.0f} s\n")
    for action in output["cleanup"].get("actions", []):
        out.write(f"  cleanup: {action['action']} {action['arn']}\n")
    if output["cleanup"].get("error"):
        out.write(f"  cleanup FAILED: {output['cleanup']['error']}\n")


if __name__ == "__main__":
    raise SystemExit(main())
