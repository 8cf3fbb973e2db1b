"""Tolerances, derived per example from what the authority itself achieves.

e32, the largest deviation from float64 of the reference run in float32 on SAMPLES roundings of the
weights, measures how much rounding the example amplifies. A backend computing with unit roundoff u gets

    tolerance = max(SAFETY * e32 * u / u32,  FLOOR_ULPS * u * max|l_ref64|)

in half precision with SAFETY_HALF * max(e32 * u / u32, tier_error) as the first term; the loss and the
gradients are derived alike. docs/tolerances.md has the argument and the measurements behind each constant.
"""
from contextlib import ExitStack
from dataclasses import replace
from unittest import mock

import numpy as np

from gpt2_conformance import reference
from gpt2_conformance.cases.weights import SCALES
from gpt2_conformance.reference import backward, gpt2

UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "float16": 2.0**-11, "bfloat16": 2.0**-8}
SAFETY = 16.0  # 6 times the worst error / e32 of a correct float32 backend seen
SAFETY_HALF = 4.0  # 2.6 times the worst error / max(e32 * u / u32, tier_error) of a correct one seen
FLOOR_ULPS = 4.0  # for an accidentally tiny e32: two correct results may differ by a few ulps
SAMPLES = 4  # one sample's e32 is a heavy-tailed estimate of another implementation's error
ORDERED_CHUNKS = 256  # up to 256 positions summed one by one, as a loop over positions does


def reference_with_error(params, tokens, past=None):
    """(float64 reference logits, e32: the float32 rounding error the reference itself shows)."""
    ref64, _ = reference.model(params.astype(np.float64), tokens, _as(past, np.float64))
    e32 = 0.0
    for p32 in roundings(params, "float32"):
        ref32, _ = reference.model(p32, tokens, _as(past, np.float32))
        e32 = max(e32, max_abs_err(ref32, ref64))
    return ref64, e32


def roundings(params, dtype, seed=0):
    """SAMPLES roundings of the weights to dtype (held in float32): the plain one, then SAMPLES - 1 that
    any implementation's storage is entitled to as well: in float32, each entry moved by one ulp up or
    down with probability 0.2 each (as a relative perturbation of u * N(0, 1) rounded to float32 moves
    between 32% and 50% of them, and at a fraction of its cost: GPT-2 small's embedding is 40M entries);
    in half precision, each entry times 1 + u * N(0, 1) before it is rounded."""
    rng = np.random.default_rng(seed)
    plain = params.astype(np.float32)
    for sample in range(SAMPLES):
        if dtype == "float32":
            yield plain if sample == 0 else replace(plain, tensors={k: _ulp_moved(v, rng) for k, v in plain.tensors.items()},
                                                    check=False)
        else:
            yield round_to(plain if sample == 0 else plain.perturbed(rng, UNIT_ROUNDOFF[dtype]), dtype)


_ULP_STEPS = np.repeat(np.array([-1, 0, 1], np.float32), [51, 154, 51])  # a random byte -> -1, 0 or +1


def _ulp_moved(x, rng):
    """x (float32) with each entry moved by -1, 0 or +1 ulps (probabilities 0.2, 0.6, 0.2)."""
    moved = np.spacing(x)  # in place: the same values as x + steps * spacing(x)
    moved *= _ULP_STEPS[np.frombuffer(rng.bytes(x.size), np.uint8)].reshape(x.shape)
    moved += x
    return moved


