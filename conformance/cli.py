"""gpt2-conformance: certify GPT-2 implementations against the float64 reference and OpenAI's official code.

exit status: 0 certified (every backend's verdict is accepted), 1 not certified, 2 usage error (bad
arguments, paths, files or configuration), 3 internal error of the suite, 4 partial run (everything that
ran held, but the run left properties or examples out and cannot certify).
"""
import argparse
import os
import sys
import traceback
from pathlib import Path

from gpt2_conformance import __version__
from gpt2_conformance.backends import BackendError, Subject, availability, bundled, resolve
from gpt2_conformance.cases import golden, profiles
from gpt2_conformance.judge import expectations
from gpt2_conformance.judge.tolerances import UNIT_ROUNDOFF
from gpt2_conformance.judge.verdict import OFFICIAL_PRECISION, run_standing
from gpt2_conformance.outcomes import Exit, Status
from gpt2_conformance.properties import REGISTRY, ids_of
from gpt2_conformance.report.files import write_all
from gpt2_conformance.report.terminal import Progress, replayed, table
from gpt2_conformance.report.text import shown
from gpt2_conformance.run import replay
from gpt2_conformance.run.certify import certify as run_certify
from gpt2_conformance.run.plan import UsageError
from gpt2_conformance.run.plan import plan as make_plan

JOBS_ENV = "GPT2_CONFORMANCE_JOBS"  # certify's default -j


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as e:
        print(f"gpt2-conformance {args.command}: {e}", file=sys.stderr)
        return Exit.USAGE
    except KeyboardInterrupt:
        raise
    except Exception:  # a bug of the suite, never reported as a backend's failure
        traceback.print_exc()
        print(f"gpt2-conformance {__version__}: internal error (exit {Exit.INTERNAL:d}); please report it with the "
              "traceback above", file=sys.stderr)
        return Exit.INTERNAL


