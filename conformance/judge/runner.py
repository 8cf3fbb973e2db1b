"""Runs one property against a backend with Hypothesis, and records what happened."""
import time
import zlib
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from unittest import mock

import hypothesis
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.internal.conjecture import providers
from threadpoolctl import threadpool_limits

from gpt2_conformance.backends import BackendClock, Unsupported, WrongShape, guarded_load
from gpt2_conformance.cases import strategies
from gpt2_conformance.cases.weights import random_params
from gpt2_conformance.judge import expectations
from gpt2_conformance.judge.coverage import Coverage, sees
from gpt2_conformance.judge.tolerances import SYSTEMATIC_BOUND, median_ratio
from gpt2_conformance.outcomes import Kind, Status
from gpt2_conformance.properties import Context, applicable
from gpt2_conformance.reference.params import HParams

# Blind examples (coverage.py) a search of one size class passes over before it takes one as it is; the
# class then ends with none that could see, and the property is partial.
MAX_BLIND = 4


class PropertyFailed(AssertionError):
    def __init__(self, measurement):
        error = (f"max |error| {measurement.err:.3g}" if np.isfinite(measurement.err)
                 else "non-finite values (inf or NaN) in the logits")
        super().__init__(f"{measurement.detail}: {error} exceeds tolerance {measurement.tol:.3g}")
        self.measurement = measurement


class BeyondKnownDeviation(PropertyFailed):
    """An example of a listed property erred beyond the bound of its expectation entry: a new failure."""

    def __init__(self, measurement, entry):
        super().__init__(measurement)
        self.args = (f"{self.args[0]}, {measurement.err / measurement.tol:.3g} times, beyond the bound "
                     f"(max_ratio = {entry.bound()!r}) of the known deviation: {entry.reason}",)


@dataclass
class PropertyResult:
    id: str
    status: Status
    core: bool
    kind: Kind | None = None  # how it failed
    dtype: str | None = None
    examples: int = 0
    max_abs_err: float | None = None  # of the counterexample if failed, else the largest seen
    tolerance: float | None = None  # the tolerance that max_abs_err was held to
    worst_ratio: float | None = None  # max over examples of error / tolerance; < 1 passes
    median_ratio: float | None = None  # the systematic statistic (tolerances.median_ratio)
    counterexample: str | None = None
    message: str | None = None
    seconds: float = 0.0
    # of `seconds`, the time spent inside the backend's load() and forward(); the rest is the harness's
    load_seconds: float = 0.0
    forward_seconds: float = 0.0
    samples: list = field(default_factory=list)  # [error, tolerance] per example
    # {size class: {examples, observable, ranges: {dimension: [smallest, largest]} over the observable}}
    drawn: dict = field(default_factory=dict)
    grid: list = field(default_factory=list)  # [observable, examples] per sequence length x width (coverage.py)
    unseen: list = field(default_factory=list)  # size classes searched on their own of which no example could see
    bound: object = None  # a known deviation's max_ratio, as its expectation file writes it
    reproduction: str | None = None  # a command that re-runs the failing example
    # [(label, value)] drawn by the failing example (what `replay` re-runs); not part of the certificate
    failing_draws: list | None = field(default=None, repr=False, compare=False)

    def to_dict(self):
        d = asdict(self)
        del d["failing_draws"]
        return d

    @classmethod
    def from_dict(cls, d):
        values = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        values["status"] = Status(values["status"])
        values["kind"] = values.get("kind") and Kind(values["kind"])
        return cls(**values)


class RecordedData:
    """Hypothesis' st.data() with every draw recorded, so a failing example can be saved and replayed."""

    def __init__(self, data, draws):
        self._data, self.draws = data, draws

    def draw(self, strategy, label=None):
        value = self._data.draw(strategy, label=label)
        self.draws.append((label, value))
        return value


