"""Mutants whose bug shows only at some lengths or sizes, as tiled and paged kernels have them: each
correct below a threshold, so only examples that reach past it, wide and long enough to show it, kill it."""
import numpy as np

from gpt2_conformance import reference
from gpt2_conformance.mutants import Mutant, register
from gpt2_conformance.reference import gpt2

TILE = 256  # rows, keys and cache slots per block of the kernels these stand for
VOCAB_TILE = 128  # vocabulary entries per tile of a tiled head

_attention_mask = gpt2.attention_mask
_positions = gpt2.positions
_softmax = gpt2.softmax


def _mask_leaking_at_tile_edges(nd, ns, dtype):
    """Past 512 keys, the last query of each 256-row tile also sees the key after it."""
    b = _attention_mask(nd, ns, dtype)
    if ns > 2 * TILE:
        query = np.arange(nd) + ns - nd  # each row's position among the keys
        rows = np.flatnonzero((query % TILE == TILE - 1) & (query + 1 < ns))
        b[rows, query[rows] + 1] = 1
    return b


def _softmax_unrescaled(x):
    """Online softmax over blocks of 256 keys that never rescales the running sum when a later block
    raises the maximum: exact up to 256 keys, wrong beyond wherever the maximum moves."""
    if x.shape[-1] <= TILE:
        return _softmax(x)
    top = np.full(x.shape[:-1] + (1,), -np.inf, dtype=x.dtype)
    total = np.zeros_like(top)
    for start in range(0, x.shape[-1], TILE):
        block = x[..., start:start + TILE]
        top = np.maximum(top, block.max(axis=-1, keepdims=True))
        total = total + np.exp(block - top).sum(axis=-1, keepdims=True)  # missing: total *= exp(old - top)
    return np.exp(x - top) / total


def _positions_in_a_ring_of_512(past_length, seq, attention_mask=None):
    return _positions(past_length, seq, attention_mask) % (2 * TILE)


def _cache_slot_off_by_one(m, tokens, past, *rest):
    """The keys and values of a position that opens a 256-slot block of the cache are also written one
    slot early, over the last of the block before: what this call computes is right, what a later call
    reads from the cache is not."""
    logits, present = reference.model(m.params, tokens, past, *rest)
    start = 0 if past is None else past.shape[-2]
    present = present.copy()
    for boundary in range(TILE * (start // TILE + 1), start + tokens.shape[1], TILE):
        if boundary - 1 >= start:
            present[..., boundary - 1 - start, :] = present[..., boundary - start, :]
    return logits, present


def _head_without_its_last_tile(m, tokens, past, *rest):
    """Past 1024 entries, a head tiled by 128 leaves the logits of a last, partial tile unwritten (zero)."""
    logits, present = reference.model(m.params, tokens, past, *rest)
    n_vocab = logits.shape[-1]
    if n_vocab > 8 * VOCAB_TILE and n_vocab % VOCAB_TILE:
        logits = logits.copy()
        logits[..., n_vocab - n_vocab % VOCAB_TILE:] = 0
    return logits, present


register(
    Mutant("causal_leak_at_tile_edge", "past 512 keys the last query row of each 256-row tile also attends to the "
           "next key (a tiled kernel's unmasked stage reading past the diagonal)",
           "triton-lang/triton#8853 (causal forward wrong when BLOCK_M < BLOCK_N: the unmasked stage read keys past "
           "the diagonal); shared anchors, bugs 23 and 34", ("reference_logits",),
           patches={"attention_mask": _mask_leaking_at_tile_edges}),
    Mutant("softmax_unrescaled_past_256_keys", "online softmax over 256-key blocks that does not rescale its running "
           "sum when a later block raises the maximum: wrong only past 256 keys",
           "Dao-AILab/flash-attention#1647 (split-KV outputs change with num_splits); shared anchors, bug 26",
           ("reference_logits",), patches={"softmax": _softmax_unrescaled}),
    Mutant("positions_in_a_ring_of_512", "positions read modulo 512 (a ring buffer's slot used as the position): wpe "
           "rows 512 and on are never used",
           "ggml-org/llama.cpp#7578 (context shift at full context gave garbage); ml-explore/mlx-lm#93 "
           "(positions restarting with past); shared anchors, bug 9", ("reference_logits",),
           patches={"positions": _positions_in_a_ring_of_512}),
    Mutant("cache_slot_off_by_one", "a paged KV cache of 256-slot blocks writes the position that opens a block "
           "one slot early too, over the last slot of the block before",
           "pytorch/executorch#2689 (sdpa with KV cache op off by one); vllm-project/vllm#57614 (paged attention wrong "
           "from block boundaries on); shared anchors, bugs 32 and 33", ("kv_cache",), model=_cache_slot_off_by_one),
    Mutant("head_without_its_last_tile", "a head tiled by 128 vocabulary entries, used past 1024, leaves the logits "
           "of the last, partial tile zero (GPT-2's 50257 is no multiple of 128)",
           "verl-project/verl#5349 (fused linear cross-entropy: the last vocabulary tile's zero-padded rows); "
           "mirage-project/mirage#751 (zero lm_head rows won the argmax); shared anchors, bug 35",
           ("reference_logits",), model=_head_without_its_last_tile),
)
