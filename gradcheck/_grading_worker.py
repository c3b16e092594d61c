"""The grading worker: one long-lived ``gradcheck check --isolate`` that checks submission after submission.

Started by ``gradcheck.grade`` as ``python -I -c BOOT PACKAGE_ROOT CONTROL_FD``
with stdin, stdout and stderr on ``/dev/null``. It imports TensorFlow and the
oracles once, says ``ready``, then serves requests on ``CONTROL_FD``, a Unix
``SOCK_SEQPACKET`` socket only the grader holds the other end of. Each request is one message:
JSON ``{"argv": [...], "nonce": ..., "pythonpath": ...}`` and, attached
(``SCM_RIGHTS``), the write ends of three pipes the grader made for that
submission: its stdout, its stderr and its report pipe. The worker points file
descriptors 1 and 2 at the first two, runs ``gradcheck.cli.main(argv +
["--report-fd", FD])`` exactly as a ``gradcheck check`` child would (reading
the nonce as that child reads it from stdin), closes the three pipes so that
the grader sees them end, and answers ``done STATUS``. An empty read (the
grader closed its end) ends the worker.

No student code runs here: the check's argv always carries ``--isolate``
(refused otherwise), so the engine is loaded, probed and run by
``gradcheck.isolation.IsolatedEngine`` in a sandboxed, NumPy-only engine
worker, one per check, as ``gradcheck check --isolate`` does. The grader
bounds each request by ``--submission-timeout``; past it, or if this process
dies, it kills this worker's process group and starts a fresh worker.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import sys
import traceback

# The largest request the grader sends (argv with --supported-params is the big part).
REQUEST_BYTES = 1 << 20
#: How many examples' references a grading worker keeps (a few submissions'
#: worth at the defaults; tens of megabytes at most).
KEPT_REFERENCES = 20_000
#: How many passing checks' examples it keeps (a few courses' worth of checks).
KEPT_PLANS = 500

# stdout, stderr, report: the pipes of one submission, in this order.
_PIPES = 3


def _warm_up() -> None:
    """Import what every check needs, once for all the submissions this worker will check."""
    from gradcheck._tf import tensorflow

    tensorflow()
    import gradcheck._plans
    import gradcheck.oracles
    import gradcheck.reports.json  # noqa: F401
    import gradcheck.runner  # noqa: F401

    # Every student gets the same seed, so the same cases: TensorFlow's and
    # finite differences' answers to one are the next student's too.
    gradcheck.oracles.keep_references(KEPT_REFERENCES)
    # ... and a check that passed for one draws the same examples for the
    # next: they are run again without Hypothesis drawing them (gradcheck._plans).
    gradcheck._plans.keep_plans(KEPT_PLANS)


def _same_pipe(fd: int, other: int) -> bool:
    """Return whether ``fd`` is still open on the pipe ``other`` is (not closed, nor reused for something else)."""
    try:
        mine, theirs = os.fstat(fd), os.fstat(other)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def check_one(argv: list[str], nonce: str, report_fd: int) -> int:
    """Run ``gradcheck check`` with ``argv`` in this process, its report sent on ``report_fd``; return its status.

    ``report_fd`` is closed on return, whether the check sent a report or not.
    """
    from gradcheck.cli import main

    if argv[:1] != ["check"] or "--isolate" not in argv or "--in-process" in argv:
        # The engine must never be loaded beside TensorFlow and the grader's pipes.
        print(f"gradcheck: error: the grading worker runs isolated checks only, not {argv[:3]!r}", file=sys.stderr)
        os.close(report_fd)
        return 2
    # The check closes the descriptor it is given once the report is sent;
    # this one closes the original, and the copy too when the check did not.
    given = os.dup(report_fd)
    saved_stdin = sys.stdin
    sys.stdin = io.StringIO(nonce + "\n")  # where `gradcheck check --report-fd` reads its nonce
    try:
        status = main([*argv, "--report-fd", str(given)])
    except SystemExit as stop:  # argparse's errors
        status = stop.code if isinstance(stop.code, int) else 2
    except BaseException:  # noqa: BLE001 - a bug of gradcheck costs this submission, as a crashed child did
        traceback.print_exc()
        status = 1
    finally:
        sys.stdin = saved_stdin
        if _same_pipe(given, report_fd):
            os.close(given)
        os.close(report_fd)
    return status


def main(argv: list[str] | None = None) -> int:
    """Serve check requests on the control socket given in ``argv`` until the grader closes it."""
    arguments = sys.argv[1:] if argv is None else argv
    control = socket.socket(fileno=int(arguments[0]))
    quiet = os.open(os.devnull, os.O_WRONLY)
    try:
        _warm_up()
    except Exception:  # noqa: BLE001 - each check imports again, and its stderr says what fails
        pass
    # The grader starts the clock of a submission (--submission-timeout) only now.
    control.send(b"ready\n")
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, REQUEST_BYTES, _PIPES)
        except (ConnectionError, KeyboardInterrupt):
            return 0
        if not message:
            return 0
        if len(fds) != _PIPES:
            for fd in fds:
                os.close(fd)
            return 2
        stdout, stderr, report = fds
        request = json.loads(message)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(stdout, 1)
        os.dup2(stderr, 2)
        os.close(stdout)
        os.close(stderr)
        # The engine worker finds a package submission on this path (gradcheck.isolation).
        os.environ["PYTHONPATH"] = request["pythonpath"]
        try:
            status = check_one(list(request["argv"]), request["nonce"], report)
        finally:
            # Let go of this submission's pipes: the grader reads them to their end.
            with contextlib.suppress(OSError, ValueError):
                sys.stdout.flush()
                sys.stderr.flush()
            os.dup2(quiet, 1)
            os.dup2(quiet, 2)
        try:
            control.send(f"done {status}\n".encode("ascii"))
        except OSError:
            return 0
