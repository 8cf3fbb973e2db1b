"""The input contract: the guard rejects every bad input, and what a backend does without it is recorded."""
import pytest

from conformance.backends import available_bundled
from conformance.contract import BAD_INPUTS, probe_isolated


# What the bundled backends do on their own where they do not raise (measured): openai-tf returns logits
# of shape [1, 0, n_vocab] for an empty sequence, and casts float tokens to int. Everything else raises.
OWN_OUTCOMES = {("openai-tf", "empty"): "returns", ("openai-tf", "float_tokens"): "returns"}


@pytest.mark.parametrize("spec", available_bundled())
def test_guard_rejects_every_bad_input_for_bundled_backends(spec):
    contract = probe_isolated(spec)
    assert list(contract) == list(BAD_INPUTS)
    for name, record in contract.items():
        assert record["guard"].startswith("rejected: InvalidInput"), (name, record)
        assert record["outcome"] == OWN_OUTCOMES.get((spec, name), "raises"), (name, record)


@pytest.mark.parametrize("spec,outcome,backend", [
    ("tests.misbehaving:aborts", "crashes", "the process died (signal 6)"),
    ("tests.misbehaving:anything_goes", "returns", "finite logits of shape [1, 2, 7], no error (garbage)"),
    ("tests.misbehaving:raises", "raises", "ValueError: CUDA error"),
])
def test_what_a_backend_does_is_recorded(spec, outcome, backend):
    record = probe_isolated(spec)["id_ge_n_vocab"]
    assert record["guard"] == "rejected: InvalidInput: token ids must lie in [0, 7); got [7]"
    assert record["outcome"] == outcome
    assert record["backend"].startswith(backend)