def grads_with_error(params, tokens, loss_mask=None):
    """(float64 loss, {name: float64 gradient}, {name: e32}, scale) of the reference backward, where e32
    is, per tensor (and for "loss"), the largest float32 rounding error it shows over _float32_runs; scale
    is gradient_scale's.

    A gradient is often a small difference of large terms (a bias's: the sum of its upstream gradient over
    every position), and another implementation's formula cancels in another order: the reference's own
    float32 backward can be exact where a correct one errs by u times the terms (docs/training.md).
    Perturbing each step's result is the standard model of any implementation's rounding, so e32 sees the
    size of the terms."""
    loss64, grads64 = backward.loss_and_grads(params.astype(np.float64), tokens, loss_mask)
    e32 = dict.fromkeys(["loss", *grads64], 0.0)
    for p32, patches in _float32_runs(params):
        with ExitStack() as stack:
            for (module, name), replacement in patches.items():
                stack.enter_context(mock.patch.object(module, name, replacement))
            loss32, grads32 = backward.loss_and_grads(p32, tokens, loss_mask)
        e32["loss"] = max(e32["loss"], abs(float(loss32) - loss64))
        for name, g in grads32.items():
            e32[name] = max(e32[name], max_abs_err(g, grads64[name]))
    return loss64, grads64, e32, gradient_scale(params.astype(np.float64), tokens, loss_mask)


def _float32_runs(params):
    """(float32 params, {(module, name): replacement} to run the backward under) of each run grads_with_error
    measures: the plain rounding of the weights; SAMPLES - 1 perturbed roundings, with every step's result
    perturbed by one unit roundoff; the plain rounding with the sums over positions taken in order
    (_summed_in_chunks)."""
    rng = np.random.default_rng(2)
    runs = roundings(params, "float32")
    plain = next(runs)
    yield plain, {}
    for p32 in runs:  # perturbed
        noisy = {(module, name): lambda *a, step=getattr(module, name): _noisy(step(*a), rng) for module, name in _steps()}
        yield p32, noisy | {(gpt2, "softmax"): lambda x: _noisy(_softmax(x), rng, _row_max(x))}
    yield plain, {(backward, name): _summed_in_chunks(getattr(backward, name), ORDERED_CHUNKS)
                  for name in ("conv1d_backward", "head_backward")}


def gradient_scale(params, tokens, loss_mask=None):
    """{"gradients": the size of the terms every gradient is a sum of, "loss": the size of the loss's
    terms}. The first is the largest entry of any tensor's gradient when the loss's own gradient, softmax
    - one-hot, is replaced by softmax + one-hot, which cannot cancel. Where the model is sure of the next
    token the two nearly cancel: the gradients are then tiny while every float32 implementation rounds the
    softmax's 1 - 1e-11 to 1, erring by u times the terms. The loss, a log-sum-exp less the label's logit,
    likewise errs by u times the largest logit; and "predictions", the number of terms its mean sums (see
    reduction_ulps)."""
    logits, cache = backward.forward_with_cache(params, tokens)
    z = gpt2.softmax(logits[:, :-1])
    np.put_along_axis(z, tokens[:, 1:, None], np.take_along_axis(z, tokens[:, 1:, None], axis=-1) + 1, axis=-1)
    weight = np.ones(tokens[:, 1:].shape) if loss_mask is None else loss_mask.astype(np.float64)
    terms = np.zeros_like(logits)
    terms[:, :-1] = z * (weight / weight.sum())[..., None]
    grads, wte_head, dx = backward.model_backward(terms, params, cache)
    return {"gradients": max(float(np.abs(g).max()) for g in [*grads.values(), wte_head, dx]),
            "loss": float(np.abs(logits).max()) + float(np.log(logits.shape[-1])), "predictions": float(weight.sum())}


def gradient_tolerances(grads64, e32, scale, dtype):
    """{name: tolerance for max |gradient - grads64[name]|, and "loss": for the loss} of a backend computing
    in dtype (scale: gradient_scale's).

    As the logits': SAFETY * e32 * u / u32, with a floor of a few ulps. The floor is of the terms the
    gradients are sums of (gradient_scale), not of the tensor's own gradient: backpropagation carries one
    upstream gradient through weights and activations of order one, and a gradient much smaller than its
    terms (exactly zero, even, such as every gradient below a LayerNorm of width 1) is a cancellation that
    a correct implementation computes to u times the terms, not to u times the result."""
    u = UNIT_ROUNDOFF[dtype]
    floors = {"gradients": FLOOR_ULPS * u * scale["gradients"],
              "loss": (FLOOR_ULPS + reduction_ulps(scale["predictions"])) * u * scale["loss"]}
    return {name: max(SAFETY * e32[name] * u / UNIT_ROUNDOFF["float32"], floors[key])
            for name, key in [*((n, "gradients") for n in grads64), ("loss", "loss")]}


