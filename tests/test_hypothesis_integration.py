"""Hypothesis's habits (issue 19): a drawn seed, failing examples replayed first, its pytest options.

* ``--seed random`` (CLI), ``--gradcheck-seed random`` (pytest), ``seed="random"``
  (Python) draw one seed, print it, and record it where a fixed one goes.
* ``gradcheck._database``: a failing check's examples are stored and replayed
  first next time, scoped so that no other engine, op or option reads them;
  with nothing stored the seed alone decides the report; grading and
  ``--isolate`` store nothing.
* The pytest plugin's rule per Hypothesis setting (``--hypothesis-seed``, a
  profile's ``max_examples`` and ``database``), with a warning naming the
  option that wins.

Planted bug: ``tests/engines/mean_missing_1_over_n.py`` (mean's backward
forgets to divide by n). Searches are tiny (5 examples of one or two ops).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from gradcheck._database import FailureStore, open_store
from gradcheck.cli import main
from gradcheck.errors import UsageError
from gradcheck.settings import DEFAULT_SEED, SEED, CheckSettings, read_database_options

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
PLANTED_SOURCE = REPO / "tests" / "engines" / "mean_missing_1_over_n.py"
NUMPY = "gradcheck.examples.numpy_engine"
DRAWN = 4242
FAST = ("--gradcheck-ops", "sum,mean", "--gradcheck-max-examples", "5", "--gradcheck-programs", "0")


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> int:
    """Make every drawn seed :data:`DRAWN`, so a test can tell where it went."""
    monkeypatch.setattr("gradcheck.settings.secrets.randbelow", lambda bound: DRAWN)
    return DRAWN


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """Return the planted engine's file, copied to a folder of its own."""
    path = tmp_path / "engine.py"
    path.write_text(PLANTED_SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def fix(path: Path) -> None:
    """Rewrite the planted engine at ``path`` as the correct engine, under the same name."""
    source = path.read_text(encoding="utf-8").replace(", overrides={OP: mean}", "")
    assert "overrides" not in source
    path.write_text(source, encoding="utf-8")


def outcome(report) -> list[dict]:
    """Return what a report found, without the timings: status, counts and every failure, per check."""
    return [{key: value for key, value in result.to_dict().items() if key not in ("seconds", "stages")}
            for result in report.results]


def stored_values(folder: Path) -> list[Path]:
    """Return the stored examples of a database folder (Hypothesis's own index of keys left out)."""
    return [path for path in folder.rglob("*") if path.is_file() and path.name != ".gitignore"
            and path.parent.parent == folder and not _is_key_index(path)]


def _is_key_index(path: Path) -> bool:
    from hypothesis.database import DirectoryBasedExampleDatabase

    return path.parent.name == DirectoryBasedExampleDatabase(path.parent.parent)._metakeys_hash


# --- a drawn seed ------------------------------------------------------------------------------


def test_random_seed_is_drawn_as_a_number(drawn):
    assert SEED.parse("random") == drawn
    assert SEED.check("random") == drawn
    assert CheckSettings(seed="random").seed == drawn  # type: ignore[arg-type]
    assert CheckSettings().seed == DEFAULT_SEED


def test_a_drawn_seed_is_a_fresh_number_each_time():
    seeds = {SEED.parse("random") for _ in range(8)}
    assert all(isinstance(seed, int) and 0 <= seed < 2**32 for seed in seeds)
    assert len(seeds) > 1


def test_bad_seed_says_random_is_allowed():
    with pytest.raises(UsageError, match=r"--seed='often' is not a whole number or random; .*e\.g\. --seed 7"):
        SEED.parse("often")


def test_cli_prints_the_drawn_seed_and_reports_it(drawn, planted, tmp_path, capsys):
    status = main(["check", str(planted), "--in-process", "--ops", "mean", "--no-programs", "--max-examples", "5",
                   "--seed", "random", "--format", "json", "--report-dir", str(tmp_path / "out")])
    assert status == 1
    err = capsys.readouterr().err
    assert f"--seed random drew seed {drawn}; replay this search with --seed {drawn}" in err
    report = json.loads((tmp_path / "out" / "gradcheck.json").read_text(encoding="utf-8"))
    assert report["seed"] == drawn


def test_assert_gradients_names_a_drawn_seed_in_its_failure(drawn, planted):
    from gradcheck.assertions import GradientAssertionError, assert_gradients

    with pytest.raises(GradientAssertionError) as raised:
        assert_gradients(str(planted), "mean", max_examples=5, seed="random")
    assert raised.value.report.seed == drawn
    # The replay line, however the panel wraps it.
    assert f"--seed {drawn} --max-examples 5" in " ".join(str(raised.value).replace("│", " ").split())


# --- failing examples replayed first ------------------------------------------------------


def test_database_options():
    def options(**given):
        return lambda option: given.get(option.lstrip("-").replace("-", "_"))

    assert read_database_options(options(), default="d") == "d"
    assert read_database_options(options(database="x"), default=None) == "x"
    assert read_database_options(options(no_database=True), default="d") is None
    with pytest.raises(UsageError, match="--database='x' and --no-database contradict each other"):
        read_database_options(options(database="x", no_database=True), default="d")


def test_scopes_never_share_keys(tmp_path):
    base = open_store(str(tmp_path), "engine.py", "planted", "float64")
    assert open_store(None, "engine.py") is None
    scopes = [base.within("mean", 3), base.within("mean", 4), base.within("sum", 3),
              open_store(str(tmp_path), "other.py", "planted", "float64").within("mean", 3),
              base.within("mean", 3).within("round 1")]
    prefixes = {scope.hypothesis_database().__repr__() for scope in scopes}
    assert len(prefixes) == len(scopes)
    assert isinstance(base, FailureStore)


def test_a_failure_is_stored_and_replayed_first(planted, tmp_path):
    from gradcheck.runner import run_checks

    database = tmp_path / "examples"
    first = run_checks(str(planted), ops=["mean"], max_examples=5, programs=0, database=str(database))
    assert first.results[0].status == "failed"
    assert (database / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"
    assert stored_values(database)
    again = run_checks(str(planted), ops=["mean"], max_examples=5, programs=0, database=str(database))
    # The same minimal case, found without searching for it: fewer examples drawn.
    assert [result["failures"] for result in outcome(again)] == [result["failures"] for result in outcome(first)]
    assert again.results[0].examples < first.results[0].examples
    assert (first.results[0].stored_replayed, again.results[0].stored_replayed) == (0, 1)
    assert outcome(again)[0]["stored_replayed"] == 1


def test_a_fixed_engine_passes_and_forgets_the_failure(planted, tmp_path):
    from gradcheck.runner import run_checks

    database = tmp_path / "examples"
    run_checks(str(planted), ops=["mean"], max_examples=5, programs=0, database=str(database))
    fix(planted)
    fixed = run_checks(str(planted), ops=["mean"], max_examples=5, programs=0, database=str(database))
    assert fixed.results[0].status == "passed"
    assert fixed.results[0].stored_replayed == 1
    assert not stored_values(database)
    # Forgotten: from now on the seed alone decides, as without a database.
    again = run_checks(str(planted), ops=["mean"], max_examples=5, programs=0, database=str(database))
    assert outcome(again) == outcome(run_checks(str(planted), ops=["mean"], max_examples=5, programs=0))


@pytest.mark.parametrize("target", [pytest.param("planted", id="failing"), pytest.param(NUMPY, id="passing")])
def test_nothing_stored_same_seed_same_report(target, planted, tmp_path):
    """With an empty database, the seed alone decides: the report is the one without a database."""
    from gradcheck.runner import run_checks

    engine = str(planted) if target == "planted" else target
    database = tmp_path / "examples"
    stored = run_checks(engine, ops=["mean", "sum"], max_examples=5, programs=10, seed=3, database=str(database))
    unstored = run_checks(engine, ops=["mean", "sum"], max_examples=5, programs=10, seed=3)
    assert outcome(stored) == outcome(unstored)
    if target == "planted":  # the comparison can tell seeds apart: another seed searches otherwise
        assert outcome(run_checks(engine, ops=["mean"], max_examples=5, programs=0, seed=4))[0] != outcome(unstored)[0]
    # A passing engine leaves nothing behind, not even the folder.
    assert database.exists() == (target == "planted")


def test_another_engine_does_not_replay_a_stored_failure(planted, tmp_path):
    from gradcheck.runner import run_checks

    database = tmp_path / "examples"
    run_checks(str(planted), ops=["mean"], max_examples=5, programs=0, database=str(database))
    before = sorted(stored_values(database))
    other = run_checks(NUMPY, ops=["mean"], max_examples=5, programs=0, database=str(database))
    assert outcome(other) == outcome(run_checks(NUMPY, ops=["mean"], max_examples=5, programs=0))
    assert sorted(stored_values(database)) == before


@pytest.mark.parametrize(
    ("options", "kept"),
    [
        pytest.param(("--in-process",), True, id="check"),
        pytest.param(("--in-process", "--no-database"), False, id="no-database"),
        pytest.param(("--isolate", "--no-sandbox"), False, id="isolate"),
    ],
)
def test_cli_database_default(options, kept, planted, tmp_path, capsys):
    import gradcheck.cli

    status = main(["check", str(planted), *options, "--ops", "mean", "--no-programs", "--max-examples", "3",
                   "--format", "json", "--report-dir", str(tmp_path / "out")])
    assert status == 1, capsys.readouterr().err
    assert Path(gradcheck.cli.DEFAULT_DATABASE).exists() == kept


def test_cli_database_given_with_isolate(planted, tmp_path):
    database = tmp_path / "mine"
    status = main(["check", str(planted), "--isolate", "--no-sandbox", "--database", str(database), "--ops", "mean",
                   "--no-programs", "--max-examples", "3", "--format", "json", "--report-dir", str(tmp_path / "out")])
    assert status == 1
    assert stored_values(database)


def test_cli_database_contradiction(planted, capsys):
    assert main(["check", str(planted), "--database", "d", "--no-database"]) == 2
    assert "--database='d' and --no-database contradict each other" in capsys.readouterr().err


# --- the pytest plugin and Hypothesis's options ------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _imports_done_before_pytester():
    """Load every module a check imports before pytester runs (TensorFlow survives one import only)."""
    from gradcheck.assertions import check_report

    check_report(NUMPY, ["matmul", "programs"], CheckSettings(max_examples=2, programs=2))


@pytest.fixture(autouse=True)
def _hypothesis_state_restored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Restore what an inner run's Hypothesis plugin sets for the whole process: the profile, a forced seed."""
    from hypothesis import core, settings

    monkeypatch.setattr(core, "global_force_seed", core.global_force_seed)
    name = settings.get_current_profile_name()
    yield
    settings.load_profile(name)


def inner(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in ``pytester``'s folder on the planted engine, sum and mean, 5 examples each."""
    if not (pytester.path / "engine.py").exists():
        pytester.makepyfile(engine=PLANTED_SOURCE.read_text(encoding="utf-8"))
    # Hypothesis's own default profile unless a test names one: with CI set in
    # the environment (as on a CI runner) Hypothesis loads its "ci" profile, database=None.
    profile = [] if "--hypothesis-profile" in args else ["--hypothesis-profile", "default"]
    return pytester.runpytest("-p", "no:cacheprovider", "--gradcheck=engine.py", *FAST, *profile, *args)


def header(result: pytest.RunResult) -> str:
    return next(line for line in result.outlines if line.startswith("gradcheck: engine.py"))


def test_plugin_random_seed_printed_and_reported(drawn, pytester):
    result = inner(pytester, "--gradcheck-seed", "random", "--gradcheck-report-dir", "out")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        f"gradcheck: --gradcheck-seed random drew seed {drawn}; replay this run with --gradcheck-seed {drawn}",
        f"gradcheck: engine.py (engine *), seed {drawn}, *",
        f"engine.py: 1 passed, 1 failed, 0 unsupported (seed {drawn})",
    ])
    assert json.loads((pytester.path / "out" / "gradcheck.json").read_text(encoding="utf-8"))["seed"] == drawn


def test_plugin_hands_the_drawn_seed_to_xdist_workers(drawn, pytester):
    from types import SimpleNamespace

    from gradcheck.pytest_plugin import pytest_configure_node

    config = pytester.parseconfigure("--gradcheck-seed", "random")
    assert config.getoption("--gradcheck-seed") == str(drawn)  # marked tests read the option again
    node = SimpleNamespace(config=config, workerinput={})
    pytest_configure_node(node)
    assert node.workerinput == {"gradcheck_seed": drawn}


@pytest.mark.slow  # each xdist worker imports TensorFlow: about 40 s on a busy machine
def test_plugin_random_seed_is_one_for_all_xdist_workers(pytester):
    pytester.makepyfile(engine=PLANTED_SOURCE.read_text(encoding="utf-8"))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--gradcheck=engine.py", "--gradcheck-ops", "mean,sum", "--gradcheck-max-examples",
        "3", "--gradcheck-programs", "0", "--gradcheck-seed", "random", "-n", "2", "--gradcheck-report-dir", "out",
    )
    result.assert_outcomes(passed=1, failed=1)
    seed = json.loads((pytester.path / "out" / "gradcheck.json").read_text(encoding="utf-8"))["seed"]
    text = " ".join(result.stdout.str().replace("│", " ").split())
    assert f"drew seed {seed};" in text
    assert f"--seed {seed} --max-examples 3" in text  # the replay line the worker wrote


