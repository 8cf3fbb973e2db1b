"""The input contract: the guard rejects every bad input, and what a backend does without it is recorded."""
import pytest

from gpt2_conformance.backends import available_bundled
from gpt2_conformance.run.contract import BAD_INPUTS
from gpt2_conformance.run.isolation import run_isolated

# What the bundled backends do on their own where they do not raise (measured): openai-tf returns logits
# of shape [1, 0, n_vocab] for an empty sequence, and casts float tokens to int. Everything else raises.
OWN_OUTCOMES = {("openai-tf", "empty"): "returns", ("openai-tf", "float_tokens"): "returns"}


def probe_isolated(spec, timeout=300):
    """The input contract alone, as certify records it after the properties."""
    return run_isolated(spec, [], profile="ci", timeout=timeout, contract=True).contract


@pytest.mark.parametrize("spec", available_bundled())
def test_guard_rejects_every_bad_input_for_bundled_backends(spec):
    contract = probe_isolated(spec)
    assert list(contract) == list(BAD_INPUTS)
    for name, record in contract.items():
        assert record["guard"].startswith("rejected: InvalidInput"), (name, record)
        assert record["outcome"] == OWN_OUTCOMES.get((spec, name), "raises"), (name, record)


@pytest.mark.parametrize("spec,outcome,backend", [
    ("tests.misbehaving:aborts", "crashes", "the backend's process died (signal SIGABRT)"),
    ("tests.misbehaving:anything_goes", "returns", "finite logits of shape [1, 2, 7], no error (garbage)"),
    ("tests.misbehaving:raises", "raises", "ValueError: CUDA error"),
])
def test_what_a_backend_does_is_recorded(spec, outcome, backend):
    record = probe_isolated(spec)["id_ge_n_vocab"]
    assert record["guard"] == "rejected: InvalidInput: token ids must lie in [0, 7); got [7]"
    assert record["outcome"] == outcome
    assert record["backend"].startswith(backend)


def test_a_hang_costs_one_probe_and_the_rest_are_not_probed():
    contract = probe_isolated("tests.misbehaving:hangs", timeout=3)
    first, *rest = BAD_INPUTS
    assert contract[first]["outcome"] == "hangs"
    assert all(contract[name]["outcome"] in ("not probed", "not applicable") for name in rest)


def test_certify_runs_properties_and_probes_in_one_process_per_backend(monkeypatch):
    import subprocess

    started = []
    popen = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(a) or popen(*a, **k))
    run = run_isolated("reference", ["determinism"], profile="ci", max_examples=2, contract=True)
    assert len(started) == 1 and [r.status for r in run.results] == ["passed"]
    assert all(record["outcome"] == "raises" for record in run.contract.values())