@dataclass
class ExampleLog:
    """What a property's examples leave behind: each one's [error, tolerance], what they cover, the
    notes and draws of the latest example (the shrunk counterexample when the search ends in a failure)
    and of the one with the largest error/tolerance."""

    clock: BackendClock = field(default_factory=BackendClock)
    samples: list = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)
    notes: dict = field(default_factory=dict)
    draws: list = field(default_factory=list)
    worst: tuple = (-1.0, None, None)  # (ratio, notes, draws)
    blind: int = 0  # examples of the current search that could not see, passed over (see MAX_BLIND)

    def start(self):
        self.notes.clear()
        self.draws.clear()

    def case(self):
        """The latest example's drawn case (None for golden cases)."""
        return next((value for _, value in self.draws if hasattr(value, "hparams") and hasattr(value, "tokens")), None)

    def record(self, m, ctx):
        """Record an example's measurement and coverage; whether it could see a bug (None: no generated case)."""
        self.samples.append([float(m.err), float(m.tol)])  # plain floats: JSON and xdist carry them
        ratio = _ratio(m.err, m.tol)
        if not ratio <= self.worst[0]:
            self.worst = (ratio, dict(self.notes), list(self.draws))
        case = self.case()
        if not isinstance(case, strategies.Case):  # fixed weights and golden cases claim no size class
            return None
        observable = sees(case, ctx.reference_of(case.tokens))
        self.coverage.add(case, observable)
        return observable


def failure_kind(error):
    """What an expectation file must name for this failure."""
    if isinstance(error, PropertyFailed):
        return Kind.TOLERANCE
    if isinstance(error, Unsupported):
        return Kind.UNSUPPORTED
    return Kind.SHAPE if isinstance(error, WrongShape) else Kind.ERROR


def run_property(prop, backend, *, settings, space=None, dtype=None, expected=(), max_examples=None, seed=None,
                 on_example=None):
    """The PropertyResult of prop on backend, judged against the backend's expected failures.

    settings: the Hypothesis profile; space: where cases come from (default: the backend's own,
    strategies.Space.for_backend); dtype: default the property's tier or the backend's core dtype.
    A property listed with a tolerance entry runs every example, failing only beyond the entry's bound.
    """
    dtype = dtype or prop.dtype or backend.capabilities.core_dtype
    space = space or strategies.Space.for_backend(backend.capabilities)
    entry = expectations.entry_for(expected, prop.id, dtype)
    why_not = applicable(prop, backend.capabilities, space)
    if why_not:
        return PropertyResult(prop.id, Status.SKIPPED, prop.core, dtype=dtype, message=why_not)
    bounded = entry if entry is not None and entry.kind == Kind.TOLERANCE else None
    log = ExampleLog()
    start = time.perf_counter()
    found, searched = _search_strata(prop, Context(backend, dtype, space), log, bounded, on_example, settings,
                                     max_examples or settings.max_examples, seed)
    result = PropertyResult(prop.id, found.status, prop.core, kind=found.kind, dtype=dtype, examples=len(log.samples),
                            message=found.message, seconds=round(time.perf_counter() - start, 3),
                            load_seconds=round(log.clock.load_seconds, 3),
                            forward_seconds=round(log.clock.forward_seconds, 3), samples=log.samples,
                            drawn=log.coverage.classes, grid=log.coverage.grid, unseen=log.coverage.unseen(searched))
    if found.status != Status.PASSED:
        result.counterexample, result.failing_draws = describe(log.notes), list(log.draws)
    _summarise(result, found.failing)
    if found.beyond_known_deviation:
        return result  # a new failure, whatever the expectation file lists
    _judge_magnitudes(result, log)
    _judge_coverage(result)
    return expectations.judge(entry, result)


