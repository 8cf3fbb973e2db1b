"""What every rendering of a certificate says the same way: numbers, paths, the headline, each backend's and
tokenizer's verdict line, each property's cell and the failures to read about. Terminal, report.md, report.html,
junit.xml and the backend status table are all built from these."""
import math
import os

from gpt2_conformance.judge.verdict import only_partial, run_standing, to_accept
from gpt2_conformance.outcomes import BAD, Standing, Status
from gpt2_conformance.report.certificate import certified


def number(value):
    """A number read back from a certificate (non-finite numbers are the strings "inf", "-inf", "nan")."""
    return {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}.get(value, value)


def num(value, digits=2):
    """The one number format of every report: '-' for none, else `digits` significant digits."""
    value = number(value)
    if value is None:
        return "-"
    if not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.{digits}g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")  # 8.3e4, 2.1e-5


def bound_text(bound):
    """A known deviation's largest max_ratio as an expectation file writes it (200, 1e4, 4e5)."""
    def largest(b):
        return max(largest(v) for v in (b.values() if isinstance(b, dict) else b)) if isinstance(b, (dict, list)) else b

    value = largest(bound)
    return f"{value:g}" if value < 1e4 else num(value)


def count(n, one, many):
    return f"{n} {one if n == 1 else many}"


def shown(path):
    """A path as the reports print it: relative to the working directory where it lies below it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def status(p):
    return Status(p["status"])


def margin(p):
    """How many times the worst error fits into its tolerance (None without a finite, positive ratio)."""
    r = number(p.get("worst_ratio"))
    return 1 / r if r and math.isfinite(r) else None


def cell(p):
    """A property's status with one measure, its worst error/tolerance (below 1 holds), and a known
    deviation's bound beside it."""
    text = status(p).label
    if p.get("worst_ratio") is not None and status(p) not in (Status.SKIPPED, Status.BLOCKED):
        text += f" {num(p['worst_ratio'])}"
    if status(p) == Status.XFAILED and p.get("bound") is not None:
        text += f" ≤ {bound_text(p['bound'])}"
    return text


def sections(cert):
    """[(heading, entries)]: the certificate's backends, then its tokenizers, each where there are any."""
    return [(heading, cert.get(key) or []) for key, heading in (("backends", "models"), ("tokenizers", "tokenizers"))
            if cert.get(key)]


def matrix(entries):
    """(names, [(property id, [its result for each entry, or None])]) of one section's backends or tokenizers:
    properties as rows and backends as columns, so that the table stays narrow however many properties there are."""
    names = [b["name"] for b in entries]
    ids = list(dict.fromkeys(p["id"] for b in entries for p in b["properties"]))
    by = [{p["id"]: p for p in b["properties"]} for b in entries]
    return names, [(pid, [results.get(pid) for results in by]) for pid in ids]


def header(cert):
    parts = [f"suite {cert['suite_version']}", f"profile {cert['profile']}",
             f"seed {cert['seed']}" if cert["seed"] is not None else "derandomized"]
    if cert["max_examples"]:
        parts.append(f"{cert['max_examples']} examples per property")
    parts += [f"upstream set {e['sets'][0]['name']} ({e['sets'][0]['cite']}, sha256 {e['sha256'][:12]})"
              if e["backend"] is None else f"expectations {shown(e['path'])} (sha256 {e['sha256'][:12]})"
              + "".join(f" with upstream set {s['name']} ({s['cite']})" for s in e["sets"])
              for e in cert.get("expectations", [])]
    return parts


def headline(cert):
    """The run's verdict, and why where it is not certified or partial."""
    standing = run_standing(cert)
    if standing == Standing.CERTIFIED:  # naming what was accepted only by an option (--accept-frozen-weights, ...)
        optional = [f"{b['name']}: {b['verdict']['label']}" for b in certified(cert) if to_accept(b["verdict"])]
        return "certified (every verdict accepted" + "".join(f"; {v}" for v in optional) + ")"
    if standing == Standing.NOT_CERTIFIED:
        why = [f"{b['name']}: {_refused(b['verdict'])}" for b in certified(cert)
               if not b["passed"] and not only_partial(b["verdict"])]
        why += ["expectation file errors"] if cert["expectation_errors"] else []
        return "NOT CERTIFIED (" + "; ".join(why) + ")"
    unseen = [r for b in certified(cert) for r in b["verdict"]["reasons"] + b["verdict"]["training_reasons"]
              if r not in cert["partial"]]
    return "PARTIAL (cannot certify: " + "; ".join(dict.fromkeys(cert["partial"] + unseen)) + ")"


def _refused(verdict):
    """Why a gate refuses a verdict: its failures, or the options that would accept what it certifies."""
    reasons = verdict["reasons"] + verdict["training_reasons"]
    if reasons or verdict["status"] != Standing.CERTIFIED:
        return "; ".join(reasons) or verdict["label"]
    return f"{verdict['label']}, not accepted without {' '.join(to_accept(verdict))}"


def verdicts(cert):
    """[(backend, its verdict with the dtype its core properties were judged in and its declared scope)], then
    [(tokenizer, its verdict)]."""
    out = []
    for b in cert["backends"]:
        v = b["verdict"]
        scope = ", ".join(f"{k} {val}" for k, val in v["scope"].items()) or "no limits"
        level = f"core properties in {v['level']}" if v["level"] else "never imported"
        out.append((b["name"], f"{v['label']} ({level}; declared scope: {scope})"))
    for t in certified(cert)[len(cert["backends"]):]:
        compared = "ids and text compared exactly" if t["capabilities"] is not None else "never imported"
        out.append((t["name"], f"{t['verdict']['label']} ({compared})"))
    return out


def failures(cert):
    """The results to read about: failed, error, xpassed, and per backend the first blocked one
    (the others are blocked by the same essentials failure)."""
    out = []
    for b in certified(cert):
        bad = [p for p in b["properties"] if status(p) in BAD and status(p) != Status.BLOCKED]
        blocked = [p for p in b["properties"] if status(p) == Status.BLOCKED]
        if blocked:
            out.append((b, {**blocked[0], "id": count(len(blocked), "property", "properties")}))
        out += [(b, p) for p in bad]
    return out
