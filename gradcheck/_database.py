"""Failing examples kept between runs, and replayed first (Hypothesis's example database).

A check that fails stores the Hypothesis examples behind its minimal
failures; the next run of the same check replays them before drawing any
new one. A fixed engine is confirmed at once (the replays pass, are
forgotten, and the seeded search runs as it always does); a still broken one
fails at once on the same minimal case, without searching for it again.

The folder is a ``hypothesis.database.DirectoryBasedExampleDatabase``
(``settings.DEFAULT_DATABASE``, ``.gradcheck/examples``, unless told
otherwise). Every key Hypothesis asks for is prefixed by the check's *scope*:
gradcheck's version, the engine (its file, object name and dtype), the check
and whatever decides the cases drawn (declared support, the cotangent, the
ops of programs), and the search round. So a stored example is replayed only
by the very search that stored it: another engine, op or option never reads
it, and a round that lets earlier failures pass never forgets what the first
round stored. Only the minimal examples are kept (not those they shrank
from): a replay that passes forgets its example, and a search with no
stored example for its scope runs exactly as with no database: the same
seed, the same report.

Hypothesis is imported when a search opens the database, not before.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

__all__ = ["FailureStore", "open_store"]

# Written into the folder when it is made: what it holds is this machine's, never the repository's.
_GITIGNORE = "# Made by gradcheck: failing examples replayed first on the next run.\n*\n"


@dataclass(frozen=True)
class FailureStore:
    """A folder of failing examples, seen from one scope (a check, a search round)."""

    folder: str
    scope: tuple[str, ...] = ()

    def within(self, *parts: Any) -> FailureStore:
        """Return this store narrowed to ``parts`` (JSON-ready values: names, flags, lists)."""
        return replace(self, scope=(*self.scope, *(json.dumps(part, sort_keys=True, default=repr) for part in parts)))

    def hypothesis_database(self) -> Any:
        """Return the ``hypothesis.database.ExampleDatabase`` of this scope, for ``settings(database=...)``.

        Its ``replayed`` counts the stored examples it gave Hypothesis to replay.
        """
        return _scoped_database(Path(self.folder), _prefix(self.scope))


def open_store(folder: str | None, *scope: Any) -> FailureStore | None:
    """Return the store of ``folder`` narrowed to ``scope`` (None: keep no failing example)."""
    if folder is None:
        return None
    from gradcheck import __version__

    # Another gradcheck may draw another case from the same stored choices: its examples are its own.
    return FailureStore(str(folder)).within(f"gradcheck {__version__}", *scope)


def _prefix(scope: Iterable[str]) -> bytes:
    return hashlib.sha256("\0".join(scope).encode()).hexdigest().encode() + b":"


def _scoped_database(folder: Path, prefix: bytes) -> Any:
    from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase

    class ScopedDatabase(ExampleDatabase):
        """The folder's database with every key prefixed by the scope: searches never read each other's."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = DirectoryBasedExampleDatabase(folder)
            # Stored failing examples handed to Hypothesis, which replays each before drawing.
            self.replayed = 0

        def __repr__(self) -> str:
            return f"ScopedDatabase({str(folder)!r}, {prefix.decode()!r})"

        def save(self, key: bytes, value: bytes) -> None:
            if _kept(key):
                _mark_folder(folder)
                self.inner.save(prefix + key, value)

        def fetch(self, key: bytes) -> Iterable[bytes]:
            if not _kept(key):
                return
            for value in self.inner.fetch(prefix + key):
                self.replayed += 1
                yield value

        def delete(self, key: bytes, value: bytes) -> None:
            self.inner.delete(prefix + key, value)

        def move(self, src: bytes, dest: bytes, value: bytes) -> None:
            if _kept(dest):
                _mark_folder(folder)
                self.inner.move(prefix + src, prefix + dest, value)
            else:
                self.inner.delete(prefix + src, value)

    return ScopedDatabase()


def _kept(key: bytes) -> bool:
    """Return whether Hypothesis's ``key`` holds minimal failing examples, the only ones kept.

    Its other corpora (``KEY.secondary``: the examples a failure shrank
    from; ``KEY.pareto``: targets) would be sampled with the seeded random
    generator on replay, so a run after a fix would draw differently from a
    run without a database, and they would outlive the fix.
    """
    return not key.endswith((b".secondary", b".pareto"))


def _mark_folder(folder: Path) -> None:
    """Make ``folder`` with a ``.gitignore`` of everything, once: a failing example is never committed by mistake."""
    ignore = folder / ".gitignore"
    if ignore.exists():
        return
    # A folder that cannot be written keeps nothing: Hypothesis's own save says nothing either.
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        ignore.write_text(_GITIGNORE, encoding="utf-8")