def reduction_ulps(terms):
    """ulps of its terms' size by which a correct mean of `terms` numbers may differ from the reference's:
    each implementation sums in an order of its own (pairwise, blocked, over padded rows), and a pairwise
    sum errs by up to ceil(log2 terms) ulps of its terms (Higham, Accuracy and Stability, 4.2). The
    reference's own float32 samples sum in one order, so e32 does not show it."""
    return float(np.ceil(np.log2(max(terms, 1.0))))


def _steps():
    forward = [(gpt2, name) for name in ("layer_norm", "conv1d", "gelu")]  # softmax: see _row_max
    return forward + [(backward, name) for name in ("gelu_backward", "layer_norm_backward", "conv1d_backward",
                                                    "softmax_backward", "head_backward", "lm_loss_and_backward")]


def _summed_in_chunks(step, chunks):
    """step (conv1d_backward or head_backward: (dx, gradients summed over positions)) with those sums taken
    chunk of positions by chunk, one after another, as a loop over positions or a blocked matrix product
    accumulates, and not in numpy's order. Where every position contributes alike (n_embd 1, one token
    repeated) the order decides the error, and numpy's order errs far less than a loop's (docs/tolerances.md)."""
    def chunked(dy, x, w):
        rows = zip(np.array_split(dy.reshape(-1, dy.shape[-1]), chunks), np.array_split(x.reshape(-1, x.shape[-1]), chunks))
        parts = [step(d, a, w) for d, a in rows if len(d)]
        dx = np.concatenate([part[0] for part in parts]).reshape(*dy.shape[:-1], -1)
        sums = [sum(part[i] for part in parts) for i in range(1, len(parts[0]))]  # in order, in the dtype
        return dx, *sums

    return chunked


def _noisy(value, rng, size=1.0):
    """value (an array, a number or a tuple of them) with every float entry times 1 + u32 * size * N(0, 1)."""
    if isinstance(value, tuple):
        return tuple(_noisy(v, rng, size) for v in value)
    if isinstance(value, np.ndarray) and value.dtype == np.float32:
        factor = rng.standard_normal(value.shape)  # in place: the same values as value * (1 + u * size * N)
        factor *= UNIT_ROUNDOFF["float32"] * size
        factor += 1
        factor *= value
        return factor.astype(np.float32)
    return value


_softmax = gpt2.softmax


def _row_max(x):
    """max(1, |max x|) of each row: a softmax of scores s errs by u |log-sum-exp(s)| ~ u |max s| relatively
    where it is computed from s minus the log-sum-exp, as a fused attention's backward recomputes it from
    the forward's (docs/training.md). Masked scores (-1e10) never are the maximum."""
    return np.maximum(np.abs(x.max(axis=-1, keepdims=True)), 1.0)


def tier_error(params, tokens, ref64, dtype):
    """max |l - ref64| of the float32 reference run as a half-precision backend runs it (_in_dtype), on the
    plain and SAMPLES - 1 perturbed roundings of the weights to dtype: how far the logits move when
    rounding is that coarse, near-ties crossed included."""
    with ExitStack() as stack:
        for name in ("layer_norm", "conv1d", "gelu", "softmax", "block"):
            stack.enter_context(mock.patch.object(gpt2, name, _in_dtype(getattr(gpt2, name), name, dtype)))
        return max(max_abs_err(reference.model(p, tokens)[0], ref64) for p in roundings(params, dtype, seed=1))


