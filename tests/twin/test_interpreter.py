"""moto's Step Functions interpreter as the twin adapts it: GetExecutionHistory pages as AWS documents, and
the twin's own follower reads the same events without the API."""

from __future__ import annotations

import pickle
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ferry_cli.twin.iam.authorizer import TWIN_ACCESS_KEY
from ferry_cli.twin.interpreter import HISTORY_PAGE_DEFAULT, execution, history_since
from tests.conftest import load_event, running_twin

pytestmark = pytest.mark.twin


def _ids(page: dict[str, Any]) -> list[int]:
    return [int(e["id"]) for e in page["events"]]


def test_execution_history_pages_forwards_and_backwards_as_documented() -> None:
    # Given a finished migration, whose history is longer than one default page
    with running_twin() as twin:
        arn = twin.wait(twin.start(load_event("migrate-cmk.json")))["executionArn"]
        sfn = twin.client("stepfunctions")
        total = len(twin.history(arn))

        # When the history is read with the default page, with pages of 10, and newest first
        default = sfn.get_execution_history(executionArn=arn)
        first = sfn.get_execution_history(executionArn=arn, maxResults=10)
        second = sfn.get_execution_history(executionArn=arn, maxResults=10, nextToken=first["nextToken"])
        newest = sfn.get_execution_history(executionArn=arn, maxResults=10, reverseOrder=True)
        older = sfn.get_execution_history(
            executionArn=arn, maxResults=10, reverseOrder=True, nextToken=newest["nextToken"]
        )
        last = sfn.get_execution_history(executionArn=arn, maxResults=1000)
        # (botocore checks the bound too; a client without validation reaches the twin, which refuses as AWS does)
        unchecked = boto3.client(
            "stepfunctions",
            region_name=twin.world.region,
            aws_access_key_id=TWIN_ACCESS_KEY,
            aws_secret_access_key="twin",
            config=Config(parameter_validation=False),
        )
        with pytest.raises(ClientError) as too_many:
            unchecked.get_execution_history(executionArn=arn, maxResults=1001)
        followed = history_since(execution(twin.world.orchestrator_account_id, twin.world.region, arn), 200)
        through_api = twin.history(arn)[200:]

    # Then a page holds at most maxResults events (default 100), nextToken continues where it stopped, and
    # reverseOrder starts at the newest
    assert total > HISTORY_PAGE_DEFAULT
    assert _ids(default) == list(range(1, HISTORY_PAGE_DEFAULT + 1)) and "nextToken" in default
    assert _ids(first) + _ids(second) == list(range(1, 21))
    assert _ids(newest) + _ids(older) == list(range(total, total - 20, -1))
    assert len(_ids(last)) == total and "nextToken" not in last
    assert too_many.value.response["Error"]["Code"] == "ValidationException"
    # And the follower's events are the API's, field for field
    assert followed == through_api


def test_a_parsed_definition_is_kept_between_processes_and_a_damaged_copy_is_parsed_again(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    from ferry_cli.twin.interpreter import _LazyTree, _stored_parse

    # Given an empty cache folder and a small definition
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    definition = '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}'
    parses: list[str] = []

    def parse(text: str) -> Any:
        parses.append(text)
        return AmazonStateLanguageParser.parse(text)

    # When it is parsed, parsed again (a new process), and again after the stored copy was damaged
    _, first_tree = _stored_parse(parse, definition)
    pickled, second_tree = _stored_parse(parse, definition)
    (stored,) = (tmp_path / "aurora-ferry" / "twin").glob("asl-*.pickle")
    stored.write_bytes(b"not a pickle")
    _, third_tree = _stored_parse(parse, definition)

    # Then the second came from the folder (its tree is parsed only when read), the damaged one was parsed
    assert len(parses) == 2
    assert type(pickle.loads(pickled)).__name__ == "Program"
    assert isinstance(second_tree, _LazyTree) and not isinstance(third_tree, _LazyTree)
    assert second_tree.getText() == first_tree.getText()
    assert len(parses) == 3


def test_an_execution_that_timed_out_keeps_its_outcome_and_records_nothing_after_it() -> None:
    import threading
    from types import SimpleNamespace

    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramRunning, ProgramTimedOut

    from ferry_cli.twin.interpreter import _ended_stays_ended

    def running() -> Any:
        # Only what timing out, failing and recording touch of moto's environment.
        env = Environment.__new__(Environment)
        env._state_mutex, env._program_state, env._frames = threading.RLock(), ProgramRunning(), []
        env.program_state_event, env.event_manager = threading.Event(), EventManager()
        return env

    context = SimpleNamespace(source_event_id=0, last_published_event_id=0)
    failure = {"error": "Exception", "cause": "pop from empty list"}
    with _ended_stays_ended():
        # Given an execution that timed out while a state was still in flight
        env = running()
        env.set_timed_out()
        # When that state then fails and records what it did
        env.set_error(failure)
        env.event_manager.add_event(context, HistoryEventType.LambdaFunctionFailed)
        env.event_manager.add_event(context, HistoryEventType.ExecutionTimedOut)
    # Then the execution stays timed out and its history ends with the timeout alone, as in AWS
    assert isinstance(env._program_state, ProgramTimedOut)
    assert [e["type"] for e in env.event_manager._history_event_list] == [HistoryEventType.ExecutionTimedOut]
    # (moto alone lets the failure replace the outcome)
    unpatched = running()
    unpatched.set_timed_out()
    unpatched.set_error(failure)
    assert not isinstance(unpatched._program_state, ProgramTimedOut)
