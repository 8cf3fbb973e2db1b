"""The search: one Hypothesis test per stratum of the cases, each example measured, recorded and judged
against its tolerance (or a known deviation's bound), until one fails."""
import unittest
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from unittest import mock

import hypothesis
from hypothesis import Phase, given
from hypothesis import strategies as st
from hypothesis.internal.conjecture import providers
from threadpoolctl import threadpool_limits

from gpt2_conformance.backends import BackendClock, Unsupported, WrongShape
from gpt2_conformance.cases import strategies
from gpt2_conformance.judge.coverage import Coverage, sees
from gpt2_conformance.outcomes import Kind, Status
from gpt2_conformance.properties import Context

# A replay pass: only the failures stored in the example database are run (Hypothesis' reuse phase), as they
# are, neither generated nor shrunk anew (they were shrunk when found), so nothing new is written to it.
REPLAY_PHASES = (Phase.explicit, Phase.reuse)
REPLAYED = "a failure stored in the example database, replayed before the profile's own examples"

# Blind examples (coverage.py) a search of one size class passes over before it takes one as it is; the
# class then ends with none that could see, and the property is partial.
MAX_BLIND = 4


class PropertyFailed(AssertionError):
    def __init__(self, measurement):
        super().__init__(measurement.failure())
        self.measurement = measurement


class BeyondKnownDeviation(PropertyFailed):
    """An example of a listed property erred beyond the bound of its expectation entry: a new failure."""

    def __init__(self, measurement, entry):
        super().__init__(measurement)
        self.args = (f"{self.args[0]}, {measurement.err / measurement.tol:.3g} times, beyond the bound "
                     f"(max_ratio = {entry.bound()!r}) of the known deviation: {entry.reason}",)


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

    def take_failure(self, other):
        """Take over the failure another search of this property found (a replayed stored failure): its examples
        join these, and its failing example is the counterexample. What it covers is not counted: a replay
        shows a failure, never that a size class was seen."""
        self.samples += other.samples
        self.notes.clear()
        self.notes.update(other.notes)
        self.draws[:] = other.draws
        if not other.worst[0] <= self.worst[0]:
            self.worst = other.worst

    def case(self):
        """The latest example's drawn case (None for golden cases)."""
        return case_of(self.draws)

    def record(self, m, ctx):
        """Record an example's measurement and coverage; whether it could see a bug (None: no generated case)."""
        self.samples.append([float(m.err), float(m.tol)])  # plain floats: JSON and xdist carry them
        this = ratio(m.err, m.tol)
        if not this <= self.worst[0]:
            self.worst = (this, dict(self.notes), list(self.draws))
        case = self.case()
        if not isinstance(case, strategies.Case):  # fixed weights and golden cases claim no size class
            return None
        observable = sees(case, ctx.reference_of(case.tokens))
        self.coverage.add(case, observable)
        return observable


def case_of(draws):
    """The drawn case among an example's draws [(label, value)] (None for golden cases)."""
    return next((value for _, value in draws if hasattr(value, "hparams") and hasattr(value, "tokens")), None)


def failure_kind(error):
    """What an expectation file must name for this failure."""
    if isinstance(error, PropertyFailed):
        return Kind.TOLERANCE
    if isinstance(error, Unsupported):
        return Kind.UNSUPPORTED
    return Kind.SHAPE if isinstance(error, WrongShape) else Kind.ERROR


def search_strata(prop, ctx_template, log, bounded, on_example, settings, max_examples, seed, database=None):
    """(Found, the size classes searched on their own): one search per stratum of the cases
    (strategies.strata), until one finds a failure. The examples of a stratum whose class the property's
    bounds leave out are drawn as the first stratum's, at the end. database: as search takes it."""
    strata = strategies.strata(ctx_template.space, max_examples, prop.id)
    left_out, searched = 0, []
    for i, (stratum, examples) in enumerate(strata + [(strata[0][0], None)]):
        examples = left_out if examples is None else examples
        if not examples:
            continue
        found, own_class = search_stratum(prop, ctx_template, log, i, (stratum, examples), len(strata), bounded,
                                          on_example, settings, seed, database)
        if found.outside_bounds and i > 0:
            left_out += examples
            continue
        if found.status != Status.PASSED or not log.samples or log.case() is None:  # failed, or golden cases
            return found, searched
        if own_class:
            searched.append(own_class)
    return Found(Status.PASSED), searched


