"""The properties: registry, the context a property runs in, and what it measures.

A property is a function (ctx, data) -> Measurement, where `data` is Hypothesis' st.data() and `ctx`
gives the backend under test (loaded through the guard) and the reference. It draws its own example,
and returns the largest error it measured with the tolerance that applies; it never asserts itself,
so the runner can record passing margins as well as failures.

One table holds every property; its `subject` says whether it checks a model or a tokenizer (the
tokenizer properties, in properties/tokenizer/, get a TokenizerContext). A property runs only on backends
of its subject (applicable), so no property ever asks what kind of backend it was given.
"""
import math
from dataclasses import dataclass, field, replace

import numpy as np

from gpt2_conformance.backends import BackendClock, Subject, guarded_load
from gpt2_conformance.cases import strategies
from gpt2_conformance.cases.weights import SCALES
from gpt2_conformance.judge.oracle_cache import grads_with_error, memo, reference_with_error, tier_error
from gpt2_conformance.judge.tolerances import gradient_tolerances, logits_tolerance, max_abs_err, scales_for
from gpt2_conformance.reference import backward


@dataclass(frozen=True)
class Property:
    id: str
    fn: object
    core: bool  # a backend that cannot run a core property is not certified
    needs: tuple  # Capabilities fields that must be true
    doc: str
    dtype: str | None = None  # a dtype tier: the property run in this dtype (else the backend's core dtype)
    precondition: object = None  # (Space) -> None, or why the property cannot run on these cases
    compares_calls: bool = False  # compares two calls of one backend (so a reused output buffer could fool it)
    training: bool = False  # about gradients: judged in the backend's training verdict
    subject: Subject = Subject.MODEL  # what it checks: runs only on backends whose capabilities.subject it is
    strata: tuple = ()  # a tokenizer property's kinds of input, searched one after another (cases/text.py)


REGISTRY = {}


def prop(id, core=False, needs=(), precondition=None, compares_calls=False, training=False, subject=Subject.MODEL,
         strata=()):
    def register(fn):
        REGISTRY[id] = Property(id, fn, core, tuple(needs), (fn.__doc__ or "").strip().splitlines()[0],
                                precondition=precondition, compares_calls=compares_calls, training=training,
                                subject=subject, strata=tuple(strata))
        return fn

    return register


def ids_of(subject):
    """The ids of the properties that check subject, in report order."""
    return [id for id, p in REGISTRY.items() if p.subject == subject]


@dataclass
class Measurement:
    err: float
    tol: float
    detail: str = ""

    @property
    def ok(self):
        return self.err <= self.tol  # False for NaN

    def failure(self):
        """What this measurement says when it fails."""
        error = (f"max |error| {self.err:.3g}" if math.isfinite(self.err)
                 else "non-finite values (inf or NaN) in the logits")
        return f"{self.detail}: {error} exceeds tolerance {self.tol:.3g}"

    def held(self):
        """What this measurement says when it holds."""
        return f"{self.detail}: max |error| {self.err:.3g} within tolerance {self.tol:.3g}"


@dataclass(frozen=True)
class GradientReference:
    """The float64 reference's loss and gradients, with the tolerance of each (and of the loss) for a dtype."""

    loss: float
    grads: dict
    tolerances: dict

    def worst(self, loss, grads):
        """The Measurement of the gradient (or the loss) furthest off, relative to its tolerance."""
        errors = {"loss": abs(loss - self.loss), **{name: max_abs_err(grads[name], g) for name, g in self.grads.items()}}
        name = max(errors, key=lambda n: errors[n] / self.tolerances[n] if self.tolerances[n] else float("inf"))
        return Measurement(errors[name], self.tolerances[name], f"the gradient of {name}" if name != "loss" else "the loss")


