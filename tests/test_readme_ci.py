"""The README's "Use in CI" and "Use in pytest" sections, run as written (issue 19).

Each test reads the commands out of README.md (the fenced ``yaml`` and ``sh``
blocks of its section) and runs them in a course-like project made in a
temporary folder: the engine at the path the README names, a ``tests/``
folder whose test fails (and leaves a file behind when it is even imported),
and a ``pyproject.toml`` whose ``testpaths`` name it. The current environment
stands in for ``pip install gradcheck``: its ``bin`` folder comes first on
``PATH``, and the install step itself is only read (it must install
gradcheck, and pytest-xdist exactly when a command runs with ``-n``).

Engines: one op, ``negative``, the course's correct rule (from
``gradcheck.examples.numpy_engine``) or ``tests/engines/negative_sign.py``'s,
whose backward passes the cotangent on without its minus sign; one op keeps
a check at the commands' defaults (100 examples, 200 programs) short. The
GitHub Actions job runs in ``bash -e`` as the runner does, on the planted
engine (the failure path, with every report); on the correct engine its
words go to ``gradcheck.cli.main``, which spares a second TensorFlow import.
The pytest commands run in this process (``pytester``), with
``PYTEST_ADDOPTS`` lowering the examples per op, the only setting changed.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gradcheck.assertions import CheckSettings, check_report

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
ENGINES = REPO / "tests" / "engines"

CORRECT_ENGINE = '''"""A student's engine: the course's rule for negative."""
from gradcheck.examples.numpy_engine import grad, negative, value, variable
'''
# tests/engines/negative_sign.py beside the engine, which takes its negative from there.
PLANTED_ENGINE = '''"""A student's engine whose negative forgets the minus sign in its backward."""
from gradcheck.examples.numpy_engine import grad, value, variable
from negative_sign import negative
'''
# The course's own test: it fails, and leaves a file behind if pytest so much as imports it.
COURSE_TEST = '''from pathlib import Path

Path(__file__).with_name("imported").touch()


def test_the_course_own_test():
    assert False, "the course's own test ran"
