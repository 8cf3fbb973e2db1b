"""report.html: one self-contained page (no scripts, no network; the plots are inline SVG drawn here):
the headline verdict, a contents list, the property x backend table linking to a card per property with
its errors against their tolerances and the size classes its examples covered."""
import html
import math

from gpt2_conformance.judge.coverage import SEQ_BINS, WIDTH_BINS
from gpt2_conformance.judge.tolerances import SYSTEMATIC_BOUND
from gpt2_conformance.outcomes import Status
from gpt2_conformance.report.certificate import certified
from gpt2_conformance.report.text import (
    cell,
    count,
    header,
    headline,
    margin,
    matrix,
    num,
    number,
    sections,
    status,
    verdicts,
)

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
               if status(p) in (Status.FAILED, Status.XFAILED) and p.get("tolerance") else None)
    plot = scatter(samples, failing)
    lines = [f'<div class="card" id="{anchor}"><span class="badge {p["status"]}">{status(p).label}</span>'
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
        facts.append(f"worst error/tolerance {num(ratio)}" + (f", margin {m:.3g}×" if m and ratio <= 1 else ""))
    if p.get("median_ratio") is not None:
        facts.append(f"median error/tolerance {num(p['median_ratio'])} (systematic bound {SYSTEMATIC_BOUND[p['dtype']]:g})")
    if p.get("max_abs_err") is not None and p.get("tolerance") is not None:
        which = {Status.FAILED: "counterexample", Status.XFAILED: "largest (known deviation)"}.get(status(p), "largest")
        facts.append(f"{which} error {num(p['max_abs_err'])} vs tolerance {num(p['tolerance'])}")
    lines.append(f"<p>{' · '.join(facts)}</p>")
    lines.append(_coverage(p))
    for key, label in (("message", "message"), ("counterexample", "counterexample"),
                       ("upstream_hint", "known upstream deviation?"), ("reproduction", "reproduction")):
        if p.get(key) and (status(p) != Status.PASSED or key != "message"):
            lines.append(f"<p><b>{label}</b></p><pre>{e(str(p[key]))}</pre>")
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
    verdict = headline(cert)
    out = ["<!doctype html><html lang=en><head><meta charset=utf-8>",
           f"<title>gpt2-conformance: {e(verdict)}</title><style>{CSS}</style></head><body>",
           f"<h1>gpt2-conformance: {e(verdict)}</h1><div class=meta>{e(' · '.join(header(cert)))}<br>"
           f"Python {e(cert['environment']['python'])} · "
           + e(", ".join(f"{k} {v}" for k, v in cert["environment"]["packages"].items())) + "</div>"]
    out.append("<ul class=contents>" + "".join(f'<li><a href="#b{i}"><b>{e(name)}</b></a>: {e(text)}</li>'
                                                 for i, (name, text) in enumerate(verdicts(cert))) + "</ul>")
    first = 0  # the index of a section's first entry among all of them: what anchors number
    for heading, entries in sections(cert):
        names, rows = matrix(entries)
        out.append(f"<table class=matrix><tr><th>{e(heading[:-1])} property</th>" + "".join(
            f'<th><a href="#b{first + i}">{e(n)}</a></th>' for i, n in enumerate(names)) + "</tr>")
        for pid, results in rows:
            out.append(f"<tr><th>{e(pid)}</th>" + "".join(
                "<td></td>" if p is None else
                f'<td class="{p["status"]}"><a href="#{_anchor(first + i, pid)}">{e(cell(p))}</a></td>'
                for i, p in enumerate(results)) + "</tr>")
        out.append("</table>")
        first += len(entries)
    out.append("<p class=meta>Each cell: the status and the worst error/tolerance over the examples (below 1 "
               "holds; its inverse is the margin), with a known deviation's bound. Colours: pass, known deviation "
               "(xfail), partial, skip and failure each their own.</p>")
    for err in cert.get("expectation_errors", []):
        out.append(f"<p class=failed>expectation file error: {e(err)}</p>")
    out.append("<p class=meta>Each plot: one point per example, its measured error against the tolerance it was "
               "held to (derived per example, see docs/tolerances.md). Points below the dashed diagonal hold; "
               "the shaded area fails; a ring marks the shrunk counterexample. The margin is tolerance/error of the "
               "worst example.</p>")
    for i, b in enumerate(certified(cert)):
        out.append(f'<h2 id="b{i}">{e(b["name"])} <span class=meta>({e(b["spec"])})</span></h2>')
        blocked = [p for p in b["properties"] if status(p) == Status.BLOCKED]
        if blocked:  # the essentials check failed: one cause, so one box
            out.append(f"<p>{count(len(blocked), 'property', 'properties')} blocked</p>"
                       f"<pre class=blocked>{e(blocked[0]['message'])}</pre>")
        skipped = [p for p in b["properties"] if status(p) == Status.SKIPPED]
        if skipped:  # a line, not a card each
            out.append("<p class=meta>skipped: " + "; ".join(f'<span id="{_anchor(i, p["id"])}">{e(p["id"])}</span> '
                                                           f'({e(p.get("message") or "")})' for p in skipped) + "</p>")
        out.append("<div class=grid>" + "".join(_card(p, _anchor(i, p["id"])) for p in b["properties"]
                                                if status(p) not in (Status.BLOCKED, Status.SKIPPED)) + "</div>")
    out.append("</body></html>")
    return "\n".join(out)

