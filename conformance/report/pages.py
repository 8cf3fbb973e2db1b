"""Reports people read, from a certificate: report.md (short, for a PR comment) and report.html (one
self-contained page: no scripts, no network; the plots are inline SVG drawn here), written with
certificate.json and junit.xml, all four at once."""
import html
import math
import os
import tempfile

from gpt2_conformance.report.certificate import number, to_json, to_junit
from gpt2_conformance.outcomes import BAD, STATUS
from gpt2_conformance.judge.coverage import SEQ_BINS, WIDTH_BINS
from gpt2_conformance.judge.tolerances import SYSTEMATIC_BOUND
from gpt2_conformance.judge.verdict import only_partial

REPORTS = ("certificate.json", "junit.xml", "report.md", "report.html")
MAX_FAILURES_MD = 10  # a PR comment stays readable; the rest is in the certificate and the HTML
MAX_TEXT_MD = 400


def write_all(cert, directory):
    """The four reports of one run, each written whole (a temporary file renamed into place) after all four
    are rendered, so a failed write leaves no mixture of this run and an earlier one. Readable as any file
    the user writes (0644 under the usual umask; a temporary file would be 0600), to be served or shared."""
    texts = dict(zip(REPORTS, (to_json(cert), to_junit(cert), markdown(cert), html_page(cert))))
    umask = os.umask(0)
    os.umask(umask)
    for name, text in texts.items():
        with tempfile.NamedTemporaryFile("w", dir=directory, prefix=f".{name}.", delete=False, encoding="utf-8") as f:
            f.write(text)
        os.chmod(f.name, 0o666 & ~umask)
        os.replace(f.name, directory / name)
    return [directory / name for name in REPORTS]


def shown(path):
    """A path as the reports print it: relative to the working directory where it lies below it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def margin(p):
    """How many times the worst error fits into its tolerance (None without a finite, positive ratio)."""
    r = number(p.get("worst_ratio"))
    return 1 / r if r and math.isfinite(r) else None


def cell(p):
    """A property's status with one measure, its worst error/tolerance (below 1 holds), and a known
    deviation's bound beside it."""
    text = STATUS[p["status"]]
    if p.get("worst_ratio") is not None and p["status"] not in ("skipped", "blocked"):
        text += f" {_g(p['worst_ratio'])}"
    if p["status"] == "xfailed" and p.get("bound") is not None:
        text += f" ≤ {_bound(p['bound'])}"
    return text


def _bound(bound):
    """A known deviation's largest max_ratio as an expectation file writes it (200, 1e4, 4e5)."""
    def largest(b):
        return max(largest(v) for v in (b.values() if isinstance(b, dict) else b)) if isinstance(b, (dict, list)) else b

    value = largest(bound)
    return f"{value:g}" if value < 1e4 else f"{value:.2g}".replace("e+0", "e").replace("e+", "e")


def matrix(cert):
    """(backend names, [(property id, [its result for each backend, or None])]): properties as rows and
    backends as columns, so that the table stays narrow however many properties there are."""
    names = [b["name"] for b in cert["backends"]]
    ids = list(dict.fromkeys(p["id"] for b in cert["backends"] for p in b["properties"]))
    by = [{p["id"]: p for p in b["properties"]} for b in cert["backends"]]
    return names, [(pid, [results.get(pid) for results in by]) for pid in ids]


def _g(value):
    value = number(value)
    return f"{value:.2g}" if isinstance(value, (int, float)) else str(value)


def header(cert):
    parts = [f"suite {cert['suite_version']}", f"profile {cert['profile']}",
             f"seed {cert['seed']}" if cert["seed"] is not None else "derandomized"]
    if cert["max_examples"]:
        parts.append(f"{cert['max_examples']} examples per property")
    parts += [f"expectations {shown(e['path'])} (sha256 {e['sha256'][:12]})" for e in cert.get("expectations", [])]
    return parts


def run_verdict(cert):
    """The headline: passed; FAILED where a backend fails for more than a partial run (not certified wins
    over partial); else PARTIAL with why."""
    if cert["passed"]:
        return "passed"
    if cert["expectation_errors"] or not all(b["passed"] or only_partial(b["verdict"]) for b in cert["backends"]):
        return "FAILED"
    unseen = [r for b in cert["backends"] for r in b["verdict"]["reasons"] + b["verdict"]["training_reasons"]
              if r not in cert["partial"]]
    return "PARTIAL (cannot certify: " + "; ".join(dict.fromkeys(cert["partial"] + unseen)) + ")"


