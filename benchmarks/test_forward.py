"""Forward throughput at GPT-2 small's shape: every installed backend, the float64 reference, and the
matrix-multiply bound of the reference (the same matmuls, shapes and dtype, and nothing else)."""
import numpy as np
import pytest

from gpt2_conformance.backends import available_bundled, resolve

SEQ_LENGTHS = (64, 1024)
ROUNDS = 3


def tokens(n_vocab, seq):
    return np.random.default_rng(seq).integers(0, n_vocab, size=(1, seq), dtype=np.int64)


@pytest.fixture(scope="module", params=available_bundled())
def loaded(request, gpt2_small):
    """(backend, the raw model it loaded, its dtype): timed without the suite's guard around it."""
    backend = resolve(request.param)
    dtype = backend.capabilities.core_dtype
    return backend, backend.load(gpt2_small, dtype=dtype), dtype


@pytest.mark.parametrize("seq", SEQ_LENGTHS)
def test_forward(benchmark, loaded, gpt2_small, seq):
    backend, model, dtype = loaded
    x = tokens(gpt2_small.hparams.n_vocab, seq)
    benchmark.group = f"forward seq {seq}"
    benchmark.extra_info.update(kind="forward", backend=backend.name, dtype=dtype, seq=seq, batch=1)
    logits, _ = benchmark.pedantic(model.forward, args=(x,), rounds=ROUNDS, warmup_rounds=1 if seq <= 64 else 0)
    assert np.asarray(logits).shape == (1, seq, gpt2_small.hparams.n_vocab)


def reference_matmuls(params, seq):
    """Every matrix product of reference.gpt2's forward pass over `seq` tokens, as (a, b) operand pairs
    with the reference's own shapes, dtype and weight arrays (activations random)."""
    hp, t = params.hparams, params.tensors
    rng = np.random.default_rng(0)
    dtype = params.dtype

    def act(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x, x4 = act(1, seq, hp.n_embd), act(1, seq, 4 * hp.n_embd)
    q, k = act(1, hp.n_head, seq, hp.head_dim), act(1, hp.n_head, seq, hp.head_dim)
    w = act(1, hp.n_head, seq, seq)
    pairs = []
    for layer in range(hp.n_layer):
        p = params.layer(layer)
        pairs += [(x, p["attn/c_attn/w"][0]), (q, k.swapaxes(-1, -2)), (w, k), (x, p["attn/c_proj/w"][0]),
                  (x, p["mlp/c_fc/w"][0]), (x4, p["mlp/c_proj/w"][0])]
    return pairs + [(x, t["model/wte"].T)]  # the tied head


@pytest.mark.parametrize("seq", SEQ_LENGTHS)
def test_matmul_bound(benchmark, gpt2_small, seq):
    pairs = reference_matmuls(gpt2_small, seq)
    benchmark.group = f"forward seq {seq}"
    benchmark.extra_info.update(kind="matmul_bound", dtype=str(gpt2_small.dtype), seq=seq, batch=1)
    benchmark.pedantic(lambda: [a @ b for a, b in pairs], rounds=ROUNDS, warmup_rounds=1 if seq <= 64 else 0)
