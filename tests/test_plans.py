"""Kept plans (gradcheck._plans): a grading worker runs a passing check's examples again, with the same results."""

from __future__ import annotations

import pytest

from gradcheck import _plans, search
from gradcheck.engine import load_engine
from gradcheck.runner import run_checks
from gradcheck.settings import VALUE_SETS

CORRECT = "gradcheck.examples.numpy_engine:engine64"
OPS = ["matmul", "take"]


@pytest.fixture
def kept_plans():
    _plans.keep_plans(100)
    yield _plans
    _plans.keep_plans(None)


@pytest.fixture
def searches(monkeypatch):
    """Count the Hypothesis searches run (each round of each check is one)."""
    counted = {"rounds": 0}
    original = search._search_round

    def counting(run, flaky):
        counted["rounds"] += 1
        return original(run, flaky)

    monkeypatch.setattr(search, "_search_round", counting)
    return counted


def outcome(target, **options):
    report = run_checks(load_engine(target), ops=OPS, max_examples=12, seed=0, programs=8, **options)
    # Everything but the time taken and where the reproducers went.
    return [{key: value for key, value in result.to_dict().items() if key not in ("seconds", "stages")}
            for result in report.results]


def test_checks_with_kept_plans_report_what_checks_without_them_report(kept_plans, searches):
    planted = "tests/engines/take_overwrites_repeats.py"
    with_plans = [outcome(CORRECT), outcome(planted), outcome(CORRECT)]
    assert len(kept_plans._KEPT) == len(OPS) + 1  # every passing check of the first engine, programs too
    kept_plans.keep_plans(None)
    assert with_plans == [outcome(CORRECT), outcome(planted), outcome(CORRECT)]
    # The planted take failed on a kept example, searched from the start and shrank as always.
    take = next(result for result in with_plans[1] if result["check"] == "take")
    assert take["status"] == "failed" and take["failures"][0]["inputs"][0]["shape"] == [1]


def test_a_kept_plan_replaces_the_search_only_for_the_same_strategy(kept_plans, searches):
    outcome(CORRECT)
    first = searches["rounds"]
    assert first == len(OPS) + 1
    outcome(CORRECT)
    assert searches["rounds"] == first  # every check ran its kept examples, no search
    # Another seed, example count or dtype draws other examples: searched again.
    # (--max-examples is the ops' count: the programs keep theirs, and their plan.)
    for options, searched in (({"seed": 1}, len(OPS) + 1), ({"max_examples": 13}, len(OPS)), ({"programs": 9}, 1)):
        before = searches["rounds"]
        report = run_checks(load_engine(CORRECT), ops=OPS, **{"max_examples": 12, "seed": 0, "programs": 8, **options})
        assert searches["rounds"] == before + searched, options
        assert all(result.status == "passed" for result in report.results)
    before = searches["rounds"]
    run_checks(load_engine("gradcheck.examples.numpy_engine:engine32"), ops=OPS, max_examples=12, seed=0, programs=8)
    assert searches["rounds"] == before + len(OPS) + 1


def test_plans_are_off_unless_kept(searches):
    outcome(CORRECT)
    outcome(CORRECT)
    assert searches["rounds"] == 2 * (len(OPS) + 1)
    assert _plans.plan_key("op", "add") is None


# --- an isolated engine is handed a kept plan's examples a batch at a time ------------

ISOLATED_OPS = ["take", "tanh"]


def isolated_outcome(target, **options):
    from gradcheck.isolation import IsolatedEngine

    with IsolatedEngine(target, sandbox=False) as engine:
        report = run_checks(engine, ops=ISOLATED_OPS, max_examples=12, seed=0, programs=0, timeout=1.0, **options)
    return [{key: value for key, value in result.to_dict().items() if key not in ("seconds", "stages")}
            for result in report.results]


def test_an_isolated_engine_answers_a_kept_plan_in_batches_with_the_results_of_no_plan(kept_plans, monkeypatch):
    from gradcheck.isolation import IsolatedEngine

    batches = []
    original = IsolatedEngine.run_batch

    def counting(self, cases, repeats, timeout):
        outcomes = original(self, cases, repeats, timeout)
        batches.append((len(cases), len(outcomes)))
        return outcomes

    monkeypatch.setattr(IsolatedEngine, "run_batch", counting)
    # A mismatch found on a kept example; state kept between calls (each example's first
    # case run twice, as ever); a hang on a kept example, stopped by the time limit.
    engines = [CORRECT, "tests/engines/take_overwrites_repeats.py", "tests/engines/grads_never_reset.py",
               "tests/engines/tanh_hangs_on_three.py", CORRECT]
    with_plans = [isolated_outcome(target) for target in engines]
    # The second correct engine ran every kept example, a batch of search.PLAN_BATCH examples at a time.
    sizes = [min(search.PLAN_BATCH, 12 - start) * VALUE_SETS for start in range(0, 12, search.PLAN_BATCH)]
    replayed = batches[-2 * len(sizes):]
    assert [cases for cases, _ in replayed] == sizes * 2
    assert all(cases == answered for cases, answered in replayed)
    # The hang stopped its batch at the case that hung: no case after it was run.
    assert any(answered < cases for cases, answered in batches)
    kept_plans.keep_plans(None)
    batches.clear()
    assert with_plans == [isolated_outcome(target) for target in engines]
    assert not batches  # without plans, no batch
    statuses = [{result["check"]: result["status"] for result in outcome} for outcome in with_plans]
    assert statuses == [
        {"take": "passed", "tanh": "passed"}, {"take": "failed", "tanh": "passed"},
        {"take": "failed", "tanh": "failed"}, {"take": "passed", "tanh": "failed"},
        {"take": "passed", "tanh": "passed"},
    ]


def test_a_crash_in_a_batch_is_told_on_the_case_that_crashed_as_without_plans(kept_plans):
    """An engine that ends its process in the middle of a kept plan's batch: the answers the worker held
    (``gradcheck._worker``) are lost with it, the cases are run again one by one, and the crash is told on
    the case that did it (an axis of length 3), with the very results of a search without plans."""
    from gradcheck.isolation import IsolatedEngine

    def checked(target):
        with IsolatedEngine(target, sandbox=False) as engine:
            report = run_checks(engine, ops=["exp"], max_examples=30, seed=0, programs=0, timeout=5.0)
        return [{key: value for key, value in result.to_dict().items() if key not in ("seconds", "stages")}
                for result in report.results]

    crashing = "tests/engines/exp_exits_on_three.py"
    assert checked(CORRECT)[0]["status"] == "passed"  # exp's plan is kept
    with_plans = checked(crashing)
    kept_plans.keep_plans(None)
    assert with_plans == checked(crashing)
    failure = with_plans[0]["failure"]
    assert failure["category"] == "crash"
    assert any(3 in value["shape"] for value in failure["inputs"]), failure["inputs"]
