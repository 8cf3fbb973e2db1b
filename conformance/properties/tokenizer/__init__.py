"""The tokenizer properties: the context they run in, and their exact comparisons.

Each compares a tokenizer with OpenAI's encoder.py (gpt2_conformance.reference.bpe, which reproduces every
golden tokenization the official code made) and returns Mismatches: err counts what differs, the
tolerance is 0, and the detail names the first difference and its input.
"""
import weakref
from dataclasses import dataclass, field
from itertools import chain

from gpt2_conformance.backends import BackendClock
from gpt2_conformance.backends.tokenizer import Refused, guarded_load_tokenizer
from gpt2_conformance.properties import Measurement
from gpt2_conformance.reference import bpe
from gpt2_conformance.reference.vocab import END_OF_TEXT

REFUSED = ("refused",)  # the outcome of an encode that raised, compared as ids are
SHOWN = 80  # the characters of a text, or the ids, that a detail or note shows at most


@dataclass
class Mismatches(Measurement):
    """An exact comparison: err counts what differs (0 passes), tol is 0."""

    def failure(self):
        return f"{self.detail} ({self.err:g} mismatched, compared exactly)"

    def held(self):
        return f"{self.detail} (compared exactly)"


@dataclass
class TokenizerContext:
    """What a tokenizer property runs with: the backend, loaded through the guard once per vocabulary (the
    examples of a run share GPT-2's), the stratum its inputs come from (cases/text.py), and the notes that
    make its counterexample."""

    backend: object
    stratum: str | None = None
    loaded: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary)  # {Vocab: GuardedTokenizer}
    notes: dict = field(default_factory=dict)
    clock: BackendClock = field(default_factory=BackendClock)

    def for_example(self, notes, clock):
        return TokenizerContext(self.backend, self.stratum, self.loaded, notes, clock)

    def load(self, vocab):
        if vocab not in self.loaded:
            self.loaded[vocab] = guarded_load_tokenizer(self.backend, vocab, self.clock)
        return self.loaded[vocab]

    def note(self, **values):
        """Record drawn values; the notes of the last (shrunk) failing example become the counterexample."""
        self.notes.update(values)

    @property
    def special_text(self):
        """The backend's declared policy for <|endoftext|> in a text (tokenizer.SPECIAL_TEXT_POLICIES)."""
        return self.backend.capabilities.special_text


def shown(sequence):
    """A text or ids as a note or detail shows them: whole if short, else their start and their length."""
    if len(sequence) <= SHOWN:
        return repr(sequence)
    return f"{sequence[:SHOWN]!r}... ({len(sequence)} {'characters' if isinstance(sequence, str) else 'ids'})"


def compared(got, expected, what):
    """Mismatches of two sequences (ids or text): the positions that differ, and the difference in length."""
    differing = sum(g != e for g, e in zip(got, expected)) + abs(len(got) - len(expected))
    if not differing:
        return Mismatches(0, 0, f"{what} as the reference's")
    i = next((i for i, (g, e) in enumerate(zip(got, expected)) if g != e), min(len(got), len(expected)))
    return Mismatches(differing, 0, f"{what}: at position {i}, {_at(got, i)} where the reference has "
                                    f"{_at(expected, i)} ({len(got)} vs {len(expected)} long)")


def _at(sequence, i):
    return repr(sequence[i]) if i < len(sequence) else "nothing"


def each(ctx, batch, compare, name="text"):
    """Mismatches of a batch [(vocabulary, inputs)], compare(vocabulary, input) each: their sum, and the first
    input that differs (and its vocabulary) noted as the counterexample's `name`; while comparing, the input
    at hand, so that an exception names it."""
    measured = []
    for vocab, inputs in batch:
        for given in inputs:
            ctx.note(vocab=repr(vocab), **{name: shown(given)})
            measured.append((vocab, given, compare(vocab, given)))
    wrong = [(vocab, given, m) for vocab, given, m in measured if m.err]
    if not wrong:
        return Mismatches(0, 0, f"all {len(measured)} as the reference's")
    vocab, given, first = wrong[0]
    ctx.note(vocab=repr(vocab), **{name: shown(given)})
    more = f"; {len(wrong) - 1} more of the example's {len(measured)} differ" if len(wrong) > 1 else ""
    return Mismatches(sum(m.err for _, _, m in wrong), 0, first.detail + more)


def encode_outcome(tokenizer, text):
    """The ids of text, or REFUSED if the backend's encode raised."""
    try:
        return tokenizer.encode(text)
    except Refused:
        return REFUSED


def expected_under(policy, text, vocab):
    """What a tokenizer of this special-text policy must give for text: the official ids with <|endoftext|> as
    text ("text"), as the special id between the official ids of the rest ("special"), or a refusal of a text
    that holds it ("raise")."""
    if END_OF_TEXT not in text or policy == "text":
        return bpe.encode(text, vocab)
    if policy == "raise":
        return REFUSED
    segments = [bpe.encode(segment, vocab) for segment in text.split(END_OF_TEXT)]
    return segments[0] + list(chain.from_iterable([vocab.encoder[END_OF_TEXT], *s] for s in segments[1:]))
