"""Expectation files: the known failures of one backend, in plain TOML, so CI can gate on new ones.

    backend = "hf-torch-sdpa"          # the backend's name or spec

    [[expected]]
    property = "reference_logits"      # a property id
    dtype = "float16"                  # optional: only this dtype tier (default: any)
    category = "known-bug"             # known-bug / unsupported / permanent
    kind = "tolerance"                 # how it fails: see gpt2_conformance.outcomes.Kind
    reason = "exact erf GELU, https://github.com/karpathy/nanoGPT/issues/274"
    max_ratio = 200                    # required for kind tolerance: the deviation's measured bound
    # or per weight scale (a scale it does not name must hold as usual):
    # max_ratio = { unit = 20, tiny = 20, large = 20, huge = 1e6 }
    where = { n_embd = 1 }             # optional, kind tolerance: only examples of these hparams may deviate
    strict = false                     # optional: a run whose examples do not meet the deviation passes

A listed failure that fails as listed is `xfailed`. A tolerance entry bounds the deviation: the property
then runs all of its examples (it does not stop at the first failure), and each may exceed its own
tolerance by at most max_ratio: one number for every example, or a table of one per weight scale, where
an unnamed scale gets none and examples without a scale (golden cases, checkpoint weights) get the
table's largest; with `where`, examples of other hparams get none. The bound is on
error / tolerance rather than on the error itself because a numerical deviation is amplified exactly
where the tolerance is: near attention ties a small deviation errs by more than a structural bug does on
most examples, at a far smaller ratio (docs/expectations.md). So a known small deviation never covers a
structural bug in the same property. One that now passes is `xpassed`, which fails the run, so lists do
not rot; one that fails differently (or beyond its bound) stays `failed`/`error`, a new failure. A
deviation that only some draws meet (`where` narrows it to rare examples) may say `strict = false`: a
run that does not meet it then passes instead of `xpassed`.
A core property must run: an entry may bound its numerical deviation (kind tolerance), never excuse an
error or a missing capability. An entry naming an unknown property, or a dtype tier the backend never
ran for that property, is an error of the file. Blocked properties (see runner.essentials) are not
matched: the essentials failure is the one to fix.

A framework's own deviations ship as upstream sets (judge/upstream.py): a file may `include = ["torch"]`,
and `--expectations torch` applies a set to every backend of the run.
"""
import dataclasses
import hashlib
import tomllib
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from gpt2_conformance.backends import Subject
from gpt2_conformance.cases.weights import SCALES
from gpt2_conformance.judge.upstream import UpstreamSet
from gpt2_conformance.outcomes import FAILED_WITH_EXAMPLE, JUDGED, MAGNITUDE_KINDS, Kind, Status
from gpt2_conformance.properties import REGISTRY
from gpt2_conformance.reference.params import HParams

CATEGORIES = ("known-bug", "unsupported", "permanent")


class ExpectationError(ValueError):
    """An expectation file that is malformed or does not match the run."""


@dataclass(frozen=True)
class Expected:
    property: str
    category: str
    kind: Kind
    reason: str
    dtype: str | None = None
    max_ratio: dict | None = None  # {weight scale (None: every example): largest error / tolerance}
    where: dict | None = None  # {hparam: value}, or a tokenizer's {"stratum": ...}: where it shows (None: all)
    strict: bool = True  # a run that does not meet the deviation is xpassed (else it passes)
    upstream: UpstreamSet | None = None  # the upstream set the entry comes from

    def lists(self, property_id, dtype):
        return property_id == self.property and self.dtype in (None, dtype)

    def limit(self, tolerance, case):
        """The largest error an example of this case (None: a golden case) may show."""
        if not self.max_ratio or (self.where and (case is None or any(
                getattr(case.hparams, k) != v for k, v in self.where.items()))):
            return tolerance
        scale = getattr(case, "scale", None)
        ratio = self.max_ratio.get(scale, self.max_ratio.get(None, max(self.max_ratio.values()) if scale is None else 1))
        return max(tolerance, ratio * tolerance)

    def bound(self):
        """max_ratio as the expectation file writes it."""
        return self.max_ratio.get(None, self.max_ratio) if self.max_ratio else None

    def key(self):
        return self.property + (f" [{self.dtype}]" if self.dtype else "")


