"""What the pytest plugin's checks take from Hypothesis's own options: one rule per setting.

gradcheck's search is a Hypothesis search, so a user who knows Hypothesis
expects ``--hypothesis-seed`` and settings profiles to reach it. Each
setting of the active profile, and the seed, gets one rule (README, "Use in
pytest"); a ``--gradcheck-*`` option given on the command line always wins,
and when it overrides a Hypothesis value that differs, a warning names both:

* ``--hypothesis-seed N``: gradcheck's seed when ``--gradcheck-seed`` is not
  given (a seed gradcheck cannot replay, not a whole number, is said and
  left out). As Hypothesis does for its own tests, a forced seed keeps no
  failing example: the database is off.
* ``max_examples`` of the profile: the examples per op when
  ``--gradcheck-max-examples`` is not given. Programs keep their own count.
* ``database`` of the profile: ``None`` (Hypothesis's ``ci`` profile) keeps
  gradcheck's items from storing failing examples too, unless
  ``--gradcheck-database`` says where; any other database stays the user's
  tests' own, and gradcheck's go to ``.gradcheck/examples`` under the rootdir.
* ``derandomize``: gradcheck always draws from its seed, which is what a
  derandomized profile asks; ``--gradcheck-seed random`` still draws a fresh
  one, printed.
* ``deadline``: none; ``--gradcheck-timeout`` bounds each engine call.
* The rest (phases, verbosity, health checks, ``print_blob``,
  ``report_multiple_bugs``, ``backend``) are gradcheck's own: its search
  depends on them.

Hypothesis is imported by :func:`hypothesis_terms`, called once a target is
configured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from gradcheck.errors import UsageError
from gradcheck.settings import MAX_EXAMPLES, RANDOM, SEED

__all__ = ["HYPOTHESIS_SEED_OPTION", "HypothesisTerms", "hypothesis_terms"]

#: Hypothesis's pytest option forcing the seed of every test.
HYPOTHESIS_SEED_OPTION = "--hypothesis-seed"


@dataclass
class HypothesisTerms:
    """The settings gradcheck takes from Hypothesis, and what to say about them.

    ``settings`` are keyword arguments of ``CheckSettings`` (``seed``,
    ``max_examples``); ``no_database``, when set, is why no failing example
    is kept; ``notes`` are phrases for the session header and ``warnings``
    one paragraph each.
    """

    settings: dict[str, Any] = field(default_factory=dict)
    no_database: str | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def hypothesis_terms(
    given: Mapping[str, Any],
    hypothesis_seed: str | None,
    *,
    seed_option: str,
    max_examples_option: str,
    seed_text: str | None = None,
) -> HypothesisTerms:
    """Return what gradcheck takes from ``--hypothesis-seed`` and the active Hypothesis profile.

    ``given`` holds the gradcheck options given, by setting name (as
    ``settings.read_check_options`` returns them), ``seed_text`` the text of
    the seed option; ``seed_option`` and ``max_examples_option`` are their
    spellings, for the messages.
    """
    from hypothesis import settings

    terms = HypothesisTerms()
    if hypothesis_seed is not None:
        terms.no_database = f"{HYPOTHESIS_SEED_OPTION} turns Hypothesis's database off"
        if "seed" in given:
            if str(seed_text).strip() != str(hypothesis_seed).strip():
                terms.warnings.append(
                    f"{seed_option}={seed_text} and {HYPOTHESIS_SEED_OPTION}={hypothesis_seed} both set a seed; "
                    f"gradcheck's checks use {seed_option} (seed {given['seed']}), Hypothesis's own tests "
                    f"{HYPOTHESIS_SEED_OPTION}. Give one of them to replay a run with one number."
                )
        else:
            try:
                if str(hypothesis_seed).strip() == RANDOM:  # a word to Hypothesis, not a draw
                    raise UsageError(RANDOM)
                terms.settings["seed"] = SEED.parse(str(hypothesis_seed), HYPOTHESIS_SEED_OPTION)
                terms.notes.append(f"seed from {HYPOTHESIS_SEED_OPTION}")
            except UsageError:  # Hypothesis takes any text as a seed; gradcheck cannot replay one
                terms.warnings.append(
                    f"{HYPOTHESIS_SEED_OPTION}={hypothesis_seed!r} is not a whole number of 0 or more, which "
                    f"gradcheck's seed must be; gradcheck's checks keep seed {SEED.default}. Give {seed_option} S "
                    f"(e.g. {seed_option} 7) to choose theirs."
                )

    profile = settings()
    name = settings.get_current_profile_name()
    wanted = profile.max_examples
    if wanted != MAX_EXAMPLES.default:
        if "max_examples" not in given:
            terms.settings["max_examples"] = wanted
            terms.notes.append(f"max_examples={wanted} from Hypothesis profile {name!r}")
        elif given["max_examples"] != wanted:
            terms.warnings.append(
                f"{max_examples_option}={given['max_examples']} and Hypothesis profile {name!r} "
                f"(max_examples={wanted}) both set how many examples are drawn; gradcheck's checks draw "
                f"{given['max_examples']} per op ({max_examples_option} wins), Hypothesis's own tests {wanted}."
            )
    if terms.no_database is None and profile.database is None:
        terms.no_database = f"Hypothesis profile {name!r} has database=None"
    return terms
