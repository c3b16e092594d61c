"""``check_function``: one custom function and its own gradient, checked against the truth (issue 8).

The functions live in ``tests/functions/``: NumPy layers with hand-written
VJPs (``layers.py``) and TensorFlow ones (``tf_layers.py``), each correct one
next to planted bugs. A correct function must pass in float32 and float64;
every planted bug must be caught in its category, on a small case. Searches
are short (30 examples): a planted bug shows within a few.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradcheck.assertions import GradientAssertionError
from gradcheck.cli import main
from gradcheck.errors import TargetError, UsageError
from gradcheck.function import (
    assert_function_gradients,
    check_function,
    load_function,
    parse_shapes,
)
from tests.functions import layers

pytest_plugins = ["pytester"]

FUNCTIONS = Path(__file__).resolve().parent / "functions"
LAYERS = FUNCTIONS / "layers.py"
TF_LAYERS = FUNCTIONS / "tf_layers.py"
FAST = 30


def layer(name: str) -> str:
    """Return the target of a function in ``layers.py``."""
    return f"{LAYERS}:{name}"


def one_paragraph(text: str) -> bool:
    return bool(text.strip()) and "\n" not in text.strip() and "Traceback" not in text


@pytest.fixture(scope="module")
def tf_layers():
    from gradcheck._tf import tensorflow

    tensorflow()  # quietly, before the module imports it
    from tests.functions import tf_layers

    return tf_layers


def resolve(module_name: str, name: str | None, tf_layers) -> object:
    if name is None:
        return None
    return getattr(tf_layers if module_name == "tf" else layers, name)


# --- correct functions: no false alarm ------------------------------------------------------

CORRECT = [
    pytest.param("np", "softplus", "softplus_vjp", "array", id="softplus"),
    pytest.param("np", "bias_add", "bias_add_vjp", "broadcast:2", id="bias_add-broadcast"),
    pytest.param("np", "batched_matmul", "batched_matmul_vjp", layers.matmul_stacks, id="batched_matmul"),
    pytest.param("np", "layernorm", "layernorm_vjp", layers.layernorm_shapes, id="layernorm"),
    pytest.param("np", "mse", "mse_vjp", "same:2", id="mse-loss"),
    pytest.param("tf", "softplus", None, "array", id="tf-custom_gradient"),
    pytest.param("tf", "gelu", "gelu_vjp", "array", id="tf-gelu-vjp"),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("module_name, fn, grad, shapes", CORRECT)
def test_a_correct_gradient_passes(module_name, fn, grad, shapes, dtype, tf_layers):
    report = check_function(
        resolve(module_name, fn, tf_layers), resolve(module_name, grad, tf_layers),
        shapes=shapes, dtype=dtype, max_examples=FAST,
    )
    result = report.results[0]
    assert report.ok, result.failure
    assert (result.kind, result.status, result.examples) == ("function", "passed", FAST)
    # The references were usable on (nearly) every case: the check checked something.
    assert result.oracle_disagreements <= FAST // 10, result.oracle_note


# --- planted bugs: caught, in their category, on a small case --------------------------------

PLANTED = [
    # module, fn, grad, shapes, category, what the minimal case shows
    pytest.param("np", "softplus", "softplus_vjp_sign", "array", "mismatch", "wrong sign", id="sign"),
    pytest.param("np", "bias_add", "bias_add_vjp_unsummed", "broadcast:2", "shape",
                 "not summed over the broadcast axes", id="broadcast-not-summed"),
    pytest.param("np", "batched_matmul", "batched_matmul_vjp_transpose_all", layers.matmul_stacks,
                 "mismatch", None, id="transpose-all-axes"),
    pytest.param("np", "rowsum", "rowsum_vjp", "nonscalar", "exception", "ValueError", id="raises-on-1d"),
    pytest.param("np", "bias_add", "bias_add_vjp_scribbles", "broadcast:2", "mutation", "cotangent",
                 id="writes-into-cotangent"),
    pytest.param("tf", "softplus_wrong_backward", None, "array", "mismatch", None, id="tf-custom_gradient"),
    pytest.param("tf", "gelu", "gelu_vjp_missing_term", "array", "mismatch", None, id="tf-vjp-missing-term"),
]


@pytest.mark.parametrize("module_name, fn, grad, shapes, category, shows", PLANTED)
def test_a_planted_bug_is_caught_on_a_small_case(module_name, fn, grad, shapes, category, shows, tf_layers):
    report = check_function(
        resolve(module_name, fn, tf_layers), resolve(module_name, grad, tf_layers),
        shapes=shapes, max_examples=FAST,
    )
    result = report.results[0]
    failures = {failure.category: failure for failure in result.failures}
    assert category in failures, [(f.category, f.message) for f in result.failures]
    failure = failures[category]
    sizes = [record.values.size for record in failure.inputs]
    assert sum(sizes) <= 16, [record.shape for record in failure.inputs]  # (2, 2, 2) twice at most
    if shows:
        assert shows in f"{failure.message} {failure.detail} {failure.diagnosis}"


def test_the_transpose_bug_shows_on_a_batch_of_square_matrices():
    """The founding case: right on one matrix, wrong on a batch; the minimal case is a square batch."""
    report = check_function(layers.batched_matmul, layers.batched_matmul_vjp_transpose_all,
                            shapes=layers.matmul_stacks, max_examples=FAST)
    mismatch = next(f for f in report.results[0].failures if f.category == "mismatch")
    a, b = (record.shape for record in mismatch.inputs)
    assert a[0] >= 2 and a[-1] == a[-2] == b[-1] == b[-2], (a, b)


def test_a_reference_fn_checks_the_forward_value():
    report = check_function(layers.softplus_forward_shifted, layers.softplus_vjp, shapes="array",
                            reference_fn=layers.softplus, max_examples=FAST)
    assert report.results[0].failure.category == "forward"
    assert "against softplus()" in report.notes[0]
    unchecked = check_function(layers.softplus_forward_shifted, layers.softplus_vjp, shapes="array",
                               max_examples=FAST)
    assert unchecked.ok and "forward values not checked" in unchecked.notes[0]


def _hangs_vjp(x, cotangent):
    import time

    time.sleep(5)
    return (cotangent,)


def _raises_vjp(x, cotangent):
    print("inside")
    raise ValueError("grad() of the engine")  # the user's words, never reworded


def _scribbles_vjp(x, cotangent):
    cotangent[...] = 0.0
    return (cotangent,)


def _two_vjp(x, cotangent):
    return cotangent, cotangent


def _doubles(x):
    return 2.0 * x


def _counting_vjp(x, cotangent, calls=[]):  # noqa: B006 - the state is the bug
    calls.append(None)
    return (2.0 * len(calls) * cotangent,)


def _string_output(x):
    return "not an array"


@pytest.mark.parametrize(
    "fn, grad_fn, category, message",
    [
        pytest.param(_doubles, _hangs_vjp, "timeout", "_hangs_vjp() did not return within 0.2 s", id="timeout"),
        pytest.param(_doubles, _raises_vjp, "exception", "_raises_vjp() raised ValueError", id="exception"),
        pytest.param(_doubles, _scribbles_vjp, "mutation",
                     "_scribbles_vjp() wrote into the array it was handed for the cotangent", id="mutation"),
        pytest.param(_doubles, _two_vjp, "shape", "_two_vjp() returned 2 gradient(s) for 1 input(s)", id="count"),
        pytest.param(_doubles, _counting_vjp, "nondeterministic",
                     "the same case, run twice on fresh variables, gave different answers: the gradient "
                     "w.r.t. x was 42.0 the first time and 44.0 the second, a difference of 2; summing the "
                     "entry's 2 term(s) in any order moves it by at most 3.02e-13; the function keeps state "
                     "from one call to the next (gradients not reset? a cache keyed on id()? a tape that "
                     "keeps growing?)", id="state"),
        pytest.param(_string_output, _two_vjp, "exception", "_string_output()'s output raised TypeError",
                     id="output"),
    ],
)
def test_messages_name_the_users_functions(fn, grad_fn, category, message):
    report = check_function(fn, grad_fn, shapes="array", max_examples=5, timeout=0.2)
    failures = {failure.category: failure for failure in report.results[0].failures}
    assert failures[category].message == message


def test_the_users_own_words_are_kept_and_what_it_printed_is_the_functions():
    report = check_function(_doubles, _raises_vjp, shapes="array", max_examples=5)
    detail = report.results[0].failure.detail
    assert "ValueError: grad() of the engine" in detail
    assert "--- the function printed ---\ninside" in detail


def test_the_same_seed_gives_the_same_minimal_case():
    def minimal(seed):
        report = check_function(layers.bias_add, layers.bias_add_vjp_unsummed, shapes="broadcast:2",
                                max_examples=FAST, seed=seed)
        return json.dumps(report.results[0].failure.to_dict(), sort_keys=True)

    assert minimal(3) == minimal(3)


def test_literal_shapes_and_per_array_domains():
    seen = []

    def scaled_log(x, y):
        seen.append((x.shape, y.shape, float(np.min(x)), float(np.min(y))))
        return np.log(x) * y

    def scaled_log_vjp(x, y, g):
        return g * y / x, np.sum(g * np.log(x), axis=0)  # y is broadcast over x's rows

    report = check_function(scaled_log, scaled_log_vjp, shapes=((2, 3), (3,)),
                            domain=[(0.5, 2.0), (-1.0, 1.0)], max_examples=FAST)
    assert report.ok, report.results[0].failure
    assert {(x, y) for x, y, _, _ in seen} == {((2, 3), (3,))}
    assert min(low for _, _, low, _ in seen) >= 0.5 - 0.01  # finite differences step just past the edge


# --- the assertion ---------------------------------------------------------------------------


def test_assert_function_gradients_returns_the_result_or_raises_with_the_panel():
    result = assert_function_gradients(layers.softplus, layers.softplus_vjp, shapes="array", max_examples=FAST)
    assert result.status == "passed"
    with pytest.raises(GradientAssertionError) as caught:
        assert_function_gradients(layers.softplus, layers.softplus_vjp_sign, shapes="array",
                                  max_examples=FAST)
    message = str(caught.value)
    assert isinstance(caught.value, AssertionError)
    assert message.startswith("softplus · mismatch: the gradient w.r.t. x differs from the reference")
    for part in ("inputs", "expected", "actual", "worst entry", "wrong sign", "replay"):
        assert part in message
    assert "Traceback" not in message and "Falsifying" not in message


def test_the_pytest_usage_is_a_plain_test(pytester):
    pytester.makepyfile(
        layers_under_test=(FUNCTIONS / "layers.py").read_text(encoding="utf-8"),
        test_layers="""