def parser():
    p = argparse.ArgumentParser(prog="gpt2-conformance", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"gpt2-conformance {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    _certify_parser(sub)
    _replay_parser(sub)
    _merge_parser(sub)
    _fuzz_parser(sub)
    sub.add_parser("backends", help="list bundled and registered backends and whether they can run here").set_defaults(
        run=backends)
    golden.add_parser(sub)
    _selftest_parser(sub)
    return p


def _certify_parser(sub):
    c = sub.add_parser("certify", help="run every property against every chosen backend", formatter_class=_DefaultsOnce)
    c.set_defaults(run=certify)
    c.add_argument("--backend", action="append", metavar="SPEC",
                   help="a model: a bundled name, an entry-point name or package.module:attr (repeatable; default, "
                        "with no --tokenizer either: every bundled backend and tokenizer whose dependencies are installed)")
    c.add_argument("--tokenizer", action="append", metavar="SPEC",
                   help="a tokenizer, named as a backend is (repeatable; with --backend in one run, or alone; "
                        f"bundled: {', '.join(bundled(Subject.TOKENIZER))})")
    c.add_argument("--property", action="append", choices=list(REGISTRY), metavar="ID",
                   help="only these properties (repeatable; a partial run): models' "
                        f"{', '.join(ids_of(Subject.MODEL))}; tokenizers' {', '.join(ids_of(Subject.TOKENIZER))}")
    c.add_argument("--profile", default="ci", choices=list(profiles.PROFILES),
                   help=f"Hypothesis profile; certifying: {', '.join(profiles.CERTIFYING)}")
    c.add_argument("--max-examples", type=_positive(int), metavar="N",
                   help="examples per property (default: the profile's; fewer makes a partial run)")
    c.add_argument("--seed", type=int, help="Hypothesis seed (default: ci is derandomized; other profiles draw one "
                                           "and record it in the certificate)")
    c.add_argument("--report-dir", type=Path, default=Path("gpt2-conformance-report"), metavar="DIR",
                   help="where certificate.json, junit.xml, report.md and report.html are written")
    c.add_argument("--timeout", type=_positive(float, MAX_TIMEOUT), default=600, metavar="SECONDS",
                   help="seconds one property may take before the backend counts as hung")
    c.add_argument("--expectations", action="append", default=[], metavar="FILE|SET",
                   help="a backend's expected failures (TOML, docs/expectations.md), or an upstream set by name: a "
                        "framework's known deviations, for every backend of the run "
                        f"({', '.join(expectations.set_names())}; repeatable)")
    c.add_argument("--save-failing-inputs", type=Path, metavar="DIR",
                   help="where failing examples are saved as .npz for `replay` (default: REPORT_DIR/failing-inputs)")
    c.add_argument("--checkpoint", type=Path, metavar="DIR",
                   help="run the properties on the weights of this official or Hugging Face checkpoint directory "
                        "instead of generated ones (and the known answers, if it is GPT-2 124M)")
    c.add_argument("--accept-level", choices=list(UNIT_ROUNDOFF), default=OFFICIAL_PRECISION, metavar="DTYPE",
                   help="exit 0 for verdicts certified at this precision or finer (e.g. bfloat16 for a backend that "
                        "cannot run float32; the verdict still names its level)")
    c.add_argument("--accept-scope", action="store_true",
                   help="exit 0 for verdicts certified within a declared scope that leaves out published GPT-2 models "
                        "(the verdict still says so)")
    c.add_argument("--accept-frozen-weights", action="store_true",
                   help="exit 0 for verdicts certified with frozen weights: an engine that runs a converted model "
                        "cannot replace wte in place, so tied_head cannot run (the verdict still says so)")
    c.add_argument("--accept-special-text", action="store_true",
                   help="exit 0 for tokenizers certified with a declared special-text policy: <|endoftext|> in a text "
                        "as the special id, or refused, where OpenAI's encoder.py encodes it as text (the verdict "
                        "still says so)")
    c.add_argument("--shard", type=_shard, metavar="I/N",
                   help="run shard I of N of this run's work (its properties' size strata, dealt round-robin): a "
                        "partial certificate; `gpt2-conformance merge` joins the N into the run's (docs/scaling.md)")
    c.add_argument("-j", "--jobs", type=_jobs, default=os.environ.get(JOBS_ENV) or "auto", metavar="N|auto",
                   help="worker processes per backend at once, each running a share of its properties' size strata "
                        f"(the verdict is the same for every N); auto: one per usable CPU. Default: ${JOBS_ENV} where "
                        "set (1 where certify runs already share the cores, as under pytest -n), else auto")
    c.add_argument("--database", metavar="PATH|URL",
                   help="Hypothesis' example database (a directory, github:OWNER/REPO[/ARTIFACT] or "
                        "redis://HOST:PORT): the ci profile replays every failure stored there before its own "
                        "examples, the others search with it (docs/fuzzing.md)")


def _merge_parser(sub):
    m = sub.add_parser("merge", help="join the certificates of a run's shards (certify --shard I/N) into the run's "
                       "certificate and reports", formatter_class=_DefaultsOnce)
    m.set_defaults(run=merge)
    m.add_argument("shards", nargs="+", type=Path, metavar="SHARD.json", help="every shard's certificate.json")
    m.add_argument("--report-dir", type=Path, default=Path("gpt2-conformance-report"), metavar="DIR",
                   help="where the merged certificate.json, junit.xml, report.md and report.html are written")


def _jobs(text):
    from gpt2_conformance.run.jobs import usable_cpus

    if text == "auto":
        return usable_cpus()
    try:
        return _positive(int)(text)
    except argparse.ArgumentTypeError as e:
        given = "" if text != os.environ.get(JOBS_ENV) else f" (the default, from ${JOBS_ENV})"
        raise argparse.ArgumentTypeError(f"{e}{given}: a positive number of workers, or auto") from None


def _shard(text):
    from gpt2_conformance.judge.shards import Shard

    try:
        return Shard.parse(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _fuzz_parser(sub):
    f = sub.add_parser("fuzz", help="search backends with fresh random seeds for as long as you give it, storing "
                       "every failure in an example database (exit 1: it found one); never certifies",
                       formatter_class=_DefaultsOnce)
    f.set_defaults(run=fuzz)
    f.add_argument("--backend", action="append", metavar="SPEC", help="a model to search (repeatable)")
    f.add_argument("--tokenizer", action="append", metavar="SPEC", help="a tokenizer to search (repeatable)")
    f.add_argument("--minutes", type=_positive(float, MAX_TIMEOUT / 60), required=True, metavar="M",
                   help="how long to search (a round running at the end may take a minute more to finish)")
    f.add_argument("-j", "--jobs", type=_positive(int), default=1, metavar="N", help="worker processes")
    f.add_argument("--database", required=True, metavar="PATH|URL",
                   help="where failures are stored: a directory, github:OWNER/REPO[/ARTIFACT] (read-only, with "
                        ".hypothesis/examples for what this run finds) or redis://HOST:PORT")
    f.add_argument("--property", action="append", choices=list(REGISTRY), metavar="ID",
                   help="only these properties (repeatable; default: all of each searched backend's subject)")
    f.add_argument("--examples", type=_positive(int), default=100, metavar="N",
                   help="examples per round: one property's search, as certify runs it (at least the ci profile's 50)")
    f.add_argument("--expectations", action="append", default=[], metavar="FILE|SET",
                   help="the backend's known deviations, as certify takes them: no findings")
    f.add_argument("--save-failing-inputs", type=Path, default=Path("fuzz-failures"), metavar="DIR",
                   help="where each failing example is saved as .npz for `replay`, a directory per round")
    f.add_argument("--stop-on-failure", action="store_true",
                   help="stop every worker once one finds a failure (a pull request's quick search)")


def _replay_parser(sub):
    r = sub.add_parser("replay", help="re-run a failing example saved by certify (exit 1: it fails still, 0: it passes)",
                       formatter_class=_DefaultsOnce)
    r.set_defaults(run=replay_command)
    r.add_argument("file", type=Path)
    on = r.add_mutually_exclusive_group()
    on.add_argument("--backend", metavar="SPEC", help="the backend to run it on (default: the one that failed)")
    on.add_argument("--tokenizer", metavar="SPEC", help="the tokenizer to run it on (default: the one that failed)")


def _selftest_parser(sub):
    s = sub.add_parser("selftest", help="every property against every mutant of its subject (known GPT-2 model and "
                       "tokenizer bugs): the kill matrix", formatter_class=_DefaultsOnce)
    s.set_defaults(run=selftest)
    s.add_argument("--profile", default="ci", choices=list(profiles.PROFILES))
    s.add_argument("--mutant", action="append", metavar="NAME",
                   help="only these mutants, of models or of tokenizers (repeatable; default: all)")
    s.add_argument("--property", action="append", choices=list(REGISTRY), metavar="ID",
                   help="only these properties, of models or of tokenizers (repeatable); a mutant meets its "
                        "subject's properties only")
    s.add_argument("--backend", action="append", metavar="SPEC",
                   help="correct backends that must still certify (repeatable; default: every available bundled one)")
    s.add_argument("--tokenizer", action="append", metavar="SPEC",
                   help="correct tokenizers that must still certify (repeatable; default: every available bundled one)")
    s.add_argument("--report-dir", type=Path, default=Path("gpt2-conformance-report"), metavar="DIR",
                   help="where selftest.json is written")


class _DefaultsOnce(argparse.ArgumentDefaultsHelpFormatter):
    """Each default shown once: not where the help names it already, nor where there is none to show."""

    def _get_help_string(self, action):
        if "default" in (action.help or "") or action.default in (None, False, [], argparse.SUPPRESS):
            return action.help
        return super()._get_help_string(action)


MAX_TIMEOUT = 7 * 24 * 3600  # seconds: a week; beyond it a timer overflows, and no property needs it


def _positive(kind, largest=None):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        if largest is not None and not value <= largest:
            raise argparse.ArgumentTypeError(f"must be at most {largest:g}, got {text}")
        return value

    return parse


def backends(args):
    for subject, option in ((Subject.MODEL, "--backend"), (Subject.TOKENIZER, "--tokenizer")):
        rows, table = availability(subject), bundled(subject)
        width = max(len(name) for name, _, _ in rows)
        print(f"{subject}s:")
        for name, ok, detail in rows:
            opt_in = table[name].opt_in if name in table else None
            note = f"  (opt-in, name it with {option}: it {opt_in})" if ok and opt_in else ""
            print(f"  {name:<{width}}  {'available  ' if ok else 'unavailable'}  {detail}{note}")
    return Exit.CERTIFIED


def selftest(args):
    from gpt2_conformance.run import selftest as run

    return run.main(args)


def certify(args):
    plan = make_plan(args)
    live = Progress() if sys.stderr.isatty() else None
    cert = run_certify(plan, log=lambda line: print(line, file=sys.stderr, flush=True), live=live)
    paths = write_all(cert, plan.report_dir)
    print(table(cert))
    print(f"\nreports: {', '.join(str(shown(p)) for p in paths)}")
    return exit_status(cert)


def merge(args):
    from gpt2_conformance.run import merge as run

    cert = run.merge(run.load(args.shards))
    try:
        args.report_dir.mkdir(parents=True, exist_ok=True)
        paths = write_all(cert, args.report_dir)
    except OSError as e:
        raise UsageError(f"cannot write reports to {args.report_dir}: {e.strerror or e}") from None
    print(table(cert))
    print(f"\nreports: {', '.join(str(shown(p)) for p in paths)}")
    return exit_status(cert)


def fuzz(args):
    from gpt2_conformance.run import fuzz as run

    plan = run.plan(args)
    rounds = run.fuzz(plan, log=lambda line: print(line, flush=True))
    print(run.summary(rounds, plan))
    return Exit.NOT_CERTIFIED if any(r.found() for r in rounds) else Exit.CERTIFIED


def exit_status(cert):
    """The exit status of a certify run: its run verdict's (the headline of every report)."""
    return Exit[run_standing(cert).name]


def replay_command(args):
    try:
        meta, draws = replay.load(args.file)
        subject = replay.subject_of(meta)
        named = {Subject.MODEL: args.backend, Subject.TOKENIZER: args.tokenizer}
        if any(spec for s, spec in named.items() if s != subject):
            raise replay.ReplayError(f"{args.file} is a failing example of a {subject}'s property ({meta['property']}): "
                                     f"name the {subject} to run it on with {replay.option(subject)}")
        backend = resolve(named[subject] or meta["spec"], subject)
        outcome = replay.rerun(meta, draws, backend)
    except (replay.ReplayError, BackendError) as e:
        raise UsageError(str(e)) from None
    print(replayed(backend.name, meta, outcome))
    return Exit.CERTIFIED if outcome[0] == Status.PASSED else Exit.NOT_CERTIFIED


if __name__ == "__main__":
    sys.exit(main())
