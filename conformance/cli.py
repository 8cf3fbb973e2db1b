"""gpt2-conformance: certify GPT-2 implementations against the float64 reference and OpenAI's official code.

exit status: 0 certified (every backend's verdict is accepted), 1 not certified, 2 usage error (bad
arguments, paths, files or configuration), 3 internal error of the suite, 4 partial run (everything that
ran held, but the run left properties or examples out and cannot certify).
"""
import argparse
import random
import shlex
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from gpt2_conformance import __version__
from gpt2_conformance.report import certificate
from gpt2_conformance.cases import checkpoints, golden, profiles
from gpt2_conformance.judge import expectations, oracle_cache
from gpt2_conformance.run import replay
from gpt2_conformance.backends import BUNDLED, BackendError, availability, available_bundled, entry_point_names, resolve
from gpt2_conformance.run.isolation import run_isolated
from gpt2_conformance.properties import REGISTRY
from gpt2_conformance.report.pages import REPORTS, cell, shown, verdicts, write_all
from gpt2_conformance.outcomes import STATUS
from gpt2_conformance.judge.tolerances import UNIT_ROUNDOFF
from gpt2_conformance.judge.verdict import OFFICIAL_PRECISION, judge, only_partial
from gpt2_conformance.reference.params import InvalidParams

CERTIFIED, NOT_CERTIFIED, USAGE, INTERNAL, PARTIAL = 0, 1, 2, 3, 4


