"""A small builder for aurora-ferry's Amazon States Language: the few state shapes both workflows repeat.

States are added to a `Flow` in the order the ASL lists them, which is the happy path. A `Next` left as
`None` means "the state added after this one"; `Flow.build` refuses a definition with a dangling or unknown
`Next`, so a typo fails when the ASL is generated instead of when SAM deploys it. The states themselves come
from `ferry_cli.asl.states`; `ferry_cli.asl.park` adds the park path of a redrivable run to a flow.

Only JSONPath ASL is produced (no JSONata, variables or child state machines): moto's interpreter, which
runs the ASL in the tests, supports nothing else.
"""

from __future__ import annotations

from aurora_ferry.core import DOMAIN_ERRORS, TARGET_FAILED, TARGET_PARKED
from ferry_cli.asl.states import (
    CLEANUP_TIMEOUT_SECONDS,
    EVENT_HEARTBEAT_SECONDS,
    EVENT_WAIT_SECONDS,
    INTERVAL,
    INVOKE_AND_WAIT,
    LAMBDA_ERRORS,
    MAX_ATTEMPTS,
    PARKED_ERRORS,
    POLL_START,
    POLL_TIMEOUT_SECONDS,
    SUMMARY_FAILED,
    TIMING_COMMENT,
    Errors,
    State,
    catches,
    caught_at,
    names,
    params,
    run,
    sub,
    summary_state,
    task_state,
)

# The builder's public surface: Flow and machine, and the state shapes the workflows and tests name through it.
__all__ = [
    "LAMBDA_ERRORS",
    "PARKED_ERRORS",
    "SUMMARY_FAILED",
    "Flow",
    "State",
    "machine",
    "names",
    "params",
    "run",
]


def machine(comment: str, flow: Flow, *, timeout: int) -> State:
    """A whole state machine; `timeout` bounds the execution even if some wait were unbounded."""
    body = flow.build()
    return {
        "Comment": comment,
        "StartAt": body["StartAt"],
        "TimeoutSeconds": timeout,
        "States": body["States"],
    }


def _exits(state: State) -> list[State]:
    """The parts of a state that carry a Next: itself, its Choice rules, its catchers."""
    return [part for part in (state, *state.get("Choices", []), *state.get("Catch", [])) if "Next" in part]


