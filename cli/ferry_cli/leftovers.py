"""`ferry leftovers`: what aurora-ferry left in the member accounts, read-only, and whether anything is shared.

The member roles trust only the orchestrator stack's function roles, so the listing runs there, in
ListManagedResourcesFunction; the operator's credentials only read the stack's outputs
(cloudformation:DescribeStacks) and invoke the function (lambda:InvokeFunction). `ferry local run --leftovers`
invokes the same function deployed in the twin. Once the function is known, both go through
:func:`fetch_listing` and :func:`print_listing`.

Exit status: 0 when everything was read and nothing is shared; 1 when something is shared with another account
(or with all); 2 on a usage or invocation error, or when some account or state machine could not be read (the
listing is then incomplete, so it cannot say that nothing is shared).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TextIO

from ferry_cli.stack import aws_error, stack_outputs

STACK_OUTPUT = "ListManagedResourcesFunctionName"
FUNCTION_LOGICAL_ID = "ListManagedResourcesFunction"
DEFAULT_STACK = "aurora-ferry"
# The function's timeout (template.yaml) and a margin: the invocation is synchronous.
INVOKE_READ_TIMEOUT = 330

EXIT_NOTHING_SHARED = 0
EXIT_SHARED = 1
EXIT_ERROR = 2

_KIND_NAMES = {"snapshot": "snapshot", "resource-share": "resource share"}
_HIGHLIGHT = ("\x1b[1;31m", "\x1b[0m")
_COLUMNS = ("ACCOUNT", "REGION", "KIND", "IDENTIFIER", "RUN", "PURPOSE", "AGE", "STATUS", "SHARED WITH")


class LeftoversError(Exception):
    """The listing could not be had: the stack, the function or the invocation failed."""


@dataclass(frozen=True)
class Listing:
    """The function's result, or why there is none."""

    result: dict[str, Any] | None = None
    problem: str | None = None

    @property
    def exit_status(self) -> int:
        if self.result is None:
            return EXIT_ERROR
        if self.result["shared"]:
            return EXIT_SHARED
        return EXIT_ERROR if self.result["errors"] else EXIT_NOTHING_SHARED

    def to_json(self) -> dict[str, Any]:
        return self.result if self.result is not None else {"error": self.problem}


def listing_event(since_days: int | None = None, inputs: list[Any] | None = None) -> dict[str, Any]:
    """The function's event: the days of executions to read and the execution inputs to add."""
    event: dict[str, Any] = {}
    if since_days is not None:
        event["sinceDays"] = since_days
    if inputs:
        event["inputs"] = inputs
    return event


def function_of_stack(cloudformation: Any, stack: str) -> str:
    """The listing function's name, from the stack's output."""
    from botocore.exceptions import BotoCoreError

    try:
        outputs = stack_outputs(cloudformation, stack, LeftoversError)
    except BotoCoreError as error:
        raise LeftoversError(f"stack {stack}: {error}") from None
    if STACK_OUTPUT not in outputs:
        raise LeftoversError(
            f"stack {stack} has no output {STACK_OUTPUT}: deploy this version of template.yaml (or name the "
            "stack with --stack)"
        )
    return str(outputs[STACK_OUTPUT])


def fetch_listing(lambda_client: Any, function: str, event: dict[str, Any]) -> Listing:
    """Invoke the listing function and read its answer (the real and the twin paths alike)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = lambda_client.invoke(
            FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
        )
        payload = json.loads(response["Payload"].read() or b"null")
    except ClientError as error:
        return Listing(problem=f"invoke {function}: {aws_error(error)}")
    except (BotoCoreError, ValueError) as error:
        return Listing(problem=f"invoke {function}: {error}")
    if response.get("FunctionError"):
        payload = payload if isinstance(payload, dict) else {}
        return Listing(
            problem=f"{function} failed: {payload.get('errorType', 'error')}: {payload.get('errorMessage', '')}"
        )
    if not (isinstance(payload, dict) and {"resources", "accounts", "errors", "shared"} <= set(payload)):
        return Listing(problem=f"{function} answered something that is not a listing: {str(payload)[:200]}")
    return Listing(result=payload)


def aws_session() -> Any:
    """The operator's session: the current credentials and Region, as the AWS CLI finds them."""
    import boto3

    return boto3.Session()


