"""A backend that compiles per architecture is given examples from the fixed pool, and every property
still finds an architecture of the pool within its bounds."""
from dataclasses import replace

import pytest
from hypothesis import settings

from gpt2_conformance.backends import Subject
from gpt2_conformance.backends.adapters.reference import ReferenceBackend
from gpt2_conformance.cases import strategies
from gpt2_conformance.reference import HParams

POOL = {HParams(n_vocab=s.n_vocab[0], n_ctx=s.n_ctx[0], n_embd=s.n_head[0] * s.head_dim[0], n_head=s.n_head[0],
                n_layer=s.n_layer[0]) for s in strategies.ARCHITECTURES}
from gpt2_conformance.cases.profiles import PROFILES
from gpt2_conformance.judge.runner import run_property
from gpt2_conformance.properties import REGISTRY, ids_of


class Compiles(ReferenceBackend):
    """The reference, declaring a compile per architecture, recording the architectures it is given."""

    name = "compiles"
    capabilities = replace(ReferenceBackend.capabilities, compiles_per_architecture=True)

    def __init__(self):
        self.seen = set()

    def load(self, params, dtype="float64"):
        self.seen.add(params.hparams)
        return super().load(params, dtype)


@pytest.mark.parametrize("pid", [p for p in ids_of(Subject.MODEL) if "[" not in p
                                 and p not in ("official_logits", "known_answers")])
def test_every_property_draws_only_pool_architectures(pid):
    backend = Compiles()
    result = run_property(REGISTRY[pid], backend, settings=settings(PROFILES["ci"], max_examples=15))
    assert result.status == "passed", result.message
    assert backend.seen and backend.seen <= POOL


def test_a_backend_without_the_capability_draws_freely():
    backend = Compiles()
    backend.capabilities = ReferenceBackend.capabilities
    run_property(REGISTRY["determinism"], backend, settings=settings(PROFILES["ci"], max_examples=15))
    assert not backend.seen <= POOL


def test_the_pool_holds_one_layer_of_gpt2_small():
    assert strategies.GPT2_SMALL_LAYER in POOL
