"""Time to kill each mutant with the property aimed at it, at the ci profile (what tests/test_mutants.py
and a selftest do): finding a failing example, then shrinking it to a minimal counterexample."""
import pytest

from gpt2_conformance.cases import profiles
from gpt2_conformance.judge.runner import run_property
from gpt2_conformance.mutants import MUTANTS
from gpt2_conformance.properties import REGISTRY

KILLS = [(m, p) for m in MUTANTS.values() for p in m.kills]


@pytest.mark.parametrize("mutant,property_id", KILLS, ids=[f"{m.name}-{p}" for m, p in KILLS])
def test_time_to_kill(benchmark, mutant, property_id):
    benchmark.group = "kill"
    result = benchmark.pedantic(run_property, args=(REGISTRY[property_id], mutant),
                                kwargs={"settings": profiles.get("ci"), "expected": mutant.expected},
                                rounds=1, iterations=1)
    assert result.status == "failed", result
    benchmark.extra_info.update(kind="kill", mutant=mutant.name, property=property_id, examples=result.examples)
