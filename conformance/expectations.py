"""Expectation files: the known failures of one backend, in plain TOML, so CI can gate on new ones.

    backend = "hf-torch-sdpa"          # the backend's name or spec

    [[expected]]
    property = "reference_logits"      # a property id
    dtype = "float16"                  # optional: only this dtype tier (default: any)
    category = "known-bug"             # known-bug / unsupported / permanent
    kind = "tolerance"                 # how it fails: tolerance (exceeded) / error (raised) / shape (wrong)
    reason = "exact erf GELU, https://github.com/karpathy/nanoGPT/issues/274"
    max_error = 1e-3                   # optional, kind tolerance: the deviation's measured bound

A listed failure that fails as listed is `xfailed`. With `max_error`, a tolerance failure is listed
only while its max |error| stays within that bound: a known small deviation (an fp16 GELU table's 1e-3)
does not cover an O(1) bug in the same property. One that now passes is `xpassed`, which fails the
run, so lists do not rot; one that fails differently (or beyond its max_error) stays `failed`/`error`,
a new failure. An entry naming an unknown property, or a dtype tier the backend never ran for that
property, is an error of the file. A property the backend cannot run at all (skipped for a missing capability) fails with kind
`error`. Blocked properties (see runner.essentials) are not matched: the essentials failure is the one
to fix.
"""
import hashlib
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from conformance.properties import REGISTRY
from conformance.runner import KINDS

CATEGORIES = ("known-bug", "unsupported", "permanent")


class ExpectationError(ValueError):
    """An expectation file that is malformed or does not match the run."""


@dataclass(frozen=True)
class Expected:
    property: str
    category: str
    kind: str
    reason: str
    dtype: str | None = None
    max_error: float | None = None

    def matches(self, result):
        return result.id == self.property and self.dtype in (None, result.dtype)

    def key(self):
        return self.property + (f" [{self.dtype}]" if self.dtype else "")


@dataclass(frozen=True)
class Expectations:
    backend: str
    entries: tuple
    path: str
    sha256: str

    def for_backend(self, name, spec):
        return self.backend in (name, spec)


def load(path):
    path = Path(path)
    try:
        raw = path.read_bytes()
        doc = tomllib.loads(raw.decode())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ExpectationError(f"{path}: cannot read expectation file: {e}") from None
    unknown = set(doc) - {"backend", "expected"}
    if unknown or not isinstance(doc.get("backend"), str):
        raise ExpectationError(f"{path}: needs `backend = \"NAME\"` and [[expected]] tables"
                               + (f" (unknown keys: {', '.join(sorted(unknown))})" if unknown else ""))
    entries = tuple(_entry(path, i, e) for i, e in enumerate(doc.get("expected", [])))
    keys = [(e.property, e.dtype) for e in entries]
    dupes = sorted({e.key() for e in entries if keys.count((e.property, e.dtype)) > 1})
    if dupes:
        raise ExpectationError(f"{path}: listed twice: {', '.join(dupes)}")
    return Expectations(doc["backend"], entries, str(path), hashlib.sha256(raw).hexdigest())


def _entry(path, i, e):
    where = f"{path}: [[expected]] #{i + 1}"
    if not isinstance(e, dict):
        raise ExpectationError(f"{where} is not a table")
    fields = {"property", "category", "kind", "reason", "dtype", "max_error"}
    if set(e) - fields:
        raise ExpectationError(f"{where}: unknown keys {', '.join(sorted(set(e) - fields))}")
    missing = [f for f in ("property", "category", "kind", "reason") if f not in e]
    if missing:
        raise ExpectationError(f"{where}: missing {', '.join(missing)}")
    if e["property"] not in REGISTRY:
        raise ExpectationError(f"{where}: unknown property {e['property']!r} (known: {', '.join(REGISTRY)})")
    if e["category"] not in CATEGORIES:
        raise ExpectationError(f"{where}: category must be one of {', '.join(CATEGORIES)}, got {e['category']!r}")
    if e["kind"] not in KINDS:
        raise ExpectationError(f"{where}: kind must be one of {', '.join(KINDS)}, got {e['kind']!r}")
    if "://" not in str(e["reason"]):
        raise ExpectationError(f"{where}: the reason must link to the bug or discussion (an http(s) URL)")
    bound = e.get("max_error")
    if bound is not None and (e["kind"] != "tolerance" or isinstance(bound, bool)
                              or not isinstance(bound, (int, float)) or not bound > 0):
        raise ExpectationError(f"{where}: max_error must be a positive number, on an entry of kind tolerance")
    return Expected(e["property"], e["category"], e["kind"], e["reason"], e.get("dtype"),
                    None if bound is None else float(bound))


def outcome_kind(result):
    """The failure kind of a result, or None if it did not fail."""
    if result.status in ("failed", "error"):
        return result.kind or "error"
    if result.status == "skipped" and result.core:
        return "error"  # a core property the backend cannot run
    return None


def apply(entries, result):
    """The result as judged against the expected failures (entries for other backends already dropped)."""
    entry = next((e for e in entries if e.matches(result)), None)
    if entry is None or result.status == "blocked":
        return result
    listed = f"listed as {entry.category} ({entry.kind}): {entry.reason}"
    actual = outcome_kind(result)
    # the largest error of any example, not only the shrunk counterexample's
    worst = max([e for e, _ in result.samples] + [result.max_abs_err or 0.0])
    if actual == entry.kind and entry.max_error is not None and not worst <= entry.max_error:
        return replace(result, message=f"{result.message}\nmax |error| {worst:.3g} exceeds the "
                                       f"bound {entry.max_error:.3g} of the known deviation ({listed})")
    if actual == entry.kind:
        return replace(result, status="xfailed", message=f"expected failure, {listed}; {result.message}")
    if actual is None and result.status == "passed":
        return replace(result, status="xpassed",
                       message=f"passes now but is {listed}: remove the entry from the expectation file")
    if actual is None:
        return result
    return replace(result, message=f"{result.message}\nfails with kind {actual}, not as {listed}")


def unmatched(entries, results):
    """Entries for a property that ran but at no dtype the entry names: errors of the file."""
    ran = {(r.id, r.dtype) for r in results}
    ran_ids = {r.id for r in results}
    return [f"expectation {e.key()} matches nothing: {e.property} ran at "
            + ", ".join(sorted(str(d) for i, d in ran if i == e.property))
            for e in entries if e.property in ran_ids and not any(e.matches(r) for r in results)]
