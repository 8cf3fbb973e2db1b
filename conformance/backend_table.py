"""The README's backend table, written from certificates rather than by hand.

    python -m conformance.backend_table out/certificate.json out/backends/certificate.json ...
"""
import json
import sys


def rows(cert):
    for b in cert["backends"]:
        props = b["properties"]
        failing = [p["id"] for p in props if p["status"] in ("failed", "error")]
        xfailed = [p["id"] for p in props if p["status"] == "xfailed"]
        errors = [p["max_abs_err"] for p in props if p["id"] == "reference_logits" and p["max_abs_err"] is not None]
        ratios = [p["worst_ratio"] for p in props if p["status"] == "passed" and p["worst_ratio"] is not None]
        status = "certified" if b["passed"] else "not certified: " + ", ".join(failing)
        if xfailed:
            status += " (known deviations: " + ", ".join(xfailed) + ")"
        examples = cert["max_examples"] or cert["profile"]
        seconds = sum(p["seconds"] for p in props)
        yield (f"| `{b['name']}` | {status} | {f'{errors[0]:.2g}' if errors else '-'} | "
               f"{f'{max(ratios):.2g}' if ratios else '-'} | {examples} | {seconds:.0f} |")


def table(certs):
    lines = ["| backend | status | max \\|error\\| vs reference | worst error/tolerance of passing properties "
             "| examples per property | seconds in properties |",
             "|---|---|---|---|---|---|"]
    for cert in certs:
        lines.extend(rows(cert))
    return "\n".join(lines)


if __name__ == "__main__":
    print(table([json.load(open(path)) for path in sys.argv[1:]]))
