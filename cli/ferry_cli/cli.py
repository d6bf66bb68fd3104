"""`ferry`: rehearse migrations in the local twin, check input files, and see what the tool left behind.

ferry local run [--world WORLD] [--input INPUT] [--json] [--leftovers]
ferry local plan [--world WORLD] [--input INPUT] [--json]
ferry plan --input INPUT [--json]
ferry leftovers [--stack NAME] [--since DAYS] [--input FILE ...] [--json]
ferry validate --input INPUT
ferry start --input INPUT [--name NAME] [--follow] [--stack NAME]
ferry watch RUN [--stack NAME]
ferry runs [--status STATUS] [--since DAYS] [--limit N] [--stack NAME]
ferry stop RUN [--cause TEXT] [--stack NAME]
ferry redrive RUN [--follow] [--stack NAME]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from aurora_ferry.core import InvalidInputError
from aurora_ferry.migration import parse_migration_request
from ferry_cli.follow import DEFAULT_LIMIT_SECONDS, Polling
from ferry_cli.operate import RUN_STATUSES

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORLD = REPO_ROOT / "worlds" / "two-accounts.json"
DEFAULT_INPUT = REPO_ROOT / "events" / "migrate-cmk.json"
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"


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
    _operate_parsers(commands)
    return parser


_OPERATE_EXIT = (
    "Exit status: 0 the run succeeded (or was started, listed, stopped), 1 it ended otherwise or was still "
    "running when watching gave up (stop: it had already ended), 2 bad input, usage or AWS error."
)


def _operate_parsers(commands: Any) -> None:
    """`start`, `watch`, `runs`, `stop`: the deployed stack's runs, with the current AWS credentials."""

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(name, help=help_text, description=_OPERATE_EXIT)
        sub.add_argument(
            "--stack",
            default="aurora-ferry",
            metavar="NAME",
            help="the orchestrator stack (default aurora-ferry)",
        )
        sub.add_argument(
            "--profile",
            default=None,
            metavar="NAME",
            help="AWS profile to use (default: the current credentials)",
        )
        return sub

    start = command("start", "validate an input offline, then start a run of the deployed stack")
    start.add_argument("--input", type=Path, required=True, metavar="FILE")
    start.add_argument(
        "--name", default=None, help="execution name (default: a new UUID); the run id derives from it"
    )
    start.add_argument("--follow", action="store_true", help="then follow the run as `ferry watch` does")
    _max_wait(start)
    start.set_defaults(command=_start)
    watch = command("watch", "follow a run step by step until it ends, then print its summary")
    watch.add_argument("run", metavar="RUN", help="execution ARN, or execution name (either state machine)")
    _max_wait(watch)
    watch.set_defaults(command=_watch)
    runs = command("runs", "recent runs of both state machines")
    runs.add_argument(
        "--status", type=str.upper, choices=RUN_STATUSES, default=None, help="only runs in this status"
    )
    runs.add_argument(
        "--since",
        type=_since_days,
        default=14,
        metavar="DAYS",
        help="days back to list (default 14, at most 90)",
    )
    runs.add_argument(
        "--limit", type=_limit, default=50, metavar="N", help="newest N runs (default 50, at most 1000)"
    )
    runs.set_defaults(command=_runs)
    stop = command("stop", "stop a running run; the ended-run cleanup then removes its intermediates")
    stop.add_argument("run", metavar="RUN", help="execution ARN, or execution name (either state machine)")
    stop.add_argument(
        "--cause", default=None, metavar="TEXT", help="why (recorded in the history and the notification)"
    )
    stop.set_defaults(command=_stop)
    redrive = command("redrive", 'resume a parked migration at the step that failed (README "Redrive")')
    redrive.add_argument("run", metavar="RUN", help="execution ARN, or execution name")
    redrive.add_argument("--follow", action="store_true", help="then follow the run as `ferry watch` does")
    _max_wait(redrive)
    redrive.set_defaults(command=_redrive)


def _max_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--max-wait",
        type=_seconds,
        default=DEFAULT_LIMIT_SECONDS,
        metavar="SECONDS",
        help=f"stop watching (exit 1) after this long (default {DEFAULT_LIMIT_SECONDS:.0f}: 8 days)",
    )


def _number[N: (int, float)](text: str, parse: Callable[[str], N], what: str) -> N:
    """`text` as `parse` reads it; else argparse's error, saying it is not a `what`."""
    try:
        return parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a {what}: {text!r}") from None


