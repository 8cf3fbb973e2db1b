"""gpt2-conformance selftest: the suite proves its power on its catalog of real GPT-2 bugs.

Every property runs against every mutant of its subject (conformance/mutants: the models' catalog, and the
tokenizers' in mutants/tokenizers.py), giving a kill matrix per subject: a cell is killed (the property
failed or the backend raised), survived, or not applicable (the mutant lacks a capability the property
needs). A mutant must be killed by each property it names in `kills`, and the correct bundled backends and
tokenizers must still certify: a suite that fails everything proves nothing.
"""
import json
import statistics
import sys
import time
from dataclasses import replace

from gpt2_conformance import __version__
from gpt2_conformance.backends import Subject, available_bundled
from gpt2_conformance.cases import profiles
from gpt2_conformance.judge import expectations
from gpt2_conformance.judge.runner import run_property
from gpt2_conformance.judge.verdict import judge
from gpt2_conformance.mutants import mutants_of
from gpt2_conformance.mutants.catalog import NOT_APPLICABLE
from gpt2_conformance.outcomes import Exit, Status
from gpt2_conformance.properties import REGISTRY, ids_of
from gpt2_conformance.report import certificate, terminal
from gpt2_conformance.run.isolation import run_isolated

# xpassed: the mutant's expectation file listed a failure the property did not find, which fails a run too.
CELL = {Status.FAILED: "killed", Status.ERROR: "killed", Status.XPASSED: "killed", Status.BLOCKED: "killed",
        Status.PASSED: "survived", Status.XFAILED: "survived", Status.PARTIAL: "survived", Status.SKIPPED: "n/a"}
MEDIAN_TARGET_S, SLOWEST_TARGET_S = 1.0, 10.0


def kill(mutant, prop, profile):
    """(one cell: the property's result on the mutant with the time to its first failing example, the result)."""
    first_failure = []
    start = time.perf_counter()

    def failed():
        if not first_failure:
            first_failure.append(time.perf_counter() - start)

    def timed(ctx, data):
        try:
            m = prop.fn(ctx, data)
        except Exception:  # a backend that raises is killed too
            failed()
            raise
        if not m.ok:
            failed()
        return m

    cpu = time.process_time()
    result = run_property(replace(prop, fn=timed), mutant, settings=profile, expected=mutant.expected)
    return {"mutant": mutant.name, "property": prop.id, "cell": CELL[result.status], "status": result.status,
            "kind": result.kind, "intended": prop.id in mutant.kills, "seconds": result.seconds,
            "cpu_seconds": round(time.process_time() - cpu, 3),
            "first_failure_seconds": round(first_failure[0], 3) if first_failure else None,
            "examples": result.examples, "counterexample": result.counterexample, "message": result.message}, result


def run(profile_name, mutants=None, property_ids=None, backend_specs=None, progress=None, tokenizer_specs=None):
    """The selftest report as a dict; report['passed'] says whether the suite proved its power.

    mutants (of either subject) and property_ids narrow the run (default: all); backend_specs and
    tokenizer_specs are the correct ones that must still certify (default: every available bundled one)."""
    profile = profiles.get(profile_name)
    whole = not mutants and not property_ids  # the whole catalog against every property
    cells, scores, correct = [], [], {subject: [] for subject in Subject}
    chosen = selection(mutants, property_ids, {Subject.MODEL: backend_specs, Subject.TOKENIZER: tokenizer_specs})
    for subject, (its_mutants, its_ids, specs) in chosen.items():
        for mutant in its_mutants:
            its_cells, results = _killed(mutant, its_ids, profile, progress)
            cells += its_cells
            scores.append(_scored(mutant, its_cells, results, its_ids))
        correct[subject] = [_correct_backend(spec, its_ids, profile_name, progress, subject) for spec in specs]
    return {
        "suite_version": __version__,
        "profile": profile_name,
        "environment": certificate.environment(),
        "passed": all(v["ok"] for v in scores) and all(b["passed"] for runs in correct.values() for b in runs),
        "whole": whole,
        "timing": _timing([v for v in scores if v["subject"] == Subject.MODEL]),
        "tokenizer_timing": _timing([v for v in scores if v["subject"] == Subject.TOKENIZER]),
        "mutants": scores,
        "not_applicable": NOT_APPLICABLE,
        "cells": cells,
        "backends": correct[Subject.MODEL],
        "tokenizers": correct[Subject.TOKENIZER],
    }


def selection(mutants, property_ids, specs):
    """{subject: (its mutants, its property ids, its correct specs)} for each subject the run reaches: one with a
    property chosen (all where property_ids names none), and a mutant or a correct spec chosen where mutants
    narrows the run. specs: {subject: the correct specs named, or None for every available bundled one}."""
    chosen = {}
    for subject in Subject:
        ids = [p for p in property_ids if REGISTRY[p].subject == subject] if property_ids else ids_of(subject)
        theirs = ([m for m in mutants if m.capabilities.subject == subject] if mutants
                  else list(mutants_of(subject).values()))
        if ids and (theirs or not mutants or specs[subject]):
            chosen[subject] = (theirs, ids, available_bundled(subject) if specs[subject] is None else specs[subject])
    return chosen