def _search_strata(prop, ctx_template, log, bounded, on_example, settings, max_examples, seed):
    """(Found, the size classes searched on their own): one search per stratum of the cases
    (strategies.strata), until one finds a failure. The examples of a stratum whose class the property's
    bounds leave out are drawn as the first stratum's, at the end."""
    strata = strategies.strata(ctx_template.space, max_examples, prop.id)
    left_out, searched = 0, []
    for i, (stratum, examples) in enumerate(strata + [(strata[0][0], None)]):
        examples = left_out if examples is None else examples
        if not examples:
            continue
        search_id = prop.id if i == 0 else f"{prop.id}/{i}"
        own_class = 0 < i < len(strata)  # a size class searched on its own (not the mixed one, nor left-overs)
        if own_class:  # its first example not its corner
            stratum = replace(stratum, spread=_search_seed(seed, search_id))
        ctx = Context(ctx_template.backend, ctx_template.dtype, stratum)
        log.blind = 0
        test = _configured(_hypothesis_test(prop, ctx, log, bounded, on_example), settings, examples, seed, search_id)
        found = _search(test, ctx.backend)
        if found.outside_bounds and i > 0:
            left_out += examples
            continue
        if found.status != Status.PASSED or not log.samples or log.case() is None:  # failed, or golden cases
            return found, searched
        if own_class:
            searched.append(stratum.sizes[0].name)
    return Found(Status.PASSED), searched


def _hypothesis_test(prop, ctx_template, log, bounded, on_example):
    @given(st.data())
    def test(data):
        ctx = Context(ctx_template.backend, ctx_template.dtype, ctx_template.space, notes=log.notes, clock=log.clock)
        log.start()
        m = prop.fn(ctx, RecordedData(data, log.draws))
        observable = log.record(m, ctx)
        if on_example:
            on_example(len(log.samples))
        if bounded is None:
            if not m.err <= m.tol:  # False for NaN
                raise PropertyFailed(m)
        elif not m.err <= bounded.limit(m.tol, log.case()):  # a listed deviation: searched for beyond its bound
            raise BeyondKnownDeviation(m, bounded)
        if ctx.space.spread and observable is False and log.blind < MAX_BLIND:
            log.blind += 1  # a class searched on its own: its share goes to examples that could see a bug
            hypothesis.reject()

    return test


def _configured(test, settings, max_examples, seed, search_id):
    # One bug per run: the failing example replayed last is then the one reported, saved and classified.
    overrides = {"report_multiple_bugs": False, "max_examples": max_examples}
    test = hypothesis.settings(settings, **overrides)(test)
    if seed is None and not settings.derandomize:
        return test
    # Every property has a test function of the same source, which derandomize would seed alike: each
    # property would then draw the same size classes in the same order. A seed of its own per search.
    return hypothesis.seed(_search_seed(seed, search_id))(test)


def _search_seed(seed, search_id):
    return (seed or 0) ^ zlib.crc32(search_id.encode())


@dataclass
class Found:
    """How a Hypothesis search ended."""

    status: Status
    kind: Kind | None = None
    message: str | None = None
    failing: list | None = None  # [error, tolerance] of a tolerance failure's counterexample
    beyond_known_deviation: bool = False
    outside_bounds: bool = False  # no case could be drawn (strategies.NoSizeClass)


def _search(test, backend):
    try:
        # Generated models are small: more than one thread per BLAS or OpenMP pool only contends, most of all
        # on a loaded machine (measured: a mutant's time to kill fell from 14-18 s to 3 s on 2 busy cores, and
        # torch's OpenMP pool of 2 took 142 ms for a forward pass of 4 ms beside another busy process).
        with threadpool_limits(1), _without_local_constants():
            test()
    except PropertyFailed as e:
        return Found(Status.FAILED, Kind.TOLERANCE, str(e), [float(e.measurement.err), float(e.measurement.tol)],
                     beyond_known_deviation=isinstance(e, BeyondKnownDeviation))
    except Unsupported as e:
        scope = backend.capabilities.scope.declared() or "no limits"
        return Found(Status.FAILED, Kind.UNSUPPORTED, f"the backend declined an example inside its declared scope ({scope}): "
                                              f"{e}. A limit belongs in Capabilities.scope, where the certificate states it")
    except strategies.NoSizeClass as e:
        return Found(Status.ERROR, Kind.ERROR, f"NoSizeClass: {e}", outside_bounds=True)
    except Exception as e:  # a backend that raises is that backend's error, never the run's
        return Found(Status.ERROR, failure_kind(e), f"{type(e).__name__}: {e}")
    return Found(Status.PASSED)