def leftovers_command(
    stack: str, since_days: int | None, inputs: list[Any], *, as_json: bool, out: TextIO, err: TextIO
) -> int:
    """`ferry leftovers` against real AWS: find the function in the stack's outputs, invoke it, show it."""
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    try:
        session = aws_session()
        function = function_of_stack(session.client("cloudformation"), stack)
        client = session.client(
            "lambda",
            config=Config(read_timeout=INVOKE_READ_TIMEOUT, retries={"mode": "standard", "max_attempts": 3}),
        )
    except (LeftoversError, BotoCoreError) as error:
        err.write(f"ferry leftovers: {error}\n")
        return EXIT_ERROR
    return show_listing(out, err, fetch_listing(client, function, listing_event(since_days, inputs)), as_json)


def show_listing(out: TextIO, err: TextIO, listing: Listing, as_json: bool) -> int:
    """Print the listing (as a table, or as the function's JSON) and return the exit status it means."""
    if as_json:
        out.write(json.dumps(listing.to_json(), indent=2) + "\n")
        if listing.problem:
            err.write(f"ferry leftovers: {listing.problem}\n")
    else:
        print_listing(out, err, listing)
    return listing.exit_status


# --- printing -----------------------------------------------------------------------------------------------


def print_listing(out: TextIO, err: TextIO, listing: Listing) -> None:
    """The table, what could not be read, and one last line that says whether anything is shared."""
    if listing.result is None:
        err.write(f"ferry leftovers: {listing.problem}\n")
        return
    result = listing.result
    color = bool(getattr(out, "isatty", lambda: False)())
    rows = [_cells(row) for row in result["resources"]]
    if rows:
        widths = [max(len(c[i]) for c in [_COLUMNS, *rows]) for i in range(len(_COLUMNS))]
        out.write("  ".join(h.ljust(w) for h, w in zip(_COLUMNS, widths, strict=True)).rstrip() + "\n")
        for row, cells in zip(result["resources"], rows, strict=True):
            line = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
            out.write((_highlighted(line) if color and row.get("sharedWith") else line) + "\n")
    for error in result["errors"]:
        role = f" as {error['roleArn']}" if error.get("roleArn") else ""
        out.write(
            f"could not {error['action']} in {error['accountId']} {error['region']}{role}: "
            f"{error['code']}: {error['message']}\n"
        )
    out.write(_last_line(result) + "\n")


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    status = str(row.get("status") or "-")
    if row.get("pendingDeletion"):
        status += f" (deleted by the retry, until {row['pendingDeletion']['retryUntil']})"
    return (
        row["accountId"],
        row["region"],
        row["kind"],
        str(row["identifier"]),
        str(row.get("runId") or "-"),
        str(row.get("purpose") or "-"),
        _age(row.get("ageHours")),
        status,
        _shared_with(row),
    )


def _age(hours: float | None) -> str:
    if hours is None:
        return "-"
    return f"{hours:.1f}h" if hours < 48 else f"{hours / 24:.1f}d"


def _shared_with(row: dict[str, Any]) -> str:
    if "sharedWith" not in row:
        return ""
    shared = row["sharedWith"]
    if shared is None:
        return "? (not readable)"
    if not shared:
        return "-"
    names = ["ALL (public)" if account == "all" else account for account in shared]
    return ("!! " if "all" in shared else "! ") + ",".join(names)


def _highlighted(line: str) -> str:
    return f"{_HIGHLIGHT[0]}{line}{_HIGHLIGHT[1]}"


def _last_line(result: dict[str, Any]) -> str:
    resources, errors = result["resources"], result["errors"]
    shared = [row for row in resources if row.get("sharedWith")]
    if shared:
        counts: dict[str, int] = {}
        for row in shared:
            counts[row["kind"]] = counts.get(row["kind"], 0) + 1
        what = " and ".join(
            f"{n} {_KIND_NAMES.get(kind, kind)}{'' if n == 1 else 's'}" for kind, n in counts.items()
        )
        named = "; ".join(
            f"{row['identifier']} [{row['accountId']}] with "
            + ", ".join("ALL (public)" if a == "all" else a for a in row["sharedWith"])
            for row in shared
        )
        return f"{what} still shared: {named}"
    accounts = len(result["accounts"])
    if errors:
        return (
            f"nothing shared in what could be read, but {len(errors)} read(s) failed (above): the listing of "
            f"{accounts} account(s) is incomplete"
        )
    return f"nothing shared ({len(resources)} managed resource(s) in {accounts} account(s))"
