"""The backend protocol: what an adapter declares (Capabilities, Scope) and implements (Backend, Model).

A backend has a `name`, its `capabilities`, and `load(params, dtype)`, which returns a Model:

    forward(tokens, past=None) -> (logits, cache)
        tokens: int64 [batch, seq]; logits: float [batch, seq, n_vocab], in the loaded dtype or wider.
        With capabilities.past, `cache` stands for every token seen so far (past and tokens) and may be
        passed back as `past` to continue; it is opaque to the suite. Without it, `cache` is None and
        `past` is never given.
    set_wte(wte) -> None                            (capabilities.set_wte)
        replace the token embedding in the live model; a tied head follows it.
    forward(tokens, past=None, attention_mask=None) (capabilities.padding)
        attention_mask: int64 [batch, past + seq], 1 for a real token and 0 for padding, covering past
        and tokens. A padded sequence must get the logits it has alone: padding keys are not attended
        to, and positions count only real tokens. Without padding it is never given.
    loss(tokens) -> float                           (capabilities.loss)
        the backend's own mean next-token cross-entropy (labels = tokens shifted by one).
    loss_and_grads(tokens, loss_mask=None) -> (loss, {name: gradient})   (capabilities.grad)
        the mean next-token cross-entropy over the predictions loss_mask selects (int [batch, seq - 1],
        1 where the prediction of token t + 1 at position t counts; None: all), and its gradient with
        respect to every parameter tensor, under the official names and shapes (Conv1D weights
        [1, nx, nf]). model/wte's is the gradient the backend would apply to wte: its embedding path plus
        the head's, also where the implementation keeps the head as a parameter of its own.

`params.tensors` holds the official names and shapes (`model/wte`, `model/h0/attn/c_attn/w` as
[1, nx, nf], ...). The suite validates every input before a backend sees it, and copies and checks
what it returns (gpt2_conformance.backends.guard).
"""
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from gpt2_conformance.judge.tolerances import UNIT_ROUNDOFF
from gpt2_conformance.reference.params import HParams, Params

# The four models OpenAI published (openai/gpt-2 download_model.py): what "GPT-2" must run.
PUBLISHED = {
    "124M": HParams(n_vocab=50257, n_ctx=1024, n_embd=768, n_head=12, n_layer=12),
    "355M": HParams(n_vocab=50257, n_ctx=1024, n_embd=1024, n_head=16, n_layer=24),
    "774M": HParams(n_vocab=50257, n_ctx=1024, n_embd=1280, n_head=20, n_layer=36),
    "1558M": HParams(n_vocab=50257, n_ctx=1024, n_embd=1600, n_head=25, n_layer=48),
}


class Subject(StrEnum):
    """What a backend implements and a property checks: a property runs only on backends of its subject."""

    MODEL = "model"
    TOKENIZER = "tokenizer"


class Unsupported(Exception):
    """Raised by a backend for an example it cannot run. Cases are drawn inside the backend's declared
    Scope, so raising it is a failure of the property (kind `unsupported`), never a discard: a limit
    belongs in the Scope, where the certificate states it."""


@dataclass(frozen=True)
class Scope:
    """The configurations a backend runs, declared up front (None: no limit). Cases are drawn inside it
    and the certificate states it; a scope that leaves out a published GPT-2 cannot earn the plain verdict."""

    max_n_vocab: int | None = None
    max_n_ctx: int | None = None
    max_n_layer: int | None = None
    max_n_head: int | None = None
    min_head_dim: int = 1
    max_head_dim: int | None = None
    max_batch: int | None = None

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"Scope.{f.name} must be a positive integer or None, got {value!r}")

    def why_not(self, hp, batch=1):
        """None if the scope admits hparams hp at this batch size, else what it excludes."""
        limits = [("n_vocab", hp.n_vocab, self.max_n_vocab), ("n_ctx", hp.n_ctx, self.max_n_ctx),
                  ("n_layer", hp.n_layer, self.max_n_layer), ("n_head", hp.n_head, self.max_n_head),
                  ("head_dim", hp.head_dim, self.max_head_dim), ("batch", batch, self.max_batch)]
        over = [f"{name} {value} > {limit}" for name, value, limit in limits if limit is not None and value > limit]
        if hp.head_dim < self.min_head_dim:
            over.append(f"head_dim {hp.head_dim} < {self.min_head_dim}")
        return ", ".join(over) or None

    def published_excluded(self):
        """{published model: why the scope excludes it}; empty when the scope covers GPT-2."""
        return {name: why for name, hp in PUBLISHED.items() if (why := self.why_not(hp))}

    def declared(self):
        """The limits that are set, for the certificate."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != f.default}


@dataclass(frozen=True)
class Capabilities:
    subject: ClassVar[Subject] = Subject.MODEL
    past: bool = False  # forward(..., past=cache) continues a sequence
    set_wte: bool = False  # the live token embedding can be replaced (the tied-head property needs it)
    dtypes: tuple = ("float32",)
    padding: bool = False  # forward(..., attention_mask=) runs a padded batch
    loss: bool = False  # loss(tokens) computes the language-model loss itself
    grad: bool = False  # loss_and_grads(tokens, loss_mask) differentiates it (the training properties)
    # a new architecture costs a compile or export (seconds): cases draw from strategies.ARCHITECTURES
    compiles_per_architecture: bool = False
    scope: Scope = Scope()

    def __post_init__(self):
        unknown = [d for d in self.dtypes if d not in UNIT_ROUNDOFF]
        if not isinstance(self.dtypes, tuple) or not self.dtypes or unknown:
            raise ValueError(f"Capabilities.dtypes must be a non-empty tuple of {', '.join(UNIT_ROUNDOFF)}, "
                             f"got {self.dtypes!r}")
        if not isinstance(self.scope, Scope):
            raise ValueError(f"Capabilities.scope must be a Scope, got {type(self.scope).__name__}")

    def to_dict(self):
        return {**{f.name: getattr(self, f.name) for f in fields(self) if f.name != "scope"},
                "dtypes": list(self.dtypes), "scope": self.scope.declared()}

    @classmethod
    def from_dict(cls, d):
        return cls(**{**d, "dtypes": tuple(d["dtypes"]), "scope": Scope(**d["scope"])})

    @property
    def core_dtype(self):
        """The dtype the core properties run and are judged in: the first of float64 and float32 the backend
        declares (the official model's precision or finer), else the most precise one it declares, which
        then names a lower certification level."""
        certifying = [d for d in self.dtypes if d in ("float64", "float32")]
        return certifying[0] if certifying else min(self.dtypes, key=UNIT_ROUNDOFF.__getitem__)


@runtime_checkable
class Model(Protocol):
    def forward(self, tokens: np.ndarray, past=None) -> tuple: ...


@runtime_checkable
class Backend(Protocol):
    name: str
    capabilities: Capabilities

    def load(self, params: Params, dtype: str) -> Model: ...