def search_stratum(prop, ctx_template, log, i, share, n_strata, bounded, on_example, settings, seed,
                   database=None):
    """(Found, the size class searched on its own or None) of the search of stratum i of n_strata: share is its
    (Space, examples); i == n_strata is the left-overs' search. One home for what makes each search of
    search_strata the same wherever it runs (its id, seed and spread): a shard runs some of them
    (judge/shards.py). database: as search takes it."""
    stratum, examples = share
    search_id = prop.id if i == 0 else f"{prop.id}/{i}"
    own_class = 0 < i < n_strata  # a size class searched on its own (not the mixed one, nor left-overs)
    if own_class:  # its first example not its corner
        stratum = replace(stratum, spread=_search_seed(seed, search_id))
    log.blind = 0
    found = search(prop, Context(ctx_template.backend, ctx_template.dtype, stratum), log, bounded, on_example,
                   settings, examples, seed, search_id, database)
    return found, stratum.sizes[0].name if own_class else None


def search(prop, ctx, log, bounded, on_example, settings, max_examples, seed, search_id, database=None):
    """How one Hypothesis search of prop ended, each example run in a context like ctx (its for_example).

    database: a Hypothesis ExampleDatabase (cases/databases.py) or None. A randomized profile searches with
    it (Hypothesis replays what it stores for this search first, and stores what it finds). A derandomized
    one cannot (Hypothesis: derandomize=True implies database=None), so it first replays the stored failures
    (replay_stored), then draws its own examples as it always does, without the database.
    """
    key = database_key(prop, ctx)
    if database is not None and settings.derandomize:
        found = replay_stored(prop, ctx, log, bounded, on_example, settings, max_examples, search_id, database, key)
        if found.status != Status.PASSED:
            return found
    elif database is not None:
        settings = hypothesis.settings(settings, database=database)
    test = _configured(_hypothesis_test(prop, ctx, log, bounded, on_example, key), settings, max_examples, seed,
                       search_id)
    return _search(test, ctx.backend)


def replay_stored(prop, ctx, log, bounded, on_example, settings, max_examples, search_id, database, key):
    """How the failures stored in database for this search fare now, judged as any example is: passed (none is
    stored, or each now holds), or the first that fails still, as a failure of the search. Hypothesis' reuse
    phase runs them, and deletes from the database each one that holds now (a writable one: a ReadOnlyDatabase
    keeps it, and it is replayed, and holds, again next time). An example that holds is not trusted: it leaves
    nothing in log, and the profile's own examples are drawn as without a database."""
    replay = hypothesis.settings(settings, derandomize=False, database=database, phases=REPLAY_PHASES)
    scratch = ExampleLog(clock=log.clock)
    counted = on_example and (lambda n: on_example(len(log.samples) + n))
    test = _configured(_hypothesis_test(prop, ctx, scratch, bounded, counted, key), replay, max_examples, None,
                       search_id)

    def replayed():
        try:
            test()
        except unittest.SkipTest:  # what Hypothesis raises from a test that ran no example: nothing is stored
            pass

    found = _search(replayed, ctx.backend)
    if found.status == Status.PASSED:
        return found
    log.take_failure(scratch)
    return replace(found, message=f"{found.message} ({REPLAYED})")


def database_key(prop, ctx):
    """What names one search's failures in the example database: the backend, the property, the dtype and
    where the cases come from (a model's Space: size classes, scope, spread and fixed weights; a tokenizer's
    stratum). Every search runs a test function of the same source, so Hypothesis' own key (a digest of the
    function) would be one for every property, backend and stratum, and a failure stored by one would be
    replayed by, and deleted after passing in, all the others. A stored example is Hypothesis' choices, which
    mean the same example only under the same strategy: hence the space in full, spread included."""
    where = ((ctx.space.sizes, ctx.space.scope, ctx.space.spread, ctx.space.fixed and ctx.space.fixed[0])
             if hasattr(ctx, "space") else ctx.stratum)
    return repr((ctx.backend.name, prop.id, getattr(ctx, "dtype", None), where)).encode()


def _hypothesis_test(prop, ctx_template, log, bounded, on_example, key):
    @given(st.data())
    def test(data):
        ctx = ctx_template.for_example(log.notes, log.clock)
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
        if observable is False and ctx.space.spread and log.blind < MAX_BLIND:
            log.blind += 1  # a class searched on its own: its share goes to examples that could see a bug
            hypothesis.reject()

    # Hypothesis' database key is a digest of the test function and this: its pytest plugin gives each
    # parametrized test one so (database_key says why each search needs its own).
    test.hypothesis.inner_test._hypothesis_internal_add_digest = key
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
        # on a loaded machine (docs/performance.md, "One thread per pool").
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


def ratio(err, tol):
    return err / tol if tol else (0.0 if err == 0 else float("inf"))
