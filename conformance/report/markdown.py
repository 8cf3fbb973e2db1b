"""report.md: short, for a PR comment: the headline verdict, each backend's verdict, the property x
backend table, and the first failures with their counterexamples and reproductions."""
import html

from gpt2_conformance.outcomes import BAD
from gpt2_conformance.report.text import cell, failures, header, headline, matrix, sections, status, verdicts

MAX_FAILURES_MD = 10  # a PR comment stays readable; the rest is in the certificate and the HTML
MAX_TEXT_MD = 400


def _short(text, limit=MAX_TEXT_MD):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(text):
    """text as one line of Markdown that renders as itself: no raw HTML, no table cell split, no line break."""
    text = " ".join(str(text).split())
    return html.escape(text, quote=False).replace("|", "\\|").replace("*", "\\*").replace("`", "\\`")


def markdown(cert):
    lines = [f"## gpt2-conformance: {_md(headline(cert))}", "", " · ".join(map(_md, header(cert))), ""]
    lines += [f"- **{_md(name)}**: {_md(text)}" for name, text in verdicts(cert)]
    for heading, entries in sections(cert):
        names, rows = matrix(entries)
        lines += ["", f"| {heading[:-1]} property | " + " | ".join(map(_md, names)) + " |", "|---|" + "---|" * len(names)]
        for pid, results in rows:
            cells = ["" if p is None else f"**{cell(p)}**" if status(p) in BAD else cell(p) for p in results]
            lines.append(f"| `{pid}` | " + " | ".join(cells) + " |")
    lines += ["", "Each cell: the status and the worst error/tolerance over the examples (below 1 holds; its "
              "inverse is the margin; a tokenizer's is 0 or inf: compared exactly), with a known deviation's bound (xfail 83 ≤ 1e4). Each property's dtype, "
              "absolute errors, median ratio and coverage are in report.html and certificate.json."]
    for e in cert.get("expectation_errors", []):
        lines.append(f"- expectation file error: {e}")
    bad = failures(cert)
    if bad:
        lines += ["", "### Failures", ""]
    for b, p in bad[:MAX_FAILURES_MD]:
        lines.append(f"- **{_md(b['name'])} / {p['id']}** ({p['status']}{', ' + p['kind'] if p.get('kind') else ''}): "
                     f"{_md(_short(p.get('message') or ''))}")
        if p.get("counterexample"):
            lines.append(f"  - counterexample: `{_short(p['counterexample'])}`")
        if p.get("upstream_hint"):
            lines.append(f"  - {_md(p['upstream_hint'])}")
        if p.get("reproduction"):
            lines.append(f"  - reproduce: `{p['reproduction']}`")
    if len(bad) > MAX_FAILURES_MD:
        lines.append(f"- … and {len(bad) - MAX_FAILURES_MD} more (see report.html or certificate.json)")
    return "\n".join(lines) + "\n"
