"""Runs one property against a backend with Hypothesis (judge/search.py), and records and judges what happened."""
import time
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from gpt2_conformance.backends import Subject, guarded_load
from gpt2_conformance.backends.tokenizer import guarded_load_tokenizer
from gpt2_conformance.cases import strategies, text
from gpt2_conformance.cases.weights import random_params
from gpt2_conformance.judge import expectations, shards
from gpt2_conformance.judge.search import ExampleLog, case_of, failure_kind, ratio, search, search_strata
from gpt2_conformance.judge.tolerances import SYSTEMATIC_BOUND, median_ratio
from gpt2_conformance.outcomes import MAGNITUDE_KINDS, Kind, Status
from gpt2_conformance.properties import REGISTRY, Context, applicable
from gpt2_conformance.properties.tokenizer import TokenizerContext
from gpt2_conformance.reference.params import HParams


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
    upstream: list = field(default_factory=list)  # xfailed: the upstream issues (sets' cite) that bound it
    upstream_hint: str | None = None  # failed: the shipped upstream set whose signature its counterexample matches
    reproduction: str | None = None  # a command that re-runs the failing example
    # [(label, value)] drawn by the failing example (what `replay` re-runs); not part of the certificate
    failing_draws: list | None = field(default=None, repr=False, compare=False)
    # a shard's run (certify --shard): {units, searched: [shards.StratumRecord as dict]}, what merge joins;
    # written only where set
    strata: dict = field(default_factory=dict)

    def to_dict(self):
        d = asdict(self)
        del d["failing_draws"]
        if not self.strata:
            del d["strata"]
        return d

    @classmethod
    def from_dict(cls, d):
        values = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        values["status"] = Status(values["status"])
        values["kind"] = values.get("kind") and Kind(values["kind"])
        return cls(**values)


def run_property(prop, backend, *, settings, space=None, dtype=None, expected=(), max_examples=None, seed=None,
                 on_example=None, strata=None, database=None):
    """The PropertyResult of prop on backend, judged against the backend's expected failures.

    settings: the Hypothesis profile; space: where cases come from (default: the backend's own,
    strategies.Space.for_backend); dtype: default the property's tier or the backend's core dtype;
    database: Hypothesis' example database, or None (judge/search.py's search says how each profile uses it).
    A property listed with a tolerance entry runs every example, failing only beyond the entry's bound.
    A tokenizer property runs as run_tokenizer_property runs it. strata: the stratum indices of its search a
    shard runs (judge/shards.py; None: every one), each recorded in the result's `strata` for merge.
    """
    if prop.subject == Subject.TOKENIZER:
        return run_tokenizer_property(prop, backend, settings=settings, expected=expected, max_examples=max_examples,
                                      seed=seed, on_example=on_example, database=database)
    dtype = dtype or prop.dtype or backend.capabilities.core_dtype
    space = space or strategies.Space.for_backend(backend.capabilities)
    entry = expectations.entry_for(expected, prop.id, dtype)
    why_not = applicable(prop, backend.capabilities, space)
    if why_not:
        return PropertyResult(prop.id, Status.SKIPPED, prop.core, dtype=dtype, message=why_not)
    bounded = entry if entry is not None and entry.kind == Kind.TOLERANCE else None
    log = ExampleLog()
    start = time.perf_counter()
    ctx, examples = Context(backend, dtype, space), max_examples or settings.max_examples
    if strata is None:
        found, searched = search_strata(prop, ctx, log, bounded, on_example, settings, examples, seed, database)
        return judged(prop, found, log, start, dtype, searched, entry, expected)
    found, searched, ran = shards.search_units(prop, ctx, log, bounded, on_example, settings, examples, seed, strata,
                                               database)
    result = judged(prop, found, log, start, dtype, searched, entry, expected)
    result.strata = ran.to_dict()
    return result


def judged(prop, found, log, start, dtype, searched, entry, expected):
    """The PropertyResult of a model property's search as it ended (found, with its examples in log), judged:
    by its magnitudes, its coverage and its expectation entry. `merge` judges the searches of shards so."""
    result = _recorded(prop, found, log, start, dtype, searched)
    if found.beyond_known_deviation:
        return result  # a new failure, whatever the expectation file lists
    _judge_magnitudes(result, log)
    _judge_coverage(result)
    return _recognised(expectations.judge(entry, result), expected)


def joined(pid, parts, expected, name, whole_run=True):
    """The result of property pid from the results of the shards that ran its searches (parts, in shard order):
    their searches combined and judged again, as run_property judges one run's; where a shard ran it whole (one
    search, or its worker's error), that shard's result. whole_run: parts are every shard of the run (merge, or
    certify -j), which must hold each of its searches once; else they are one shard's (certify --shard with -j),
    whose joined result keeps their records for merge. ValueError where they are not."""
    if not parts:
        raise ValueError(f"no shard ran {pid} of {name}: the shards do not cover the run")
    whole = [p for p in parts if not p.strata]
    if whole:
        return whole[0]
    units = parts[0].strata["units"]
    ran = sorted(d["index"] for p in parts for d in p.strata["searched"])
    twice, missing = len(set(ran)) < len(ran), whole_run and ran != sorted(units)
    if any(p.strata["units"] != units for p in parts) or twice or missing:
        raise ValueError(f"the shards' searches of {pid} on {name} are not its searches {units} each once "
                         f"(they ran {ran}): shards of different runs or suite versions")
    log = ExampleLog()
    found, searched = shards.combine(shards.records_of(parts), log)
    entry = expectations.entry_for(expected, pid, parts[0].dtype)
    result = judged(REGISTRY[pid], found, log, time.perf_counter(), parts[0].dtype, searched, entry, expected)
    result.seconds = round(sum(p.seconds for p in parts), 3)
    origin = next((p for p in parts if (p.status, p.counterexample) == (result.status, result.counterexample)), None)
    if origin is not None:  # the shard whose search ended it: its saved example, its processes' hint
        result = replace(result, reproduction=origin.reproduction, upstream_hint=origin.upstream_hint)
    if not whole_run:
        result.strata = {"units": units, "searched": [d for p in parts for d in p.strata["searched"]]}
    return result