def _in_dtype(step, name, dtype):
    """A step of gpt2.py that stores what it returns in dtype, and so does the residual stream between steps:
    a block and a LayerNorm read it rounded: where the stream cancels, its rounding before the cancellation
    is what a LayerNorm of near-equal values amplifies (docs/tolerances.md)."""
    def stored(*args):
        return round_to(step(*args), dtype)

    def layer_norm(x, *args):
        return round_to(step(round_to(x, dtype), *args), dtype)

    def block(x, *args, **kwargs):
        out, present = step(round_to(x, dtype), *args, **kwargs)
        return round_to(out, dtype), present

    return {"layer_norm": layer_norm, "block": block}.get(name, stored)


def round_to(x, dtype):
    """x (an array, or Params) rounded to float16 or bfloat16 and held in float32."""
    if hasattr(x, "tensors"):
        return type(x)(x.hparams, {k: round_to(v, dtype) for k, v in x.tensors.items()}, check=False)
    x = np.asarray(x, dtype=np.float32)
    if dtype == "float16":
        with np.errstate(over="ignore"):
            return x.astype(np.float16).astype(np.float32)
    bits = x.view(np.uint32)  # bfloat16: the top 16 bits of float32, rounded to nearest even
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)


def scales_for(dtype):
    """The weight scales on which a backend computing in dtype is compared with the reference."""
    return tuple(SCALES) if dtype in ("float64", "float32") else ("unit", "tiny")


def logits_tolerance(ref64, e32, dtype, e_tier=0.0):
    """Tolerance for max |logits - ref64| of a backend computing in `dtype` (e_tier: tier_error, for half
    precision)."""
    u = UNIT_ROUNDOFF[dtype]
    linear = e32 * u / UNIT_ROUNDOFF["float32"]
    estimate = SAFETY * linear if u <= UNIT_ROUNDOFF["float32"] else SAFETY_HALF * max(linear, e_tier)
    return max(estimate, FLOOR_ULPS * u * float(np.abs(ref64).max()))


def loss_tolerance(logits_tol, n_vocab, dtype, predictions):
    """Tolerance for |loss - loss_ref64|, loss = mean(logsumexp(l) - l[label]) over `predictions` terms.

    Both terms move by at most max|d logits|, so errors in the logits move the loss by 2 logits_tol.
    The loss computation rounds too: logsumexp = max + log(sum exp(l - max)) with 0 <= log(sum) <= log
    n_vocab, whose rounding the logits floor (FLOOR_ULPS * u * max|l|) does not cover when the logits
    are small; and the mean is summed in an order of the implementation's own (reduction_ulps).
    """
    return 2 * logits_tol + (FLOOR_ULPS + reduction_ulps(predictions)) * UNIT_ROUNDOFF[dtype] * np.log(n_vocab)


def max_abs_err(a, b):
    """max |a - b|, and inf where either is non-finite (a NaN must never compare as small)."""
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf is NaN, and NaN is what is looked for
        d = np.asarray(np.subtract(a, b, dtype=np.float64))
    if not d.size:
        return 0.0
    np.abs(d, out=d)
    worst = float(d.max())  # NaN or inf exactly where a or b is not finite (or their difference overflows)
    return worst if np.isfinite(worst) else float("inf")


def _as(past, dtype):
    return None if past is None else past.astype(dtype)


# The systematic criterion: a bug that moves every example's logits by a few e32 stays under each
# example's tolerance, but not under a bound on the typical ratio. docs/systematic.md derives the bounds,
# per precision, from what every bundled backend measures (about three times the largest median of a
# correct one), and shows which perturbations they catch.
SYSTEMATIC_BOUND = {"float64": 0.15, "float32": 0.15, "float16": 0.3, "bfloat16": 0.3}
SYSTEMATIC_MIN_EXAMPLES = 9  # official_logits' nine golden cases are the fewest a property runs


def median_ratio(samples):
    """Median of error / tolerance over the examples ([error, tolerance] each) that have a tolerance, or
    None where there are fewer than SYSTEMATIC_MIN_EXAMPLES of them (too few for a statistic)."""
    ratios = [e / t for e, t in samples if t > 0]
    return float(np.median(ratios)) if len(ratios) >= SYSTEMATIC_MIN_EXAMPLES else None
