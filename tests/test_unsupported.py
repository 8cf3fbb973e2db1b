"""A backend states its limits in its scope: cases stay inside it, the certificate says so, and declining
an example inside it fails the property."""
from dataclasses import replace

import pytest
from hypothesis import settings

from gpt2_conformance.backends import PUBLISHED, Scope, Unsupported
from gpt2_conformance.backends.adapters.reference import ReferenceBackend
from gpt2_conformance.cases.profiles import PROFILES
from gpt2_conformance.judge.runner import run_property
from gpt2_conformance.judge.verdict import Acceptance, judge
from gpt2_conformance.properties import REGISTRY

CI_10 = settings(PROFILES["ci"], max_examples=10)


class Declines(ReferenceBackend):
    def __init__(self, declines, scope=Scope()):
        self.declines, self.name = declines, "declines"
        self.capabilities = replace(ReferenceBackend.capabilities, scope=scope)
        self.seen = []

    def load(self, params, dtype="float64"):
        self.seen.append(params.hparams)
        if self.declines(params.hparams):
            raise Unsupported("no head_dim 1 here")
        return super().load(params, dtype)


def test_declining_an_example_inside_the_scope_fails_the_property():
    result = run_property(REGISTRY["reference_logits"], Declines(lambda hp: hp.head_dim == 1), settings=CI_10)
    assert result.status == "failed" and result.kind == "unsupported"
    assert "declined an example inside its declared scope (no limits): no head_dim 1 here" in result.message
    assert "head_dim 1" in result.counterexample or "n_embd=1" in result.counterexample


def test_cases_stay_inside_a_declared_scope():
    scope = Scope(min_head_dim=2, max_n_ctx=16, max_n_vocab=100, max_n_layer=2, max_batch=2)
    backend = Declines(lambda hp: hp.head_dim == 1, scope)
    result = run_property(REGISTRY["reference_logits"], backend, settings=settings(PROFILES["ci"], max_examples=40))
    assert result.status == "passed" and result.examples == 40
    assert all(scope.why_not(hp) is None for hp in backend.seen)
    ranges = [c["ranges"] for c in result.drawn.values() if c["ranges"]]
    assert ranges and all(r["head_dim"][0] >= 2 and r["n_ctx"][1] <= 16 and r["batch"][1] <= 2 for r in ranges)


def test_a_scope_that_leaves_out_published_gpt2_cannot_earn_the_plain_verdict():
    scope = Scope(max_n_ctx=512)
    backend = Declines(lambda hp: False, scope)
    result = run_property(REGISTRY["reference_logits"], backend, settings=CI_10)
    verdict = judge([result], backend.capabilities)
    assert verdict.status == "certified" and not verdict.accepted() and verdict.accepted(Acceptance(scope=True))
    assert verdict.label == "certified within its declared scope (n_ctx 1024 > 512, n_ctx 1024 > 512, " \
                            "n_ctx 1024 > 512, n_ctx 1024 > 512)" or "within its declared scope" in verdict.label
    assert set(verdict.scope_excludes) == set(PUBLISHED)


def test_a_scope_that_only_raises_the_smallest_head_dim_still_covers_gpt2():
    assert Scope(min_head_dim=2).published_excluded() == {}  # llama.cpp's: head_dim 1 aborts it
    assert Scope(max_n_layer=24).published_excluded().keys() == {"774M", "1558M"}


@pytest.mark.parametrize("field,value", [("max_n_ctx", 0), ("max_batch", -1), ("min_head_dim", 1.5), ("max_n_vocab", True)])
def test_a_malformed_scope_is_rejected(field, value):
    with pytest.raises(ValueError, match=f"Scope.{field} must be a positive integer"):
        Scope(**{field: value})