def verdicts(cert):
    """[(backend, its verdict with the dtype its core properties were judged in and its declared scope)]."""
    out = []
    for b in cert["backends"]:
        v = b["verdict"]
        scope = ", ".join(f"{k} {val}" for k, val in v["scope"].items()) or "no limits"
        level = f"core properties in {v['level']}" if v["level"] else "never imported"
        out.append((b["name"], f"{v['label']} ({level}; declared scope: {scope})"))
    return out


def _count(n, one, many):
    return f"{n} {one if n == 1 else many}"


def failures(cert):
    """The results to read about: failed, error, xpassed, and per backend the first blocked one
    (the others are blocked by the same essentials failure)."""
    out = []
    for b in cert["backends"]:
        bad = [p for p in b["properties"] if p["status"] in BAD and p["status"] != "blocked"]
        blocked = [p for p in b["properties"] if p["status"] == "blocked"]
        if blocked:
            out.append((b, {**blocked[0], "id": _count(len(blocked), "property", "properties")}))
        out += [(b, p) for p in bad]
    return out


def _short(text, limit=MAX_TEXT_MD):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(text):
    """text as one line of Markdown that renders as itself: no raw HTML, no table cell split, no line break."""
    text = " ".join(str(text).split())
    return html.escape(text, quote=False).replace("|", "\\|").replace("*", "\\*").replace("`", "\\`")


