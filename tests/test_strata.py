"""Each size class gets its share of a property's examples as a search of its own, so that every property
of a certifying run reaches GPT-2's real dimensions, not only those the mixed draws happen to hit."""
import pytest

from conformance import profiles, strategies
from conformance.backends.reference import ReferenceBackend
from conformance.properties import REGISTRY
from conformance.runner import run_property

LARGE = strategies.SIZES[1:]


def test_at_the_ci_profile_each_class_but_gpt2_smalls_layers_has_a_stratum():
    strata = strategies.strata(strategies.Space(), 50)
    assert sum(n for _, n in strata) == 50
    (mixed, _), *own = strata
    assert [space.sizes for space, _ in own] == [(s,) for s in LARGE if s.weight > 1]
    assert mixed.sizes == (strategies.SIZES[0], LARGE[-1])  # GPT-2 small's layers: a few per run, not per property


def test_at_the_thorough_profile_every_class_has_one():
    strata = strategies.strata(strategies.Space(), 500)
    assert [space.sizes for space, _ in strata] == [(s,) for s in strategies.SIZES]
    assert sum(n for _, n in strata) == 500 and min(n for _, n in strata) >= 4


@pytest.mark.parametrize("n", [1, 20])
def test_a_short_search_stays_one_mixed_search(n):
    assert strategies.strata(strategies.Space(), n) == [(strategies.Space(), n)]


DRAWING = [p for p in REGISTRY if "[" not in p and p not in ("official_logits", "known_answers")]


@pytest.mark.parametrize("pid", DRAWING)
def test_every_property_reaches_gpt2s_dimensions_at_the_ci_profile(pid):
    result = run_property(REGISTRY[pid], ReferenceBackend(), settings=profiles.get("ci"))
    assert result.status == "passed", result.message
    top = {name: hi for name, (_, hi) in result.drawn.items()}
    assert top["head_dim"] == 128 and top["n_layer"] == 12 and top["batch"] == 8, top
    # the bounds of a property cut a class, never drop the class of long sequences or large vocabularies
    # unless they must: batch_padding's sequences are short, the training properties' vocabularies <= 4096
    assert top["n_ctx"] == 1024 or pid == "batch_padding", top
    assert top["n_vocab"] >= (4096 if REGISTRY[pid].training else 50257), top
    assert top["n_embd"] == 768 or pid not in strategies.SIZES[-1].always_for, top


def test_gpt2_smalls_layers_come_a_few_per_run():
    always = strategies.SIZES[-1].always_for
    assert always and all(len(strategies.strata(strategies.Space(), 50, pid)) == 8 for pid in always)