import gradcheck
from layers_under_test import softplus, softplus_vjp, softplus_vjp_sign


def test_softplus():
    gradcheck.assert_function_gradients(softplus, softplus_vjp, shapes="array", max_examples=20)


def test_softplus_sign():
    gradcheck.assert_function_gradients(softplus, softplus_vjp_sign, shapes="array", max_examples=20)
""",
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*GradientAssertionError: softplus · mismatch: the gradient w.r.t. x differs from the reference",
        "*inputs*x  ()  float64*",
        "*replay*gradcheck check-function layers_under_test:softplus*",
        "FAILED test_layers.py::test_softplus_sign - *",
    ])
    assert "Falsifying" not in result.stdout.str()


# --- arguments: one paragraph saying what to fix ----------------------------------------------


def _float32_square(x):
    return (x * x).astype(np.float32)


@pytest.mark.parametrize(
    "fn, grad, options, fragment",
    [
        pytest.param(layers.softplus, layers.softplus_vjp, {"shapes": "same:2"},
                     "softplus(x) takes 1 array(s), but the shapes give 2", id="count-vs-signature"),
        pytest.param(layers.softplus, layers.softplus_vjp, {"shapes": "(2, 3), (3,,)"},
                     "is neither a shape spec nor a literal", id="bad-literal"),
        pytest.param(layers.softplus, layers.softplus_vjp, {"shapes": "broadcast:0"},
                     "must be a whole number of arrays >= 1", id="bad-count"),
        pytest.param(layers.softplus, layers.softplus_vjp, {"shapes": "array", "domain": (2, 1)},
                     "is not a domain", id="bad-domain"),
        pytest.param(layers.bias_add, layers.bias_add_vjp, {"shapes": "broadcast:2", "domain": [(0, 1)] * 3},
                     "gives 3 domains but the shapes give 2 arrays", id="domain-count"),
        pytest.param(layers.softplus, layers.softplus_vjp, {"shapes": "array", "dtype": "float16"},
                     "dtype='float16' is not a dtype gradcheck checks", id="dtype"),
        pytest.param(layers.softplus, layers.softplus_vjp, {"shapes": "array", "max_examples": 0},
                     "max_examples=0", id="max-examples"),
        pytest.param(layers.softplus, None, {"shapes": "array"},
                     "did not return a tf.Tensor", id="tape-needs-tensorflow-code"),
        pytest.param(_float32_square, layers.softplus_vjp, {"shapes": "array"},
                     "returned float32 values for float64 inputs", id="forward-not-float64"),
        pytest.param(layers.softplus, 3, {"shapes": "array"}, "grad_fn=3 is not a function", id="grad-not-callable"),
        pytest.param(layers.softplus, layers.softplus_vjp, {"shapes": "array", "names": ["a", "b"]},
                     "names 2 arrays but the shapes give 1", id="names"),
    ],
)
def test_bad_arguments_are_a_usage_error_in_one_paragraph(fn, grad, options, fragment):
    with pytest.raises(UsageError) as caught:
        check_function(fn, grad, **{"max_examples": 5, **options})
    assert fragment in str(caught.value)
    assert one_paragraph(str(caught.value))


@pytest.mark.parametrize(
    "target, fragment",
    [
        pytest.param(str(LAYERS), "say which function of the file or module", id="no-name"),
        pytest.param(layer("softpls"), "has no attribute 'softpls'. Did you mean 'softplus'", id="typo"),
        pytest.param(layer("NOT_A_STRATEGY"), "is 3 (an int), not a function", id="not-callable"),
        pytest.param("no/such/file.py:f", "there is no file no/such/file.py", id="no-file"),
        pytest.param("no_such_module_xyz:f", "no module named 'no_such_module_xyz'", id="no-module"),
    ],
)
def test_a_target_that_does_not_load_says_why(target, fragment):
    with pytest.raises(TargetError) as caught:
        load_function(target)
    assert fragment in str(caught.value)
    assert one_paragraph(str(caught.value))


def test_shape_specs_know_their_counts_and_spelling():
    assert [parse_shapes(spec).count for spec in ("array", "matrix", "matmul", "same:3", "broadcast")] == [
        1, 1, 2, 3, 2]
    assert parse_shapes(((2, 3), (3,))).text == "(2, 3), (3,)"
    assert parse_shapes("(2, 3)").text == "(2, 3)"  # one shape: one array
    assert parse_shapes(layer("matmul_stacks")).count is None


# --- the command line --------------------------------------------------------------------------


def test_cli_exit_0_for_a_correct_gradient(tmp_path, capsys):
    status = main(["check-function", layer("bias_add"), "--grad", layer("bias_add_vjp"),
                   "--shapes", "broadcast:2", "--dtype", "float32", "--max-examples", str(FAST),
                   "--format", "json", "--report-dir", str(tmp_path)])
    assert status == 0, capsys.readouterr()
    data = json.loads((tmp_path / "gradcheck.json").read_text(encoding="utf-8"))
    assert data["summary"] == {"passed": 1, "failed": 0, "unsupported": 0}
    assert data["results"][0]["kind"] == "function" and data["dtype"] == "float32"


def test_cli_exit_1_writes_every_report_and_a_replay_that_replays(tmp_path, capsys):
    argv = ["check-function", layer("batched_matmul"), "--grad", layer("batched_matmul_vjp_transpose_all"),
            "--shapes", layer("matmul_stacks"), "--max-examples", str(FAST), "--seed", "2"]
    status = main([*argv, "--format", "text,json,html,junit,md", "--report-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 1
    assert "batched_matmul · " in out and "Traceback" not in out
    assert {path.name for path in tmp_path.iterdir()} == {
        "gradcheck.json", "gradcheck.html", "gradcheck.xml", "gradcheck.md", "repro_batched_matmul.py"}
    data = json.loads((tmp_path / "gradcheck.json").read_text(encoding="utf-8"))
    replay = data["results"][0]["replay"]
    assert replay.startswith("gradcheck check-function ") and "--seed 2" in replay
    assert "check-function" in (tmp_path / "gradcheck.md").read_text(encoding="utf-8")

    # The replay line is a command that finds the same minimal case again.
    again = tmp_path / "again"
    assert main([*shlex.split(replay)[1:], "--format", "json", "--report-dir", str(again)]) == 1
    replayed = json.loads((again / "gradcheck.json").read_text(encoding="utf-8"))
    assert replayed["results"][0]["failure"]["inputs"] == data["results"][0]["failure"]["inputs"]

    # `gradcheck report` re-renders the stored run, replay line included.
    capsys.readouterr()
    assert main(["report", str(tmp_path / "gradcheck.json")]) == 1
    assert "gradcheck check-function" in capsys.readouterr().out


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        pytest.param([layer("softpls"), "--shapes", "array"], "has no attribute 'softpls'", id="bad-target"),
        pytest.param([layer("softplus"), "--grad", str(LAYERS), "--shapes", "array"],
                     "Cannot load gradient", id="bad-grad-target"),
        pytest.param([layer("softplus"), "--shapes", "brodcast:2"], "Did you mean 'broadcast:2'?", id="bad-shapes"),
        pytest.param([layer("softplus"), "--shapes", layer("NOT_A_STRATEGY")],
                     "not a Hypothesis strategy", id="shapes-not-a-strategy"),
        pytest.param([layer("softplus"), "--shapes", "array", "--domain", "1,0"], "LOW < HIGH", id="bad-domain"),
        pytest.param([layer("softplus"), "--shapes", "array", "--domain", "-1,1"], "--domain=-1,1",
                     id="negative-domain-needs-equals"),
        pytest.param([layer("softplus")], "the following arguments are required: --shapes", id="no-shapes"),
        pytest.param([layer("softplus"), "--shapes", "array", "--max-examples", "0"], "--max-examples=0",
                     id="max-examples"),
    ],
)
def test_cli_exit_2_with_one_paragraph(arguments, fragment, capsys):
    try:
        status = main(["check-function", *arguments])
    except SystemExit as exit:  # argparse's own errors
        status = exit.code
    err = capsys.readouterr().err
    assert status == 2
    assert fragment in err and one_paragraph(err), err


def test_check_function_help_is_light():
    code = ("import sys; from gradcheck.cli import main\ntry:\n    main(['check-function', '--help'])\n"
            "except SystemExit:\n    pass\nprint(sorted(m for m in ('tensorflow', 'hypothesis', 'numpy') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--shapes SPEC" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


# --- the reproducer --------------------------------------------------------------------------------


def test_the_reproducer_fails_on_the_bug_and_passes_once_fixed(tmp_path, monkeypatch, capsys):
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(LAYERS, project / "mylayers.py")
    monkeypatch.chdir(project)
    status = main(["check-function", "mylayers.py:bias_add", "--grad", "mylayers.py:bias_add_vjp_unsummed",
                   "--shapes", "broadcast:2", "--max-examples", str(FAST), "--format", "json"])
    assert status == 1, capsys.readouterr()
    reproducer = project / "reports" / "repro_bias_add.py"

    def run_it() -> subprocess.CompletedProcess[str]:
        # From another folder: the relative targets must still lead to the functions.
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(reproducer)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        )

    before = run_it()
    assert before.returncode == 1, before.stdout + before.stderr
    assert "test_bias_add_shape" in before.stdout
    source = (project / "mylayers.py").read_text(encoding="utf-8")
    (project / "mylayers.py").write_text(
        source.replace("return _sum_to(2.0 * cotangent, x.shape), cotangent  #",
                       "return _sum_to(2.0 * cotangent, x.shape), _sum_to(cotangent, b.shape)  #"),
        encoding="utf-8",
    )
    after = run_it()
    assert after.returncode == 0, after.stdout + after.stderr
