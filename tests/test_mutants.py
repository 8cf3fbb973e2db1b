"""Meta tests: every property can fail. Each mutant is killed by the property it targets, at the ci profile."""
import pytest

from conformance import profiles
from conformance.mutants import MUTANTS
from conformance.properties import REGISTRY
from conformance.runner import run_property

KILLS = [(m, p) for m in MUTANTS.values() for p in m.kills]


def test_every_property_has_a_mutant():
    # known_answers runs only on GPT-2 124M weights: tests/test_checkpoint_mode.py shows it failing on wrong ones
    assert {p for _, p in KILLS} == set(REGISTRY) - {"known_answers"}


@pytest.mark.parametrize("mutant,property_id", KILLS, ids=[f"{m.name}-{p}" for m, p in KILLS])
def test_mutant_is_killed(mutant, property_id):
    result = run_property(REGISTRY[property_id], mutant, profile=profiles.get("ci"))
    assert result.status == "failed", f"{mutant.name} survived {property_id}: {result}"
    assert result.counterexample and ("Case(" in result.counterexample or "golden_case=" in result.counterexample)
    assert result.max_abs_err > result.tolerance
