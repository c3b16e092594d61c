"""``gradcheck grade`` against submissions that attack the grader and the other students.

Each attack below was found against an earlier grader: a forged report, a
daemon that rewrites the gradebook or holds the check's pipes, a folder
where a report file goes, a full disk, an interrupted run, a flood of
output, a folder that shadows ``gradcheck``, terminal escape sequences. Each
test asserts that the attack is blocked *and* that the honest submissions
graded in the same run (``correct``, ``negbug``, ``tanhbug`` of
``tests/test_grade.py``) keep exactly their scores.

The last test grades in the sandbox, as a teacher would: a submission
there cannot kill another process, replace another student's report, or
write to the gradebook or another student's source (its control, marked
slow, shows the same code doing all of it without the sandbox).

Most attacks share one grading run (``hostile``, built once per session as
in ``tests/test_grade.py``); an interrupted run and a full disk have runs of
their own. Every hostile submission is a small file written here.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gradcheck import sandbox
from gradcheck.cli import main
from tests.test_grade import REPO, SUBMISSIONS, _shared_folder, write_submissions

OPS = ("negative", "exp", "tanh")
# Without the sandbox: these are the grader's own defences, which must hold for
# `--no-sandbox` too. In the sandbox most of these attacks cannot even start (it
# sees no report folder and no other process): tests/test_sandbox.py.
GRADE_OPTIONS = ["--ops", ",".join(OPS), "--no-programs", "--max-examples", "3", "--timeout", "5",
                 "--memory-mb", "1024", "--no-sandbox"]
HONEST = {name: SUBMISSIONS[name] for name in ("correct.py", "negbug", "tanhbug")}
# negbug fails negative, tanhbug fails tanh: each loses one check of three.
HONEST_SCORES = {"correct": 1.0, "negbug": round(2 / 3, 4), "tanhbug": round(2 / 3, 4)}
# The runs of their own grade fewer honest submissions, to stay fast.
FEW_HONEST = {name: SUBMISSIONS[name] for name in ("correct.py", "negbug")}
ONE_HONEST = {name: SUBMISSIONS[name] for name in ("correct.py",)}
# Control characters that must never leave the grader (newline and tab may).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
FLOOD_MIB = 1024

_CORRECT = "from gradcheck.examples.numpy_engine import make_engine\n\nengine = make_engine()\n"

# Writes a valid report saying every check passed where the old grader read
# it back, then kills the check before it can write its own.
_FORGE = _CORRECT + """
import os, signal
from gradcheck.reports.json import write_json
from gradcheck.results import CheckResult, Report

folder = os.path.join({reports!r}, "forge")
os.makedirs(folder, exist_ok=True)
fake = Report(target="forge", seed=0, results=tuple(CheckResult(check=c, status="passed") for c in {ops!r}))
with open(os.path.join(folder, "gradcheck.json"), "w") as stream:
    write_json(fake, stream)
os.kill(os.getppid(), signal.SIGKILL)
os._exit(0)
"""

# A correct engine that leaves a setsid daemon behind: it holds the check's
# stdout and stderr open and keeps rewriting the gradebook.
_DAEMON = _CORRECT + """
import os, time

held = [os.open(f"/proc/{{os.getppid()}}/fd/{{fd}}", os.O_WRONLY) for fd in (1, 2)]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for fd in range(256):
            if fd not in held:
                try:
                    os.close(fd)
                except OSError:
                    pass
        with open({pidfile!r}, "w") as stream:
            stream.write(str(os.getpid()))
        end = time.time() + 300
        while time.time() < end:
            for name in ("gradebook.csv", "gradebook.json"):
                try:
                    with open(os.path.join({reports!r}, name), "w") as stream:
                        stream.write("PWNED\\n")
                except OSError:
                    pass
            time.sleep(0.2)
        os._exit(0)
    os._exit(0)
"""

# A correct engine that puts a folder where the grader writes its gradcheck.txt.
_DIRECTORY = _CORRECT + """
import os
os.makedirs(os.path.join({reports!r}, "dirblock", "gradcheck.txt", "keep"), exist_ok=True)
"""


# Shadows gradcheck for any check that runs with the submissions folder on its path.
_SHADOW = """
with open({marker!r}, "a") as stream:
    stream.write("imported\\n")
