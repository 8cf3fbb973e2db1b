"""A certify run's plan: every argument, path, file and setting checked before anything runs."""
import random
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from gpt2_conformance.backends import BUNDLED, Subject, available_bundled, bundled, spec_problem
from gpt2_conformance.cases import checkpoints, databases, profiles
from gpt2_conformance.judge import expectations, oracle_cache
from gpt2_conformance.judge.verdict import Acceptance
from gpt2_conformance.properties import ids_of
from gpt2_conformance.reference.params import InvalidParams
from gpt2_conformance.report.files import REPORTS


class UsageError(Exception):
    """The user's arguments, paths, files or environment are wrong: exit 2, before anything runs."""


@dataclass(frozen=True)
class Plan:
    specs: tuple  # the models
    property_ids: tuple  # the models' properties
    profile: str
    max_examples: int | None
    seed: int | None  # drawn here for a profile that is not derandomized, and recorded
    timeout: float
    report_dir: Path
    save_dir: Path  # failing inputs, for replay
    files: tuple  # expectations.Expectations, the user's and the shipped ones
    partial: tuple  # why this run cannot certify (the certificate's; each subject's verdicts get theirs)
    accepted: Acceptance
    checkpoint: str | None
    command: str
    tokenizer_specs: tuple = ()
    tokenizer_property_ids: tuple = ()
    partial_of: dict = field(default_factory=dict)  # {subject: why its backends' verdicts cannot certify}
    shard: object = None  # judge.shards.Shard: this run is one shard of a run (partial, its reason in partial)
    database: str | None = None  # Hypothesis' example database (cases/databases.py): its stored failures replay first
    jobs: int = 1  # workers per backend at once (run/jobs.py)


def plan(args):
    """The Plan of `certify` from its parsed arguments (UsageError where one is wrong)."""
    specs, tokenizer_specs = _specs(args)
    _check_properties(args, {Subject.MODEL: specs, Subject.TOKENIZER: tokenizer_specs})
    for spec in specs:
        _check_spec(spec)
    for spec in tokenizer_specs:
        _check_spec(spec, Subject.TOKENIZER)
    try:
        given = [expectations.load_source(f) for f in args.expectations]
        files = expectations.with_shipped(expectations.with_shipped(given, specs), tokenizer_specs, Subject.TOKENIZER)
    except expectations.ExpectationError as e:
        raise UsageError(str(e)) from None
    if args.checkpoint:
        _check_checkpoint(args.checkpoint)
    try:
        oracle_cache.check()
    except oracle_cache.CacheError as e:
        raise UsageError(str(e)) from None
    save_dir = args.save_failing_inputs or args.report_dir / "failing-inputs"
    for directory in (args.report_dir, save_dir):
        _writable(directory)
    _remove_earlier_reports(args.report_dir, save_dir)
    seed = args.seed
    if seed is None and not profiles.get(args.profile).derandomize:
        seed = random.randrange(2**32)  # recorded in the certificate, so the run can be repeated
    shard = getattr(args, "shard", None)
    partial_of = {subject: _partial(args, subject) + sharded(shard) for subject in Subject}
    run_partial = [reason for subject, chosen in ((Subject.MODEL, specs), (Subject.TOKENIZER, tokenizer_specs))
                   if chosen for reason in partial_of[subject]]
    return Plan(tuple(specs), _chosen(args, Subject.MODEL), args.profile, args.max_examples, seed, args.timeout,
                args.report_dir, save_dir, tuple(files), tuple(dict.fromkeys(run_partial)),
                Acceptance(args.accept_level, args.accept_scope, args.accept_frozen_weights, args.accept_special_text),
                checkpoint=str(args.checkpoint.resolve()) if args.checkpoint else None,
                command=shlex.join(["gpt2-conformance", *sys.argv[1:]]),
                tokenizer_specs=tuple(tokenizer_specs), tokenizer_property_ids=_chosen(args, Subject.TOKENIZER),
                partial_of=partial_of, shard=shard, database=database_location(args.database), jobs=args.jobs)


def sharded(shard):
    """Why a shard's verdicts cannot certify by itself (merge removes it again): (reason,), or () unsharded."""
    return (f"shard {shard} of a run (gpt2-conformance merge joins the shards)",) if shard else ()


def database_location(location):
    """--database's location as the workers open it, or None; UsageError where it names no database."""
    try:
        return location and databases.checked(location)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _specs(args):
    """(models, tokenizers) to certify: those named, or with neither named every bundled one that can run here."""
    if args.backend or args.tokenizer:
        return args.backend or [], args.tokenizer or []
    specs, tokenizer_specs = available_bundled(), available_bundled(Subject.TOKENIZER)
    if not specs and not tokenizer_specs:
        raise UsageError(f"no backend or tokenizer can run here; bundled: {', '.join(BUNDLED)}; tokenizers: "
                         f"{', '.join(bundled(Subject.TOKENIZER))}")
    return specs, tokenizer_specs


def _chosen(args, subject):
    """The properties of subject that run: those --property names, or all of them where it names none of
    subject's (--property reference_logits still certifies a tokenizer of the same run fully)."""
    if not _named(args, subject):
        return tuple(ids_of(subject))
    return tuple(dict.fromkeys(pid for pid in args.property if pid in ids_of(subject)))


def _named(args, subject):
    return bool(args.property) and any(pid in ids_of(subject) for pid in args.property)


def _check_properties(args, specs):
    """--property must name a property of something the run certifies (else it would silently run them all)."""
    if args.property and not any(_named(args, subject) for subject, chosen in specs.items() if chosen):
        certified = " and ".join(f"{subject}s" for subject, chosen in specs.items() if chosen)
        raise UsageError(f"--property {' '.join(args.property)}: no property of the {certified} this run certifies "
                         f"({', '.join(pid for subject, chosen in specs.items() if chosen for pid in ids_of(subject))})")


def _partial(args, subject):
    """Why the verdicts of subject's backends cannot certify: the profile's reasons, and --property leaving out
    some of subject's properties."""
    partial = profiles.partial(args.profile, args.max_examples)
    every, named = ids_of(subject), set(args.property or ()) & set(ids_of(subject))
    if named and named != set(every):
        partial.append(f"{len(named)} of {len(every)} {subject} properties (--property)")
    return tuple(partial)


def _check_spec(spec, subject=Subject.MODEL):
    """A spec that names nothing is the user's mistake (exit 2); one that fails to import is the backend's."""
    problem = spec_problem(spec, subject)
    if problem:
        raise UsageError(problem)


def _check_checkpoint(path):
    try:
        checkpoints.load(path)  # a malformed directory is rejected here, once, with the reason
    except InvalidParams as e:
        raise UsageError(f"--checkpoint: {e}") from None


def _writable(directory):
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".gpt2-conformance-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write reports to {directory}: {e.strerror or e}") from None


def _remove_earlier_reports(report_dir, save_dir):
    """An earlier run's reports must not stand beside this run's and contradict them."""
    for name in REPORTS:
        path = report_dir / name
        if path.is_dir() and not path.is_symlink():
            raise UsageError(f"cannot write reports to {report_dir}: {name} there is a directory")
        path.unlink(missing_ok=True)
    for saved in save_dir.glob("*.npz"):
        saved.unlink()
