"""The float64 reference's backward pass at GPT-2 small's shape: loss_and_grads (one forward with the
activations kept, then the gradient of every tensor), to read against test_forward's reference forward."""
import numpy as np
import pytest

from gpt2_conformance.reference import backward

SEQ_LENGTHS = (64, 1024)
ROUNDS = 3


@pytest.mark.parametrize("seq", SEQ_LENGTHS)
def test_backward(benchmark, gpt2_small, seq):
    x = np.random.default_rng(seq).integers(0, gpt2_small.hparams.n_vocab, size=(1, seq), dtype=np.int64)
    benchmark.group = f"backward seq {seq}"
    benchmark.extra_info.update(kind="backward", backend="reference", dtype=str(gpt2_small.dtype), seq=seq, batch=1)
    _, grads = benchmark.pedantic(backward.loss_and_grads, args=(gpt2_small, x), rounds=ROUNDS,
                                  warmup_rounds=1 if seq <= 64 else 0)
    assert grads.keys() == gpt2_small.tensors.keys()
