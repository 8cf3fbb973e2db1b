"""A backend's verdict: what its certificate claims, and what it does not.

`certified` says that every core property held at float32 precision or finer, over a declared scope
that covers the four published GPT-2 models, in a full run of a certifying profile, with no failure
excused. Anything less is a different verdict, named in every report:

- `certified at bfloat16` (or float16): the backend cannot run float32, so its core properties were
  judged at its own, coarser precision;
- `certified within its declared scope`: the scope leaves out a published model (its n_ctx, ...);
- `certified with frozen weights`: an engine that runs a converted, frozen model (no set_wte) could not run
  tied_head. What holds: its head equals wte at load (reference_logits, as the canonical params have no
  separate head); what is not shown: that the head follows wte when wte changes (fine-tuning, edits);
- `certified with special-text policy 'special'` (or 'raise'): a tokenizer that declares that it maps
  "<|endoftext|>" in a text to the special id (or refuses the text), where OpenAI's encoder.py encodes it
  as text; special_text checks that it does exactly what it declares;
- `certified with known deviations`: an expectation file lists failures, each bounded by its max_ratio;
  the label names the upstream issues of those a framework's upstream set bounds;
- `partial`: the run left properties or examples out, so it cannot certify anything;
- `not certified`: a property failed, errored, was blocked, passed although listed, or a core
  property could not run.

A backend that computes gradients (Capabilities.grad) gets a training verdict of its own, from the
training properties (certified / not certified / partial); it is part of every label, and a failing one
fails the run as any failing property does. For any other backend it is `not run`.
"""
from dataclasses import asdict, dataclass, field

from gpt2_conformance.backends import Subject
from gpt2_conformance.backends.tokenizer import SPECIAL_TEXT_POLICIES
from gpt2_conformance.judge.tolerances import UNIT_ROUNDOFF
from gpt2_conformance.outcomes import BAD, Standing, Status
from gpt2_conformance.properties import REGISTRY

OFFICIAL_PRECISION = "float32"
FROZEN = "tied_head not run: the head is checked equal to wte at load only, not after wte changes"
SPECIAL_TEXT = "special_text"  # the property that holds a tokenizer to its declared special-text policy


@dataclass(frozen=True)
class Acceptance:
    """The verdicts a gate accepts besides plain certified, each named by the option that accepts it."""

    level: str = OFFICIAL_PRECISION  # the coarsest precision accepted (--accept-level)
    scope: bool = False  # a declared scope that leaves out published models (--accept-scope)
    frozen_weights: bool = False  # an engine whose weights cannot change in place (--accept-frozen-weights)
    special_text: bool = False  # a tokenizer's declared policy for <|endoftext|> in a text (--accept-special-text)


@dataclass(frozen=True)
class Verdict:
    status: Standing  # certified / not certified / partial
    level: str | None  # the dtype the core properties ran and were judged in (None: never imported, or a tokenizer)
    scope: dict  # the limits the backend declared
    scope_excludes: dict  # {published model: why the scope leaves it out}
    known_deviations: tuple  # properties listed in an expectation file (xfailed)
    reasons: tuple  # why not certified, or why partial
    training: Standing = Standing.NOT_RUN  # the training verdict
    training_reasons: tuple = ()
    upstream: dict = field(default_factory=dict)  # {known deviation: [its upstream issues]}, from upstream sets
    frozen: tuple = ()  # core properties that cannot run on frozen weights (no set_wte): tied_head
    special_text: str | None = None  # a tokenizer's declared policy where it is not OpenAI's ("text")

    @property
    def label(self):
        training, inference = [], []
        for pid in self.known_deviations:
            (training if REGISTRY[pid].training else inference).append(pid)
        label = _label(self.status, self.reasons, inference, self.upstream)
        if self.status == Standing.CERTIFIED and self.level and below_official(self.level):
            label = label.replace(Standing.CERTIFIED, f"{Standing.CERTIFIED} at {self.level}", 1)
        if self.status == Standing.CERTIFIED and self.scope_excludes:
            label += " within its declared scope (" + ", ".join(self.scope_excludes.values()) + ")"
        if self.status == Standing.CERTIFIED and self.frozen:
            label += f" with frozen weights ({FROZEN})"
        if self.status == Standing.CERTIFIED and self.special_text:
            label += f" with special-text policy '{self.special_text}' ({SPECIAL_TEXT_POLICIES[self.special_text]})"
        if self.training != Standing.NOT_RUN:
            label += f"; training: {_label(self.training, self.training_reasons, training, self.upstream)}"
        return label

    def accepted(self, acceptance=Acceptance()):
        """Whether this verdict passes a gate that accepts what `acceptance` names besides plain certified.
        Known deviations are accepted: the user listed them, or applied the upstream set that bounds them."""
        return (self.status == Standing.CERTIFIED and self.training in (Standing.CERTIFIED, Standing.NOT_RUN)
                and (self.level is None or UNIT_ROUNDOFF[self.level] <= UNIT_ROUNDOFF[acceptance.level])
                and (acceptance.scope or not self.scope_excludes) and (acceptance.frozen_weights or not self.frozen)
                and (acceptance.special_text or not self.special_text))

    def to_dict(self):
        return {**asdict(self), "label": self.label, "known_deviations": list(self.known_deviations),
                "reasons": list(self.reasons), "training_reasons": list(self.training_reasons),
                "frozen": list(self.frozen)}


