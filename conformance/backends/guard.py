"""The guard between the suite and a backend: inputs validated before the backend sees them, outputs
copied and checked after.

A backend is never scored on garbage it was fed, and garbage it returns is an error, not a number. It loads
a copy of any weights the suite keeps read-only, so what it writes there is its own.
What it returns is copied at once: an engine that hands out one reused output buffer (as C libraries
that return a pointer to their logits do) would otherwise be compared with itself.
"""
import time
from dataclasses import dataclass, field, replace

import numpy as np

from gpt2_conformance.backends.protocol import Capabilities, Unsupported
from gpt2_conformance.judge.tolerances import UNIT_ROUNDOFF
from gpt2_conformance.reference import gpt2
from gpt2_conformance.reference.params import InvalidInput, check_attention_mask, check_inputs


class BackendError(RuntimeError):
    """A backend failed or broke the protocol; the message says which backend and how."""


class WrongShape(BackendError):
    """A backend returned logits of the wrong shape."""


@dataclass
class BackendClock:
    """Seconds spent inside the backend's own code; the rest of a run's wall time is the harness's."""

    load_seconds: float = 0.0
    forward_seconds: float = 0.0


@dataclass(frozen=True)
class Cache:
    """A backend's opaque cache with the number of tokens it holds."""

    value: object
    length: int
    batch: int


@dataclass
class Guarded:
    """A loaded model behind the checks the suite makes on the backend's behalf."""

    backend_name: str
    params: object
    model: object
    capabilities: Capabilities
    dtype: str
    clock: BackendClock = field(default_factory=BackendClock)

    def forward(self, tokens, past=None, attention_mask=None):
        seen = self._check_inputs(tokens, past, attention_mask)
        extra = {} if attention_mask is None else {"attention_mask": attention_mask.astype(np.int64)}
        tokens = tokens.astype(np.int64)
        out = self._call("forward", tokens, None if past is None else past.value, **extra)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise BackendError(f"{self.backend_name}.forward returned {_describe(out)}, not a (logits, cache) pair")
        logits, cache = out
        logits = self._checked_logits(logits, (*tokens.shape, self.params.hparams.n_vocab))
        if not self.capabilities.past:
            return logits, None
        if cache is None:
            raise BackendError(f"{self.backend_name} declares past but returned no cache (None)")
        return logits, Cache(cache, seen + tokens.shape[1], tokens.shape[0])

    def loss(self, tokens):
        """Mean next-token cross-entropy: the backend's own where it has one, else from its logits."""
        check_inputs(self.params.hparams, tokens, None)
        if tokens.shape[1] < 2:
            raise InvalidInput("the language-model loss needs at least 2 tokens per sequence")
        if not self.capabilities.loss:
            return float(gpt2.lm_loss(self.forward(tokens)[0].astype(np.float64), tokens))
        value = np.asarray(self._call("loss", tokens.astype(np.int64)))
        if value.shape != () or value.dtype.kind != "f":
            raise BackendError(f"{self.backend_name} returned a loss of shape {value.shape} and dtype {value.dtype}, "
                               "expected a float scalar")
        return float(value)

    def loss_and_grads(self, tokens, loss_mask=None):
        """(loss, {name: gradient}) of the backend, checked: every tensor's gradient, of its shape, copied."""
        if not self.capabilities.grad:
            raise BackendError(f"{self.backend_name} does not compute gradients")
        check_inputs(self.params.hparams, tokens, None)
        if tokens.shape[1] < 2:
            raise InvalidInput("the language-model loss needs at least 2 tokens per sequence")
        extra = {} if loss_mask is None else {"loss_mask": _checked_loss_mask(loss_mask, tokens.shape)}
        out = self._call("loss_and_grads", tokens.astype(np.int64), **extra)
        if not (isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[1], dict)):
            raise BackendError(f"{self.backend_name}.loss_and_grads returned {_describe(out)}, not (loss, {{name: gradient}})")
        loss, grads = out
        loss = np.asarray(loss)
        if loss.shape != () or loss.dtype.kind != "f":
            raise BackendError(f"{self.backend_name} returned a loss of shape {loss.shape} and dtype {loss.dtype}, "
                               "expected a float scalar")
        shapes = {name: value.shape for name, value in self.params.tensors.items()}
        missing, extra_names = sorted(set(shapes) - set(grads)), sorted(set(grads) - set(shapes))
        if missing or extra_names:
            raise BackendError(f"{self.backend_name} returned gradients that lack {missing or 'nothing'} and have "
                               f"unknown {extra_names or 'nothing'}: one per tensor, under the official names")
        return float(loss), {name: self._checked_tensor(name, grads[name], shapes[name]) for name in shapes}

    def _checked_tensor(self, name, value, shape):
        value = owned(value)
        if value.shape != shape or value.dtype.kind != "f":
            raise BackendError(f"{self.backend_name} returned the gradient of {name} with shape {value.shape} and dtype "
                               f"{value.dtype}, expected float {shape}")
        return value

    def set_wte(self, wte):
        if not self.capabilities.set_wte:
            raise BackendError(f"{self.backend_name} cannot replace wte in a live model")
        self._call("set_wte", np.array(wte))  # a copy: the suite's array must not become the backend's
        self.params = self.params.with_tensor("model/wte", wte)

    def _check_inputs(self, tokens, past, attention_mask):
        """Raise InvalidInput (or BackendError for a capability the backend lacks); return the past length."""
        hp = self.params.hparams
        if past is not None and not self.capabilities.past:
            raise BackendError(f"{self.backend_name} does not support past")
        if attention_mask is not None and not self.capabilities.padding:
            raise BackendError(f"{self.backend_name} does not support padding")
        check_inputs(hp, tokens, None)
        if past is not None and not isinstance(past, Cache):
            raise InvalidInput(f"past must be the cache a previous forward returned, got {type(past).__name__}")
        seen = 0 if past is None else past.length
        if past is not None and past.batch != tokens.shape[0]:
            raise InvalidInput(f"past holds a batch of {past.batch}, tokens a batch of {tokens.shape[0]}")
        if seen + tokens.shape[1] > hp.n_ctx:
            raise InvalidInput(f"sequence of {tokens.shape[1]} tokens after a past of {seen} exceeds n_ctx {hp.n_ctx}")
        if attention_mask is not None:
            check_attention_mask(attention_mask, (tokens.shape[0], seen + tokens.shape[1]))
        return seen

    def _call(self, method, *args, **kwargs):
        start = time.perf_counter()
        try:
            return getattr(self.model, method)(*args, **kwargs)
        except (InvalidInput, Unsupported):
            raise
        except Exception as e:
            raise BackendError(f"{self.backend_name} {method} raised {type(e).__name__}: {e}") from e
        finally:
            self.clock.forward_seconds += time.perf_counter() - start

    def _checked_logits(self, logits, expected):
        try:
            logits = owned(logits)
        except Exception as e:
            raise BackendError(f"{self.backend_name} returned logits NumPy cannot read: {type(e).__name__}: {e}") from None
        if logits.shape != expected:
            raise WrongShape(f"{self.backend_name} returned logits of shape {logits.shape}, expected {expected}")
        if logits.dtype.kind != "f":
            raise BackendError(f"{self.backend_name} returned logits of dtype {logits.dtype}, expected float")
        if np.finfo(logits.dtype).eps / 2 > UNIT_ROUNDOFF[self.dtype]:
            raise BackendError(f"{self.backend_name} returned {logits.dtype} logits from a model loaded in {self.dtype}: "
                               f"the suite judges the precision the backend was loaded in")
        return logits


