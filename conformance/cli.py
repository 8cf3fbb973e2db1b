"""gpt2-conformance: certify GPT-2 implementations against the reference."""
import argparse
import random
import shlex
import sys
from pathlib import Path

from conformance import certificate, checkpoints, expectations, golden, profiles, replay, report
from conformance.backends import BUNDLED, OPT_IN, BackendError, availability, available_bundled, resolve
from conformance.isolation import run_isolated
from conformance.properties import REGISTRY
from conformance.report import STATUS
from conformance.runner import PropertyResult, certified
from reference.params import InvalidParams


def main(argv=None):
    parser = argparse.ArgumentParser(prog="gpt2-conformance", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("certify", help="run every property against every chosen backend")
    c.add_argument("--backend", action="append", metavar="SPEC",
                   help="a bundled name, an entry-point name or package.module:attr (repeatable; "
                        "default: every bundled backend whose dependencies are installed)")
    c.add_argument("--property", action="append", choices=list(REGISTRY), metavar="ID",
                   help=f"only these properties (repeatable): {', '.join(REGISTRY)}")
    c.add_argument("--profile", default="ci", choices=list(profiles.PROFILES))
    c.add_argument("--max-examples", type=int, help="examples per property (default: the profile's)")
    c.add_argument("--seed", type=int, help="Hypothesis seed (default: ci is derandomized; other profiles draw one "
                                           "and record it in the certificate)")
    c.add_argument("--report-dir", type=Path, default=Path("gpt2-conformance-report"))
    c.add_argument("--timeout", type=float, default=600, help="seconds one property may take before the backend counts as hung")
    c.add_argument("--expectations", action="append", type=Path, default=[], metavar="FILE",
                   help="a backend's expected failures (TOML, see conformance/expectations.py; repeatable, one per backend)")
    c.add_argument("--save-failing-inputs", type=Path, metavar="DIR",
                   help="where failing examples are saved as .npz for `replay` (default: REPORT_DIR/failing-inputs)")

    c.add_argument("--checkpoint", type=Path, metavar="DIR",
                   help="run the properties on the weights of this official or Hugging Face checkpoint directory "
                        "instead of generated ones (and the known answers, if it is GPT-2 124M)")

    r = sub.add_parser("replay", help="re-run a failing example saved by certify")
    r.add_argument("file", type=Path)
    r.add_argument("--backend", metavar="SPEC", help="the backend to run it on (default: the one that failed)")

    sub.add_parser("backends", help="list bundled and registered backends and whether they can run here")

    golden.add_parser(sub)

    s = sub.add_parser("selftest", help="every property against every mutant (known GPT-2 bugs): the kill matrix")
    s.add_argument("--profile", default="ci", choices=list(profiles.PROFILES))
    s.add_argument("--mutant", action="append", metavar="NAME", help="only these mutants (repeatable; default: all)")
    s.add_argument("--property", action="append", choices=list(REGISTRY), metavar="ID", help="only these properties (repeatable)")
    s.add_argument("--backend", action="append", metavar="SPEC",
                   help="correct backends that must still certify (repeatable; default: every available bundled one)")
    s.add_argument("--report-dir", type=Path, default=Path("gpt2-conformance-report"))
    args = parser.parse_args(argv)
    if args.command == "selftest":
        from conformance import selftest

        return selftest.main(args)
    return {"certify": certify, "backends": backends, "replay": replay_command,
            "golden": golden.command}[args.command](args)


def backends(args):
    rows = availability()
    width = max(len(name) for name, _, _ in rows)
    for name, ok, detail in rows:
        opt_in = f"  (opt-in, name it with --backend: it {OPT_IN[name]})" if ok and name in OPT_IN else ""
        print(f"{name:<{width}}  {'available  ' if ok else 'unavailable'}  {detail}{opt_in}")
    return 0


def certify(args):
    specs = args.backend or available_bundled()
    if not specs:
        print(f"no backend can run here; bundled: {', '.join(BUNDLED)}", file=sys.stderr)
        return 2
    try:
        files = [expectations.load(f) for f in args.expectations]
    except expectations.ExpectationError as e:
        print(e, file=sys.stderr)
        return 2
    if args.seed is None and not profiles.get(args.profile).derandomize:
        args.seed = random.randrange(2**32)  # recorded in the certificate, so the run can be repeated
    property_ids = args.property or list(REGISTRY)
    if args.checkpoint:
        try:
            checkpoints.load(args.checkpoint)  # a malformed directory is rejected here, once, with the reason
        except InvalidParams as e:
            print(f"--checkpoint: {e}", file=sys.stderr)
            return 2
    save_dir = args.save_failing_inputs or args.report_dir / "failing-inputs"
    results, problems = [], []
    live = Progress() if sys.stderr.isatty() else None

    def on_result(name, r):
        if live:
            live.clear()
        status = expectations.apply([e for f in files if f.for_backend(name, spec) for e in f.entries],
                                    PropertyResult(**r)).status  # as the certificate will judge it
        print(f"  {name:<20} {r['id']:<20} {STATUS[status]:<7} "
              f"{r['examples']:>4} examples  {r['seconds']:6.1f} s", file=sys.stderr, flush=True)

    for spec in specs:
        name, props, contract = run_isolated(spec, property_ids, profile=args.profile, max_examples=args.max_examples,
                                             seed=args.seed, timeout=args.timeout, on_result=on_result,
                                             on_progress=live and live.show, save_dir=save_dir,
                                             checkpoint=args.checkpoint and str(args.checkpoint.resolve()),
                                             contract=True)
        entries = [e for f in files if f.for_backend(name, spec) for e in f.entries]
        found = [PropertyResult(**p) for p in props]
        judged = [expectations.apply(entries, r) for r in found]
        wrong = [f"{name}: {m}" for m in expectations.unmatched(entries, found)]
        problems += wrong
        for r in judged:
            if r.status in ("failed", "error") and not r.reproduction:  # the example could not be saved
                r.reproduction = (f"gpt2-conformance certify --backend {spec} --property {r.id} --profile {args.profile}"
                                  + (f" --seed {args.seed}" if args.seed is not None else ""))
        results.append({"name": name, "spec": spec, "passed": certified(judged) and not wrong,
                        "properties": [r.to_dict() for r in judged],
                        "input_contract": contract})
    if live:
        live.clear()
    for f in files:
        if not any(f.for_backend(b["name"], b["spec"]) for b in results):
            problems.append(f"{f.path}: lists failures of {f.backend!r}, which was not certified in this run")

    cert = certificate.build(results, seed=args.seed, profile=args.profile, max_examples=args.max_examples,
                             expectations=files, expectation_errors=problems,
                             command=shlex.join(["gpt2-conformance", *sys.argv[1:]]),
                             checkpoint=args.checkpoint and str(args.checkpoint))
    args.report_dir.mkdir(parents=True, exist_ok=True)
    certificate.write_json(cert, args.report_dir / "certificate.json")
    certificate.write_junit(cert, args.report_dir / "junit.xml")
    report.write(cert, args.report_dir)
    print(table(cert))
    print(f"\nreports: {', '.join(str(args.report_dir / f) for f in REPORTS)}")
    return 0 if cert["passed"] else 1


REPORTS = ("certificate.json", "junit.xml", "report.md", "report.html")


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


def replay_command(args):
    try:
        meta, draws = replay.load(args.file)
        backend = resolve(args.backend or meta["spec"])
        status, kind, message = replay.rerun(meta, draws, backend)
    except (replay.ReplayError, BackendError) as e:
        print(e, file=sys.stderr)
        return 2
    print(f"{backend.name} / {meta['property']}: {STATUS[status]}" + (f" ({kind})" if kind else "") + f"\n  {message}")
    if meta.get("counterexample"):
        print(f"  counterexample: {meta['counterexample']}")
    if status != "passed":
        print(f"  saved from {meta['backend']}: {meta['status']} ({meta['kind']}): {meta['message']}")
    return 0 if status == "passed" else 1


def table(cert):
    """Backend x property; a passing cell shows its worst error/tolerance ratio (< 1 holds)."""
    ids = [p["id"] for p in cert["backends"][0]["properties"]] if cert["backends"] else []
    width = max([len("backend")] + [len(b["name"]) for b in cert["backends"]])
    widths = [max(18, len(i)) for i in ids]  # tier ids such as reference_logits[bfloat16] are longer
    lines = [f"{'backend':<{width}}  " + "  ".join(f"{i:<{w}}" for i, w in zip(ids, widths)) + "  certified"]
    failures = []
    for b in cert["backends"]:
        cells = [f"{report.cell(p):<{w}}" for p, w in zip(b["properties"], widths)]
        for _, p in report.failures({"backends": [b]}):
            failures.append(f"{b['name']} / {p['id']}: {p['message']}"
                            + (f"\n    counterexample: {p['counterexample']}" if p["counterexample"] else "")
                            + (f"\n    reproduce: {p['reproduction']}" if p.get("reproduction") else ""))
        lines.append(f"{b['name']:<{width}}  " + "  ".join(cells) + f"  {'yes' if b['passed'] else 'NO'}")
    problems = [f"expectation file error: {e}" for e in cert.get("expectation_errors", [])]
    return "\n".join(lines + ([""] + failures + problems if failures or problems else []))


if __name__ == "__main__":
    sys.exit(main())
