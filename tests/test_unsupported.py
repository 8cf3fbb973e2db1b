"""A backend may decline parameters its library cannot run; the certificate says so, and never passes quietly."""
from hypothesis import settings

from conformance.backends import Unsupported
from conformance.backends.reference import ReferenceBackend
from conformance.profiles import PROFILES
from conformance.properties import REGISTRY
from conformance.runner import run_property


class Declines(ReferenceBackend):
    def __init__(self, declines):
        self.declines = declines
        self.name = "declines"

    def load(self, params, dtype="float64"):
        if self.declines(params.hparams):
            raise Unsupported("no head_dim 1 here")
        return super().load(params, dtype)


def test_declined_examples_are_discarded_and_reported():
    result = run_property(REGISTRY["reference_logits"], Declines(lambda hp: hp.head_dim == 1),
                          profile=settings(PROFILES["ci"], max_examples=10))
    assert result.status == "passed" and result.examples == 10
    assert "discarded as unsupported by the backend" in result.message and "no head_dim 1 here" in result.message


def test_a_backend_that_declines_everything_is_an_error():
    result = run_property(REGISTRY["reference_logits"], Declines(lambda hp: True),
                          profile=settings(PROFILES["ci"], max_examples=10))
    assert result.status == "error" and "no head_dim 1 here" in result.message
