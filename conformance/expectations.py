"""Expectation files: the known failures of one backend, in plain TOML, so CI can gate on new ones.

    backend = "hf-torch-sdpa"          # the backend's name or spec

    [[expected]]
    property = "reference_logits"      # a property id
    dtype = "float16"                  # optional: only this dtype tier (default: any)
    category = "known-bug"             # known-bug / unsupported / permanent
    kind = "tolerance"                 # how it fails: see conformance.status.KINDS
    reason = "exact erf GELU, https://github.com/karpathy/nanoGPT/issues/274"
    max_ratio = 200                    # required for kind tolerance: the deviation's measured bound
    scales = ["huge"]                  # optional: the weight scales it shows on (default: all)

A listed failure that fails as listed is `xfailed`. A tolerance entry bounds the deviation: the property
then runs all of its examples (it does not stop at the first failure), and each may exceed its own
tolerance by at most max_ratio (only on the listed scales; elsewhere not at all). The bound is on
error / tolerance rather than on the error itself because a numerical deviation is amplified exactly
where the tolerance is: near attention ties one example of an fp16 GELU table errs by 9.1 (at 70 times
its tolerance), more than a ReLU in place of GELU errs on most (at 6000 times theirs). So a known small
deviation never covers a structural bug in the same property. One that now passes is `xpassed`, which
fails the run, so lists do not rot; one that fails differently (or beyond its bound) stays
`failed`/`error`, a new failure.
A core property must run: an entry may bound its numerical deviation (kind tolerance), never excuse an
error or a missing capability. An entry naming an unknown property, or a dtype tier the backend never
ran for that property, is an error of the file. Blocked properties (see runner.essentials) are not
matched: the essentials failure is the one to fix.
"""
import hashlib
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from conformance.properties import REGISTRY
from conformance.status import KINDS, MAGNITUDE_KINDS
from conformance.weights import SCALES

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
    max_ratio: float | None = None
    scales: tuple | None = None

    def lists(self, property_id, dtype):
        return property_id == self.property and self.dtype in (None, dtype)

    def limit(self, tolerance, scale):
        """The largest error an example of this weight scale (None: not a generated case) may show."""
        covered = self.max_ratio is not None and (self.scales is None or scale in self.scales)
        return max(tolerance, self.max_ratio * tolerance) if covered else tolerance

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
    fields = {"property", "category", "kind", "reason", "dtype", "max_ratio", "scales"}
    if set(e) - fields:
        raise ExpectationError(f"{where}: unknown keys {', '.join(sorted(set(e) - fields))}")
    missing = [f for f in ("property", "category", "kind", "reason") if f not in e]
    if missing:
        raise ExpectationError(f"{where}: missing {', '.join(missing)}")
    if e["property"] not in REGISTRY:
        raise ExpectationError(f"{where}: unknown property {e['property']!r} (known: {', '.join(REGISTRY)})")
    if e["category"] not in CATEGORIES:
        raise ExpectationError(f"{where}: category must be one of {', '.join(CATEGORIES)}, got {e['category']!r}")
    listable = [k for k in KINDS if k != "systematic"]  # a systematic deviation is listed as kind tolerance
    if e["kind"] not in listable:
        raise ExpectationError(f"{where}: kind must be one of {', '.join(listable)}, got {e['kind']!r}")
    if "://" not in str(e["reason"]):
        raise ExpectationError(f"{where}: the reason must link to the bug or discussion (an http(s) URL)")
    if REGISTRY[e["property"]].core and e["kind"] != "tolerance":
        raise ExpectationError(f"{where}: {e['property']} is core and must run: an expectation may bound its "
                               f"numerical deviation (kind tolerance, with max_ratio), never excuse kind {e['kind']}")
    bound = e.get("max_ratio")
    if e["kind"] == "tolerance" and bound is None:
        raise ExpectationError(f"{where}: an entry of kind tolerance needs max_ratio, the measured bound of the "
                               "deviation (without it a structural bug in the same property would pass as known)")
    if bound is not None and (e["kind"] != "tolerance" or isinstance(bound, bool)
                              or not isinstance(bound, (int, float)) or not bound >= 1):
        raise ExpectationError(f"{where}: max_ratio must be a number >= 1, on an entry of kind tolerance")
    scales = e.get("scales")
    if scales is not None and (not isinstance(scales, list) or not scales or set(scales) - set(SCALES)):
        raise ExpectationError(f"{where}: scales must be a list of {', '.join(SCALES)}, got {scales!r}")
    return Expected(e["property"], e["category"], e["kind"], e["reason"], e.get("dtype"),
                    None if bound is None else float(bound), None if scales is None else tuple(scales))


def entry_for(entries, property_id, dtype):
    """The entry of entries (one backend's) that lists property_id at dtype, or None."""
    return next((e for e in entries if e.lists(property_id, dtype)), None)


def judge(entry, result):
    """The result as judged against its expected failure (entry_for's), if any. The runner has already
    failed a listed property whose examples went beyond the entry's bound."""
    if entry is None or result.status in ("blocked", "skipped"):
        return result  # a core property that cannot run stays a failure: the verdict says so
    listed = f"listed as {entry.category} ({entry.kind}): {entry.reason}"
    actual = result.kind if result.status in ("failed", "error") else None
    matches = actual == entry.kind or (entry.kind == "tolerance" and actual in MAGNITUDE_KINDS)
    # the largest error of any example (a listed property runs them all), not only a counterexample's
    worst = max([e for e, _ in result.samples] + [result.max_abs_err or 0.0])
    if matches:
        return replace(result, status="xfailed", max_abs_err=worst,
                       message=f"expected failure, {listed}; {result.message}")
    if actual is None:
        return replace(result, status="xpassed",
                       message=f"passes now but is {listed}: remove the entry from the expectation file")
    return replace(result, message=f"{result.message}\nfails with kind {actual}, not as {listed}")


def unmatched(entries, results):
    """Entries for a property that ran but at no dtype the entry names: errors of the file."""
    ran = {(r.id, r.dtype) for r in results}
    ran_ids = {r.id for r in results}
    return [f"expectation {e.key()} matches nothing: {e.property} ran at "
            + ", ".join(sorted(str(d) for i, d in ran if i == e.property))
            for e in entries if e.property in ran_ids and not any(e.lists(r.id, r.dtype) for r in results)]


def entries_for(files, name, spec):
    """The entries of every file that lists failures of the backend called `name` (or `spec`)."""
    return tuple(e for f in files if f.for_backend(name, spec) for e in f.entries)