engine = None
raise SystemExit("a submission was imported as gradcheck")
"""

# negative's backward raises with escape sequences in the message; the import
# prints some too, then writes FLOOD_MIB MiB of them into the check's stderr.
_ESCAPES = """
import os, sys
import numpy as np
from gradcheck.examples.numpy_engine import make_engine, unary_op

print("\\x1b]0;owned\\x07\\x1b[2J")
sys.stderr.write("\\x1b[31m\\x9b2J\\r")
fd = os.open(f"/proc/{{os.getppid()}}/fd/2", os.O_WRONLY)
block = b"\\x1b[31m" + b"x" * (1 << 20)
for _ in range({mib}):
    os.write(fd, block)
os.close(fd)


def _backward(x, out):
    raise RuntimeError("\\x1b[31mred\\x1b]8;;http://x\\x1b\\\\link\\x1b[0m \\x07bell\\x9b1m done")


engine = make_engine(overrides={{"negative": unary_op("negative", np.negative, _backward)}})
"""
_ESCAPES_AT_LOAD = 'raise RuntimeError("\\x1b[2J\\x1b[31mbad\\x07 import\\x9b0m")\n'
ESCAPE_NAMES = {"esc": "esc\x1b[31m.py", "escload": "escload\x07.py"}


def _grade_hostile(folder: Path) -> None:
    reports = folder / "grades"
    submissions = folder / "submissions"
    submissions.mkdir()
    context = {"reports": str(reports), "ops": OPS, "pidfile": str(folder / "daemon.pid"),
               "mib": FLOOD_MIB, "marker": str(folder / "shadowed")}
    hostile = {
        "forge.py": _FORGE, "daemon.py": _DAEMON, "dirblock.py": _DIRECTORY,
        "gradcheck": {"__init__.py": _SHADOW}, ESCAPE_NAMES["esc"]: _ESCAPES,
        ESCAPE_NAMES["escload"]: _ESCAPES_AT_LOAD,
    }
    hostile = {name: ({k: v.format(**context) for k, v in text.items()} if isinstance(text, dict)
                      else text.format(**context)) for name, text in hostile.items()}
    paths = write_submissions(submissions, {**HONEST, **hostile})
    # The peak of the grader's own memory (VmHWM, in KiB). Not ru_maxrss: on Linux it also
    # keeps the peak of the process image before exec, here a forked copy of this pytest
    # process, TensorFlow and all, whatever the grader did.
    measure = ("import re, sys; from gradcheck.cli import main; code = main(sys.argv[1:]); "
               "peak = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1); "
               "print('MAXRSS', peak, file=sys.stderr); sys.exit(code)")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", measure, "grade", *(str(p.relative_to(folder)) for p in paths), "--workers", "4",
         *GRADE_OPTIONS, "--submission-timeout", "60", "--report-dir", "grades"],
        cwd=folder, capture_output=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    seconds = time.monotonic() - started
    finished_book = (reports / "gradebook.json").read_bytes()
    time.sleep(1.5)  # the daemon, were it alive, rewrites the gradebook every 0.2 s
    (folder / "run.json").write_text(json.dumps({
        "returncode": done.returncode, "seconds": seconds,
        "stdout": done.stdout.decode("utf-8", "replace"), "stderr": done.stderr.decode("utf-8", "replace"),
        "unchanged": (reports / "gradebook.json").read_bytes() == finished_book,
    }))


@pytest.fixture(scope="session")
def hostile(tmp_path_factory):
    folder = _shared_folder(tmp_path_factory, "grade-hostile", _grade_hostile)
    run = json.loads((folder / "run.json").read_text())
    assert run["returncode"] == 0, run["stderr"][-3000:]
    book = json.loads((folder / "grades" / "gradebook.json").read_text())
    return {**run, "folder": folder, "dir": folder / "grades", "book": book,
            "rows": {row["name"]: row for row in book["submissions"]}}


def assert_honest_scores(rows: dict, names=tuple(HONEST_SCORES)) -> None:
    for name in names:
        score = HONEST_SCORES[name]
        assert rows[name]["status"] == "graded", rows[name]["reason"]
        assert rows[name]["score"] == score, name


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --- runs of their own (first: they run while another worker builds the shared run) ---


def test_full_disk_for_one_submission_costs_only_that_row(tmp_path, monkeypatch):
    import gradcheck.reports

    # The filler's code is honest (negbug's): only the disk its files go to is full.
    paths = write_submissions(tmp_path, {**ONE_HONEST, "filler": SUBMISSIONS["negbug"]})
    grades = tmp_path / "grades"
    write = gradcheck.reports.write_atomically

    def full_for_filler(path, writer):
        # As if the filler's 1 GiB file had filled the disk while its own files are written.
        if grades / "filler" in Path(path).parents:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return write(path, writer)

    monkeypatch.setattr(gradcheck.reports, "write_atomically", full_for_filler)
    status = main(["grade", *map(str, paths), "--workers", "4", *GRADE_OPTIONS, "--report-dir", str(grades)])
    assert status == 0
    rows = {row["name"]: row for row in json.loads((grades / "gradebook.json").read_text())["submissions"]}
    assert rows["filler"]["status"] == "error" and "No space left on device" in rows["filler"]["reason"]
    assert_honest_scores(rows, ("correct",))


@pytest.mark.parametrize("number", [
    pytest.param(signal.SIGINT, id="SIGINT"),
    # The same path with another exit status: kept out of the quick run.
    pytest.param(signal.SIGTERM, id="SIGTERM", marks=pytest.mark.slow),
])
def test_interrupted_grading_writes_a_partial_gradebook(tmp_path, number):
    sleeper = "import time\ntime.sleep(120)\n"
    paths = write_submissions(tmp_path, {**FEW_HONEST, "sleeper.py": sleeper})
    grades = tmp_path / "grades"
    process = subprocess.Popen(
        [sys.executable, "-m", "gradcheck", "grade", *map(str, paths), "--workers", "4", *GRADE_OPTIONS,
         "--submission-timeout", "200", "--report-dir", str(grades)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        # Started with SIGINT ignored, as a parent may leave it (pytest-xdist's workers
        # do): grade takes SIGINT itself, so it stops all the same.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        # The gradebook is written as rows finish: wait for the honest ones.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                book = json.loads((grades / "gradebook.json").read_text())
            except (OSError, ValueError):
                book = {"submissions": []}
            if len(book["submissions"]) == len(FEW_HONEST):
                break
            time.sleep(0.2)
        process.send_signal(number)
        stopped = time.monotonic()
        try:
            _, errors = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            output, errors = process.communicate()
            book = (grades / "gradebook.json").read_text() if (grades / "gradebook.json").exists() else "none"
            pytest.fail(f"grade still ran 30 s after the signal; it printed:\n{output[-2000:]}\n"
                        f"{errors[-3000:]}\ngradebook: {book[-1000:]}")
    finally:
        process.kill()
    assert process.returncode == 128 + number, errors
    assert time.monotonic() - stopped < 15
    book = json.loads((grades / "gradebook.json").read_text())
    assert book["partial"] is True and book["not_graded"] == ["sleeper"]
    assert_honest_scores({row["name"]: row for row in book["submissions"]}, ("correct", "negbug"))
    assert "sleeper" in errors


# --- the shared run ----------------------------------------------------------------


def test_forged_report_file_is_ignored(hostile):
    row = hostile["rows"]["forge"]
    assert row["status"] == "error" and row["score"] == 0
    assert "SIGKILL" in row["reason"] and "without sending a complete report" in row["reason"]
    assert "json" not in row["reports"]  # the forged file is not linked
    assert_honest_scores(hostile["rows"])


def test_daemon_is_killed_and_cannot_rewrite_the_gradebook(hostile):
    assert hostile["unchanged"]
    assert "PWNED" not in (hostile["dir"] / "gradebook.csv").read_text()
    pid = int((hostile["folder"] / "daemon.pid").read_text())
    try:
        assert not _alive(pid)
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert_honest_scores(hostile["rows"])


def test_daemon_holding_the_pipes_does_not_hold_the_grader(hostile):
    # The daemon holds the check's stdout and stderr for 300 s; its row is
    # graded on time, not stopped at --submission-timeout=60.
    row = hostile["rows"]["daemon"]
    assert row["status"] == "graded" and row["score"] == 1.0
    assert row["seconds"] < 50 and hostile["seconds"] < 120
    assert_honest_scores(hostile["rows"])


def test_folder_where_a_report_goes_costs_only_that_row(hostile):
    row = hostile["rows"]["dirblock"]
    assert row["status"] == "error" and "could not be written" in row["reason"]
    assert set(hostile["rows"]) >= {"correct", "negbug", "tanhbug", "daemon", "esc_31m"}
    assert len(hostile["rows"]) == len(HONEST) + 6 and not hostile["book"]["partial"]
    assert_honest_scores(hostile["rows"])


def test_flood_of_output_is_not_kept(hostile):
    row = hostile["rows"]["esc_31m"]
    assert row["status"] == "graded" and row["score"] == HONEST_SCORES["negbug"]  # fails negative only
    (maxrss_kib,) = re.findall(r"MAXRSS (\d+)", hostile["stderr"])
    assert int(maxrss_kib) < FLOOD_MIB * 1024 // 2  # the grader never held half of it
    assert_honest_scores(hostile["rows"])


def test_submission_named_gradcheck_shadows_nothing(hostile):
    assert not (hostile["folder"] / "shadowed").exists()
    # The package submission is still imported by name, from the folder given explicitly.
    assert hostile["rows"]["tanhbug"]["target"] == "tanhbug.engine"
    assert_honest_scores(hostile["rows"])


def test_escape_sequences_reach_no_output(hostile):
    texts = {"stdout": hostile["stdout"], "stderr": hostile["stderr"],
             "gradebook.csv": (hostile["dir"] / "gradebook.csv").read_text(),
             "index.html": (hostile["dir"] / "index.html").read_text(),
             "gradebook.json": json.dumps(hostile["book"], ensure_ascii=False)}
    for row in hostile["rows"].values():
        for path in row["reports"].values():
            text = (hostile["dir"] / path).read_text()
            texts[path] = json.dumps(json.loads(text), ensure_ascii=False) if path.endswith(".json") else text
    assert {name: CONTROL.findall(text) for name, text in texts.items() if CONTROL.search(text)} == {}
    esc, escload = hostile["rows"]["esc_31m"], hostile["rows"]["escload"]
    assert esc["checks"]["negative"] == "failed" and "\x1b" not in esc["path"]
    assert "red" in (hostile["dir"] / esc["reports"]["text"]).read_text()
    assert escload["status"] == "error" and "bad import" in escload["reason"]
    with open(hostile["dir"] / "gradebook.csv", newline="", encoding="utf-8") as stream:
        assert {line["submission"] for line in csv.DictReader(stream)} == set(hostile["rows"])
    assert_honest_scores(hostile["rows"])


@pytest.mark.parametrize(("aliases", "accepted"), [
    pytest.param({"multiply": "mul"}, True, id="contract-alias"),
    pytest.param({}, True, id="no-alias"),
    pytest.param({"multiply": "mul(a, b) or __import__('os').system('id') #"}, False, id="code-as-alias"),
    pytest.param({"multiply": "neg"}, False, id="another-ops-alias"),
])
def test_a_report_naming_ops_by_forged_aliases_is_refused(aliases, accepted):
    """Reproducers call the engine by the report's aliases: only the contract's may stand there."""
    from gradcheck.grade import GradeOptions, _validated_report

    data = {"format_version": 1, "target": "engine.py", "seed": 0, "results": [],
            "engine_facts": {"aliases": aliases, "grad_takes_cotangent": True}}
    outcome = _validated_report(json.dumps(data), GradeOptions(ops=("multiply",)))
    if accepted:
        assert not isinstance(outcome, str), outcome
        assert outcome.engine_facts is not None and outcome.engine_facts.aliases == aliases
    else:
        assert isinstance(outcome, str) and "aliases" in outcome


# --- in the sandbox: attacks on the other students, from a grading run -------------------------

# At import, in its worker, the attacker kills a process of the grader's machine,
# replaces an honest student's HTML report, rewrites the gradebook and the honest
# engine's source, and looks for the victim in /proc. Each attack that works makes
# its `negative` answer off by one, so the attacker's own score says whether any did.
_ATTACKER = _CORRECT + """
import os, signal
import numpy as np
from gradcheck.examples.numpy_engine import make_engine, unary_op