@contextmanager
def _without_local_constants():
    """Hypothesis draws, now and then, literal constants it finds in the modules of the current directory
    (not installed ones): the examples would depend on where the suite is installed (an editable checkout
    or site-packages) and on the backend's own module, and a derandomized profile would draw other examples
    in a backend's repository than in this one. They come from its global constants alone here."""
    empty = providers.Constants()
    with mock.patch.object(providers, "_get_local_constants", lambda: empty):
        yield


def _summarise(result, failing):
    """The error the result reports (a failure: its counterexample's; a pass: the largest), and its ratios."""
    if not result.samples:
        return
    result.max_abs_err, result.tolerance = failing or max(result.samples, key=lambda s: s[0])
    result.worst_ratio = max(_ratio(e, t) for e, t in result.samples)
    result.median_ratio = median_ratio(result.samples)


def _judge_magnitudes(result, log):
    """A search that ran to the end can still fail: some example of a listed (bounded) deviation exceeded
    its tolerance, or the examples' median error/tolerance exceeds the systematic bound."""
    if result.status != Status.PASSED:
        return
    over = [(e, t) for e, t in result.samples if not e <= t]
    if over:
        result.status, result.kind = Status.FAILED, Kind.TOLERANCE
        result.message = (f"{len(over)} of {len(result.samples)} examples exceed their tolerance "
                          f"(worst error/tolerance {result.worst_ratio:.3g})")
        result.counterexample, result.failing_draws = describe(log.worst[1] or {}), log.worst[2]
        result.max_abs_err, result.tolerance = max(over, key=lambda s: _ratio(*s))
    elif result.median_ratio is not None and result.median_ratio > SYSTEMATIC_BOUND[result.dtype]:
        result.status, result.kind = Status.FAILED, Kind.SYSTEMATIC
        # no single example fails: its worst is named, and certify's command (not replay) reproduces it
        result.counterexample = describe(log.worst[1] or {})
        result.message = (f"every example holds, but the median error/tolerance over {len(result.samples)} examples "
                          f"is {result.median_ratio:.3g}, above the systematic bound {SYSTEMATIC_BOUND[result.dtype]:g} "
                          f"(correct backends stay far below: docs/systematic.md)")


def _judge_coverage(result):
    """A search that passed is partial where a size class searched on its own gave no example that could
    see a bug: nothing was shown there."""
    if result.status == Status.PASSED and result.unseen:
        result.status = Status.PARTIAL
        result.message = (f"no example of {', '.join(result.unseen)} could show a bug (coverage.py): the property "
                          "holds where it was seen, and nothing was shown there")


def _ratio(err, tol):
    return err / tol if tol else (0.0 if err == 0 else float("inf"))


def describe(notes):
    return ", ".join(f"{k}={v!r}" for k, v in notes.items()) or None


ESSENTIALS_HPARAMS = HParams(n_vocab=11, n_ctx=8, n_embd=8, n_head=2, n_layer=1)


def essentials(backend):
    """None if the backend loads canonical params in its core dtype and returns logits of the right shape,
    else (kind, message). A backend that cannot do this much has every property blocked by it."""
    tokens = np.arange(6, dtype=np.int64).reshape(2, 3) % ESSENTIALS_HPARAMS.n_vocab
    try:
        guarded_load(backend, random_params(ESSENTIALS_HPARAMS, seed=0)).forward(tokens)
    except Exception as e:
        return failure_kind(e), f"{type(e).__name__}: {e}"
    return None


def blocked(prop, cause, kind):
    return PropertyResult(prop.id, Status.BLOCKED, prop.core, kind=kind,
                          message=f"blocked: the backend fails the essentials check ({cause})")
