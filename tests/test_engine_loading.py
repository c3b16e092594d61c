"""Loading engines: every target form of docs/contract.md, section 2, and one clear paragraph for every way it fails.

Fixture engines live in ``tests/targets/`` (good ones and deliberately broken
ones); the ``package.module`` forms use throwaway packages under ``tmp_path``.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import textwrap
import types
import uuid
from pathlib import Path

import numpy as np
import pytest

from gradcheck._tracebacks import MAX_MESSAGE_CHARS, describe_exception, is_user_file, user_frame
from gradcheck.engine import Engine, load_engine
from gradcheck.errors import TargetError

TARGETS = Path(__file__).parent / "targets"

# Small enough to write into a temporary package; correct for same-shape add.
TINY_ENGINE = """\
import numpy as np

def variable(array):
    return np.array(array, dtype=np.float64)

def value(x):
    return x

def grad(y, xs, cotangent):
    return [np.asarray(cotangent) for _ in xs]

def add(a, b):
    return a + b
"""


@pytest.fixture(autouse=True)
def in_targets(monkeypatch):
    """Run from tests/targets, so targets and messages use short relative paths."""
    monkeypatch.chdir(TARGETS)


def load_error(target) -> str:
    """Return the message of the TargetError loading ``target`` raises, checked to be one paragraph."""
    with pytest.raises(TargetError) as info:
        load_engine(target)
    message = str(info.value)
    assert "Traceback (most recent call last)" not in message
    assert "\n\n" not in message, "a message is one paragraph"
    assert 'File "' not in message, "no raw traceback frames"
    return message


# --- Good targets -----------------------------------------------------------

GOOD = [
    pytest.param("module_engine.py", "module_engine.py", ["add", "multiply", "exp"], {}, id="module-file"),
    pytest.param("module_engine", "module_engine", ["add", "multiply", "exp"], {}, id="module-by-dotted-name"),
    pytest.param("namespace_engine.py:ENGINE", "namespace engine", ["add"], {}, id="namespace-by-NAME"),
    pytest.param("namespace_engine.py", "namespace engine", ["add"], {}, id="namespace-found-without-NAME"),
    pytest.param("class_engine.py:engine", "class_engine.py:engine", ["multiply"], {}, id="instance-by-NAME"),
    pytest.param("class_engine.py:TinyEngine", "class_engine.py:TinyEngine", ["multiply"], {}, id="class-instantiated"),
    pytest.param("class_engine.py", "class_engine.py:engine", ["multiply"], {}, id="instance-preferred-to-its-class"),
    pytest.param(
        "alias_engine.py",
        "alias_engine.py",
        # power also answers for pow's tensor form (pow_tensor), found under the same alias.
        ["add", "multiply", "pow", "permute_dims", "pow_tensor"],
        {"multiply": "mul", "permute_dims": "transpose", "pow": "power", "pow_tensor": "power"},
        id="aliases",
    ),
    pytest.param(str(TARGETS / "module_engine.py"), "module_engine.py", ["add", "multiply", "exp"], {}, id="absolute-path"),
]


@pytest.mark.parametrize(("target", "name", "ops", "aliases"), GOOD)
def test_good_target_loads(target, name, ops, aliases):
    engine = load_engine(target)
    assert engine.target == target
    assert engine.name == name
    assert list(engine.ops) == ops
    assert engine.aliases == aliases
    assert engine.dtype == np.float64
    assert engine.grad_takes_cotangent


@pytest.mark.parametrize(
    ("target", "dtype"),
    [
        pytest.param("float32_declared.py", np.float32, id="declared"),
        pytest.param("float32_inferred.py", np.float32, id="inferred"),
        pytest.param("module_engine.py", np.float64, id="float64-inferred"),
    ],
)
def test_dtype(target, dtype):
    assert load_engine(target).dtype == np.dtype(dtype)


def test_path_relative_to_another_folder(monkeypatch):
    monkeypatch.chdir(TARGETS.parent.parent)
    assert load_engine("tests/targets/module_engine.py").supports("exp")


def test_loading_leaves_sys_path_as_it_was():
    before = list(sys.path)
    load_engine("module_engine.py")
    load_error("raises_on_import.py")
    load_error("gradcheck_no_such_package.engine")
    assert sys.path == before


def test_same_file_name_in_two_folders_gives_two_engines(tmp_path):
    for folder, op in [("a", "exp"), ("b", "log")]:
        (tmp_path / folder).mkdir()
        source = TINY_ENGINE.replace("def add(a, b):", f"def {op}(a, b):")
        (tmp_path / folder / "engine.py").write_text(source)
    first, second = load_engine(str(tmp_path / "a" / "engine.py")), load_engine(str(tmp_path / "b" / "engine.py"))
    assert (list(first.ops), list(second.ops)) == (["exp"], ["log"])


# --- The adapter: what the runner calls ----------------------------------------------


def test_grad_passes_the_cotangent_and_returns_a_list():
    engine = load_engine("module_engine.py")
    x = engine.variable(np.array([1.0, 2.0]))
    y = engine.ops["multiply"](x, x)
    (gradient,) = engine.grad(y, [x], np.array([1.0, 10.0]))
    np.testing.assert_allclose(gradient, [2.0, 40.0])
    np.testing.assert_allclose(engine.value(y), [1.0, 4.0])


def test_grad_tuple_becomes_a_list():
    engine = load_engine("class_engine.py")
    x = engine.variable(np.array([3.0]))
    result = engine.grad(engine.ops["multiply"](x, x), [x], np.ones(1))
    assert isinstance(result, list)
    np.testing.assert_allclose(result[0], [6.0])


def test_grad_without_cotangent_implies_ones_and_wraps_a_bare_array():
    engine = load_engine("no_cotangent.py")
    assert not engine.grad_takes_cotangent
    x = engine.variable(np.array([0.0, 1.0]))
    result = engine.grad(engine.ops["exp"](x), [x], np.full(2, 7.0))  # the 7s are ignored
    assert isinstance(result, list) and len(result) == 1
    np.testing.assert_allclose(result[0], np.exp([0.0, 1.0]))


def test_supports_takes_canonical_names_and_aliases():
    engine = load_engine("alias_engine.py")
    assert engine.supports("multiply") and engine.supports("mul") and engine.supports("power")
    assert not engine.supports("matmul")


class FakeTensor:
    """Stands in for tf.Tensor: np.asarray would not give its values, .numpy() does."""

    def __init__(self, values):
        self._values = values

    def numpy(self):
        return np.array(self._values, dtype=np.float32)


@pytest.mark.parametrize(
    ("forward", "expected_dtype"),
    [
        pytest.param(lambda x: x, np.float64, id="ndarray"),
        pytest.param(lambda x: x.tolist(), np.float64, id="list"),
        pytest.param(lambda x: FakeTensor(x), np.float32, id="tensor-with-numpy-method"),
    ],
)
def test_value_converts_to_ndarray(forward, expected_dtype):
    engine = load_engine(namespace(value=forward, dtype="float64"))
    result = engine.value(np.array([1.0, 2.0]))
    assert isinstance(result, np.ndarray) and result.dtype == expected_dtype
    np.testing.assert_array_equal(result, [1.0, 2.0])


def test_value_and_grad_do_not_catch_engine_errors():
    def broken(*args):
        raise ArithmeticError("planted")

    engine = load_engine(namespace(value=broken, grad=broken, dtype="float64"))
    with pytest.raises(ArithmeticError):
        engine.value(None)
    with pytest.raises(ArithmeticError):
        engine.grad(None, [None], np.ones(1))


# --- Objects instead of strings ------------------------------------------------------


def namespace(**overrides) -> types.SimpleNamespace:
    """Return a minimal valid engine object, with ``overrides`` replacing or adding attributes."""
    attributes = {
        "variable": lambda array: np.asarray(array),
        "value": lambda x: x,
        "grad": lambda y, xs, cotangent: [cotangent for _ in xs],
        "add": lambda a, b: a + b,
    }
    attributes.update(overrides)
    return types.SimpleNamespace(**attributes)


class ObjectEngine:
    def variable(self, array):
        return array

    def value(self, x):
        return x

    def grad(self, y, xs):
        return [np.ones_like(x) for x in xs]

    def negative(self, x):
        return -x


def module_object() -> types.ModuleType:
    module = types.ModuleType("user_engine_module")
    exec(TINY_ENGINE, module.__dict__)
    return module


@pytest.mark.parametrize(
    ("make", "name", "target"),
    [
        pytest.param(lambda: namespace(), "SimpleNamespace", "<SimpleNamespace object>", id="namespace"),
        pytest.param(lambda: namespace(name="mine"), "mine", "<SimpleNamespace object>", id="namespace-with-name"),
        pytest.param(lambda: ObjectEngine(), "ObjectEngine", "<ObjectEngine object>", id="instance"),
        pytest.param(lambda: ObjectEngine, "ObjectEngine", "<class ObjectEngine>", id="class"),
        pytest.param(module_object, "user_engine_module", "<module user_engine_module>", id="module"),
    ],
)
def test_object_target(make, name, target):
    engine = load_engine(make())
    assert (engine.name, engine.target) == (name, target)
    assert engine.ops


def test_engine_and_path_targets():
    engine = load_engine(Path("module_engine.py"))
    assert load_engine(engine) is engine
    assert engine.target == "module_engine.py"


class FakeTfDType:
    """Stands in for tf.float32, which carries its NumPy type."""

    as_numpy_dtype = np.float32


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        pytest.param("float32", np.float32, id="str-float32"),
        pytest.param("float64", np.float64, id="str-float64"),
        pytest.param(np.float32, np.float32, id="numpy-type"),
        pytest.param(np.dtype("float64"), np.float64, id="numpy-dtype"),
        pytest.param(FakeTfDType(), np.float32, id="tf-dtype"),
    ],
)
def test_declared_dtype_forms(declared, expected):
    assert load_engine(namespace(dtype=declared)).dtype == np.dtype(expected)


@pytest.mark.parametrize(
    "declared",
    [
        pytest.param("float16", id="float16"),
        pytest.param("int32", id="int32"),
        pytest.param("single precision", id="not-a-dtype"),
        pytest.param(32, id="number"),
    ],
)
def test_bad_declared_dtype(declared):
    message = load_error(namespace(dtype=declared))
    assert repr(declared) in message
    assert '"float32" or "float64"' in message


@pytest.mark.parametrize(
    ("grad", "takes_cotangent"),
    [
        pytest.param(lambda y, xs, cotangent: xs, True, id="three-parameters"),
        pytest.param(lambda y, xs, cotangent=None: xs, True, id="optional-cotangent"),
        pytest.param(lambda y, xs: xs, False, id="two-parameters"),
        pytest.param(lambda *args: args[1], True, id="star-args"),
        pytest.param(lambda y, xs, *, retain=False: xs, False, id="optional-keyword-only"),
        pytest.param(max, True, id="uninspectable"),
    ],
)
def test_grad_signature(grad, takes_cotangent):
    assert load_engine(namespace(grad=grad, dtype="float64")).grad_takes_cotangent is takes_cotangent


@pytest.mark.parametrize(
    ("grad", "expected"),
    [
        pytest.param(lambda y: y, "takes 1 positional parameter", id="one-parameter"),
        pytest.param(lambda y, xs, *, cotangent: xs, "keyword-only parameter(s) cotangent", id="keyword-only-cotangent"),
    ],
)
def test_bad_grad_signature(grad, expected):
    message = load_error(namespace(grad=grad, dtype="float64"))
    assert expected in message
    assert "grad(y, xs, cotangent) -> list of arrays" in message
    assert "test_engine_loading.py:" in message, "points at the lambda"


def raise_in_user_code(array):
    raise ValueError("no float64 here")


def test_dtype_inference_raising_names_the_user_line():
    message = load_error(namespace(variable=raise_in_user_code))
    line = inspect.getsourcelines(raise_in_user_code)[1] + 1
    assert "ValueError: no float64 here (at " in message
    assert f"test_engine_loading.py:{line}: raise ValueError" in message
    assert "value(variable(np.ones(2)))" in message


def test_dtype_inference_float16():
    message = load_error(namespace(variable=lambda array: np.asarray(array, dtype=np.float16)))
    assert "dtype float16" in message and "float32 and float64" in message


def test_module_with_helpers_and_one_engine_uses_the_engine():
    module = types.ModuleType("helpers_and_engine")
    module.value = lambda x: x  # a helper that happens to be called value
    module.Engine = Engine  # gradcheck's wrapper is never a candidate
    module.ENGINE = namespace()
    engine = load_engine(module)
    assert engine.obj is module.ENGINE and engine.name == "helpers_and_engine:ENGINE"


def test_missing_and_not_callable_in_one_message():
    broken = namespace(value=[1.0])
    del broken.grad
    message = load_error(broken)
    assert message.startswith("Cannot use engine <SimpleNamespace object>: the engine does not define grad.")
    assert "Its value is [1.0] (a list), not a function; make it one: value(x) -> array." in message


def test_class_that_needs_arguments_as_an_object():
    class NeedsArgument(ObjectEngine):
        def __init__(self, size):
            self.size = size

    message = load_error(NeedsArgument)
    assert "missing 1 required positional argument: 'size'" in message
    assert "pass an instance instead of the class" in message


# --- Bad targets: the message names the file, the line, and what to do ------------------

BAD = [
    pytest.param("nope.py", ["no file nope.py", str(TARGETS / "nope.py"), "Check the path"], id="file-missing"),
    pytest.param("module_engin.py", ["did you mean module_engine.py"], id="file-missing-typo"),
    pytest.param("./module_engine", ["did you mean module_engine.py?"], id="file-missing-suffix"),
    pytest.param("some_folder/", ["some_folder is a folder", "give some_folder/engine.py"], id="folder-with-engine-py"),
    pytest.param("some_folder", ["some_folder is a folder", "give some_folder/engine.py"], id="folder-as-module-name"),
    pytest.param(
        "bad_syntax.py",
        ["bad_syntax.py:6 has a syntax error: invalid syntax", "\n    def grad(y, xs cotangent):\n", "^", "Fix that line"],
        id="syntax-error",
    ),
    pytest.param(
        "raises_on_import.py",
        ["importing it raised KeyError: 'float32'", 'raises_on_import.py:6: SCALE = SCALES["float32"]', "Fix that error"],
        id="raises-on-import",
    ),
    pytest.param(
        "imports_broken_helper.py",
        [
            "RuntimeError: helper setup failed (at _broken_helper.py:5:",
            "reached from imports_broken_helper.py:4: import _broken_helper",
        ],
        id="raises-in-imported-sibling",
    ),
    pytest.param(
        "missing_import.py",
        ["missing_import.py:4 (import gradcheck_no_such_module", "imports 'gradcheck_no_such_module', which is not installed", "Install it"],
        id="imports-missing-module",
    ),
    pytest.param(
        "missing_grad.py",
        ["(missing_grad.py) does not define grad", "grad(y, xs, cotangent) -> list of arrays"],
        id="missing-grad",
    ),
    pytest.param(
        "value_not_callable.py",
        ["value (value_not_callable.py:5) is 3 (an int), not a function", "value(x) -> array"],
        id="value-not-callable",
    ),
    pytest.param(
        "bad_dtype.py", ["dtype (bad_dtype.py:5) is 'float16'", '"float32" or "float64"'], id="bad-dtype-attribute"
    ),
    pytest.param(
        "no_ops.py", ["(no_ops.py) defines none of the ops", "add, subtract, multiply", "mul for multiply"], id="no-ops"
    ),
    pytest.param(
        "several_engines.py",
        ["several engines: fast (several_engines.py:7), slow (several_engines.py:8)", "Pick one with several_engines.py:fast"],
        id="several-engines",
    ),
    pytest.param(
        "class_needs_args.py:NeedsConfig",
        ["NeedsConfig (class_needs_args.py:6) is a class", "TypeError", "'config'", "give class_needs_args.py:engine"],
        id="class-needs-arguments",
    ),
    pytest.param(
        "raises_in_value.py",
        ["AttributeError: 'Node' object has no attribute 'data' (at raises_in_value.py:7: return x.data)", "set dtype"],
        id="dtype-inference-raises",
    ),
    pytest.param("int_values.py", ["(int_values.py) returned an array of dtype int64", "float32 and float64"], id="int-engine"),
    pytest.param(
        "namespace_engine.py:ENGIN",
        ["no attribute 'ENGIN'", "Did you mean 'ENGINE'?", "namespace_engine.py:ENGINE"],
        id="NAME-missing",
    ),
    pytest.param(
        "namespace_engine.py:HELPER_CONSTANT",
        ["namespace_engine.py:HELPER_CONSTANT (namespace_engine.py:7) is 3 (an int), not an engine", "Engines in the module: ENGINE"],
        id="NAME-not-an-engine",
    ),
    pytest.param(
        "missing_grad.py:engine",
        ["no attribute 'engine'", "It holds no engine", "public names are: add, value, variable"],
        id="NAME-missing-no-engines",
    ),
    pytest.param("module_engine.py:", ["the part after ':' must name an attribute"], id="NAME-empty"),
    pytest.param(
        "gradcheck_no_such_package.engine",
        ["no module named 'gradcheck_no_such_package'", "run gradcheck from the folder that contains"],
        id="module-missing",
    ),
    pytest.param("json.nope", ["the package 'json'", "has no module 'nope'", "decoder"], id="submodule-missing"),
]


@pytest.mark.parametrize(("target", "expected"), BAD)
def test_bad_target_message(target, expected):
    message = load_error(target)
    assert message.startswith(f"Cannot load engine target {target!r}: ")
    for part in expected:
        assert part in message


def test_load_error_chains_the_original_exception():
    with pytest.raises(TargetError) as info:
        load_engine("raises_on_import.py")
    assert isinstance(info.value.__cause__, KeyError), "kept for a --debug traceback"


def test_failed_file_import_is_not_left_in_sys_modules():
    before = set(sys.modules)
    load_error("raises_on_import.py")
    assert not [name for name in set(sys.modules) - before if "raises_on_import" in name]


# --- package.module targets ----------------------------------------------------------


@pytest.fixture
def package(tmp_path, monkeypatch):
    """Return a function writing a uniquely named package into tmp_path; its modules are unloaded afterwards."""
    name = f"gcpkg_{uuid.uuid4().hex[:8]}"

    def write(files: dict[str, str]) -> str:
        root = tmp_path / name
        root.mkdir(exist_ok=True)
        (root / "__init__.py").write_text("")
        for file, source in files.items():
            (root / file).write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return name

    yield write
    for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        monkeypatch.delitem(sys.modules, module)


def test_module_target_found_from_the_current_folder(package, tmp_path, monkeypatch):
    name = package({"eng.py": TINY_ENGINE})
    monkeypatch.chdir(tmp_path)
    engine = load_engine(f"{name}.eng")
    assert (engine.name, list(engine.ops)) == (f"{name}.eng", ["add"])


def test_module_target_with_NAME_and_relative_import(package, tmp_path, monkeypatch):
    name = package({
        "tiny.py": TINY_ENGINE,
        "engines.py": """\
            from types import SimpleNamespace
            from . import tiny
            ENGINE = SimpleNamespace(variable=tiny.variable, value=tiny.value, grad=tiny.grad, add=tiny.add)
            """,
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    engine = load_engine(f"{name}.engines:ENGINE")
    assert engine.name == f"{name}.engines:ENGINE"
    assert engine.supports("add")


def test_module_target_missing_dependency_names_the_importing_line(package, tmp_path, monkeypatch):
    name = package({"eng.py": "import numpy\nimport gradcheck_missing_dependency\n"})
    monkeypatch.chdir(tmp_path)
    message = load_error(f"{name}.eng")
    assert f"{name}/eng.py:2 (import gradcheck_missing_dependency)" in message
    assert "imports 'gradcheck_missing_dependency', which is not installed" in message
    assert f"no module named '{name}" not in message, "the target itself was found"


def test_module_target_syntax_error(package, tmp_path, monkeypatch):
    name = package({"eng.py": "x = (1,\n"})
    monkeypatch.chdir(tmp_path)
    message = load_error(f"{name}.eng")
    assert f"{name}/eng.py:1 has a syntax error" in message


def test_module_target_submodule_missing(package, tmp_path, monkeypatch):
    name = package({"eng.py": TINY_ENGINE})
    monkeypatch.chdir(tmp_path)
    message = load_error(f"{name}.engine")
    assert f"the package '{name}'" in message and "has no module 'engine'" in message
    assert "Its modules are: eng" in message


def test_package_folder_given_as_a_path(package, tmp_path, monkeypatch):
    name = package({"eng.py": TINY_ENGINE})
    monkeypatch.chdir(tmp_path)
    message = load_error(f"{name}/")
    assert f"It is a package: give it as a module, {name}, or its file {name}/__init__.py" in message


# --- Pointing at the user's line ---------------------------------------------------


def fail_inside_numpy():
    return np.linalg.inv(np.ones((2, 3)))


def test_describe_exception_skips_library_frames():
    with pytest.raises(np.linalg.LinAlgError) as info:
        fail_inside_numpy()
    line = inspect.getsourcelines(fail_inside_numpy)[1] + 1
    description = describe_exception(info.value)
    assert description.startswith("LinAlgError: ")
    assert description.endswith(f"test_engine_loading.py:{line}: return np.linalg.inv(np.ones((2, 3))))")
    assert "_linalg.py" not in description


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(ValueError("bad\n   shape"), "ValueError: bad shape", id="multiline-message"),
        pytest.param(KeyError("k"), "KeyError: 'k'", id="no-traceback"),
        pytest.param(StopIteration(), "StopIteration", id="no-message"),
        pytest.param(ValueError("x" * 1000), "ValueError: " + "x" * (MAX_MESSAGE_CHARS - 1) + "…", id="long-message"),
    ],
)
def test_describe_exception_is_one_line(exc, expected):
    assert describe_exception(exc) == expected


def test_describe_syntax_error_points_at_its_own_line():
    with pytest.raises(SyntaxError) as info:
        compile("x = = 1\n", "user.py", "exec")
    assert describe_exception(info.value) == "SyntaxError: invalid syntax (at user.py:1: x = = 1)"


@pytest.mark.parametrize(
    ("filename", "is_user"),
    [
        pytest.param(__file__, True, id="this-test"),
        pytest.param(str(TARGETS / "_tiny.py"), True, id="fixture-engine"),
        pytest.param(np.__file__, False, id="numpy"),
        pytest.param(pytest.__file__, False, id="pytest"),
        pytest.param(importlib.__file__, False, id="stdlib"),
        pytest.param(inspect.getsourcefile(load_engine), False, id="gradcheck"),
        pytest.param("<frozen importlib._bootstrap>", False, id="frozen"),
        pytest.param("<string>", False, id="generated"),
    ],
)
def test_is_user_file(filename, is_user):
    assert is_user_file(filename) is is_user


def test_user_frame_in_file():
    with pytest.raises(TargetError) as info:
        load_engine("imports_broken_helper.py")
    cause = info.value.__cause__
    assert user_frame(cause).filename.endswith("_broken_helper.py")
    assert user_frame(cause, in_file=TARGETS / "imports_broken_helper.py").lineno == 4
