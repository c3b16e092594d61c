"""Shared by every test module: each test keeps its own failing examples, if any.

``gradcheck check`` stores failing examples under ``.gradcheck/examples`` of
the folder it runs in and replays them first on the next run
(``gradcheck._database``). Tests run it in the repository's folder, so here
each test gets a database folder of its own: no test replays another's
failures (nor a previous session's), and none is written in the repository.

Under pytest-xdist, the tests are scheduled a module at a time, and the tests
reading one shared search (``tests/shared_checks.py``) together.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _own_failure_database(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gradcheck.cli.DEFAULT_DATABASE", str(tmp_path_factory.mktemp("database") / "examples"))


#: The tests that read a search of ``tests/shared_checks.py``, by node id prefix.
SHARED_SEARCH_TESTS = (
    "tests/test_planted.py::test_planted_bug_is_caught[",
    "tests/test_diagnosis.py::test_recognizer_fires_on_the_minimal_case[",
    "tests/test_explain.py::test_forward_only_transpose_bug_is_forward_alone_with_the_sentence",
    "tests/test_explain.py::test_forward_bug_with_a_consistent_backward_is_told_so",
    "tests/test_explain.py::test_one_transpose_bug_is_one_failure_also_seen_as_shape_and_exception",
    "tests/test_explain.py::test_grouped_failures_in_every_format",
    "tests/test_runner.py::test_the_question_bug_is_found_on_a_small_stack",
    "tests/test_runner.py::test_the_question_bug_is_found_whatever_the_seed[0]",
)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # a pytest-xdist hook: unknown without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Under ``--dist loadscope`` (pyproject's addopts), add one unit of work: the shared searches' tests.

    ``loadscope`` sends each test module to one worker as a unit, so a
    module-scoped fixture (a grading run, a ``gradcheck check`` in a
    subprocess) is set up once, not once per worker; units start largest
    first. The tests of ``SHARED_SEARCH_TESTS`` are one more unit, across
    modules, so their searches run once. (pytest-xdist's ``xdist_group``
    marker would say this, but its ``loadgroup`` mode does not group under
    pytest 9, whose node ids it can no longer suffix.)
    """
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedSearchScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(SHARED_SEARCH_TESTS):
                return "shared searches"
            scope: str = super()._split_scope(nodeid)
            return scope

    return SharedSearchScheduling(config, log)
