"""Meta tests: every tokenizer property can fail. Each tokenizer mutant (the reference tokenizer with one real,
cited bug) is killed at the ci profile by the property meant for it, with a counterexample shrunk to a short
input: only a tokenizer that truncates needs a long one."""
import pytest

from gpt2_conformance.backends import Subject
from gpt2_conformance.cases import profiles
from gpt2_conformance.judge.runner import run_property
from gpt2_conformance.mutants.tokenizers import TOKENIZER_MUTANTS
from gpt2_conformance.outcomes import Kind, Status
from gpt2_conformance.properties import REGISTRY, ids_of

KILLS = [(m, p) for m in TOKENIZER_MUTANTS.values() for p in m.kills]
# the counterexample is the input the shrinking ended at; these need more than GPT-2's 1,024 ids
LONG_COUNTEREXAMPLE = {"truncated_to_context"}


def test_every_tokenizer_property_has_a_mutant():
    assert {p for _, p in KILLS} == set(ids_of(Subject.TOKENIZER))


def test_every_mutant_names_its_real_bug():
    assert len(TOKENIZER_MUTANTS) >= 10
    for m in TOKENIZER_MUTANTS.values():
        assert m.bug and m.cite and m.kills and set(m.kills) <= set(ids_of(Subject.TOKENIZER)), m.name


@pytest.mark.parametrize("mutant,property_id", KILLS, ids=[f"{m.name}-{p}" for m, p in KILLS])
def test_mutant_is_killed_with_a_shrunk_counterexample(mutant, property_id):
    result = run_property(REGISTRY[property_id], mutant, settings=profiles.get("ci"))
    assert result.status in (Status.FAILED, Status.ERROR), result
    if result.status == Status.FAILED:  # a wrong answer, compared exactly
        assert result.kind == Kind.TOLERANCE and result.tolerance == 0 and result.max_abs_err >= 1
    else:  # the mutant raised on the counterexample (a strict decoder, a byte table without the character)
        assert result.kind == Kind.ERROR and result.message.startswith(f"Refused: {mutant.name} "), result.message
    shortened = "characters)" in result.counterexample or "ids)" in result.counterexample
    assert shortened == (mutant.name in LONG_COUNTEREXAMPLE), result.counterexample
