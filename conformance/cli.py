"""gpt2-conformance: certify GPT-2 implementations against the reference."""
import argparse
import sys
from pathlib import Path

from conformance import certificate, profiles
from conformance.backends import BUNDLED, OPT_IN, availability, available_bundled
from conformance.isolation import run_isolated
from conformance.properties import REGISTRY
from conformance.runner import PropertyResult, certified

STATUS = {"passed": "pass", "failed": "FAIL", "error": "ERROR", "skipped": "skip", "xfailed": "xfail"}


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
    c.add_argument("--seed", type=int, help="Hypothesis seed (default: the profile's; ci is derandomized)")
    c.add_argument("--report-dir", type=Path, default=Path("gpt2-conformance-report"))
    c.add_argument("--timeout", type=float, default=600, help="seconds one property may take before the backend counts as hung")

    sub.add_parser("backends", help="list bundled and registered backends and whether they can run here")
    args = parser.parse_args(argv)
    return {"certify": certify, "backends": backends}[args.command](args)


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
    property_ids = args.property or list(REGISTRY)
    results = []

    def progress(name, r):
        print(f"  {name:<20} {r['id']:<20} {STATUS[r['status']]:<5} "
              f"{r['examples']:>4} examples  {r['seconds']:6.1f} s", file=sys.stderr, flush=True)

    for spec in specs:
        name, props = run_isolated(spec, property_ids, profile=args.profile, max_examples=args.max_examples,
                                   seed=args.seed, timeout=args.timeout, on_result=progress)
        passed = certified([PropertyResult(**p) for p in props])
        results.append({"name": name, "spec": spec, "passed": passed, "properties": props})

    cert = certificate.build(results, seed=args.seed, profile=args.profile, max_examples=args.max_examples)
    args.report_dir.mkdir(parents=True, exist_ok=True)
    certificate.write_json(cert, args.report_dir / "certificate.json")
    certificate.write_junit(cert, args.report_dir / "junit.xml")
    print(table(cert))
    print(f"\ncertificate: {args.report_dir / 'certificate.json'}  junit: {args.report_dir / 'junit.xml'}")
    return 0 if cert["passed"] else 1


def table(cert):
    """Backend x property; a passing cell shows its worst error/tolerance ratio (< 1 holds)."""
    ids = [p["id"] for p in cert["backends"][0]["properties"]] if cert["backends"] else []
    width = max([len("backend")] + [len(b["name"]) for b in cert["backends"]])
    lines = [f"{'backend':<{width}}  " + "  ".join(f"{i:<18}" for i in ids) + "  certified"]
    failures = []
    for b in cert["backends"]:
        cells = []
        for p in b["properties"]:
            cell = STATUS[p["status"]]
            if p["status"] == "passed" and p["worst_ratio"] is not None:
                cell += f" {p['worst_ratio']:.2g}"
            cells.append(f"{cell:<18}")
            if p["status"] in ("failed", "error"):
                failures.append(f"{b['name']} / {p['id']}: {p['message']}"
                                + (f"\n    counterexample: {p['counterexample']}" if p["counterexample"] else ""))
        lines.append(f"{b['name']:<{width}}  " + "  ".join(cells) + f"  {'yes' if b['passed'] else 'NO'}")
    return "\n".join(lines + ([""] + failures if failures else []))


if __name__ == "__main__":
    sys.exit(main())
