"""Runs properties against a backend with Hypothesis and records what happened."""
import time
from dataclasses import asdict, dataclass, field

import hypothesis
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.backends import BackendError, Unsupported
from conformance.properties import REGISTRY, Context, applicable


class PropertyFailed(AssertionError):
    def __init__(self, measurement):
        super().__init__(
            f"{measurement.detail}: max |error| {measurement.err:.3g} exceeds tolerance {measurement.tol:.3g}"
        )
        self.measurement = measurement


@dataclass
class PropertyResult:
    id: str
    status: str  # passed / failed / error / skipped / xfailed
    core: bool
    examples: int = 0
    max_abs_err: float | None = None  # of the counterexample if failed, else the largest seen
    tolerance: float | None = None  # the tolerance that max_abs_err was held to
    worst_ratio: float | None = None  # max over examples of error / tolerance; < 1 passes
    counterexample: str | None = None
    message: str | None = None
    seconds: float = 0.0
    samples: list = field(default_factory=list)  # [error, tolerance] per example

    def to_dict(self):
        return asdict(self)


def run_property(prop, backend, *, profile, max_examples=None, seed=None, dtype=None):
    dtype = dtype or backend.capabilities.dtypes[0]
    why_not = applicable(prop, backend.capabilities)
    if why_not:
        return PropertyResult(prop.id, "skipped", prop.core, message=why_not)
    samples, last_notes, unsupported = [], {}, {}

    overrides = {"max_examples": max_examples} if max_examples else {}
    if seed is not None:
        overrides["derandomize"] = False

    @settings(profile, **overrides)
    @given(st.data())
    def check(data):
        ctx = Context(backend, dtype)
        last_notes.clear()
        ctx.notes = last_notes
        try:
            m = prop.fn(ctx, data)
        except Unsupported as e:
            unsupported[str(e)] = unsupported.get(str(e), 0) + 1
            hypothesis.reject()
        samples.append([m.err, m.tol])
        if not m.ok:
            raise PropertyFailed(m)

    if seed is not None:
        check = hypothesis.seed(seed)(check)
    start = time.perf_counter()
    status, message, counterexample, failing = "passed", None, None, None
    try:
        check()
    except PropertyFailed as e:
        status, message = "failed", str(e)
        counterexample = describe(last_notes)
        failing = [e.measurement.err, e.measurement.tol]
    except (BackendError, Exception) as e:  # a backend that raises is that backend's error, never the run's
        status, message = "error", f"{type(e).__name__}: {e}"
        counterexample = describe(last_notes)
    seconds = time.perf_counter() - start
    if unsupported:
        skipped = "; ".join(f"{n} example(s): {why}" for why, n in unsupported.items())
        message = f"{message}; " if message else ""
        message += f"discarded as unsupported by the backend: {skipped}"
    result = PropertyResult(prop.id, status, prop.core, examples=len(samples), counterexample=counterexample,
                            message=message, seconds=round(seconds, 3), samples=samples)
    if samples:
        # a failure reports its (shrunk) counterexample's error; a pass its largest error
        result.max_abs_err, result.tolerance = failing or max(samples, key=lambda s: s[0])
        result.worst_ratio = max((e / t if t else (0.0 if e == 0 else float("inf"))) for e, t in samples)
    return result


def describe(notes):
    return ", ".join(f"{k}={v!r}" for k, v in notes.items()) or None


def run_backend(backend, property_ids=None, **kwargs):
    ids = property_ids or list(REGISTRY)
    return [run_property(REGISTRY[i], backend, **kwargs) for i in ids]


def certified(results):
    """A backend is certified when every property passed or is an expected failure, and every core one ran."""
    return all(r.status in ("passed", "xfailed") or (r.status == "skipped" and not r.core) for r in results)
