"""The status table of docs/backends.md, written from certificates rather than by hand.

    python -m gpt2_conformance.report.backend_table out/certificate.json out/backends/certificate.json ...
"""
import argparse
import json
from pathlib import Path

from gpt2_conformance.outcomes import Status
from gpt2_conformance.report.text import num, number, status


def rows(cert):
    for b in cert["backends"]:
        props = {p["id"]: p for p in b["properties"]}
        ref = props.get("reference_logits", {})
        ratios = [number(p["worst_ratio"]) for p in b["properties"] if status(p) == Status.PASSED and p["worst_ratio"] is not None]
        medians = [number(p["median_ratio"]) for p in b["properties"] if status(p) == Status.PASSED and p["median_ratio"] is not None]
        examples = cert["max_examples"] or cert["profile"]
        seconds = sum(p["seconds"] for p in b["properties"])
        yield (f"| `{b['name']}` | {b['verdict']['label']} | {b['verdict']['level'] or '-'} | {num(ref.get('max_abs_err'))} | "
               f"{num(max(ratios, default=None))} | {num(max(medians, default=None))} | {examples} | {seconds:.0f} |")


def table(certs):
    lines = ["| backend | verdict | core dtype | max \\|error\\| vs reference | worst error/tolerance | "
             "worst median error/tolerance | examples per property | seconds in properties |",
             "|---|---|---|---|---|---|---|---|"]
    for cert in certs:
        lines.extend(rows(cert))
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m gpt2_conformance.report.backend_table", description=__doc__.splitlines()[0])
    parser.add_argument("certificates", nargs="+", type=Path, metavar="CERTIFICATE.json")
    print(table([json.loads(path.read_text()) for path in parser.parse_args().certificates]))