def _label(status, reasons, known_deviations, upstream):
    if status == Standing.CERTIFIED and known_deviations:
        cites = list(dict.fromkeys(c for pid in known_deviations for c in upstream.get(pid, ())))
        return (f"{Standing.CERTIFIED} with known deviations ({', '.join(known_deviations)}"
                + (f"; upstream: {', '.join(cites)}" if cites else "") + ")")
    if status == Standing.CERTIFIED:
        return Standing.CERTIFIED
    return f"{status}: {'; '.join(reasons)}" if reasons and status in (Standing.NOT_CERTIFIED, Standing.PARTIAL) else status


def only_partial(verdict):
    """Whether a verdict (as its dict) is partial, in inference or in training, and nowhere not certified."""
    statuses = (verdict["status"], verdict["training"])
    return Standing.PARTIAL in statuses and Standing.NOT_CERTIFIED not in statuses


def run_standing(cert):
    """A whole run's verdict, from its certificate: certified where every backend's verdict is accepted; not
    certified where a backend fails for more than a partial run, or an expectation file is wrong (not
    certified wins over partial); else partial. The exit status and every report's headline say this."""
    if cert["passed"]:
        return Standing.CERTIFIED
    entries = [*cert["backends"], *cert.get("tokenizers", ())]
    if cert["expectation_errors"] or not all(b["passed"] or only_partial(b["verdict"]) for b in entries):
        return Standing.NOT_CERTIFIED
    return Standing.PARTIAL


def to_accept(verdict):
    """The options that would accept a certified verdict (as its dict) that a gate without them refuses."""
    return ([f"--accept-level {verdict['level']}"] * bool(verdict["level"] and below_official(verdict["level"]))
            + ["--accept-scope"] * bool(verdict["scope_excludes"])
            + ["--accept-frozen-weights"] * bool(verdict["frozen"])
            + ["--accept-special-text"] * bool(verdict["special_text"]))


def frozen_out(result, capabilities):
    """Whether result is a core property the backend could not run only because its weights are frozen."""
    return (result.status == Status.SKIPPED and result.core and capabilities is not None
            and not capabilities.set_wte and REGISTRY[result.id].needs == ("set_wte",))


def special_text_out(result, capabilities):
    """Whether result is special_text passing on a tokenizer that declares a policy other than OpenAI's: what it
    shows is that policy, which a gate accepts only where it names it (--accept-special-text)."""
    return (result.id == SPECIAL_TEXT and result.status == Status.PASSED and capabilities is not None
            and capabilities.special_text != "text")


def below_official(dtype):
    """True where dtype is coarser than the official model's float32."""
    return UNIT_ROUNDOFF[dtype] > UNIT_ROUNDOFF[OFFICIAL_PRECISION]


def judge(results, capabilities, partial=(), problems=()):
    """The Verdict of one backend (a model or a tokenizer) from its judged PropertyResults.

    capabilities: None where the backend never imported; partial: why the run cannot certify (a subset
    of properties, fewer examples than the profile's, a profile that does not certify); problems:
    errors of its expectation file."""
    if capabilities is not None and capabilities.subject == Subject.TOKENIZER:
        return _judged_tokenizer(results, capabilities, partial, problems)
    inference = [r for r in results if not REGISTRY[r.id].training]
    frozen = tuple(r.id for r in inference if frozen_out(r, capabilities))
    status, reasons = _standing([r for r in inference if r.id not in frozen], partial, problems, capabilities is None)
    training, training_reasons = Standing.NOT_RUN, ()
    if capabilities is not None and capabilities.grad:
        training, training_reasons = _standing([r for r in results if REGISTRY[r.id].training], partial)
        training_reasons = tuple(r for r in training_reasons if r not in partial)  # the run's, said once
    scope = capabilities.scope if capabilities else None
    return Verdict(status=status, level=capabilities and capabilities.core_dtype, scope=scope.declared() if scope else {},
                   scope_excludes=scope.published_excluded() if scope else {}, known_deviations=_known(results),
                   reasons=reasons, training=training, training_reasons=training_reasons,
                   upstream=_upstream(results), frozen=frozen)


def _judged_tokenizer(results, capabilities, partial, problems):
    """A tokenizer's Verdict: its properties compare exactly, so there is no level, scope or training verdict;
    a declared special-text policy other than OpenAI's is named."""
    status, reasons = _standing(results, partial, problems)
    policy = capabilities.special_text
    return Verdict(status=status, level=None, scope={}, scope_excludes={}, known_deviations=_known(results),
                   reasons=reasons, upstream=_upstream(results), special_text=None if policy == "text" else policy)


def _standing(results, partial=(), problems=(), never_imported=False):
    """(standing, reasons) of a set of results: not certified on a failure, partial on a partial run or a
    property that saw nothing that could show a bug, else certified."""
    failures = _failures(results) + list(problems)
    unseen = _unseen(results)
    status = (Standing.NOT_CERTIFIED if failures or never_imported
              else Standing.PARTIAL if partial or unseen else Standing.CERTIFIED)
    return status, tuple(failures or list(partial) + unseen)


def _known(results):
    return tuple(r.id for r in results if r.status == Status.XFAILED)


def _upstream(results):
    return {r.id: list(r.upstream) for r in results if r.status == Status.XFAILED and r.upstream}


def _unseen(results):
    return [f"{r.id} saw no example of {', '.join(r.unseen)} that could show a bug" for r in results
            if r.status == Status.PARTIAL]


def _failures(results):
    failures = [f"{r.id} {r.status}" + (f" ({r.kind})" if r.kind and r.status != Status.XPASSED else "")
                for r in results if r.status in BAD]
    return failures + [f"core property {r.id} could not run ({r.message})" for r in results
                       if r.status == Status.SKIPPED and r.core]