@dataclass
class Context:
    backend: object
    dtype: str
    space: strategies.Space = strategies.Space()
    notes: dict = field(default_factory=dict)
    clock: BackendClock = field(default_factory=BackendClock)
    _oracle: dict = field(default_factory=dict)
    _loaded: object = None  # the weights loaded first: the example's own (every property loads them first)

    @property
    def scales(self):
        """The weight scales this dtype is checked on (see tolerances.scales_for)."""
        return scales_for(self.dtype)

    def cases(self, min_length=1, scales=tuple(SCALES), **bounds):
        """The strategy of this backend's cases (see strategies.cases)."""
        return strategies.cases(self.space, min_length, scales, **bounds)

    def integers(self, lo, hi, name):
        """A strategy of positions and the like in [lo, hi], spread as the space's cases are (strategies.integers)."""
        return strategies.integers(lo, hi, self.space.spread, name)

    def for_example(self, notes, clock):
        """A context for one example of this one's search: the oracle's memo is the example's own."""
        return Context(self.backend, self.dtype, self.space, notes=notes, clock=clock)

    def load(self, params):
        self._loaded = self._loaded or params
        return guarded_load(self.backend, params, self.dtype, self.clock)

    def note(self, **values):
        """Record drawn values; the notes of the last (shrunk) failing example become the counterexample."""
        self.notes.update(values)

    def reference(self, params, tokens):
        """(float64 logits, tolerance for this backend's dtype) of tokens, memoized per example."""
        key = (id(params), tokens.tobytes(), tokens.shape)
        if key not in self._oracle:  # params stays referenced, so its id is not reused meanwhile
            ref64, e32 = reference_with_error(params, tokens)
            e_tier = tier_error(params, tokens, ref64, self.dtype) if self.dtype in ("float16", "bfloat16") else 0.0
            self._oracle[key] = (ref64, logits_tolerance(ref64, e32, self.dtype, e_tier), params, e32)
        ref64, tol, _, _ = self._oracle[key]
        return ref64, tol

    def reference_of(self, tokens):
        """(params, float64 logits, float32 logits tolerance) of an oracle call of this example on tokens; else
        (the weights it loaded first, None, None); else None. float32, whatever this context's dtype: what an
        example can show is the example's, the same for every backend (coverage.py)."""
        key = (tokens.tobytes(), tokens.shape)
        called = ((params, ref64, logits_tolerance(ref64, e32, "float32"))
                  for k, (ref64, _, params, e32) in self._oracle.items() if k[1:] == key)
        return next(called, None if self._loaded is None else (self._loaded, None, None))

    def grad_reference(self, params, tokens, loss_mask=None):
        """The GradientReference of tokens (loss_mask: the predictions the loss counts), for this dtype."""
        loss64, grads64, e32, scale = grads_with_error(params, tokens, loss_mask)
        return GradientReference(loss64, grads64, gradient_tolerances(grads64, e32, scale, self.dtype))

    def wte_grad_paths(self, params, tokens):
        """(head, embedding): the float64 reference's two paths of wte's gradient (backward.wte_grad_paths),
        from the oracle's cache as the rest of the oracle."""
        paths = memo(params, tokens, "wte-paths", lambda: dict(zip(
            ("head", "embedding"), backward.wte_grad_paths(params.astype(np.float64), tokens))))
        return paths["head"], paths["embedding"]


def tier(id, dtype):
    """Register `id[dtype]`: property `id` run in a half-precision dtype, for backends that declare it.
    A tier is not core: the core dtype's run certifies the model; a failing tier still fails the certificate."""
    REGISTRY[f"{id}[{dtype}]"] = replace(REGISTRY[id], id=f"{id}[{dtype}]", core=False, dtype=dtype)


def applicable(prop, capabilities, space=strategies.Space()):
    """None if the backend can run prop on the cases of space, else the reason it cannot."""
    if prop.subject != capabilities.subject:
        return f"a {prop.subject} property, and the backend is a {capabilities.subject}"
    missing = [n for n in prop.needs if not getattr(capabilities, n)]
    if prop.dtype and prop.dtype not in capabilities.dtypes:
        missing.append(prop.dtype)
    if missing:
        return f"backend lacks {', '.join(missing)}"
    if prop.dtype and prop.dtype == capabilities.core_dtype:
        return f"{prop.dtype} is the backend's core dtype: the core properties already run in it"
    outside = space.fixed and capabilities.scope.why_not(space.fixed[1].hparams)
    if outside:
        return f"the weights {space.fixed[0]} lie outside the backend's declared scope ({outside})"
    return prop.precondition(space) if prop.precondition else None


# isort: off
from gpt2_conformance.properties import (  # noqa: E402  registration order is report order
    causal_masking,
    prefix_consistency,
    tied_head,
    reference_logits,
    official_logits,
    determinism,
    kv_cache,
    generation,
    finite_outputs,
    batch_padding,
    lm_loss,
    known_answers,
    gradients,
    tied_gradient,
    causal_gradient,
)
from gpt2_conformance.properties.tokenizer import (  # noqa: E402  after the model properties, in report order
    encode_official,
    decode_official,
    roundtrip,
    golden_tokenization,
    special_text,
)
# isort: on

for _dtype in ("float16", "bfloat16"):
    tier("reference_logits", _dtype)
    tier("kv_cache", _dtype)
