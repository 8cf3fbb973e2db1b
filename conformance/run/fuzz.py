"""`gpt2-conformance fuzz`: a long randomized search whose findings go to Hypothesis' example database (and a
replay file each), for `certify --database` to replay first (docs/fuzzing.md). It never certifies.

Hypothesis does the searching: each round is one property run as certify runs it (run_isolated: the backend in
a process of its own), with a randomized profile, no seed (so Hypothesis draws a fresh random one for every
search) and the database (so it replays what earlier rounds stored, and stores each failure it finds as it
shrinks it). The loop here only picks each worker's next property and keeps the time budget.
"""
import itertools
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from gpt2_conformance.backends import Subject, spec_problem
from gpt2_conformance.cases import profiles
from gpt2_conformance.judge import expectations
from gpt2_conformance.outcomes import Status
from gpt2_conformance.properties import ids_of
from gpt2_conformance.run.isolation import run_isolated
from gpt2_conformance.run.plan import UsageError, database_location

PROFILE = "thorough"  # randomized; the rounds' own --examples replace its number of examples
# Seconds a round still running at the end of the budget may take to finish (mostly shrinking) before it is
# stopped. What it found is in the database by then: Hypothesis stores each shrinking step's failure.
GRACE = 60
# Fewer examples per round than the ci profile would split a property's examples into other strata (size classes
# searched on their own) than ci's, whose searches then have other database keys: ci would not replay them.
MIN_EXAMPLES = profiles.get("ci").max_examples


@dataclass(frozen=True)
class FuzzPlan:
    turns: tuple  # ((spec, subject, property id), ...): every search a worker takes in turn
    seconds: float
    jobs: int
    database: str  # as the workers open it (cases/databases.py)
    save_dir: Path
    examples: int  # per round
    expectations: tuple = ()  # paths of expectation files: known deviations are no findings
    stop_on_failure: bool = False


def plan(args):
    """The FuzzPlan of `fuzz` from its parsed arguments (UsageError where one is wrong)."""
    specs = {Subject.MODEL: args.backend or [], Subject.TOKENIZER: args.tokenizer or []}
    if not any(specs.values()):
        raise UsageError("name a backend to search: --backend SPEC or --tokenizer SPEC (repeatable)")
    for subject, chosen in specs.items():
        for spec in chosen:
            if spec_problem(spec, subject):
                raise UsageError(spec_problem(spec, subject))
    every = [pid for subject, chosen in specs.items() if chosen for pid in ids_of(subject)]
    wrong = [pid for pid in args.property or () if pid not in every]
    if wrong:
        raise UsageError(f"--property {' '.join(wrong)}: not a property of what is searched ({', '.join(every)})")
    if args.examples < MIN_EXAMPLES:
        raise UsageError(f"--examples {args.examples}: at least {MIN_EXAMPLES} (the ci profile's), so that each "
                         "property's searches, and their database keys, are ci's")
    try:
        given = [expectations.load_source(f) for f in args.expectations]
        files = expectations.with_shipped(expectations.with_shipped(given, specs[Subject.MODEL]),
                                          specs[Subject.TOKENIZER], Subject.TOKENIZER)
    except expectations.ExpectationError as e:
        raise UsageError(str(e)) from None
    turns = tuple((spec, subject, pid) for subject, chosen in specs.items() for spec in dict.fromkeys(chosen)
                  for pid in _chosen(args.property, subject))
    return FuzzPlan(turns, args.minutes * 60, args.jobs, database_location(args.database), args.save_failing_inputs,
                    args.examples, tuple(str(f.path) for f in files), args.stop_on_failure)


def _chosen(named, subject):
    """The properties of subject that --property names, or all of them where it names none of subject's."""
    mine = [pid for pid in dict.fromkeys(named or ()) if pid in ids_of(subject)]
    return mine or ids_of(subject)


@dataclass
class Round:
    """One property's search by one worker, and how it ended."""

    worker: int
    property_id: str
    name: str  # the backend's
    result: object  # PropertyResult
    seconds: float
    cut_off: bool = False  # stopped by the time budget (its grace spent): an ERROR that is no finding

    def found(self):
        """Whether it found a failure: a failing or erring example (or a systematic failure), the backend's
        process dying, or the essentials check failing."""
        return self.result.status in (Status.FAILED, Status.ERROR, Status.BLOCKED) and not self.cut_off


def fuzz(plan, log):
    """Every Round of plan's workers, each searching until the budget is spent (or, with stop_on_failure, until
    one finds a failure). log(line) prints each round that found one."""
    deadline, stop = time.monotonic() + plan.seconds, threading.Event()
    rounds, lock = [], threading.Lock()

    def work(worker):
        first = worker % len(plan.turns)  # the workers start apart, then each takes every search in turn
        turns = list(plan.turns[first:] + plan.turns[:first])
        for n in itertools.count():
            if stop.is_set() or time.monotonic() >= deadline or not turns:
                return
            turn = turns[n % len(turns)]
            done = _round(plan, worker, n, turn, deadline)
            with lock:
                rounds.append(done)
            if done.result.status == Status.SKIPPED:  # the backend cannot run it: it never will
                turns.remove(turn)
            if done.found():
                log(found_lines(done, plan))
                if plan.stop_on_failure or done.result.status == Status.BLOCKED:
                    stop.set()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(plan.jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rounds


def _round(plan, worker, n, turn, deadline):
    """Worker's n-th round: turn's search (spec, subject, property id). A failing example is saved to a directory
    of the round's own (replay.save names files by backend and property: the next finding would overwrite it)."""
    (spec, subject, property_id), start = turn, time.monotonic()
    save_dir = plan.save_dir / f"{time.strftime('%Y%m%dT%H%M%S')}-worker{worker}-round{n}"
    run = run_isolated(spec, [property_id], profile=PROFILE, max_examples=plan.examples, seed=None,
                       timeout=max(1.0, deadline - start) + GRACE, save_dir=save_dir,
                       expectations=plan.expectations, subject=subject, database=plan.database)
    (result,) = run.results
    cut_off = result.status == Status.ERROR and result.failing_draws is None and time.monotonic() >= deadline + GRACE
    return Round(worker, property_id, run.name, result, round(time.monotonic() - start, 1), cut_off)


def found_lines(done, plan):
    """What a round that found a failure prints."""
    r = done.result
    lines = [f"found: {done.name} / {r.id}: {r.status.label} ({r.kind}) after {r.examples} examples "
             f"({done.seconds:g} s, worker {done.worker}): {r.message}"]
    if r.counterexample:
        lines.append(f"  counterexample: {r.counterexample}")
    if r.reproduction:
        lines.append(f"  replay: {r.reproduction}")
    return "\n".join(lines)


def summary(rounds, plan):
    """The closing lines of a fuzz run."""
    found = [r for r in rounds if r.found()]
    examples = sum(r.result.examples for r in rounds)
    searched = ", ".join(dict.fromkeys(spec if subject == Subject.MODEL else f"{spec} (tokenizer)"
                                       for spec, subject, _ in plan.turns))
    lines = [f"fuzzed {searched} for {plan.seconds:g} s with {plan.jobs} worker(s): {len(rounds)} rounds, "
             f"{examples} examples, {len(found)} found a failure"]
    if found:
        lines.append(f"stored in the example database {plan.database}: `gpt2-conformance certify --database "
                     f"{plan.database}` replays them before its own examples; failing inputs in {plan.save_dir}")
    return "\n".join(lines)