def _checked_loss_mask(loss_mask, shape):
    batch, seq = shape
    if not isinstance(loss_mask, np.ndarray) or loss_mask.shape != (batch, seq - 1) or not np.isin(loss_mask, (0, 1)).all():
        raise InvalidInput(f"loss_mask must be a 0/1 array of shape [batch, seq - 1] = [{batch}, {seq - 1}]")
    if not loss_mask.any():
        raise InvalidInput("loss_mask selects no prediction: the loss would be 0/0")
    return loss_mask.astype(np.int64)


def owned(array):
    """A copy of what a backend returned: its next call may overwrite a buffer it reuses."""
    return np.array(array)


def guarded_load(backend, params, dtype=None, clock=None):
    """Load params into the backend (in the dtype its core properties run in, unless told), as a Guarded
    model that adds the seconds spent in the backend to `clock`."""
    dtype = dtype or backend.capabilities.core_dtype
    clock = clock or BackendClock()
    given = _writable(params)  # the suite's copy, not the backend's time
    start = time.perf_counter()
    try:
        model = backend.load(given, dtype=dtype)
    except Unsupported:
        raise
    except Exception as e:
        raise BackendError(f"{backend.name} cannot load the parameters ({type(e).__name__}: {e})") from e
    finally:
        clock.load_seconds += time.perf_counter() - start
    if model is None or not callable(getattr(model, "forward", None)):
        raise BackendError(f"{backend.name}.load returned {_describe(model) if model is not None else 'None'}, "
                           "not a model with forward(tokens, past=None)")
    return Guarded(backend.name, params, model, backend.capabilities, dtype, clock=clock)


def _writable(params):
    """params, with a copy of each read-only array (generated weights are: the oracle's cache keys them by the
    recipe that made them): the backend's to keep, hand to a library that wants writable memory, or write into."""
    def read_only(value):
        return isinstance(value, np.ndarray) and not value.flags.writeable

    if not any(map(read_only, params.tensors.values())):
        return params
    return replace(params, tensors={name: value.copy() if read_only(value) else value
                                    for name, value in params.tensors.items()}, check=False)


def _describe(value):
    shape = getattr(value, "shape", None)
    return f"a {type(value).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")
