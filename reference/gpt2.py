"""GPT-2 forward pass in NumPy, op for op after openai/gpt-2 src/model.py.

It computes in the dtype of the parameters it is given: float64 is the reference;
the same code in float32 measures how much rounding a correct float32 GPT-2 shows
(see docs/tolerances.md).
"""
import math

import numpy as np

from gpt2_conformance.reference.params import check_inputs


def gelu(x):
    # x * x * x, not x**3: NumPy computes x**3 with pow(), many times slower than two multiplies
    # (docs/performance.md), and the two agree within an ulp.
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * (x * x * x))))


def layer_norm(x, g, b, eps=1e-5):
    u = x.mean(axis=-1, keepdims=True)
    s = np.square(x - u).mean(axis=-1, keepdims=True)  # population variance, as the official norm()
    return (x - u) / np.sqrt(s + eps) * g + b


def conv1d(x, w, b):
    """Official Conv1D: w has shape [1, nx, nf]."""
    return x @ w[0] + b


def softmax(x):
    e = x - x.max(axis=-1, keepdims=True)
    np.exp(e, out=e)  # in place: attention has n_head * seq**2 of these, and each new array costs page faults
    e /= e.sum(axis=-1, keepdims=True)
    return e


def attention_mask(nd, ns, dtype):
    """1 where query i (of nd, the newest) may see key j (of ns): lower triangle from the lower-right corner."""
    i = np.arange(nd)[:, None]
    j = np.arange(ns)
    return (i >= j - ns + nd).astype(dtype)


def mask_attn_weights(w):
    """w: scores [..., nd, ns]. Masked scores are replaced by -1e10, exactly as the official code does."""
    b = attention_mask(w.shape[-2], w.shape[-1], w.dtype)
    masked = w * b
    masked -= np.asarray(1e10, dtype=w.dtype) * (1 - b)  # in place: one n_head * nd * ns array, not two
    return masked


def mask_padding(w, attention_mask):
    """Scores of padding keys (attention_mask 0 over past and new tokens) are replaced by -1e10 too.

    The official code has no padding; this is the semantics a padded batch must have: each sequence
    sees only its own real tokens, as if it ran alone.
    """
    keep = attention_mask[:, None, None, :].astype(w.dtype)
    return w * keep - np.asarray(1e10, dtype=w.dtype) * (1 - keep)


def split_heads(x, n_head):
    """[batch, seq, n_embd] -> [batch, n_head, seq, head_dim]."""
    *start, m = x.shape
    return x.reshape(*start, n_head, m // n_head).swapaxes(-2, -3)


def merge_heads(x):
    """[batch, n_head, seq, head_dim] -> [batch, seq, n_embd]."""
    x = x.swapaxes(-2, -3)
    return x.reshape(*x.shape[:-2], -1)


def attention(x, p, n_head, past, attention_mask=None):
    """Returns the attention output and present = [k, v] of the new tokens only."""
    c = conv1d(x, p["attn/c_attn/w"], p["attn/c_attn/b"])
    q, k, v = (split_heads(part, n_head) for part in np.split(c, 3, axis=-1))
    present = np.stack([k, v], axis=1)
    if past is not None:
        k = np.concatenate([past[:, 0], k], axis=-2)
        v = np.concatenate([past[:, 1], v], axis=-2)
    w = q @ k.swapaxes(-1, -2)
    w *= 1 / np.sqrt(np.asarray(v.shape[-1], dtype=x.dtype))
    w = mask_attn_weights(w)
    if attention_mask is not None:
        w = mask_padding(w, attention_mask)
    a = merge_heads(softmax(w) @ v)
    return conv1d(a, p["attn/c_proj/w"], p["attn/c_proj/b"]), present


def mlp(x, p):
    return conv1d(gelu(conv1d(x, p["mlp/c_fc/w"], p["mlp/c_fc/b"])), p["mlp/c_proj/w"], p["mlp/c_proj/b"])


def block(x, p, n_head, past, attention_mask=None):
    a, present = attention(layer_norm(x, p["ln_1/g"], p["ln_1/b"]), p, n_head, past, attention_mask)
    x = x + a
    x = x + mlp(layer_norm(x, p["ln_2/g"], p["ln_2/b"]), p)
    return x, present


def positions(past_length, seq, attention_mask=None):
    """Position of each new token. With padding it is the token's index among the real tokens of
    its sequence (padding does not count), so a padded sequence sees the positions it has alone."""
    if attention_mask is None:
        return past_length + np.arange(seq)
    return np.maximum(np.cumsum(attention_mask, axis=-1) - 1, 0)[:, past_length:]


def hidden(params, tokens, past=None, attention_mask=None):
    """Final hidden state ln_f(h) [batch, seq, n_embd] and present [batch, n_layer, 2, n_head, seq, head_dim].

    attention_mask (optional, [batch, past + seq], 1 for a real token, 0 for padding) covers past and tokens.
    """
    hp, t = params.hparams, params.tensors
    check_inputs(hp, tokens, past, attention_mask)
    past_length = 0 if past is None else past.shape[-2]
    h = t["model/wte"][tokens] + t["model/wpe"][positions(past_length, tokens.shape[1], attention_mask)]
    presents = []
    for layer in range(hp.n_layer):
        p = params.layer(layer)
        h, present = block(h, p, hp.n_head, None if past is None else past[:, layer], attention_mask)
        presents.append(present)
    return layer_norm(h, t["model/ln_f/g"], t["model/ln_f/b"]), np.stack(presents, axis=1)


def model(params, tokens, past=None, attention_mask=None):
    """logits [batch, seq, n_vocab] and present, for int tokens [batch, seq] after `past`."""
    h, present = hidden(params, tokens, past, attention_mask)
    return h @ params.tensors["model/wte"].T, present  # the tied head


def lm_loss(logits, tokens):
    """Mean next-token cross-entropy: the logits at position t predict token t + 1 (labels shifted by one)."""
    z = logits[:, :-1]
    z = z - z.max(axis=-1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return -np.take_along_axis(log_probs, tokens[:, 1:, None], axis=-1).mean()
