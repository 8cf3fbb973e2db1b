"""Sharding one run over machines (certify --shard I/N): which searches a shard runs, and the record of each
search that `gpt2-conformance merge` joins into the result an unsharded run gets.

A unit of work is one search of search.search_strata: a model property's search of one size stratum (its
left-over examples are one more), or a whole property where it is one search (a tokenizer's, golden cases,
fixed weights, one that cannot run). A backend's units, in property order and stratum order, are dealt to the
shards round-robin, so each shard is a fixed subset whatever the others do.

The searches of search_strata are independent: each has its own id, seed and spread (search.search_stratum),
and what one leaves in the ExampleLog is read by none after it, only summed (samples, coverage, clock). A
shard therefore runs its searches each with a log of its own and records them (StratumRecord); `combine`
sums the records in stratum order and stops where search_strata stops (the first search that does not pass,
or golden cases), so the combined log, Found and size classes searched are those of an unsharded run.
"""
import time
from dataclasses import dataclass, field

from gpt2_conformance.backends import BackendClock, Subject
from gpt2_conformance.cases import strategies
from gpt2_conformance.judge.coverage import Coverage
from gpt2_conformance.judge.search import ExampleLog, Found, search_stratum
from gpt2_conformance.outcomes import Kind, Status
from gpt2_conformance.properties import REGISTRY, Context, applicable

# The result a shard's worker gives for a property none of whose units are its own (certify leaves it out).
ELSEWHERE = "in another shard (gpt2-conformance merge joins the shards)"


@dataclass(frozen=True)
class Shard:
    """Shard `index` (from 1) of `count`: it runs every count-th unit of each backend."""

    index: int
    count: int

    @classmethod
    def parse(cls, text):
        """'I/N', with 1 <= I <= N (ValueError otherwise, with the reason)."""
        index, slash, count = text.partition("/")
        if not slash or not index.strip().isdigit() or not count.strip().isdigit():
            raise ValueError(f"{text!r} is not I/N (shard I of N, e.g. 2/3)")
        shard = cls(int(index), int(count))
        if not 1 <= shard.index <= shard.count:
            raise ValueError(f"{text!r}: the shard I of I/N lies in 1..N")
        return shard

    def __str__(self):
        return f"{self.index}/{self.count}"

    def owns(self, k, offset=0):
        """Whether unit k of a backend is this shard's; offset (the backend's position in the run) starts each
        backend's deal on another shard, so the first, largest searches do not all fall to shard 1."""
        return (k + offset) % self.count == self.index - 1

    def split(self, count):
        """The `count` shards of a run dealt `count` times finer that own together what this shard owns (the
        workers of certify -j inside --shard I/N)."""
        return [Shard(self.index + j * self.count, self.count * count) for j in range(count)]

    def to_dict(self):
        return {"index": self.index, "count": self.count}


def owned(shard, offset, property_ids, backend, space, settings, max_examples):
    """{property id: the stratum indices of its search this shard runs ([None]: the whole property; []: none)}
    for every property of the run (property_ids: all of them, so the deal is the same whatever is left to run)."""
    mine, k = {}, 0
    for pid in property_ids:
        mine[pid] = []
        for unit in property_units(pid, backend, space, settings, max_examples):
            if shard.owns(k, offset):
                mine[pid].append(unit)
            k += 1
    return mine


def property_units(pid, backend, space, settings, max_examples):
    """The units of a property: its searches' stratum indices, or [None] where it is one unit."""
    plan = searches(pid, backend, space, max_examples or settings.max_examples)
    return [i for i, _ in plan] if plan else [None]


def searches(pid, backend, space, max_examples):
    """[(stratum index, (Space, examples))] of the searches search_strata would run for pid, the left-overs'
    last; [] where the property is one search (then it runs whole, with run_property)."""
    prop = REGISTRY[pid]
    if prop.subject != Subject.MODEL or space is None or space.fixed is not None:
        return []
    if applicable(prop, backend.capabilities, space):
        return []
    ctx = Context(backend, prop.dtype or backend.capabilities.core_dtype, space)
    strata = strategies.strata(space, max_examples, pid)
    if len(strata) < 2 or _probe(prop, ctx, strata[0][0]) != _GENERATED:
        return []
    plan, left_out = [(0, strata[0])], 0
    for i, (stratum, examples) in enumerate(strata[1:], start=1):
        if _probe(prop, ctx, stratum) == _OUTSIDE:
            left_out += examples  # search_strata draws them from the first stratum, at the end
        else:
            plan.append((i, (stratum, examples)))
    if left_out:
        plan.append((len(strata), (strata[0][0], left_out)))
    return plan


_GENERATED, _OUTSIDE, _OTHER = "generated", "outside", "other"


class _Reached(Exception):
    def __init__(self, what):
        self.what = what


class _ProbeContext(Context):
    """A Context whose cases() stops the property where it asks for its generated cases, and which runs nothing:
    a property that loads weights or asks the oracle first draws no generated case first."""

    def cases(self, min_length=1, scales=(), **bounds):
        strategies.cases(self.space, min_length, **bounds)  # NoSizeClass where no size class lies within bounds
        raise _Reached(_GENERATED)

    def load(self, params):
        raise _Reached(_OTHER)

    def reference(self, params, tokens):
        raise _Reached(_OTHER)

    def grad_reference(self, params, tokens, loss_mask=None):
        raise _Reached(_OTHER)