def markdown(cert):
    lines = [f"## gpt2-conformance: {_md(run_verdict(cert))}", "", " · ".join(map(_md, header(cert))), ""]
    lines += [f"- **{_md(name)}**: {_md(text)}" for name, text in verdicts(cert)]
    names, rows = matrix(cert)
    lines += ["", "| property | " + " | ".join(map(_md, names)) + " |", "|---|" + "---|" * len(names)]
    for pid, results in rows:
        cells = ["" if p is None else f"**{cell(p)}**" if p["status"] in BAD else cell(p) for p in results]
        lines.append(f"| `{pid}` | " + " | ".join(cells) + " |")
    lines += ["", "Each cell: the status and the worst error/tolerance over the examples (below 1 holds; its "
              "inverse is the margin), with a known deviation's bound (xfail 83 ≤ 1e4). Each property's dtype, "
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
        if p.get("reproduction"):
            lines.append(f"  - reproduce: `{p['reproduction']}`")
    if len(bad) > MAX_FAILURES_MD:
        lines.append(f"- … and {len(bad) - MAX_FAILURES_MD} more (see report.html or certificate.json)")
    return "\n".join(lines) + "\n"


# ---- HTML ----------------------------------------------------------------------------------------

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1b1f24;max-width:1232px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
.meta{color:#57606a} table{border-collapse:collapse;margin:12px 0} td,th{border:1px solid #d0d7de;padding:4px 8px}
th{background:#f6f8fa;text-align:left;font-weight:600} td a,th a{color:inherit;text-decoration:none}
.passed{background:#dafbe1} .xfailed{background:#ddf4ff} .partial{background:#fff8c5} .skipped{background:#f6f8fa;color:#57606a}
.failed,.error,.blocked,.xpassed{background:#ffebe9;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start} .card{border:1px solid #d0d7de;border-radius:6px;padding:8px;width:228px}
.card h3{font-size:14px;margin:0 0 4px} .card p{margin:4px 0;font-size:12px;color:#57606a}
.badge{float:right;font-size:11px;padding:1px 6px;border-radius:10px} code,pre{font-size:12px}
pre{white-space:pre-wrap;overflow-wrap:break-word;background:#f6f8fa;padding:6px;margin:4px 0}
.unseen{color:#cf222e;font-weight:600} ul.contents{padding-left:20px}
table.cov{margin:4px 0;font-size:10px} table.cov td,table.cov th{padding:1px 3px;text-align:right} td.dark{background:#eaeef2}
"""

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 228, 196, 52, 34, 10, 12


def scatter(samples, failing=None):
    """SVG: measured error (y) against tolerance (x), log-log, one point per example; above the
    diagonal fails. Examples with error 0 sit on the bottom edge."""
    pts = [(e, t) for e, t in samples if t and t > 0 and e is not None and math.isfinite(t)]
    if not pts:
        return None
    finite = [v for e, t in pts for v in (e, t) if v > 0 and math.isfinite(v)]
    if failing and failing[0] and math.isfinite(failing[0]) and failing[0] > 0:
        finite.append(failing[0])
    lo, hi = math.floor(math.log10(min(finite))), math.ceil(math.log10(max(finite)))
    if hi - lo < 2:
        lo, hi = lo - 1, hi + 1
    pw, ph = W - PAD_L - PAD_R, H - PAD_B - PAD_T

    def x(v):
        return PAD_L + (math.log10(v) - lo) / (hi - lo) * pw

    def y(v):
        if v <= 0:
            return PAD_T + ph
        if not math.isfinite(v):
            return PAD_T
        return PAD_T + ph - (min(max(math.log10(v), lo), hi) - lo) / (hi - lo) * ph

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">'
           '<title>measured error against tolerance, one point per example</title>',
           f'<polygon points="{PAD_L},{PAD_T + ph} {PAD_L + pw},{PAD_T} {PAD_L},{PAD_T}" fill="#ffebe9"/>',
           f'<rect x="{PAD_L}" y="{PAD_T}" width="{pw}" height="{ph}" fill="none" stroke="#8c959f"/>']
    step = max(1, math.ceil((hi - lo) / 4))
    for d in range(lo, hi + 1, step):
        out.append(f'<line x1="{x(10.0 ** d):.1f}" y1="{PAD_T + ph}" x2="{x(10.0 ** d):.1f}" y2="{PAD_T + ph + 4}" stroke="#57606a"/>'
                   f'<text x="{x(10.0 ** d):.1f}" y="{PAD_T + ph + 15}" font-size="10" text-anchor="middle">1e{d}</text>'
                   f'<line x1="{PAD_L - 4}" y1="{y(10.0 ** d):.1f}" x2="{PAD_L}" y2="{y(10.0 ** d):.1f}" stroke="#57606a"/>'
                   f'<text x="{PAD_L - 6}" y="{y(10.0 ** d) + 3:.1f}" font-size="10" text-anchor="end">1e{d}</text>')
    out.append(f'<line x1="{PAD_L}" y1="{PAD_T + ph}" x2="{PAD_L + pw}" y2="{PAD_T}" stroke="#cf222e" stroke-dasharray="4 3"/>'
               f'<text x="{PAD_L + 4}" y="{PAD_T + 12}" font-size="10" fill="#cf222e">fails</text>'
               f'<text x="{PAD_L + pw - 4}" y="{PAD_T + ph - 14}" font-size="10" fill="#1a7f37" text-anchor="end">holds</text>'
               f'<text x="{PAD_L + pw / 2}" y="{H - 3}" font-size="11" text-anchor="middle">tolerance</text>'
               f'<text x="11" y="{PAD_T + ph / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 11 {PAD_T + ph / 2})">measured error</text>')
    for e, t in pts:
        color = "#1a7f37" if e <= t else "#cf222e"
        out.append(f'<circle cx="{x(t):.1f}" cy="{y(e):.1f}" r="2.6" fill="{color}" fill-opacity="0.55"/>')
    if failing and failing[1] and failing[1] > 0:
        out.append(f'<circle cx="{x(failing[1]):.1f}" cy="{y(failing[0]):.1f}" r="6" fill="none" stroke="#cf222e" stroke-width="2"/>')
    out.append("</svg>")
    return "".join(out)


def _anchor(backend_index, property_id):
    return f"b{backend_index}-" + "".join(c if c.isalnum() else "-" for c in property_id)


def _card(p, anchor):
    e = html.escape
    samples = [[number(err), number(tol)] for err, tol in p.get("samples") or []]
    failing = ([number(p["max_abs_err"]), number(p["tolerance"])]
               if p["status"] in ("failed", "xfailed") and p.get("tolerance") else None)
    plot = scatter(samples, failing)
    lines = [f'<div class="card" id="{anchor}"><span class="badge {p["status"]}">{STATUS[p["status"]]}</span>'
             f'<h3>{e(p["id"])}</h3>']
    if plot:
        lines.append(plot)
    elif samples and all(t == 0 for _, t in samples):
        same = sum(1 for err, _ in samples if err == 0)
        lines.append(f"<p>tolerance 0 (bitwise): {same} of {len(samples)} examples identical</p>")
    exact = sum(1 for err, t in samples if err == 0 and t and t > 0)
    facts = [f"{p['examples']} examples in {p['dtype']}"]
    if exact:
        facts.append(f"{exact} with error 0 (bottom edge)")
    if p.get("worst_ratio") is not None:
        m, ratio = margin(p), number(p["worst_ratio"])
        facts.append(f"worst error/tolerance {_g(ratio)}" + (f", margin {m:.3g}×" if m and ratio <= 1 else ""))
    if p.get("median_ratio") is not None:
        facts.append(f"median error/tolerance {_g(p['median_ratio'])} (systematic bound {SYSTEMATIC_BOUND[p['dtype']]:g})")
    if p.get("max_abs_err") is not None and p.get("tolerance") is not None:
        which = {"failed": "counterexample", "xfailed": "largest (known deviation)"}.get(p["status"], "largest")
        facts.append(f"{which} error {_g(p['max_abs_err'])} vs tolerance {_g(p['tolerance'])}")
    lines.append(f"<p>{' · '.join(facts)}</p>")
    lines.append(_coverage(p))
    for label in ("message", "counterexample", "reproduction"):
        if p.get(label) and (p["status"] != "passed" or label != "message"):
            lines.append(f"<p><b>{label}</b></p><pre>{e(str(p[label]))}</pre>")
    lines.append("</div>")
    return "".join(lines)


def _bins(edges, last):
    return [f"{lo}" if hi == lo + 1 else f"{lo}–{hi - 1}" for lo, hi in zip(edges, edges[1:] + (last + 1,))]


def _coverage(p):
    """A property's coverage: per size class the examples that could see a bug (coverage.py), and a grid of
    sequence length x n_embd with observable/drawn examples per cell."""
    if not p.get("drawn"):
        return ""
    e = html.escape
    classes = " · ".join(f'<span class="{"unseen" if name in p.get("unseen", []) else ""}">{e(name)} '
                         f'{c["observable"]}/{c["examples"]}</span>' for name, c in p["drawn"].items())
    rows = ["<tr><th>seq / n_embd</th>" + "".join(f"<th>{w}</th>" for w in _bins(WIDTH_BINS, 768)) + "</tr>"]
    for label, cells in zip(_bins(SEQ_BINS, 1024), p.get("grid") or []):
        tds = "".join(f'<td class="{"dark" if seen == 0 and drawn else ""}">{f"{seen}/{drawn}" if drawn else ""}</td>'
                      for seen, drawn in cells)
        rows.append(f"<tr><th>{label}</th>{tds}</tr>")
    return (f"<p>examples that could see a bug / drawn, per size class: {classes}</p>"
            f"<table class=cov>{''.join(rows)}</table>")


def html_page(cert):
    e = html.escape
    verdict = run_verdict(cert)
    out = ["<!doctype html><html lang=en><head><meta charset=utf-8>",
           f"<title>gpt2-conformance: {e(verdict)}</title><style>{CSS}</style></head><body>",
           f"<h1>gpt2-conformance: {e(verdict)}</h1><div class=meta>{e(' · '.join(header(cert)))}<br>"
           f"Python {e(cert['environment']['python'])} · "
           + e(", ".join(f"{k} {v}" for k, v in cert["environment"]["packages"].items())) + "</div>"]
    out.append("<ul class=contents>" + "".join(f'<li><a href="#b{i}"><b>{e(name)}</b></a>: {e(text)}</li>'
                                                 for i, (name, text) in enumerate(verdicts(cert))) + "</ul>")
    names, rows = matrix(cert)
    out.append("<table class=matrix><tr><th>property</th>" + "".join(f'<th><a href="#b{i}">{e(n)}</a></th>'
                                                                     for i, n in enumerate(names)) + "</tr>")
    for pid, results in rows:
        out.append(f"<tr><th>{e(pid)}</th>" + "".join(
            "<td></td>" if p is None else f'<td class="{p["status"]}"><a href="#{_anchor(i, pid)}">{e(cell(p))}</a></td>'
            for i, p in enumerate(results)) + "</tr>")
    out.append("</table><p class=meta>Each cell: the status and the worst error/tolerance over the examples (below 1 "
               "holds; its inverse is the margin), with a known deviation's bound. Colours: pass, known deviation "
               "(xfail), partial, skip and failure each their own.</p>")
    for err in cert.get("expectation_errors", []):
        out.append(f"<p class=failed>expectation file error: {e(err)}</p>")
    out.append("<p class=meta>Each plot: one point per example, its measured error against the tolerance it was "
               "held to (derived per example, see conformance/judge/tolerances.py). Points below the dashed diagonal hold; "
               "the shaded area fails; a ring marks the shrunk counterexample. The margin is tolerance/error of the "
               "worst example.</p>")
    for i, b in enumerate(cert["backends"]):
        out.append(f'<h2 id="b{i}">{e(b["name"])} <span class=meta>({e(b["spec"])})</span></h2>')
        blocked = [p for p in b["properties"] if p["status"] == "blocked"]
        if blocked:  # the essentials check failed: one cause, so one box
            out.append(f"<p>{_count(len(blocked), 'property', 'properties')} blocked</p>"
                       f"<pre class=blocked>{e(blocked[0]['message'])}</pre>")
        skipped = [p for p in b["properties"] if p["status"] == "skipped"]
        if skipped:  # a line, not a card each
            out.append("<p class=meta>skipped: " + "; ".join(f'<span id="{_anchor(i, p["id"])}">{e(p["id"])}</span> '
                                                           f'({e(p.get("message") or "")})' for p in skipped) + "</p>")
        out.append("<div class=grid>" + "".join(_card(p, _anchor(i, p["id"])) for p in b["properties"]
                                                if p["status"] not in ("blocked", "skipped")) + "</div>")
    out.append("</body></html>")
    return "\n".join(out)