class UsageError(Exception):
    """The user's arguments, paths, files or environment are wrong: exit 2, before anything runs."""


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as e:
        print(f"gpt2-conformance {args.command}: {e}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        raise
    except Exception:  # a bug of the suite, never reported as a backend's failure
        traceback.print_exc()
        print(f"gpt2-conformance {__version__}: internal error (exit {INTERNAL}); please report it with the "
              "traceback above", file=sys.stderr)
        return INTERNAL


def parser():
    p = argparse.ArgumentParser(prog="gpt2-conformance", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"gpt2-conformance {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    defaults = _DefaultsOnce

    c = sub.add_parser("certify", help="run every property against every chosen backend", formatter_class=defaults)
    c.set_defaults(run=certify)
    c.add_argument("--backend", action="append", metavar="SPEC",
                   help="a bundled name, an entry-point name or package.module:attr (repeatable; "
                        "default: every bundled backend whose dependencies are installed)")
    c.add_argument("--property", action="append", choices=list(REGISTRY), metavar="ID",
                   help=f"only these properties (repeatable; a partial run): {', '.join(REGISTRY)}")
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
    c.add_argument("--expectations", action="append", type=Path, default=[], metavar="FILE",
                   help="a backend's expected failures (TOML, see conformance/judge/expectations.py; repeatable, one per backend)")
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

    r = sub.add_parser("replay", help="re-run a failing example saved by certify (exit 1: it fails still, 0: it passes)",
                       formatter_class=defaults)
    r.set_defaults(run=replay_command)
    r.add_argument("file", type=Path)
    r.add_argument("--backend", metavar="SPEC", help="the backend to run it on (default: the one that failed)")

    sub.add_parser("backends", help="list bundled and registered backends and whether they can run here").set_defaults(
        run=backends)
    golden.add_parser(sub)

    s = sub.add_parser("selftest", help="every property against every mutant (known GPT-2 bugs): the kill matrix",
                       formatter_class=defaults)
    s.set_defaults(run=selftest)
    s.add_argument("--profile", default="ci", choices=list(profiles.PROFILES))
    s.add_argument("--mutant", action="append", metavar="NAME", help="only these mutants (repeatable; default: all)")
    s.add_argument("--property", action="append", choices=list(REGISTRY), metavar="ID", help="only these properties (repeatable)")
    s.add_argument("--backend", action="append", metavar="SPEC",
                   help="correct backends that must still certify (repeatable; default: every available bundled one)")
    s.add_argument("--report-dir", type=Path, default=Path("gpt2-conformance-report"), metavar="DIR",
                   help="where selftest.json is written")
    return p


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
    rows = availability()
    width = max(len(name) for name, _, _ in rows)
    for name, ok, detail in rows:
        opt_in = BUNDLED[name].opt_in if name in BUNDLED else None
        note = f"  (opt-in, name it with --backend: it {opt_in})" if ok and opt_in else ""
        print(f"{name:<{width}}  {'available  ' if ok else 'unavailable'}  {detail}{note}")
    return 0


def selftest(args):
    from gpt2_conformance.run import selftest as run

    return run.main(args)


# certify, in steps: plan (everything checked before the run), run each backend, judge, report.

@dataclass
class Plan:
    specs: list
    property_ids: list
    files: list  # expectations.Expectations
    save_dir: Path
    partial: list  # why this run cannot certify
    accepted: dict
    checkpoint: str | None = None
    problems: list = field(default_factory=list)  # errors of the expectation files found in the run


def certify(args):
    plan = plan_run(args)
    live = Progress() if sys.stderr.isatty() else None
    runs = [certify_backend(spec, args, plan, live) for spec in plan.specs]
    if live:
        live.clear()
    for f in plan.files:
        if not any(f.for_backend(b["name"], b["spec"]) for b in runs):
            plan.problems.append(f"{f.path}: lists failures of {f.backend!r}, which was not certified in this run")
    cert = certificate.build(runs, seed=args.seed, profile=args.profile, max_examples=args.max_examples,
                             partial=plan.partial, accepted=plan.accepted, expectations=plan.files,
                             expectation_errors=plan.problems, command=shlex.join(["gpt2-conformance", *sys.argv[1:]]),
                             checkpoint=plan.checkpoint)
    paths = write_all(cert, args.report_dir)
    print(table(cert))
    print(f"\nreports: {', '.join(str(shown(p)) for p in paths)}")
    return exit_status(cert)


def plan_run(args):
    """Every argument, path, file and setting checked before anything runs (UsageError if wrong)."""
    specs = args.backend or available_bundled()
    if not specs:
        raise UsageError(f"no backend can run here; bundled: {', '.join(BUNDLED)}")
    for spec in specs:
        _check_spec(spec)
    try:
        files = expectations.with_shipped([expectations.load(f) for f in args.expectations], specs)
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
    profile = profiles.get(args.profile)
    if args.seed is None and not profile.derandomize:
        args.seed = random.randrange(2**32)  # recorded in the certificate, so the run can be repeated
    partial = profiles.partial(args.profile, args.max_examples)
    if args.property and set(args.property) != set(REGISTRY):
        partial.append(f"{len(set(args.property))} of {len(REGISTRY)} properties (--property)")
    return Plan(specs, args.property or list(REGISTRY), files, save_dir, partial,
                {"level": args.accept_level, "scope": args.accept_scope},
                checkpoint=str(args.checkpoint.resolve()) if args.checkpoint else None)


def _check_spec(spec):
    """A spec that names nothing is the user's mistake (exit 2); one that fails to import is the backend's."""
    if spec in BUNDLED or ":" in spec.strip(":") or spec in entry_point_names():
        return
    raise UsageError(f"unknown backend {spec!r}: use one of {', '.join(sorted(set(BUNDLED) | entry_point_names()))} "
                     "or 'package.module:attr'")


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


def certify_backend(spec, args, plan, live):
    """{name, spec, verdict, passed, capabilities, properties, input_contract} of one backend."""
    def on_result(name, result):
        if live:
            live.clear()
        print(f"  {name:<20} {result.id:<26} {STATUS[result.status]:<7} "
              f"{result.examples:>4} examples  {result.seconds:6.1f} s", file=sys.stderr, flush=True)

    run = run_isolated(spec, plan.property_ids, profile=args.profile, max_examples=args.max_examples, seed=args.seed,
                       timeout=args.timeout, on_result=on_result, on_progress=live and live.show,
                       save_dir=plan.save_dir, checkpoint=plan.checkpoint, expectations=[f.path for f in plan.files],
                       contract=True)
    entries = expectations.entries_for(plan.files, run.name, spec)
    wrong = [f"{run.name}: {m}" for m in expectations.unmatched(entries, run.results)]
    plan.problems += wrong
    for r in run.results:
        if r.status in ("failed", "error") and not r.reproduction:  # no saved example to replay
            r.reproduction = replay.certify_command(spec, r.id, args.profile, args.seed)
    verdict = judge(run.results, run.capabilities, plan.partial, wrong)
    return {"name": run.name, "spec": spec, "verdict": verdict,
            "passed": verdict.accepted(plan.accepted["level"], plan.accepted["scope"]),
            "capabilities": run.capabilities and run.capabilities.to_dict(),
            "properties": run.results, "input_contract": run.contract}


def exit_status(cert):
    if not all(b["passed"] or only_partial(b["verdict"]) for b in cert["backends"]) or cert["expectation_errors"]:
        return NOT_CERTIFIED
    return PARTIAL if cert["partial"] or any(only_partial(b["verdict"]) for b in cert["backends"]) else CERTIFIED


class Progress:
    """One status line on a terminal: which backend and property is running, examples so far."""

    def __init__(self):
        self.width = 0

    def show(self, name, property_id, examples):
        text = f"  {name} / {property_id}" + (f": {examples} examples" if examples else "")
        sys.stderr.write("\r" + text.ljust(self.width))
        sys.stderr.flush()
        self.width = len(text)

    def clear(self):
        if self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            self.width = 0


def table(cert):
    """One backend: its properties as rows. Several: backend x property, a passing cell showing its worst
    error/tolerance. Then each backend's verdict, and every failure with its reproduction."""
    backends = cert["backends"]
    lines = _rows(backends[0]) if len(backends) == 1 else _matrix(backends)
    lines += [""] + [f"{name}: {text}" for name, text in verdicts(cert)]
    for b in backends:
        for p in b["properties"]:
            if p["status"] in ("failed", "error", "xpassed"):
                lines.append(f"\n{b['name']} / {p['id']}: {p['message']}"
                             + (f"\n    counterexample: {p['counterexample']}" if p["counterexample"] else "")
                             + (f"\n    reproduce: {p['reproduction']}" if p.get("reproduction") else ""))
        blocked = [p for p in b["properties"] if p["status"] == "blocked"]
        if blocked:
            lines.append(f"\n{b['name']}: {len(blocked)} properties {blocked[0]['message']}")
    lines += [f"expectation file error: {e}" for e in cert.get("expectation_errors", [])]
    return "\n".join(lines)


def _rows(backend):
    width = max(len(p["id"]) for p in backend["properties"])
    lines = [f"{backend['name']}\n{'property':<{width}}  {'status':<10} {'dtype':<8} {'examples':>8}  "
             f"{'worst ratio':>11}  {'median ratio':>12}  {'max |error|':>11}"]
    for p in backend["properties"]:
        lines.append(f"{p['id']:<{width}}  {STATUS[p['status']]:<10} {p['dtype'] or '-':<8} {p['examples']:>8}  "
                     f"{_num(p['worst_ratio']):>11}  {_num(p['median_ratio']):>12}  {_num(p['max_abs_err']):>11}")
    return lines


def _num(value):
    return "-" if value is None else f"{value:.3g}" if isinstance(value, (int, float)) else str(value)


def _matrix(backends):
    ids = [p["id"] for p in backends[0]["properties"]]
    width = max([len("backend")] + [len(b["name"]) for b in backends])
    widths = [max(12, len(i)) for i in ids]
    lines = [f"{'backend':<{width}}  " + "  ".join(f"{i:<{w}}" for i, w in zip(ids, widths))]
    for b in backends:
        lines.append(f"{b['name']:<{width}}  " + "  ".join(f"{cell(p):<{w}}" for p, w in zip(b["properties"], widths)))
    return lines


def replay_command(args):
    try:
        meta, draws = replay.load(args.file)
        backend = resolve(args.backend or meta["spec"])
        status, kind, message = replay.rerun(meta, draws, backend)
    except (replay.ReplayError, BackendError) as e:
        raise UsageError(str(e)) from None
    print(f"{backend.name} / {meta['property']}: {STATUS[status]}" + (f" ({kind})" if kind else "") + f"\n  {message}")
    if meta.get("counterexample"):
        print(f"  counterexample: {meta['counterexample']}")
    if status != "passed":
        print(f"  saved from {meta['backend']}: {meta['status']} ({meta['kind']}): {meta['message']}")
    return 0 if status == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
