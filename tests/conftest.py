"""Shared by every test module: each test keeps its own failing examples, if any.

``gradcheck check`` stores failing examples under ``.gradcheck/examples`` of
the folder it runs in and replays them first on the next run
(``gradcheck._database``). Tests run it in the repository's folder, so here
each test gets a database folder of its own: no test replays another's
failures (nor a previous session's), and none is written in the repository.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _own_failure_database(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gradcheck.cli.DEFAULT_DATABASE", str(tmp_path_factory.mktemp("database") / "examples"))