def _seconds(text: str) -> float:
    seconds = _number(text, float, "number of seconds")
    if not 0 <= seconds <= DEFAULT_LIMIT_SECONDS:
        raise argparse.ArgumentTypeError(f"from 0 to {DEFAULT_LIMIT_SECONDS:.0f} seconds, got {text}")
    return seconds


def _limit(text: str) -> int:
    count = _number(text, int, "whole number")
    if not 1 <= count <= 1000:
        raise argparse.ArgumentTypeError(f"from 1 to 1000 runs, got {count}")
    return count


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

    days = _number(text, int, "whole number of days")
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


def _start(args: argparse.Namespace) -> int:
    from aurora_ferry.clone import is_clone_input, parse_clone_request
    from ferry_cli.operate import execution_name_problem, start_command

    # Offline first, with the contract `ferry validate` uses: a refused input makes no AWS call.
    try:
        raw = _read_json(args.input, "input")
        parse_clone_request(raw) if is_clone_input(raw) else parse_migration_request(raw)
    except SystemExit as error:
        sys.stderr.write(f"{error}\n")
        return 2
    except InvalidInputError as error:
        for problem in error.problems:
            sys.stderr.write(f"invalid: {args.input}: {problem}\n")
        return 2
    name_problem = execution_name_problem(args.name) if args.name is not None else None
    if name_problem is not None:
        sys.stderr.write(f"ferry start: {name_problem}\n")
        return 2
    kind = "clone" if is_clone_input(raw) else "migration"
    polling = _polling(args.max_wait) if args.follow else None
    return start_command(args.profile, args.stack, raw, kind, args.name, polling, sys.stdout, sys.stderr)


def _watch(args: argparse.Namespace) -> int:
    from ferry_cli.operate import watch_command

    return watch_command(args.profile, args.stack, args.run, _polling(args.max_wait), sys.stdout, sys.stderr)


def _polling(limit: float) -> Polling:
    # time.sleep: in the twin, a sleep on its threads waits in twin time (ferry_cli.twin.clock).
    return Polling(limit=limit, sleep=time.sleep)


def _runs(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from ferry_cli.operate import runs_command

    now = datetime.now(UTC)
    since = now - timedelta(days=args.since)
    return runs_command(args.profile, args.stack, args.status, since, args.limit, now, sys.stdout, sys.stderr)


def _stop(args: argparse.Namespace) -> int:
    from ferry_cli.operate import stop_cause_problem, stop_command

    problem = stop_cause_problem(args.cause) if args.cause is not None else None
    if problem is not None:
        sys.stderr.write(f"ferry stop: {problem}\n")
        return 2
    return stop_command(args.profile, args.stack, args.run, args.cause, sys.stdout, sys.stderr)


def _redrive(args: argparse.Namespace) -> int:
    from ferry_cli.operate import redrive_command

    polling = _polling(args.max_wait) if args.follow else None
    return redrive_command(args.profile, args.stack, args.run, polling, sys.stdout, sys.stderr)


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
    from ferry_cli.progress import ProgressPrinter, execution_report, print_outcome
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
    # A local run asks nothing of CloudFormation: its CLI talks to the twin directly.
    with Twin.started(world, args.template, stack_outputs=False) as twin:
        before = twin.inventory()
        if not args.json:
            out.write(
                f"twin: {world.description or args.world.name} ({world.region}, "
                f"twin time from {twin.clock.start:%Y-%m-%dT%H:%M:%SZ})\n"
            )
            out.write(f"input: {_rel(args.input)}\n")
        execution_arn = twin.start(execution_input, machine=machine_for(execution_input))
        printer = ProgressPrinter(out) if not args.json else None
        description = twin.wait(execution_arn, printer.on_event if printer else None, args.timeout)
        history = twin.history(execution_arn)
        report = {
            **execution_report(description, history),
            "twinSeconds": round(twin.clock.elapsed(), 1),
            "lambdaInvocations": {
                "total": twin.invocations.total,
                "byFunction": dict(sorted(twin.invocations.by_function.items())),
            },
            "resources": {"before": before, "after": twin.inventory()},
        }
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
        print_outcome(out, report, f"{report['twinSeconds']:.0f} twin seconds")
        if listing is not None:
            out.write("\nleftovers:\n")
            print_listing(out, sys.stderr, listing)
    status = 0 if report["status"] == "SUCCEEDED" else 1
    return listing.exit_status if listing is not None and status == 0 else status


if __name__ == "__main__":
    raise SystemExit(main())
