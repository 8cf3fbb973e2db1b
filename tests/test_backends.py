"""The backend registry and the guard around every backend."""
import numpy as np
import pytest
from hypothesis import settings

from gpt2_conformance.backends import BUNDLED, BackendError, availability, available_bundled, guarded_load, resolve
from gpt2_conformance.cases import profiles
from gpt2_conformance.cases.weights import random_params
from gpt2_conformance.judge import oracle_cache
from gpt2_conformance.judge.runner import run_property
from gpt2_conformance.properties import REGISTRY
from gpt2_conformance.reference import HParams
from gpt2_conformance.reference.params import InvalidInput
from tests.misbehaving import SLOW_SECONDS, writes_into_weights

HP = HParams(n_vocab=7, n_ctx=5, n_embd=4, n_head=2, n_layer=1)


def test_a_backend_writes_into_its_own_copy_of_generated_weights():
    """Generated weights are read-only (the oracle's cache keys them by their recipe): the guard hands the backend
    a copy, so its write changes neither the weights the oracle is computed on nor their key."""
    params = random_params(HP, 0)
    key = oracle_cache._params_digest(params)
    model = guarded_load(writes_into_weights, params)
    assert np.array_equal(params.tensors["model/wte"], random_params(HP, 0).tensors["model/wte"])
    assert oracle_cache._params_digest(params) == key
    tokens = np.array([[1, 2]])
    assert not np.allclose(model.forward(tokens)[0], guarded_load(resolve("reference"), params).forward(tokens)[0])


def test_resolve_bundled_and_module_attr():
    assert resolve("reference").name == "reference"
    assert resolve("gpt2_conformance.mutants:erf_gelu").name == "erf_gelu"
    assert resolve("tests.misbehaving:raises").name == "raises"


@pytest.mark.parametrize("spec,message", [
    ("no-such-backend", "unknown backend 'no-such-backend': use one of"),
    ("no_such_module:x", "cannot be imported: ModuleNotFoundError"),
    ("gpt2_conformance.mutants:no_such_attr", "has no attribute 'no_such_attr'"),
    ("tests.misbehaving:_hang", "lacks name, capabilities, load"),
    ("tests.misbehaving:unnamed", "has name 42: a backend's name must be a non-empty string"),
    ("tests.misbehaving:dict_capabilities", "has capabilities of type dict"),
    ("tests.misbehaving_import:backend", "cannot be imported: RuntimeError: CUDA driver not found"),
    ("", "a backend spec must be a non-empty string"),
])
def test_resolve_errors_say_what_is_wrong(spec, message):
    with pytest.raises(BackendError, match=message):
        resolve(spec)


def test_availability_lists_every_bundled_backend():
    assert [name for name, _, _ in availability()][: len(BUNDLED)] == list(BUNDLED)
    assert not set(available_bundled()) & {name for name, b in BUNDLED.items() if b.opt_in}


def test_what_a_backend_returns_is_copied_before_its_next_call():
    from gpt2_conformance.mutants import MUTANTS

    model = guarded_load(MUTANTS["nondeterministic_reused_buffer"], random_params(HP, 0))
    first, _ = model.forward(np.array([[1, 2]]))
    second, _ = model.forward(np.array([[1, 2]]))
    assert not np.shares_memory(first, second) and not np.array_equal(first, second)


@pytest.mark.parametrize("spec", available_bundled())
def test_guard_rejects_bad_tokens_before_the_backend_sees_them(spec):
    model = guarded_load(resolve(spec), random_params(HP, 0))
    with pytest.raises(InvalidInput, match=r"token ids must lie in \[0, 7\); got \[7\]"):
        model.forward(np.array([[1, 7]]))
    with pytest.raises(InvalidInput, match="exceeds n_ctx 5"):
        model.forward(np.zeros((1, 6), np.int64))
    if model.capabilities.past:
        _, cache = model.forward(np.zeros((1, 3), np.int64))
        with pytest.raises(InvalidInput, match="after a past of 3 exceeds n_ctx 5"):
            model.forward(np.zeros((1, 3), np.int64), past=cache)


@pytest.mark.parametrize("spec,message", [
    ("tests.misbehaving:raises", "raises forward raised ValueError: CUDA error"),
    ("tests.misbehaving:wrong_shape", r"returned logits of shape \(1, 2, 6\), expected \(1, 2, 7\)"),
    ("tests.misbehaving:int_logits", "returned logits of dtype int64, expected float"),
    ("tests.misbehaving:bare_logits", r"forward returned a ndarray of shape \(1, 2, 7\), not a \(logits, cache\) pair"),
    ("tests.misbehaving:half_logits", "returned float16 logits from a model loaded in float64"),
    ("tests.misbehaving:no_cache", "declares past but returned no cache"),
])
def test_guard_turns_broken_outputs_into_backend_errors(spec, message):
    model = guarded_load(resolve(spec), random_params(HP, 0))
    with pytest.raises(BackendError, match=message):
        model.forward(np.array([[1, 2]]))


def test_results_count_the_seconds_spent_inside_the_backend():
    result = run_property(REGISTRY["determinism"], resolve("tests.misbehaving:slow"),
                          settings=settings(profiles.get("ci"), max_examples=3))
    assert result.status == "passed" and result.examples >= 3
    # two forward calls per example, each sleeping SLOW_SECONDS inside the backend
    assert 2 * result.examples * SLOW_SECONDS <= result.forward_seconds
    assert result.load_seconds + result.forward_seconds <= result.seconds