worked = []


def attempt(name, attack):
    try:
        attack()
        worked.append(name)
    except OSError:
        pass


def kill():
    os.kill({victim}, signal.SIGKILL)


def see():
    if not os.path.exists("/proc/{victim}"):
        raise FileNotFoundError("/proc/{victim}")


def replace_report():
    forged = os.path.join({reports!r}, "forged.html")
    with open(forged, "w") as stream:
        stream.write("<p>PWNED</p>")
    os.replace(forged, os.path.join({reports!r}, "correct", "gradcheck.html"))


def write(path):
    def attack():
        with open(path, "a") as stream:
            stream.write("PWNED\\n")
    return attack


attempt("kill", kill)
attempt("see", see)
attempt("report", replace_report)
attempt("gradebook", write(os.path.join({reports!r}, "gradebook.csv")))
attempt("source", write({honest_source!r}))
print("worked:", ",".join(worked) or "nothing")


def _derivative(x, out):
    return -np.ones_like(x) - (1.0 if worked else 0.0)


engine = make_engine(overrides={{"negative": unary_op("negative", np.negative, _derivative)}})
"""


def _grade_with_attacker(folder: Path, sandboxed: bool) -> tuple[dict, str, Path]:
    """Grade ``correct`` then the attacker, one at a time; return the rows, grade's output and the folder."""
    submissions, reports = folder / "submissions", folder / "grades"
    submissions.mkdir()
    victim = subprocess.Popen(["sleep", "300"])
    try:
        paths = write_submissions(submissions, ONE_HONEST)
        honest_source = paths[0].read_text()
        paths += write_submissions(submissions, {"zattacker.py": _ATTACKER.format(
            victim=victim.pid, reports=str(reports), honest_source=str(paths[0]))})
        options = [option for option in GRADE_OPTIONS if option != "--no-sandbox"]
        options[options.index(",".join(OPS))] = "negative"
        done = subprocess.run(
            [sys.executable, "-m", "gradcheck", "grade", *map(str, paths), "--workers", "1", *options,
             *([] if sandboxed else ["--no-sandbox"]), "--report-dir", str(reports)],
            cwd=folder, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert done.returncode == 0, done.stderr[-3000:]
        victim_alive = victim.poll() is None
    finally:
        victim.kill()
        victim.wait()
    book = json.loads((reports / "gradebook.json").read_text())
    return ({"victim_alive": victim_alive, "source_unchanged": paths[0].read_text() == honest_source,
             "rows": {row["name"]: row for row in book["submissions"]}},
            done.stdout + done.stderr, reports)


@pytest.mark.skipif(sandbox.available() is not None, reason="bubblewrap is missing")
def test_in_the_sandbox_a_submission_cannot_touch_other_students_or_their_reports(tmp_path):
    seen, output, reports = _grade_with_attacker(tmp_path, sandboxed=True)
    rows = seen["rows"]
    # Its own code ran (it is graded, on its real answers) and every attack failed.
    assert rows["zattacker"]["status"] == "graded" and rows["zattacker"]["score"] == 1.0, rows["zattacker"]
    assert seen["victim_alive"] and seen["source_unchanged"]
    assert "PWNED" not in (reports / "correct" / "gradcheck.html").read_text()
    assert "PWNED" not in (reports / "gradebook.csv").read_text()
    assert rows["correct"]["score"] == 1.0


@pytest.mark.slow  # the control of the test above: ~10 s more, run by `make campaign`
def test_without_the_sandbox_the_same_attacker_reaches_them(tmp_path):
    seen, output, reports = _grade_with_attacker(tmp_path, sandboxed=False)
    attacker = json.loads((reports / "zattacker" / "gradcheck.json").read_text())
    assert [failure["category"] for failure in attacker["results"][0]["failures"]] == ["mismatch"]
    assert not seen["victim_alive"] and not seen["source_unchanged"]
    assert "PWNED" in (reports / "correct" / "gradcheck.html").read_text()