'''
COURSE_CONFIG = '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n'
# What the planted engine's failure report says, wherever it is shown.
PLANTED_FAILURE = "negative · mismatch"
FAST = "--gradcheck-max-examples=20 --gradcheck-programs=20"


# --- reading the README ---------------------------------------------------------------


def section(title: str) -> str:
    """Return the README's ``## title`` section, up to the next ``## `` heading."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def fenced(text: str, language: str) -> list[str]:
    """Return the contents of the code blocks of ``text`` opened with ```` ```language ````, in order."""
    blocks, lines, opened = [], [], None
    for line in text.splitlines():
        if opened is None and line.startswith("```"):
            opened, lines = line[3:].strip(), []
        elif opened is not None and line.strip() == "```":
            if opened == language:
                blocks.append("\n".join(lines) + "\n")
            opened = None
        elif opened is not None:
            lines.append(line)
    return blocks


def github_workflow() -> dict:
    """Return the GitHub Actions workflow of "Use in CI", parsed."""
    workflows = [yaml.safe_load(block) for block in fenced(section("Use in CI"), "yaml")]
    (workflow,) = [workflow for workflow in workflows if "jobs" in workflow]
    return workflow


def github_steps() -> list[dict]:
    (job,) = github_workflow()["jobs"].values()
    return job["steps"]


def gitlab_job() -> dict:
    """Return the GitLab CI job of "Use in CI", parsed."""
    jobs = [yaml.safe_load(block) for block in fenced(section("Use in CI"), "yaml")]
    (job,) = [job["gradcheck"] for job in jobs if "gradcheck" in job and "script" in job["gradcheck"]]
    return job


def workflow_path() -> str:
    """Return where the README says to save the workflow (``.github/workflows/....yml``)."""
    (path,) = set(re.findall(r"`(\.github/workflows/[\w.-]+\.ya?ml)`", section("Use in CI")))
    return path


def installed(command: str) -> list[str]:
    """Return what a ``pip install`` command installs (its arguments that are not options)."""
    words = shlex.split(command)
    return [word for word in words[words.index("install") + 1:] if not word.startswith("-")]


def runs_in_parallel(commands: list[str]) -> bool:
    """Whether a command hands pytest-xdist's ``-n`` (``-n 2``, ``-n2``, ``-nauto``, ``--numprocesses``)."""
    return any(re.fullmatch(r"-n\w*|--numprocesses(=.*)?", word)
               for command in commands for word in shlex.split(command))


def engine_path(command: str) -> str:
    """Return the engine a ``gradcheck check`` or ``pytest --gradcheck=`` command names."""
    words = shlex.split(command)
    for word in words:
        if word.startswith("--gradcheck="):
            return word.split("=", 1)[1]
    return words[words.index("check") + 1]


# --- the course's project -------------------------------------------------------------


def course_project(folder: Path, engine: str, planted: bool) -> Path:
    """Write a course's repository in ``folder``: the engine at ``engine``, a failing test, testpaths."""
    engine_file = folder / engine
    engine_file.parent.mkdir(parents=True, exist_ok=True)
    engine_file.write_text(PLANTED_ENGINE if planted else CORRECT_ENGINE, encoding="utf-8")
    if planted:
        (engine_file.parent / "negative_sign.py").write_text(
            (ENGINES / "negative_sign.py").read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "tests").mkdir(exist_ok=True)
    (folder / "tests" / "test_course.py").write_text(COURSE_TEST, encoding="utf-8")
    (folder / "pyproject.toml").write_text(COURSE_CONFIG, encoding="utf-8")
    return folder


def installed_environment(**extra: str) -> dict[str, str]:
    """Return the environment of a job step after ``pip install gradcheck``: this environment."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    # PYTHONPATH: this checkout's gradcheck, whichever one the environment has installed.
    return {**os.environ, "PATH": path, "PYTHONPATH": str(REPO), **extra}


@pytest.fixture(scope="module")
def _imports_done_before_pytester():
    """Load what a check imports before pytester runs: it restores ``sys.modules`` after each run,
    and TensorFlow does not survive being imported twice in one process."""
    check_report("gradcheck.examples.numpy_engine", ["negative", "programs"],
                 CheckSettings(max_examples=2, programs=2))


# --- "Use in CI": GitHub Actions ---------------------------------------------------------


def test_the_github_job_installs_gradcheck_with_a_pip_cache_that_any_repository_can_key(tmp_path):
    steps = github_steps()
    (setup,) = [step for step in steps if step.get("uses", "").startswith("actions/setup-python@")]
    assert setup["with"]["cache"] == "pip"
    commands = [step["run"] for step in steps if "run" in step]
    (install,) = [command for command in commands if "pip install" in command]
    packages = installed(install)
    assert "gradcheck" in packages
    assert ("pytest-xdist" in packages) == runs_in_parallel(commands), packages
    # The cache's key files exist in a repository that has nothing but the workflow (and an engine).
    (tmp_path / workflow_path()).parent.mkdir(parents=True)
    (tmp_path / workflow_path()).write_text(yaml.safe_dump(github_workflow()), encoding="utf-8")
    keys = setup["with"].get("cache-dependency-path", "").split()
    assert keys and all(glob.glob(str(tmp_path / key), recursive=True) for key in keys), keys


def github_check_step() -> dict:
    (step,) = [step for step in github_steps() if step.get("name") == "gradcheck"]
    return step


def test_the_github_job_as_written_fails_on_a_wrong_gradient_and_uploads_its_reports(tmp_path):
    """The gradcheck step and the ones after it, each in ``bash -e`` as the runner runs them."""
    steps, step = github_steps(), github_check_step()
    project = course_project(tmp_path / "course", engine_path(step["run"]), planted=True)
    summary = tmp_path / "step-summary.md"
    environment = installed_environment(GITHUB_STEP_SUMMARY=str(summary))

    done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=project, env=environment,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert PLANTED_FAILURE in done.stdout, done.stdout
    assert not (project / "tests" / "imported").exists(), "the repository's own tests were collected"

    # The steps that run `if: always()`: the summary, then the artifact's paths.
    later = steps[steps.index(step) + 1:]
    for command in [later_step["run"] for later_step in later if "run" in later_step]:
        subprocess.run(["bash", "-e", "-c", command], cwd=project, env=environment, check=True, timeout=60)
    assert PLANTED_FAILURE in summary.read_text(encoding="utf-8")
    (upload,) = [later_step for later_step in later if later_step.get("uses", "").startswith("actions/upload-artifact@")]
    uploaded = {file.name for path in upload["with"]["path"].split() for file in (project / path).rglob("*")}
    expected = {"gradcheck.html", "gradcheck.xml", "gradcheck.json", "gradcheck.md", "repro_negative.py"}
    assert expected <= uploaded, uploaded


def test_the_github_job_passes_a_correct_engine(tmp_path, monkeypatch, capsys):
    """The same command words on the correct engine, given to ``gradcheck.cli.main`` (the console script's function)."""
    from gradcheck.cli import main

    words = shlex.split(github_check_step()["run"])
    assert words[0] == "gradcheck"
    project = course_project(tmp_path / "course", engine_path(github_check_step()["run"]), planted=False)
    monkeypatch.chdir(project)
    status = main(words[1:])
    output = capsys.readouterr().out
    assert status == 0, output
    assert "0 failed" in output and "negative" in output, output
    assert not (project / "tests" / "imported").exists(), "the repository's own tests were collected"


# --- "Use in CI": GitLab CI, through pytest -------------------------------------------


def gitlab_pytest_command() -> str:
    script = gitlab_job()["script"]
    packages = installed(next(command for command in script if "pip install" in command))
    assert "gradcheck" in packages
    assert ("pytest-xdist" in packages) == runs_in_parallel(script), packages
    (command,) = [command for command in script if command.startswith("pytest ")]
    return command


@pytest.mark.usefixtures("_imports_done_before_pytester")
@pytest.mark.parametrize(("planted", "status"), [(False, 0), (True, 1)], ids=["correct", "planted-bug"])
def test_the_gitlab_job_runs_only_gradcheck_items_and_exits_with_their_verdict(
    pytester, monkeypatch, planted, status
):
    command = gitlab_pytest_command()
    project = course_project(pytester.path, engine_path(command), planted)
    monkeypatch.setenv("PYTEST_ADDOPTS", FAST)

    result = pytester.runpytest(*shlex.split(command)[1:])
    assert result.ret == status, result.stdout.str()
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == int(planted), outcomes
    assert not (project / "tests" / "imported").exists(), "the repository's own tests were collected"
    junit = (project / gitlab_job()["artifacts"]["reports"]["junit"]).read_text(encoding="utf-8")
    assert "gradcheck[negative]" in junit and "test_the_course_own_test" not in junit
    assert (PLANTED_FAILURE in junit) == planted
    for path in gitlab_job()["artifacts"]["paths"]:
        assert (project / path).exists(), path


# --- "Use in pytest" ---------------------------------------------------------------


def pytest_section_commands() -> tuple[list[str], list[str]]:
    """Return the commands of "Use in pytest" and the output lines it shows for them."""
    text = section("Use in pytest")
    commands = [line for block in fenced(text, "sh") for line in block.splitlines() if line.startswith("pytest ")]
    shown = [line for block in fenced(text, "") for line in block.splitlines() if "::gradcheck[" in line]
    return commands, shown


def test_the_pytest_section_shows_its_commands_and_their_output():
    commands, shown = pytest_section_commands()
    assert len(commands) >= 2 and shown


@pytest.mark.usefixtures("_imports_done_before_pytester")
def test_the_pytest_section_commands_run_as_written(pytester, monkeypatch):
    """matmul wrong, sum right, no mean: each op a test beside the user's own, as the README shows."""
    commands, shown = pytest_section_commands()
    engine = pytester.path / engine_path(commands[0])
    engine.parent.mkdir(parents=True)
    engine.write_text(
        '"""matmul with the question\'s bug (every axis transposed), sum right, no mean."""\n'
        "from gradcheck.examples.numpy_engine import grad, sum, value, variable\n"
        "from matmul_transpose_all_axes import matmul\n", encoding="utf-8")
    (engine.parent / "matmul_transpose_all_axes.py").write_text(
        (ENGINES / "matmul_transpose_all_axes.py").read_text(encoding="utf-8"), encoding="utf-8")
    pytester.makepyfile(test_own="def test_own():\n    pass\n")
    monkeypatch.setenv("PYTEST_ADDOPTS", FAST)
    monkeypatch.setenv("COLUMNS", "160")  # the skip reasons whole, as on a wide terminal

    for command in commands:
        words = shlex.split(command)
        result = pytester.runpytest(*words[1:])
        assert result.ret == 1, result.stdout.str()
        assert "FAILED student/engine.py::gradcheck[matmul]" in result.stdout.str(), result.stdout.str()
        outcomes = result.parseoutcomes()
        if any("::" in word for word in words):  # a node id: that test alone
            assert sum(outcomes.get(outcome, 0) for outcome in ("passed", "failed", "skipped")) == 1, outcomes
        else:  # gradcheck's tests next to the user's own
            assert outcomes["failed"] == 1 and outcomes["passed"] >= 2, outcomes  # matmul; sum and test_own
        if "-v" in words:
            # The lines the README shows, as pytest -v prints them (less the progress column);
            # "..." in a shown line stands for what it leaves out.
            printed = [re.sub(r"\s+\[\s*\d+%\]$", "", line).rstrip() for line in result.outlines]
            patterns = [re.escape(line.rstrip()).replace(re.escape("..."), ".*") for line in shown]
            missing = [line for line, pattern in zip(shown, patterns)
                       if not any(re.fullmatch(pattern, out) for out in printed)]
            assert missing == [], result.stdout.str()
            assert "test_own.py::test_own PASSED" in result.stdout.str()
