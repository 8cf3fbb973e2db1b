"""The input contract: what a backend itself does with bad input, recorded for the certificate.

The guard (gpt2_conformance.backends.Guarded) rejects every bad input below before a backend sees it, so
no property ever scores garbage. This module records what happens when the backend is called
directly, without the guard: it raises (a clear error or not), returns logits anyway (garbage), or
takes its process down. The probes run in the backend's worker process after its properties
(gpt2_conformance.run.worker), which gpt2_conformance.run.isolation restarts after a crash.
"""
import numpy as np

from gpt2_conformance.cases.weights import random_params
from gpt2_conformance.reference import HParams

HP = HParams(n_vocab=7, n_ctx=5, n_embd=4, n_head=2, n_layer=1)


def _with_past(model, past_batch, tokens):
    if not model.capabilities.past:
        return None
    _, cache = model.forward(np.zeros((past_batch, 3), np.int64))
    return tokens, cache


BAD_INPUTS = {  # name -> (guarded model) -> (tokens, guarded past) or None where it does not apply
    "id_ge_n_vocab": lambda m: (np.array([[1, HP.n_vocab]]), None),
    "id_negative": lambda m: (np.array([[1, -1]]), None),
    "longer_than_n_ctx": lambda m: (np.zeros((1, HP.n_ctx + 1), np.int64), None),
    "longer_than_n_ctx_after_past": lambda m: _with_past(m, 1, np.zeros((1, HP.n_ctx - 2), np.int64)),
    "empty": lambda m: (np.zeros((1, 0), np.int64), None),
    "float_tokens": lambda m: (np.array([[1.0, 2.5]]), None),
    "past_of_another_batch": lambda m: _with_past(m, 2, np.zeros((1, 1), np.int64)),
}


def probe(backend, name, emit):
    """emit(name, field, value) for what the guard does with one bad input, then for what the backend
    does (outcome: raises / returns / not applicable, and a sentence). The guard is recorded first, so
    that it stays on record when the backend then takes the process down."""
    from gpt2_conformance.backends import guarded_load

    try:
        model = guarded_load(backend, random_params(HP, 0))
        built = BAD_INPUTS[name](model)
    except Exception as e:  # not a bad input yet: the backend fails on good ones (see essentials)
        emit(name, "guard", "not applicable")
        emit(name, "outcome", "not probed")
        emit(name, "backend", f"the model did not load and run: {type(e).__name__}: {str(e)[:200]}")
        return
    if built is None:
        emit(name, "guard", "not applicable")
        emit(name, "outcome", "not applicable")
        emit(name, "backend", "the backend has no past")
        return
    tokens, past = built
    try:
        model.forward(tokens, past=past)
        emit(name, "guard", "NOT intercepted")
    except Exception as e:
        emit(name, "guard", f"rejected: {type(e).__name__}: {e}")
    try:
        logits, _ = model.model.forward(tokens, None if past is None else past.value)
    except Exception as e:
        emit(name, "outcome", "raises")
        emit(name, "backend", f"{type(e).__name__}: {str(e)[:200]}")
        return
    logits = np.asarray(logits)
    finite = "finite" if logits.dtype.kind == "f" and np.isfinite(logits).all() else "non-finite"
    emit(name, "outcome", "returns")
    emit(name, "backend", f"{finite} logits of shape {list(logits.shape)}, no error (garbage)")