def run_tokenizer_property(prop, backend, *, settings, expected=(), max_examples=None, seed=None, on_example=None,
                           database=None):
    """The PropertyResult of a tokenizer property on a tokenizer backend: one search per stratum of its inputs
    (text.shares), until one finds a failure. Every example is compared exactly: there are no tolerances,
    magnitudes or size classes to judge. A failure in a stratum that an expectation entry names (where =
    { stratum = ... }) is a known deviation there, and the other strata are searched still."""
    why_not = applicable(prop, backend.capabilities)
    if why_not:
        return PropertyResult(prop.id, Status.SKIPPED, prop.core, message=why_not)
    entry = expectations.entry_for(expected, prop.id, None)
    excusable = {e.where["stratum"] for e in entry.entries} if entry else set()
    log, ctx = ExampleLog(), TokenizerContext(backend)  # its loaded vocabularies serve every stratum's search
    start, excused = time.perf_counter(), None
    for i, (stratum, examples) in enumerate(text.shares(prop.strata, max_examples or settings.max_examples)):
        found = search(prop, replace(ctx, stratum=stratum), log, None, on_example, settings, examples, seed,
                       f"{prop.id}/{i}" if i else prop.id, database)
        if found.status == Status.PASSED:
            continue
        if stratum not in excusable or found.status != Status.FAILED:
            return _recorded(prop, found, log, start)  # a failure no entry names
        excused = excused or _recorded(prop, found, log, start)
    result = (replace(excused, examples=len(log.samples), seconds=round(time.perf_counter() - start, 3)) if excused
              else _recorded(prop, found, log, start))
    return expectations.judge(entry, result)


def _recorded(prop, found, log, start, dtype=None, searched=()):
    """The PropertyResult of a search as it ended: its examples, timing and coverage, its counterexample if
    it did not pass, and its errors summarised."""
    result = PropertyResult(prop.id, found.status, prop.core, kind=found.kind, dtype=dtype, examples=len(log.samples),
                            message=found.message, seconds=round(time.perf_counter() - start, 3),
                            load_seconds=round(log.clock.load_seconds, 3),
                            forward_seconds=round(log.clock.forward_seconds, 3), samples=log.samples,
                            drawn=log.coverage.classes, grid=log.coverage.grid, unseen=log.coverage.unseen(searched))
    if found.status != Status.PASSED:
        result.counterexample, result.failing_draws = describe(log.notes), list(log.draws)
    _summarise(result, found.failing)
    return result


def _recognised(result, expected):
    """A failure whose counterexample a shipped upstream set would bound says so (expectations.recognise)."""
    if result.status == Status.FAILED and result.kind in MAGNITUDE_KINDS and result.tolerance:
        result.upstream_hint = expectations.recognise(result.id, result.dtype, case_of(result.failing_draws or []),
                                                      ratio(result.max_abs_err, result.tolerance), expected)
    return result


def _summarise(result, failing):
    """The error the result reports (a failure: its counterexample's; a pass: the largest), and its ratios."""
    if not result.samples:
        return
    result.max_abs_err, result.tolerance = failing or max(result.samples, key=lambda s: s[0])
    result.worst_ratio = max(ratio(e, t) for e, t in result.samples)
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
        result.max_abs_err, result.tolerance = max(over, key=lambda s: ratio(*s))
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


def describe(notes):
    """The counterexample's text from an example's notes (a shard's record keeps it as this text already)."""
    if isinstance(notes, str):
        return notes
    return ", ".join(f"{k}={v!r}" for k, v in notes.items()) or None


ESSENTIALS_HPARAMS = HParams(n_vocab=11, n_ctx=8, n_embd=8, n_head=2, n_layer=1)


def essentials(backend):
    """None if the backend loads canonical params in its core dtype and returns logits of the right shape (a
    tokenizer: loads a vocabulary of one merge and encodes and decodes a word), else (kind, message). A backend that cannot
    do this much has every property blocked by it."""
    if backend.capabilities.subject == Subject.TOKENIZER:
        return _tokenizer_essentials(backend)
    tokens = np.arange(6, dtype=np.int64).reshape(2, 3) % ESSENTIALS_HPARAMS.n_vocab
    try:
        guarded_load(backend, random_params(ESSENTIALS_HPARAMS, seed=0)).forward(tokens)
    except Exception as e:
        return failure_kind(e), f"{type(e).__name__}: {e}"
    return None


def _tokenizer_essentials(backend):
    try:
        tokenizer = guarded_load_tokenizer(backend, text.one_merge())
        tokenizer.decode(tokenizer.encode("GPT-2"))
    except Exception as e:
        return failure_kind(e), f"{type(e).__name__}: {e}"
    return None


def blocked(prop, cause, kind):
    return PropertyResult(prop.id, Status.BLOCKED, prop.core, kind=kind,
                          message=f"blocked: the backend fails the essentials check ({cause})")