def unreached(mutants, property_ids, specs):
    """Why a mutant or correct spec named would not run (--property names none of its subject's properties)."""
    subjects = {REGISTRY[p].subject for p in property_ids or ()} or set(Subject)
    return ([f"mutant {m.name} is a {m.capabilities.subject} mutant: --property names no {m.capabilities.subject} "
             "property" for m in mutants or () if m.capabilities.subject not in subjects]
            + [f"{', '.join(named)}: --property names no {subject} property" for subject, named in specs.items()
               if named and subject not in subjects])


def _killed(mutant, property_ids, profile, progress):
    """(the cells of one mutant's row, its PropertyResults)."""
    cells, results = [], []
    for pid in property_ids:
        cell, result = kill(mutant, REGISTRY[pid], profile)
        cells.append(cell)
        results.append(result)
        if progress:
            progress(cell)
    return cells, results


def _timing(scores):
    """The time to kill of these mutants, wall and CPU, beside the targets."""
    kill_times = [v["seconds"] for v in scores if v["seconds"] is not None]
    cpu_times = [v["cpu_seconds"] for v in scores if v["cpu_seconds"] is not None]
    return {
        "median_time_to_kill_s": statistics.median(kill_times) if kill_times else None,
        "slowest_time_to_kill_s": max(kill_times, default=None),
        # CPU time is what the suite costs, whatever else runs on the machine
        "median_cpu_to_kill_s": statistics.median(cpu_times) if cpu_times else None,
        "slowest_cpu_to_kill_s": max(cpu_times, default=None),
        "median_target_s": MEDIAN_TARGET_S, "slowest_target_s": SLOWEST_TARGET_S,
    }


def _correct_backend(spec, property_ids, profile_name, progress, subject=Subject.MODEL):
    """A correct backend (a model or a tokenizer), judged as certify judges it: with its shipped known deviations,
    training included."""
    files = expectations.with_shipped([], [spec], subject)
    backend = run_isolated(spec, property_ids, profile=profile_name, expectations=[f.path for f in files],
                           on_result=progress and (lambda name, r: progress(_backend_cell(name, r, subject))),
                           subject=subject)
    verdict = judge(backend.results, backend.capabilities)
    return {"name": backend.name, "spec": spec, "passed": verdict.accepted(), "verdict": verdict.label,
            "properties": [r.to_dict() for r in backend.results]}


def _backend_cell(name, result, subject):
    correct = "(correct)" if subject == Subject.MODEL else f"(correct {subject})"
    return {"mutant": f"{correct} {name}", "property": result.id, "cell": result.status, "seconds": result.seconds}


def _scored(mutant, cells, results, property_ids):
    """A mutant is ok when some property kills it, every intended property (that ran) does, and its
    certificate would not be accepted."""
    killed_by = [c["property"] for c in cells if c["cell"] == "killed"]
    verdict = judge(results, mutant.capabilities)
    intended = [p for p in mutant.kills if p in property_ids]
    missed = [p for p in intended if p not in killed_by]
    # time to kill: by the slowest intended property (the one a user relies on); else by the fastest killer
    timed = [c for c in cells if c["property"] in intended and c["cell"] == "killed"] or \
            sorted((c for c in cells if c["cell"] == "killed"), key=lambda c: c["seconds"])[:1]
    worst = max(timed, key=lambda c: c["seconds"], default=None)
    return {"name": mutant.name, "subject": mutant.capabilities.subject, "bug": mutant.bug, "cite": mutant.cite,
            "kills": list(mutant.kills),
            "killed_by": killed_by, "missed": missed, "verdict": verdict.label,
            "ok": bool(killed_by) and not missed and not verdict.accepted(),
            "seconds": worst and worst["seconds"], "cpu_seconds": worst and worst["cpu_seconds"],
            "first_failure_seconds": worst and worst["first_failure_seconds"],
            "counterexample": worst and worst["counterexample"]}


def main(args):
    def progress(c):
        print(terminal.kill_cell(c), file=sys.stderr, flush=True)

    catalog = {name: m for subject in Subject for name, m in mutants_of(subject).items()}
    unknown = [n for n in args.mutant or () if n not in catalog]
    if unknown:
        print(f"unknown mutant {', '.join(unknown)}: use one of {', '.join(catalog)}", file=sys.stderr)
        return Exit.USAGE
    mutants = [catalog[n] for n in args.mutant] if args.mutant else None
    problems = unreached(mutants, args.property, {Subject.MODEL: args.backend, Subject.TOKENIZER: args.tokenizer})
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return Exit.USAGE
    result = run(args.profile, mutants, args.property, args.backend, progress, args.tokenizer)
    args.report_dir.mkdir(parents=True, exist_ok=True)
    path = args.report_dir / "selftest.json"
    path.write_text(json.dumps(certificate.strict(result), indent=2, allow_nan=False) + "\n")
    print(terminal.kill_matrix(result))
    print(f"\nkill matrix: {path}")
    return Exit.CERTIFIED if result["passed"] else Exit.NOT_CERTIFIED
