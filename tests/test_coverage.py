"""An example counts as evidence only where the property could have seen a bug in it (conformance/judge/coverage.py);
a size class searched on its own with no such example leaves its property, and the verdict, partial."""
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from gpt2_conformance import reference
from gpt2_conformance.backends.adapters.reference import ReferenceBackend
from gpt2_conformance.cases import profiles, strategies
from gpt2_conformance.cases.weights import random_params
from gpt2_conformance.cli import exit_status
from gpt2_conformance.judge import coverage
from gpt2_conformance.judge.runner import run_property
from gpt2_conformance.judge.search import MAX_BLIND
from gpt2_conformance.judge.verdict import judge
from gpt2_conformance.properties import REGISTRY
from gpt2_conformance.reference.params import HParams


def case(hp, tokens, scale="unit"):
    return strategies.Case(hp, seed=3, scale=scale, tokens=np.array(tokens), size_class="probe")


WIDE = HParams(n_vocab=17, n_ctx=16, n_embd=8, n_head=2, n_layer=1)


def test_a_wide_model_over_several_tokens_sees():
    c = case(WIDE, [[1, 5, 2, 9]])
    change, size = coverage.movement(c.params(), c.tokens)
    assert change > 0.01 * size and coverage.sees(c)


def test_a_movement_within_the_tolerance_is_not_seen():
    c = case(WIDE, [[1, 5, 2, 9]])
    change, _ = coverage.movement(c.params(), c.tokens)
    assert coverage.sees(c, (c.params(), None, 0.5 * change)) and not coverage.sees(c, (c.params(), None, 2 * change))


@pytest.mark.parametrize("hp,tokens", [(replace(WIDE, n_embd=1, n_head=1), [[1, 5, 2, 9]]),  # LayerNorm of width 1
                                       (WIDE, [[4]])])  # one token: nothing earlier to attend to
def test_degenerate_examples_cannot_see(hp, tokens):
    c = case(hp, tokens)
    assert coverage.movement(c.params(), c.tokens)[0] == 0.0 and not coverage.sees(c)


def test_a_width_one_model_ignores_its_tokens_indeed():
    """What makes n_embd 1 blind: every LayerNorm returns its bias, so the logits are the same for any tokens."""
    params = random_params(replace(WIDE, n_embd=1, n_head=1), seed=5)
    from gpt2_conformance.reference import gpt2

    a, _ = gpt2.model(params, np.array([[1, 5, 2, 9]]))
    b, _ = gpt2.model(params, np.array([[7, 0, 3, 3]]))
    assert np.array_equal(a, b)


def test_known_logits_give_the_movement_computed_afresh():
    c = case(WIDE, [[1, 5, 2, 9], [3, 3, 3, 3]])
    params = c.params()
    ref64, _ = reference.model(params, c.tokens)
    assert coverage.movement(params, c.tokens, ref64) == coverage.movement(params, c.tokens)


BLIND_LONG = strategies.Size("long sequences", n_layer=(1, 1), n_head=(1, 1), head_dim=(1, 1), n_vocab=(2, 8),
                             n_ctx=(512, 1024), batch=(1, 1), min_seq=512, weight=3)


def test_a_class_whose_examples_cannot_see_leaves_the_property_partial():
    space = strategies.Space(sizes=(strategies.SIZES[0], BLIND_LONG))
    result = run_property(REGISTRY["causal_masking"], ReferenceBackend(), settings=profiles.get("ci"), space=space)
    assert result.status == "partial" and result.unseen == ["long sequences"], result
    # passed over MAX_BLIND times in search of one that could see, then taken as it is
    assert result.drawn["long sequences"]["examples"] == MAX_BLIND + 1 and result.drawn["long sequences"]["observable"] == 0
    assert result.drawn["long sequences"]["ranges"] == {}  # nothing is claimed from blind examples
    assert "no example of long sequences could show a bug" in result.message
    verdict = judge([result], ReferenceBackend().capabilities)
    assert verdict.status == "partial" and "causal_masking saw no example of long sequences" in verdict.label
    backend = {"passed": verdict.accepted(), "verdict": verdict.to_dict()}
    assert exit_status({"backends": [backend], "expectation_errors": [], "partial": [], "passed": False}) == 4


def test_a_failure_wins_over_a_partial_property():
    space = strategies.Space(sizes=(strategies.SIZES[0], BLIND_LONG))
    blind = run_property(REGISTRY["causal_masking"], ReferenceBackend(), settings=profiles.get("ci"), space=space)
    from gpt2_conformance.mutants import MUTANTS

    failed = run_property(REGISTRY["causal_masking"], MUTANTS["no_causal_mask"], settings=profiles.get("ci"))
    verdict = judge([blind, failed], ReferenceBackend().capabilities)
    assert verdict.status == "not certified"


def test_the_grid_counts_every_generated_example_once():
    result = run_property(REGISTRY["reference_logits"], ReferenceBackend(), settings=profiles.get("ci"))
    cells = [cell for row in result.grid for cell in row]
    assert sum(drawn for _, drawn in cells) == result.examples == sum(c["examples"] for c in result.drawn.values())
    assert sum(seen for seen, _ in cells) == sum(c["observable"] for c in result.drawn.values())
    assert result.grid[-1][1:] != [[0, 0]] * 4  # sequences of 512 and more, at widths above 1


def claims_through_blind_examples(cert):
    """The size classes a certificate counts as drawn in a passing property with no example that could see."""
    return [(b["name"], p["id"], name) for b in cert["backends"] for p in b["properties"]
            if p["status"] in ("passed", "xfailed") for name, c in p["drawn"].items()
            if name != strategies.SIZES[0].name and not c["observable"]]


@pytest.mark.skipif(not os.environ.get("GPT2_CONFORMANCE_CERTIFICATE"),
                    reason="reads the certificate that .ci/run's certify of the bundled backends writes")
def test_the_bundled_backends_certificate_claims_no_class_through_a_blind_example():
    cert = json.loads(Path(os.environ["GPT2_CONFORMANCE_CERTIFICATE"]).read_text())
    assert cert["profile"] == "ci" and len(cert["backends"]) >= 4
    assert claims_through_blind_examples(cert) == []
    drawing = [p for b in cert["backends"] if not b["capabilities"]["compiles_per_architecture"]
               for p in b["properties"] if p["drawn"]]  # a backend that compiles draws from a pool of architectures
    assert drawing and all(set(p["drawn"]) >= {"long sequences", "head_dim 64", "large vocabularies"}
                           for p in drawing if p["id"] != "batch_padding")