class Flow:
    """The states of one scope (a state machine, or a Map's iterator), in the order the ASL lists them.

    `failure` is where a caught error goes; it may change as the flow grows (before the run creates anything
    there is nothing to clean up). Once `park` is set, a transient error (PARKED_ERRORS) goes there instead, and
    the flow remembers where a redrive resumes each step it parks from (`ferry_cli.asl.park.add_park_path`). Every
    task catches, in a Map's iterator too: there the failure is an `iteration_failure`, which fails the iteration
    with its account and step (a task's own error would reach the Map's Catch without either).
    """

    def __init__(self, failure: str, *, errors: Errors = DOMAIN_ERRORS, park: str | None = None) -> None:
        self.failure = failure
        self.errors = errors
        self.park = park
        self._states: dict[str, State] = {}
        self._open: list[tuple[str, State]] = []
        # The state a redrive resumes at, per step that parks.
        self.resume_points: dict[str, str] = {}

    def add(self, states: dict[str, State]) -> None:
        """Adds `states` in order; every `Next: None` left open so far goes to the first of them.

        The states of one call link to each other by name, so their own open `Next`s only close on the next call.
        """
        first = next(iter(states))
        for _, slot in self._open:
            slot["Next"] = first
        self._open = []
        for name, state in states.items():
            if name in self._states:
                raise ValueError(f"two states are named {name}")
            self._states[name] = state
            self._open += [(name, part) for part in _exits(state) if part["Next"] is None]

    def build(self) -> State:
        """`StartAt` and `States`, once every Next names a state of this scope."""
        if self._open:
            raise ValueError(f"{self._open[0][0]} goes nowhere: its Next was left for a state never added")
        for name, state in self._states.items():
            targets = [part["Next"] for part in _exits(state)] + (
                [state["Default"]] if "Default" in state else []
            )
            unknown = [target for target in targets if target not in self._states]
            if unknown:
                raise ValueError(f"{name} goes to {unknown}, which this scope does not have")
        return {"StartAt": next(iter(self._states)), "States": self._states}

    def _catches(self, step: str, resume: str | None = None) -> list[State]:
        """`catches` for `step`, with the transient errors parked (between the two, so matched before the
        catch-all) once the flow parks; a redrive resumes the step at `resume` (by default the step itself)."""
        caught = catches(self.errors, self.failure, step)
        if self.park is None:
            return caught
        self.resume_points[step] = resume or step
        parked = {"ErrorEquals": list(PARKED_ERRORS), "ResultPath": caught_at(step), "Next": self.park}
        return [caught[0], parked, caught[1]]

    def task(
        self,
        name: str,
        comment: str,
        resource: str,
        parameters: State,
        *,
        timeout: int,
        result: str,
        queued: bool = False,
        best_effort: bool = False,
        selector: State | None = None,
        in_use: bool = False,
    ) -> None:
        """A Lambda task with the standard retries and catches.

        A `best_effort` task (cleanup) goes on to the next state whatever happens: a cleanup error must not
        replace the run's own outcome, so it is kept in `$.cleanupError.<name>`, which the summary reports.
        """
        state = task_state(
            comment,
            resource,
            parameters,
            timeout=timeout,
            result=result,
            queued=queued,
            selector=selector,
            in_use=in_use,
        )
        if best_effort:
            state["Next"] = None
            state["Catch"] = [
                {"ErrorEquals": ["States.ALL"], "ResultPath": f"$.cleanupError.{name}", "Next": None}
            ]
        else:
            state["Catch"] = self._catches(name)
            state["Next"] = None
        self.add({name: state})

    def mark(self, field: str, comment: str = TIMING_COMMENT, **extra: str) -> None:
        """`Mark<Field>`: stores when the run got here (and `extra` paths) under `$.marks.<field>`."""
        state = {"Type": "Pass", "Comment": comment, "Parameters": params(at="$$.State.EnteredTime", **extra)}
        self.add(
            {f"Mark{field[0].upper()}{field[1:]}": {**state, "ResultPath": f"$.marks.{field}", "Next": None}}
        )

    def mark_endpoints(self, field: str) -> None:
        """`mark` once a cluster polls ready: the summary reports the endpoints that poll returned."""
        comment = "Keeps the endpoints and records the time."
        self.mark(field, comment, endpoint="$.poll.endpoint", readerEndpoint="$.poll.readerEndpoint")

    def start(self, name: str, comment: str, resource: str) -> None:
        """A workflow's first states: `resource` checks the whole execution input before any AWS call, its
        answer becoming the state, then the start is marked."""
        execution = params(input="$", executionName="$$.Execution.Name")
        self.task(name, comment, resource, execution, timeout=30, result="$")
        self.mark("started")

    def choice(self, name: str, comment: str, rules: list[State], default: str) -> None:
        self.add({name: {"Type": "Choice", "Comment": comment, "Choices": rules, "Default": default}})

    def if_true(self, name: str, comment: str, variable: str, then: str, otherwise: str) -> None:
        self.choice(name, comment, [{"Variable": variable, "BooleanEquals": True, "Next": then}], otherwise)

    def fail(self, name: str, error_path: str, cause_path: str) -> None:
        self.add({name: {"Type": "Fail", "ErrorPath": error_path, "CausePath": cause_path}})

    def iteration_failure(
        self, record: str, fail: str, account: str, parked: tuple[str, str] | None = None
    ) -> None:
        """The failure of a Map iteration: `record` wraps the caught `$.failure` with the iteration's `account`,
        and `fail` fails the iteration with the error TARGET_FAILED and that record as JSON, which the run's
        failure summary unwraps (so a step's error keeps its own name there, and a States.* error is never
        raised again under its reserved name: https://states-language.net/spec.html#error-names)."""
        wrapped: State = {
            "Type": "Pass",
            "Comment": "Keeps the target account with the caught error.",
            "Parameters": params(accountId=account, failure="$.failure"),
            "ResultPath": "$.failure",
            "Next": None,
        }
        self.add({record: wrapped})
        self.add(
            {fail: {"Type": "Fail", "Error": TARGET_FAILED, "CausePath": "States.JsonToString($.failure)"}}
        )
        if parked is not None:
            # The same for a transient error, failing with TARGET_PARKED: the Map's Catch then parks the run.
            park_record, park_fail = parked
            comment = "Keeps the target account with the transient error."
            self.add({park_record: {**wrapped, "Comment": comment, "Next": park_fail}})
            self.add(
                {
                    park_fail: {
                        "Type": "Fail",
                        "Error": TARGET_PARKED,
                        "CausePath": "States.JsonToString($.failure)",
                    }
                }
            )

    def cleanup(
        self, name: str, comment: str, resource: str, parameters: State, *, in_use: bool = False
    ) -> None:
        """A run's cleanup before it succeeds: its failure fails the run (through `failure`), so that nothing the
        cleanup could not withdraw is left shared by a run that reports success; kept in `$.cleanup`. `in_use`:
        see `retries`."""
        self.task(
            name,
            comment,
            resource,
            parameters,
            timeout=CLEANUP_TIMEOUT_SECONDS,
            result="$.cleanup",
            in_use=in_use,
        )

    def summarize(self, name: str, comment: str, resource: str) -> None:
        """The successful end: the summary is the execution's output (no ResultPath)."""
        self.add(self._summary(name, summary_state(comment, resource, "succeeded"), {"End": True}))

    def _summary(self, name: str, state: State, then: State) -> dict[str, State]:
        """A summary task that, if it fails, still ends the run with a cause naming it: `<name>Unavailable`
        describes the error for SUMMARY_FAILED. A summary runs after cleanup, so nothing is left to undo."""
        unavailable = f"{name}Unavailable"
        state["Catch"] = [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.summaryError", "Next": unavailable}
        ]
        describe = f"States.Format('{name} could not summarise the run ({{}}): {{}}', $.summaryError.Error, "
        describe += "$.summaryError.Cause)"
        return {
            name: {**state, **then},
            unavailable: {
                "Type": "Pass",
                "Comment": f"Names {name} in the failure of a run whose summary could not be built.",
                "Parameters": {"cause.$": describe},
                "ResultPath": "$.summaryError",
                "Next": SUMMARY_FAILED,
            },
        }

    def failure_path(
        self,
        cleanup: str,
        comment: str,
        resource: str,
        parameters: State,
        *,
        describe: str,
        summarize: str,
        fail: str,
        in_use: bool = False,
    ) -> None:
        """Where `failure` leads: best-effort cleanup, a readable error and cause, then a Fail state with them.

        The caught error sits in `$.failure.<step>` (the Catch's ResultPath); the summary function turns it into
        `$.summary.error` and `.cause`, which the Fail state reports. The cleanup goes on whatever happens: its
        error must not replace the run's own, so it is kept in `$.cleanupError`, which the summary reports (and
        the run's end still starts the ended-run cleanup, README "Nothing left behind").
        """
        self.task(
            cleanup,
            comment,
            resource,
            parameters,
            timeout=CLEANUP_TIMEOUT_SECONDS,
            result="$.cleanup",
            best_effort=True,
            in_use=in_use,
        )
        readable = "Turns the caught error into a readable error and cause."
        state = summary_state(readable, summarize, "failed", "$.summary")
        self.add(self._summary(describe, state, {"Next": fail}))
        self.fail(fail, "$.summary.error", "$.summary.cause")
        self.add(
            {SUMMARY_FAILED: {"Type": "Fail", "Error": SUMMARY_FAILED, "CausePath": "$.summaryError.cause"}}
        )

    def map(
        self,
        name: str,
        comment: str,
        iterator: Flow,
        *,
        items: str,
        concurrency: int,
        selector: State,
        result: str,
    ) -> None:
        """An inline Map: `iterator` runs once per item, at most `concurrency` at a time; a failed iteration fails
        the Map, whose Catch then applies. https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html
        """
        body = iterator.build()
        state: State = {
            "Type": "Map",
            "Comment": comment,
            "ItemsPath": items,
            "MaxConcurrency": concurrency,
            "ItemSelector": selector,
            "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, **body},
            "ResultPath": result,
        }
        state["Catch"] = self._catches(name)
        self.add({name: {**state, "Next": None}})

    def _loop(self, key: str, noun: str, goal: str, check: State, delay: str) -> dict[str, State]:
        """Check<key> → Is<key>Ready → WaitFor<key> → Check<key>, bounded by options.maxPollAttempts.

        The check function returns the attempt it made, so the Choice can stop the loop: without the bound a
        resource stuck in some status would keep the run polling until the execution's own timeout.
        """
        exhausted = f"{key}WaitExhausted"
        return {
            f"Check{key}": {**check, "Next": f"Is{key}Ready"},
            f"Is{key}Ready": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.poll.ready", "BooleanEquals": True, "Next": None},
                    {
                        "Variable": "$.poll.attempt",
                        "NumericGreaterThanEqualsPath": MAX_ATTEMPTS,
                        "Next": exhausted,
                    },
                ],
                "Default": f"WaitFor{key}",
            },
            f"WaitFor{key}": {"Type": "Wait", "SecondsPath": delay, "Next": f"Check{key}"},
            exhausted: {
                "Type": "Pass",
                "Comment": f"The {noun} never {goal} in time.",
                "Parameters": {
                    "Error": "WaitLimitExceeded",
                    "Cause.$": f"States.Format('{noun} still {{}} after {{}} checks (options.maxPollAttempts)', "
                    "$.poll.status, $.poll.attempt)",
                },
                "ResultPath": caught_at(f"Check{key}"),
                # options.maxPollAttempts is the user's own bound: a wait that reaches it fails, never parks.
                "Next": self.failure,
            },
        }

    def poll_loop(self, key: str, noun: str, comment: str, resource: str, parameters: State) -> None:
        """A bounded loop polling `resource` every options.pollIntervalSeconds; leaves to the next state added.

        `parameters` say what to check; the loop adds the attempt counter the function increments.
        """
        check = task_state(
            comment,
            resource,
            {**parameters, "attempt.$": "$.poll.attempt"},
            timeout=POLL_TIMEOUT_SECONDS,
            result="$.poll",
        )
        check["Catch"] = self._catches(f"Check{key}", resume=f"Start{key}Wait")
        self.add(
            {
                f"Start{key}Wait": {
                    "Type": "Pass",
                    "Result": dict(POLL_START),
                    "ResultPath": "$.poll",
                    "Next": f"Check{key}",
                },
                **self._loop(key, noun, "got there", check, INTERVAL),
            }
        )

    def event_wait(
        self,
        key: str,
        noun: str,
        subject: State,
        *,
        poll: str,
        register: str,
        event: str | None = None,
        when: State | None = None,
    ) -> None:
        """Waits until the `subject` resource is available; leaves to the next state added.

        With options.waitStrategy "polling": the fixed-interval poll loop. Otherwise, when RDS announces the
        resource with `event` (only `when` that choice rule holds, if given), an `Await<key>` task registers its
        task token with `register` and pauses until the event router or the sweeper completes it; its timeout
        or missed heartbeats raise States.Timeout, caught into the same bounded poll loop. Without an event the
        loop polls adaptively: `poll` doubles its delay after each check.
        https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token
        """
        start, adaptive, waiting = f"Start{key}Wait", f"Start{key}AdaptiveWait", f"Await{key}"
        # Under "events", whatever is not sure to be announced is polled with back-off.
        backs_off = event is None or when is not None
        rules: list[State] = [
            {"Variable": "$.input.options.waitStrategy", "StringEquals": "polling", "Next": start}
        ]
        if event is not None and when is not None:
            rules.append({**when, "Next": waiting})
        states: dict[str, State] = {
            f"Choose{key}Wait": {
                "Type": "Choice",
                "Choices": rules,
                "Default": adaptive if backs_off else waiting,
            }
        }
        if event is not None:
            payload = {
                **params(taskToken="$$.Task.Token", runId="$.runId", intervalSeconds=INTERVAL),
                **subject,
            }
            states[waiting] = {
                **task_state(
                    f"Waits for {event} (the {noun} is available); the sweeper heartbeats it meanwhile.",
                    INVOKE_AND_WAIT,
                    {"FunctionName": sub(register), "Payload": payload},
                    timeout=EVENT_WAIT_SECONDS,
                    heartbeat=EVENT_HEARTBEAT_SECONDS,
                    result="$.poll",
                ),
                # States.Timeout first: the catch-all after it would otherwise take the timeout to the failure.
                "Catch": [
                    {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.eventWait", "Next": start},
                    *self._catches(waiting, resume=f"Choose{key}Wait"),
                ],
                "Next": None,
            }
        starts = {start: f"Polls the {noun} every options.pollIntervalSeconds."}
        if backs_off:
            back_off = "poll it with back-off from options.pollIntervalSeconds."
            starts[adaptive] = f"No RDS event announces the {noun}: {back_off}"
        for name, comment in starts.items():
            states[name] = {
                "Type": "Pass",
                "Comment": comment,
                "Result": {**POLL_START, "adaptive": name == adaptive},
                "ResultPath": "$.poll",
                "Next": f"Check{key}",
            }
        check = task_state(
            f"Describes the {noun} once.",
            poll,
            {
                **subject,
                **params(attempt="$.poll.attempt", intervalSeconds=INTERVAL, adaptive="$.poll.adaptive"),
            },
            timeout=POLL_TIMEOUT_SECONDS,
            result="$.poll",
        )
        check["Catch"] = self._catches(f"Check{key}", resume=f"Choose{key}Wait")
        # The poll function computes the delay: the interval itself, or doubled per attempt when adaptive.
        self.add({**states, **self._loop(key, noun, "became available", check, "$.poll.nextDelaySeconds")})
