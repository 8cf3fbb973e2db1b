"""The properties: registry, the context a property runs in, and what it measures.

A property is a function (ctx, data) -> Measurement, where `data` is Hypothesis' st.data() and `ctx`
gives the backend under test (loaded through the guard) and the reference. It draws its own example,
and returns the largest error it measured with the tolerance that applies; it never asserts itself,
so the runner can record passing margins as well as failures.
"""
from dataclasses import dataclass, field

from conformance.backends import BackendClock, guarded_load
from conformance.oracle_cache import reference_with_error
from conformance.tolerances import logits_tolerance


@dataclass(frozen=True)
class Property:
    id: str
    fn: object
    core: bool  # a backend that cannot run a core property is not certified
    needs: tuple  # Capabilities fields that must be true
    doc: str


REGISTRY = {}


def prop(id, core=False, needs=()):
    def register(fn):
        REGISTRY[id] = Property(id, fn, core, tuple(needs), (fn.__doc__ or "").strip().splitlines()[0])
        return fn

    return register


@dataclass
class Measurement:
    err: float
    tol: float
    detail: str = ""

    @property
    def ok(self):
        return self.err <= self.tol  # False for NaN


@dataclass
class Context:
    backend: object
    dtype: str
    notes: dict = field(default_factory=dict)
    clock: BackendClock = field(default_factory=BackendClock)
    _oracle: dict = field(default_factory=dict)

    def load(self, params):
        return guarded_load(self.backend, params, self.dtype, self.clock)

    def note(self, **values):
        """Record drawn values; the notes of the last (shrunk) failing example become the counterexample."""
        self.notes.update(values)

    def reference(self, params, tokens):
        """(float64 logits, tolerance for this backend's dtype) of tokens, memoized per example."""
        key = (id(params), tokens.tobytes(), tokens.shape)
        if key not in self._oracle:  # params stays referenced, so its id is not reused meanwhile
            self._oracle[key] = (*reference_with_error(params, tokens), params)
        ref64, e32, _ = self._oracle[key]
        return ref64, logits_tolerance(ref64, e32, self.dtype)


def applicable(prop, capabilities):
    """None if the backend can run prop, else the reason it cannot."""
    missing = [n for n in prop.needs if not getattr(capabilities, n)]
    return f"backend lacks {', '.join(missing)}" if missing else None


from conformance.properties import (  # noqa: E402  registration order is report order
    causal_masking,
    prefix_consistency,
    tied_head,
    reference_logits,
    determinism,
)
