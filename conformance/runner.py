"""Runs properties against a backend with Hypothesis and records what happened."""
import time
from dataclasses import asdict, dataclass, field

import hypothesis
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from conformance import strategies
from conformance.backends import BackendClock, Unsupported, WrongShape, guarded_load
from conformance.properties import REGISTRY, Context, applicable
from conformance.weights import random_params
from reference.params import HParams

# How a property failed; an expectation file names one of these for each known failure.
KINDS = ("tolerance", "error", "shape")


class PropertyFailed(AssertionError):
    def __init__(self, measurement):
        super().__init__(
            f"{measurement.detail}: max |error| {measurement.err:.3g} exceeds tolerance {measurement.tol:.3g}"
        )
        self.measurement = measurement


@dataclass
class PropertyResult:
    id: str
    status: str  # passed / failed / error / skipped / blocked / xfailed / xpassed
    core: bool
    kind: str | None = None  # of a failure: tolerance (exceeded) / error (raised) / shape (wrong)
    dtype: str | None = None
    examples: int = 0
    max_abs_err: float | None = None  # of the counterexample if failed, else the largest seen
    tolerance: float | None = None  # the tolerance that max_abs_err was held to
    worst_ratio: float | None = None  # max over examples of error / tolerance; < 1 passes
    counterexample: str | None = None
    message: str | None = None
    seconds: float = 0.0
    # of `seconds`, the time spent inside the backend's load() and forward(); the rest is the harness's
    load_seconds: float = 0.0
    forward_seconds: float = 0.0
    samples: list = field(default_factory=list)  # [error, tolerance] per example
    reproduction: str | None = None  # a command that re-runs the failing example
    # [(label, value)] drawn by the failing example (what `replay` re-runs); not part of the certificate
    failing_draws: list | None = field(default=None, repr=False, compare=False)

    def to_dict(self):
        d = asdict(self)
        del d["failing_draws"]
        return d


class RecordedData:
    """Hypothesis' st.data() with every draw recorded, so a failing example can be saved and replayed."""

    def __init__(self, data, draws):
        self._data, self.draws = data, draws

    def draw(self, strategy, label=None):
        value = self._data.draw(strategy, label=label)
        self.draws.append((label, value))
        return value


def failure_kind(error):
    """tolerance / shape / error: what an expectation file must name for this failure."""
    if isinstance(error, PropertyFailed):
        return "tolerance"
    return "shape" if isinstance(error, WrongShape) else "error"


def run_property(prop, backend, *, profile, max_examples=None, seed=None, dtype=None, on_example=None):
    dtype = dtype or prop.dtype or backend.capabilities.dtypes[0]
    why_not = applicable(prop, backend.capabilities)
    if why_not:
        return PropertyResult(prop.id, "skipped", prop.core, dtype=dtype, message=why_not)
    samples, last_notes, last_draws, clock, unsupported = [], {}, [], BackendClock(), {}

    # One bug per run: the failing example replayed last is then the one reported, saved and classified.
    overrides = {"report_multiple_bugs": False, **({"max_examples": max_examples} if max_examples else {})}
    if seed is not None:
        overrides["derandomize"] = False

    @settings(profile, **overrides)
    @given(st.data())
    def check(data):
        ctx = Context(backend, dtype, clock=clock)
        last_notes.clear()
        last_draws.clear()
        ctx.notes = last_notes
        try:
            m = prop.fn(ctx, RecordedData(data, last_draws))
        except Unsupported as e:
            unsupported[str(e)] = unsupported.get(str(e), 0) + 1
            hypothesis.reject()
        samples.append([float(m.err), float(m.tol)])  # plain floats: JSON and xdist carry them
        if on_example:
            on_example(len(samples))
        if not m.ok:
            raise PropertyFailed(m)

    if seed is not None:
        check = hypothesis.seed(seed)(check)
    start = time.perf_counter()
    status, kind, message, counterexample, failing, draws = "passed", None, None, None, None, None
    try:
        # Generated models are small: NumPy's BLAS threads only contend, most of all on a loaded machine
        # (measured: a mutant's time to kill fell from 14-18 s to 3 s on 2 busy cores).
        with threadpool_limits(1, user_api="blas"):
            strategies.use_architectures(strategies.ARCHITECTURES if backend.capabilities.compiles_per_architecture else None)
            try:
                check()
            finally:
                strategies.use_architectures(None)
    except PropertyFailed as e:
        status, kind, message = "failed", "tolerance", str(e)
        counterexample, draws = describe(last_notes), list(last_draws)
        failing = [float(e.measurement.err), float(e.measurement.tol)]
    except Exception as e:  # a backend that raises is that backend's error, never the run's
        status, kind, message = "error", failure_kind(e), f"{type(e).__name__}: {e}"
        counterexample, draws = describe(last_notes), list(last_draws)
    seconds = time.perf_counter() - start
    if unsupported:
        skipped = "; ".join(f"{n} example(s): {why}" for why, n in unsupported.items())
        message = f"{message}; " if message else ""
        message += f"discarded as unsupported by the backend: {skipped}"
    result = PropertyResult(prop.id, status, prop.core, kind=kind, dtype=dtype, examples=len(samples),
                            counterexample=counterexample, message=message, seconds=round(seconds, 3),
                            load_seconds=round(clock.load_seconds, 3), forward_seconds=round(clock.forward_seconds, 3),
                            samples=samples, failing_draws=draws)
    if samples:
        # a failure reports its (shrunk) counterexample's error; a pass its largest error
        result.max_abs_err, result.tolerance = failing or max(samples, key=lambda s: s[0])
        result.worst_ratio = max((e / t if t else (0.0 if e == 0 else float("inf"))) for e, t in samples)
    return result


def describe(notes):
    return ", ".join(f"{k}={v!r}" for k, v in notes.items()) or None


def essentials(backend, dtype=None):
    """None if the backend loads canonical params and returns logits of the right shape, else
    (kind, message). A backend that cannot do this much has every property blocked by it."""
    hp = HParams(n_vocab=11, n_ctx=8, n_embd=8, n_head=2, n_layer=1)
    tokens = np.arange(6, dtype=np.int64).reshape(2, 3) % hp.n_vocab
    try:
        guarded_load(backend, random_params(hp, seed=0), dtype).forward(tokens)
    except Exception as e:
        return failure_kind(e), f"{type(e).__name__}: {e}"
    return None


def blocked(prop, cause, kind, dtype=None):
    return PropertyResult(prop.id, "blocked", prop.core, kind=kind, dtype=dtype,
                          message=f"blocked: the backend fails the essentials check ({cause})")


def certified(results):
    """A backend is certified when every property passed or is an expected failure, and every core one ran."""
    return all(r.status in ("passed", "xfailed") or (r.status == "skipped" and not r.core) for r in results)