def test_plugin_replays_stored_failures_first(pytester):
    first = inner(pytester)
    first.assert_outcomes(passed=1, failed=1)
    assert "failing examples kept in .gradcheck/examples" in header(first)
    assert (pytester.path / ".gradcheck" / "examples" / ".gitignore").exists()
    again = inner(pytester)
    again.assert_outcomes(passed=1, failed=1)

    def panel_and_examples(result: pytest.RunResult) -> tuple[str, int]:
        text = result.stdout.str()
        panel = text.split("_ gradcheck[mean] _", 1)[1].split("- gradcheck -", 1)[0]
        examples = int(text.split("mean: failed, ", 1)[1].split(" examples", 1)[0])
        return panel.split("replay", 1)[0], examples

    (panel, examples), (panel_again, examples_again) = panel_and_examples(first), panel_and_examples(again)
    assert panel_again == panel
    assert examples_again < examples
    again.stdout.fnmatch_lines(["mean: failed, * examples in * s (1 of them failing examples stored by an earlier "
                                "run, replayed first)"])


def test_plugin_no_database(pytester):
    result = inner(pytester, "--gradcheck-no-database")
    result.assert_outcomes(passed=1, failed=1)
    assert "no failing example kept (--gradcheck-no-database)" in header(result)
    assert not (pytester.path / ".gradcheck").exists()


