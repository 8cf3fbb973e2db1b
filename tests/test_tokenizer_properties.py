"""The tokenizer properties: in the one registry beside the model's, run as those are (the profile, a derandomized
seed per search, shrinking, a PropertyResult), and every bundled tokenizer certified through them at the ci
profile, within the budget of 20 seconds a tokenizer."""
import time

import pytest

from gpt2_conformance.backends import Subject
from gpt2_conformance.backends.tokenizer import guarded_load_tokenizer, resolve_tokenizer
from gpt2_conformance.cases import profiles
from gpt2_conformance.judge.runner import run_property
from gpt2_conformance.outcomes import Status
from gpt2_conformance.properties import REGISTRY, ids_of
from gpt2_conformance.reference import vocab

TOKENIZER = ids_of(Subject.TOKENIZER)
BUDGET = 20.0  # CPU seconds for one tokenizer's properties at the ci profile
CERTIFIED = ["reference", "hf-tokenizers", "transformers-gpt2", "tests.my_gpt2_tokenizer:backend"]


def run_all(spec):
    """{property: PropertyResult} of every tokenizer property on the tokenizer, and the CPU seconds they took
    (wall time depends on what else the machine runs)."""
    backend, start = resolve_tokenizer(spec), time.process_time()
    results = {pid: run_property(REGISTRY[pid], backend, settings=profiles.get("ci")) for pid in TOKENIZER}
    return results, time.process_time() - start


def test_the_tokenizer_properties_are_in_the_one_registry_apart_from_the_models():
    assert TOKENIZER == ["encode_official", "decode_official", "roundtrip", "golden_tokenization", "special_text"]
    assert not set(TOKENIZER) & set(ids_of(Subject.MODEL)) and set(TOKENIZER) | set(ids_of(Subject.MODEL)) == set(REGISTRY)
    assert all(REGISTRY[pid].core for pid in TOKENIZER)


@pytest.mark.parametrize("spec", CERTIFIED)
def test_a_correct_tokenizer_passes_every_property_within_the_budget(spec):
    results, seconds = run_all(spec)
    failed = {pid: (r.status, r.message, r.counterexample) for pid, r in results.items() if r.status != Status.PASSED}
    assert not failed
    assert all(r.examples >= 17 and r.max_abs_err == 0 and r.tolerance == 0 for r in results.values())
    assert seconds <= BUDGET, f"{spec}: {seconds:.1f} CPU seconds at the ci profile"


def test_transformers_declares_its_special_text_policy_and_keeps_it():
    backend = resolve_tokenizer("transformers-gpt2")
    assert backend.capabilities.special_text == "special"
    assert guarded_load_tokenizer(backend, vocab.load()).encode(" <|endoftext|>") == [220, 50256]