class _FirstDraw:
    def draw(self, strategy, label=None):
        raise _Reached(_OTHER)


def _probe(prop, ctx, stratum):
    """How prop meets a stratum, without running it: it draws generated cases there (_GENERATED), none of its
    size classes lies within its bounds (_OUTSIDE: search_strata finds the same NoSizeClass), or it draws
    something else first (_OTHER: golden cases, one search). A model property asks for its cases first
    (tests/test_shards.py holds every registered one to it)."""
    try:
        prop.fn(_ProbeContext(ctx.backend, ctx.dtype, stratum), _FirstDraw())
    except _Reached as e:
        return e.what
    except strategies.NoSizeClass:
        return _OUTSIDE
    except Exception:
        return _OTHER
    return _OTHER


@dataclass
class StratumRecord:
    """One search of a shard, as search_strata leaves it in the log: what merge needs to join it with the
    others. A record read from a certificate has its examples described (text), not drawn (values)."""

    index: int
    found: Found
    log: ExampleLog
    searched: str | None  # the size class it searched on its own
    drew_case: bool  # its last example drew a generated case (search_strata stops after one that did not)
    seconds: float = 0.0

    def to_dict(self):
        from gpt2_conformance.judge.runner import describe

        f, log = self.found, self.log
        return {"index": self.index, "status": f.status, "kind": f.kind, "message": f.message, "failing": f.failing,
                "beyond_known_deviation": f.beyond_known_deviation, "samples": log.samples,
                "drawn": log.coverage.classes, "grid": log.coverage.grid, "worst_ratio": log.worst[0],
                "worst_example": describe(log.worst[1] or {}), "example": describe(log.notes),
                "drew_case": self.drew_case, "searched": self.searched, "seconds": self.seconds,
                "load_seconds": log.clock.load_seconds, "forward_seconds": log.clock.forward_seconds}

    @classmethod
    def from_dict(cls, d):
        found = Found(Status(d["status"]), d["kind"] and Kind(d["kind"]), d["message"],
                      d["failing"] and [float(x) for x in d["failing"]], d["beyond_known_deviation"])
        log = ExampleLog(clock=BackendClock(d["load_seconds"], d["forward_seconds"]),
                         samples=[[float(e), float(t)] for e, t in d["samples"]],
                         coverage=Coverage(d["drawn"], d["grid"]), notes=d["example"] or {},
                         worst=(float(d["worst_ratio"]), d["worst_example"], None))
        return cls(d["index"], found, log, d["searched"], d["drew_case"], d["seconds"])


@dataclass
class Strata:
    """What a shard ran of one property's searches: all its units, and the records of its own."""

    units: list
    records: list = field(default_factory=list)

    def to_dict(self):
        return {"units": self.units, "searched": [r.to_dict() for r in self.records]}


def search_units(prop, ctx_template, log, bounded, on_example, settings, max_examples, seed, owned_units,
                 database=None):
    """(Found, size classes searched, Strata) of the searches owned_units of prop, each in a log of its own;
    log gets them combined (as far as search_strata would have gone with these alone). database: as
    search.search takes it."""
    plan = dict(searches(prop.id, ctx_template.backend, ctx_template.space, max_examples))
    n_strata = len(strategies.strata(ctx_template.space, max_examples, prop.id))
    strata = Strata(list(plan))
    for i in owned_units:
        own, start = ExampleLog(), time.perf_counter()
        found, searched = search_stratum(prop, ctx_template, own, i, plan[i], n_strata, bounded, on_example,
                                         settings, seed, database)
        strata.records.append(StratumRecord(i, found, own, searched, own.case() is not None,
                                            round(time.perf_counter() - start, 3)))
    found, searched = combine(strata.records, log)
    return found, searched, strata


def combine(records, log):
    """(Found, size classes searched) of the records in stratum order, summed into log, stopping where
    search_strata stops. The largest error/tolerance is kept as search_strata keeps it (the first of the
    largest) wherever the search passed, the only case it is read (a NaN ratio fails its search)."""
    searched = []
    for record in sorted(records, key=lambda r: r.index):
        _absorb(log, record.log)
        if record.found.status != Status.PASSED or not log.samples or not record.drew_case:
            return record.found, searched
        if record.searched:
            searched.append(record.searched)
    return Found(Status.PASSED), searched


def _absorb(log, part):
    """log, continued by the examples of part as if they had been logged in it."""
    log.samples.extend(part.samples)
    for name, c in part.coverage.classes.items():
        mine = log.coverage.classes.setdefault(name, {"examples": 0, "observable": 0, "ranges": {}})
        mine["examples"] += c["examples"]
        mine["observable"] += c["observable"]
        for dim, (lo, hi) in c["ranges"].items():
            was = mine["ranges"].get(dim, (lo, hi))
            mine["ranges"][dim] = [min(was[0], lo), max(was[1], hi)]
    for row, part_row in zip(log.coverage.grid, part.coverage.grid):
        for cell, part_cell in zip(row, part_row):
            cell[0] += part_cell[0]
            cell[1] += part_cell[1]
    if not part.worst[0] <= log.worst[0]:
        log.worst = part.worst
    log.clock.load_seconds += part.clock.load_seconds
    log.clock.forward_seconds += part.clock.forward_seconds
    log.notes, log.draws = part.notes, part.draws


def records_of(results):
    """The StratumRecords of one property's results from every shard (PropertyResult.strata as dicts)."""
    return [StratumRecord.from_dict(d) for r in results for d in r.strata["searched"]]