def test_plugin_takes_the_hypothesis_seed(pytester):
    result = inner(pytester, "--hypothesis-seed", "5")
    assert ", seed 5, " in header(result)
    assert "seed from --hypothesis-seed; no failing example kept (--hypothesis-seed turns Hypothesis's database off)" \
        in header(result)
    assert not (pytester.path / ".gradcheck").exists()


@pytest.mark.parametrize(
    ("args", "seed", "warning"),
    [
        pytest.param(("--gradcheck-seed", "3", "--hypothesis-seed", "5"), 3,
                     "--gradcheck-seed=3 and --hypothesis-seed=5 both set a seed; gradcheck's checks use "
                     "--gradcheck-seed (seed 3)", id="both"),
        pytest.param(("--hypothesis-seed", "abc"), 0,
                     "--hypothesis-seed='abc' is not a whole number of 0 or more", id="not-a-number"),
    ],
)
def test_plugin_seed_conflicts_warn(args, seed, warning, pytester):
    result = inner(pytester, *args)
    assert f", seed {seed}, " in header(result)
    assert warning in " ".join(result.stdout.str().split())


def test_plugin_takes_the_profiles_max_examples(pytester):
    pytester.makeconftest(
        "from hypothesis import settings\n"
        "settings.register_profile('quick', max_examples=3)\n"
    )
    result = inner(pytester, "--hypothesis-profile", "quick", "--gradcheck-max-examples", "2")
    assert ", 2 examples per op, " in header(result)
    assert ("--gradcheck-max-examples=2 and Hypothesis profile 'quick' (max_examples=3) both set how many "
            "examples are drawn; gradcheck's checks draw 2 per op (--gradcheck-max-examples wins)") \
        in " ".join(result.stdout.str().split())
    # Without the option the profile's count is drawn (FAST gives --gradcheck-max-examples: leave it out).
    result = pytester.runpytest("-p", "no:cacheprovider", "--gradcheck=engine.py", "--gradcheck-ops", "sum",
                                "--gradcheck-programs", "0", "--hypothesis-profile", "quick", "-rA")
    result.assert_outcomes(passed=1)
    assert ", 3 examples per op, " in header(result)
    assert "max_examples=3 from Hypothesis profile 'quick'" in header(result)
    result.stdout.fnmatch_lines(["sum: passed, 3 examples in *"])


def test_plugin_profile_without_database_keeps_none(pytester):
    result = inner(pytester, "--hypothesis-profile", "ci")
    result.assert_outcomes(passed=1, failed=1)
    assert "no failing example kept (Hypothesis profile 'ci' has database=None)" in header(result)
    assert not (pytester.path / ".gradcheck").exists()
    # Asked for, a folder is used all the same.
    result = inner(pytester, "--hypothesis-profile", "ci", "--gradcheck-database", "kept")
    assert "failing examples kept in kept" in header(result)
    assert (pytester.path / "kept" / ".gitignore").exists()