@dataclass(frozen=True)
class Expectations:
    backend: str | None  # None: an upstream set applied by name, to every backend of the run
    entries: tuple  # its own and those of the sets it includes
    path: str
    sha256: str
    sets: tuple = ()  # UpstreamSet: the ones it includes, or the set it is

    def for_backend(self, name, spec):
        return self.backend is None or self.backend in (name, spec)

    def record(self):
        """What the certificate says of the file."""
        return {"backend": self.backend, "path": self.path, "sha256": self.sha256,
                "sets": [s.record() for s in self.sets]}


UPSTREAM = Path(__file__).with_name("expectations") / "upstream"  # the shipped upstream sets, by name


def set_names():
    return sorted(p.stem for p in UPSTREAM.glob("*.toml"))


def load_source(source):
    """An expectation file by its path, or a shipped upstream set by its name."""
    if source in set_names():
        return shipped_set(source)
    if not Path(source).exists() and "/" not in source and not source.endswith(".toml"):
        raise ExpectationError(f"--expectations {source}: no such file, and no upstream set of that name "
                               f"(the suite ships: {', '.join(set_names())}; docs/expectations.md)")
    return load(source)


def load(path):
    """A backend's expectation file (it names its `backend`), or an upstream set's (judge/upstream.py)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        doc = tomllib.loads(raw.decode())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ExpectationError(f"{path}: cannot read expectation file: {e}") from None
    sha256 = hashlib.sha256(raw).hexdigest()
    if "backend" not in doc and set(doc) & _SET_KEYS:
        upstream = _upstream_set(path, doc, sha256)
        return _checked(Expectations(None, _entries(path, doc, upstream), str(path), sha256, (upstream,)))
    unknown = set(doc) - {"backend", "include", "expected"}
    if unknown or not isinstance(doc.get("backend"), str):
        raise ExpectationError(f"{path}: needs `backend = \"NAME\"` and [[expected]] tables, or an upstream set's "
                               f"keys ({', '.join(sorted(_SET_KEYS))})"
                               + (f" (unknown keys: {', '.join(sorted(unknown))})" if unknown else ""))
    included = [_included(path, name) for name in _names(path, doc.get("include", []))]
    entries = _entries(path, doc, None) + tuple(e for f in included for e in f.entries)
    sets = tuple(s for f in included for s in f.sets)
    return _checked(Expectations(doc["backend"], entries, str(path), sha256, sets))


def _checked(file):
    keys = [(e.property, e.dtype) for e in file.entries]
    dupes = sorted({e.key() for e in file.entries
                    if keys.count((e.property, e.dtype)) > 1 and e.kind != Kind.TOLERANCE})
    if dupes:
        raise ExpectationError(f"{file.path}: listed twice: {', '.join(dupes)} (only bounded deviations, kind "
                               "tolerance, may take several entries, each on examples of its own)")
    return file


def _entries(path, doc, upstream):
    return tuple(_entry(path, i, e, upstream) for i, e in enumerate(doc.get("expected", [])))


def _names(path, include):
    if not isinstance(include, list) or not all(isinstance(n, str) for n in include):
        raise ExpectationError(f"{path}: include must be a list of upstream set names, got {include!r}")
    return include


def _included(path, name):
    if name not in set_names():
        raise ExpectationError(f"{path}: includes {name!r}, which is no upstream set (the suite ships: "
                               f"{', '.join(set_names())})")
    return shipped_set(name)


@cache
def shipped_set(name):
    """The upstream set the suite ships under `name`, as an Expectations for every backend."""
    return load(UPSTREAM / f"{name}.toml")


_SET_KEYS = {"title", "cite", "upstream", "modules", "measured", "when", "probe"}


def _upstream_set(path, doc, sha256):
    """The UpstreamSet a set file describes (its [[expected]] entries are read as any file's)."""
    unknown = set(doc) - _SET_KEYS - {"expected"}
    missing = sorted(_SET_KEYS - {"probe"} - set(doc))
    if unknown or missing:
        raise ExpectationError(f"{path}: an upstream set " + (f"has unknown keys {', '.join(sorted(unknown))}"
                                                               if unknown else f"lacks {', '.join(missing)}"))
    texts = [doc[k] for k in ("title", "cite", "upstream", "when")] + [doc.get("probe", "")]
    modules, measured = doc["modules"], doc["measured"]
    if (not all(isinstance(t, str) for t in texts) or "://" not in doc["upstream"]
            or not isinstance(modules, list) or not modules or not all(isinstance(m, str) for m in modules)
            or not isinstance(measured, dict) or not measured
            or not all(isinstance(v, str) for v in measured.values())):
        raise ExpectationError(f"{path}: an upstream set needs title, cite, when (text), upstream (a URL), modules (a "
                               "list of module names) and measured (a table of module = version)")
    return UpstreamSet(path.stem, doc["title"], doc["cite"], doc["upstream"], tuple(modules), tuple(measured.items()),
                       doc["when"], doc.get("probe"), sha256)


def _entry(path, i, e, upstream=None):
    where = f"{path}: [[expected]] #{i + 1}"
    if not isinstance(e, dict):
        raise ExpectationError(f"{where} is not a table")
    fields = {"property", "category", "kind", "reason", "dtype", "max_ratio", "where", "strict"}
    if set(e) - fields:
        raise ExpectationError(f"{where}: unknown keys {', '.join(sorted(set(e) - fields))}")
    missing = [f for f in ("property", "category", "kind", "reason") if f not in e]
    if missing:
        raise ExpectationError(f"{where}: missing {', '.join(missing)}")
    if e["property"] not in REGISTRY:
        raise ExpectationError(f"{where}: unknown property {e['property']!r} (known: {', '.join(REGISTRY)})")
    if e["category"] not in CATEGORIES:
        raise ExpectationError(f"{where}: category must be one of {', '.join(CATEGORIES)}, got {e['category']!r}")
    listable = [k for k in Kind if k != Kind.SYSTEMATIC]  # a systematic deviation is listed as kind tolerance
    if e["kind"] not in listable:
        raise ExpectationError(f"{where}: kind must be one of {', '.join(listable)}, got {e['kind']!r}")
    if "://" not in str(e["reason"]):
        raise ExpectationError(f"{where}: the reason must link to the bug or discussion (an http(s) URL)")
    if REGISTRY[e["property"]].core and e["kind"] != Kind.TOLERANCE:
        raise ExpectationError(f"{where}: {e['property']} is core and must run: an expectation may bound its "
                               f"numerical deviation (kind tolerance, with max_ratio), never excuse kind {e['kind']}")
    tokenizer = REGISTRY[e["property"]].subject == Subject.TOKENIZER
    if tokenizer and ("max_ratio" in e or "where" not in e):
        raise ExpectationError(f"{where}: {e['property']} compares exactly: an entry bounds its deviation by the "
                               f"inputs it shows on, where = {{ stratum = ... }} ({', '.join(REGISTRY[e['property']].strata)}), "
                               "with no max_ratio")
    if e["kind"] == Kind.TOLERANCE and "max_ratio" not in e and not tokenizer:
        raise ExpectationError(f"{where}: an entry of kind tolerance needs max_ratio, the measured bound of the "
                               "deviation (without it a structural bug in the same property would pass as known)")
    if ("max_ratio" in e or "where" in e) and e["kind"] != Kind.TOLERANCE:
        raise ExpectationError(f"{where}: max_ratio and where bound a deviation of kind tolerance only")
    if not isinstance(e.get("strict", True), bool):
        raise ExpectationError(f"{where}: strict must be true or false, got {e['strict']!r}")
    return Expected(e["property"], e["category"], Kind(e["kind"]), e["reason"], e.get("dtype"),
                    _max_ratio(where, e["max_ratio"]) if "max_ratio" in e else None,
                    _where(where, e["where"], REGISTRY[e["property"]]) if "where" in e else None, e.get("strict", True),
                    upstream)


def _where(where, value, prop):
    if prop.subject == Subject.TOKENIZER:
        if not isinstance(value, dict) or set(value) != {"stratum"} or value["stratum"] not in prop.strata:
            raise ExpectationError(f"{where}: where must be {{ stratum = ... }}, one of {prop.id}'s: "
                                   f"{', '.join(map(repr, prop.strata))}; got {value!r}")
        return dict(value)
    names = [f.name for f in dataclasses.fields(HParams)]
    if not isinstance(value, dict) or not value or any(k not in names or isinstance(v, bool) or not isinstance(v, int)
                                                       or v < 1 for k, v in value.items()):
        raise ExpectationError(f"{where}: where must be a table of hparams ({', '.join(names)}) and positive "
                               f"integers, got {value!r}")
    return dict(value)


# The largest bound an entry may set: five times the largest a bundled backend needs (2e7, transformers 4's
# TF GPT-2 at scale huge). An unbounded entry (inf, 1e300) would excuse any failure of its property.
MAX_RATIO = 1e8


def _max_ratio(where, value):
    """{scale or None: ratio} from a number or a table of weight scales, each ratio in [1, MAX_RATIO]."""
    table = value if isinstance(value, dict) else {None: value}
    unknown = set(table) - set(SCALES) - {None}
    ratios = list(table.values())
    if unknown or not table or any(isinstance(r, bool) or not isinstance(r, (int, float)) or not 1 <= r <= MAX_RATIO
                                   for r in ratios):
        raise ExpectationError(f"{where}: max_ratio must be a number from 1 to {MAX_RATIO:g}, or a table of such "
                               f"numbers by weight scale ({', '.join(SCALES)}), got {value!r}")
    return {k: float(v) for k, v in table.items()}


@dataclass(frozen=True)
class Listing:
    """The entries of one backend's files for one property and dtype: one known failure. Several entries
    (all of kind tolerance) bound one deviation on examples of their own; an example may exceed its
    tolerance by the largest of their bounds that covers it."""

    entries: tuple

    @property
    def kind(self):
        return self.entries[0].kind

    @property
    def category(self):
        return self.entries[0].category

    @property
    def reason(self):
        return " / ".join(dict.fromkeys(e.reason for e in self.entries))

    @property
    def strict(self):
        return any(e.strict for e in self.entries)

    def limit(self, tolerance, case):
        return max(e.limit(tolerance, case) for e in self.entries)

    def bound(self):
        bounds = [e.bound() for e in self.entries]
        return bounds[0] if len(bounds) == 1 else bounds

    @property
    def sets(self):
        """The upstream sets its entries come from."""
        return tuple(dict.fromkeys(e.upstream for e in self.entries if e.upstream))


def entry_for(entries, property_id, dtype):
    """The Listing of entries (one backend's) for property_id at dtype, or None."""
    listed = tuple(e for e in entries if e.lists(property_id, dtype))
    return Listing(listed) if listed else None


def judge(entry, result):
    """The result as judged against its expected failure (entry_for's Listing), if any. The runner has
    already failed a listed property whose examples went beyond the entry's bound."""
    if entry is None or result.status not in JUDGED:
        return result  # a core property that cannot run stays a failure, a partial one partial: the verdict says so
    listed = f"listed as {entry.category} ({entry.kind}): {entry.reason}"
    actual = result.kind if result.status in FAILED_WITH_EXAMPLE else None
    matches = actual == entry.kind or (entry.kind == Kind.TOLERANCE and actual in MAGNITUDE_KINDS)
    # the largest error of any example (a listed property runs them all), not only a counterexample's
    worst = max([e for e, _ in result.samples] + [result.max_abs_err or 0.0])
    if matches:
        return replace(result, status=Status.XFAILED, max_abs_err=worst, bound=entry.bound(),
                       upstream=[s.cite for s in entry.sets], message=f"expected failure, {listed}; {result.message}")
    stale = [why for why in (s.stale() for s in entry.sets) if why]
    if actual is None and stale:
        return replace(result, status=Status.XPASSED,
                       message=f"no example met the deviation {listed}, and " + "; ".join(stale))
    if actual is None and not entry.strict:
        return replace(result, message=f"no example met the deviation {listed} (strict = false)")
    if actual is None:
        return replace(result, status=Status.XPASSED, message=f"passes now but is {listed}: " + _retire(entry))
    return replace(result, message=f"{result.message}\nfails with kind {actual}, not as {listed}")


def _retire(entry):
    if not entry.sets:
        return "remove the entry from the expectation file"
    return "; ".join(f"if {s.cite} is fixed upstream ({s.versions()}), the upstream set `{s.name}` is stale: stop "
                     "applying it" for s in entry.sets)


def recognise(property_id, dtype, case, error_ratio, applied):
    """The hint for a failure that shipped upstream sets not among `applied` (entries) would bound: the same
    property, an example of the set's `where` within its bound, in a process that loaded the set's framework
    (several frameworks may be: each match is named, those whose `where` singles the example out first).
    None if none would."""
    names = {e.upstream.name for e in applied if e.upstream}
    matches = []
    for name in set_names():
        listing = entry_for(shipped_set(name).entries, property_id, dtype)
        if (name not in names and listing and shipped_set(name).sets[0].loaded()
                and error_ratio <= listing.limit(1.0, case)):
            specific = any(e.where and e.limit(1.0, case) >= error_ratio for e in listing.entries)
            matches.append((not specific, shipped_set(name).sets[0].hint()))
    if not matches:
        return None
    return ("matches known upstream deviation " + "; or ".join(hint for _, hint in sorted(matches))
            + " (a set bounds only its deviation's examples: any other failure still fails)")


def unmatched(entries, results):
    """Entries for a property that ran but at no dtype the entry names: errors of the file. An upstream set's are
    not: a set lists the tiers its framework deviates in, whichever a backend runs."""
    entries = [e for e in entries if e.upstream is None]
    ran = {(r.id, r.dtype) for r in results}
    ran_ids = {r.id for r in results}
    return [f"expectation {e.key()} matches nothing: {e.property} ran at "
            + ", ".join(sorted(str(d) for i, d in ran if i == e.property))
            for e in entries if e.property in ran_ids and not any(e.lists(r.id, r.dtype) for r in results)]


SHIPPED = Path(__file__).with_name("expectations")  # the known deviations of the bundled backends


def with_shipped(files, specs, subject=Subject.MODEL):
    """files, and the shipped expectation file of each bundled backend of subject in specs that none of them
    lists for that subject: its known deviations apply unless the user gives a file of their own for it.
    A tokenizer's files lie in
    expectations/tokenizers/ (a tokenizer may share a model backend's name: llama-cpp)."""
    from gpt2_conformance.backends import bundled

    listed = {f.backend for f in files if not f.entries or any(REGISTRY[e.property].subject == subject for e in f.entries)}
    folder = SHIPPED / "tokenizers" if subject == Subject.TOKENIZER else SHIPPED
    shipped = [folder / f"{spec}.toml" for spec in specs if spec in bundled(subject) and spec not in listed]
    return list(files) + [load(path) for path in shipped if path.exists()]


def entries_for(files, name, spec, subject=Subject.MODEL):
    """The entries for properties of subject of every file that lists failures of the backend called `name` (or
    `spec`): a model's file never excuses a tokenizer of the same name, nor a tokenizer's set a model."""
    return tuple(e for f in files if f.for_backend(name, spec) for e in f.entries
                 if REGISTRY[e.property].subject == subject)
