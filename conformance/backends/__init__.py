"""The backend protocol, the registry of backends, and the guard that checks what a backend returns.

A backend is any object with:

    name: str
    capabilities: Capabilities
    def load(self, params: Params, dtype: str) -> Model    # dtype: one of capabilities.dtypes

(A bundled backend's module also names the modules it needs in REQUIRES, so `backends` can say what
to install without importing it.) A Model is any object with:

    def forward(self, tokens: np.ndarray, past=None) -> (logits: np.ndarray, cache)
        tokens: int64 [batch, seq]; logits: float [batch, seq, n_vocab]. With capabilities.past,
        `cache` stands for every token seen so far (past and tokens) and may be passed back as `past`
        to continue; it is opaque to the suite. Without it, `cache` is None and `past` is never given.
    def set_wte(self, wte: np.ndarray) -> None        (capabilities.set_wte)
        replace the token embedding in the live model; a tied head follows it.
    def forward(self, tokens, past=None, attention_mask=None)      (capabilities.padding)
        attention_mask: int64 [batch, past + seq], 1 for a real token and 0 for padding, covering past
        and tokens (as transformers' attention_mask). A padded sequence must get the logits it has
        alone: padding keys are not attended to, and positions count only real tokens (the model or
        its adapter derives them from the mask). Without padding it is never given.
    def loss(self, tokens: np.ndarray) -> float      (capabilities.loss)
        the backend's own mean next-token cross-entropy (labels = tokens shifted by one). Without it
        the suite computes the loss from the backend's logits.
"""
import importlib
import importlib.metadata
import importlib.util
import time
from dataclasses import dataclass, field

import numpy as np

from reference import gpt2
from reference.params import InvalidInput, check_attention_mask, check_inputs

ENTRY_POINT_GROUP = "gpt2_conformance.backends"

BUNDLED = {  # name -> "module:attr", resolved lazily so that a missing library only hides its backends
    "reference": "conformance.backends.reference:backend",
    "hf-torch-eager": "conformance.backends.hf_torch:eager",
    "hf-torch-sdpa": "conformance.backends.hf_torch:sdpa",
    "openai-tf": "conformance.backends.openai_tf:backend",
    "hf-torch-compile": "conformance.backends.hf_torch_compile:backend",
    "onnxruntime": "conformance.backends.onnx_runtime:backend",
    "keras-hub-tf": "conformance.backends.kerashub:tf",
    "keras-hub-jax": "conformance.backends.kerashub:jax",
    "keras-hub-torch": "conformance.backends.kerashub:torch",
    "llama-cpp": "conformance.backends.llama_cpp:backend",
    "hf-tf": "conformance.backends.hf4:tf",
    "hf-flax": "conformance.backends.hf4:flax",
}


@dataclass(frozen=True)
class Capabilities:
    past: bool = False  # forward(..., past=cache) continues a sequence
    set_wte: bool = False  # the live token embedding can be replaced (the tied-head property needs it)
    dtypes: tuple = ("float32",)
    padding: bool = False  # forward(..., attention_mask=) runs a padded batch
    loss: bool = False  # loss(tokens) computes the language-model loss itself
    # a new architecture costs a compile or export (seconds): cases draw from strategies.ARCHITECTURES
    compiles_per_architecture: bool = False


class BackendError(RuntimeError):
    """A backend failed or broke the protocol; the message says which backend and how."""


class WrongShape(BackendError):
    """A backend returned logits of the wrong shape."""


@dataclass
class BackendClock:
    """Seconds spent inside the backend's own code; the rest of a run's wall time is the harness's."""

    load_seconds: float = 0.0
    forward_seconds: float = 0.0


class Unsupported(Exception):
    """Raised by a backend's load for parameters its library cannot run (the message says which and why).

    The example is discarded, and the certificate counts such examples with their reasons."""


@dataclass
class Guarded:
    """A loaded model behind the checks the suite makes on the backend's behalf.

    Inputs are validated before the backend sees them (so a backend is never scored on garbage it was
    fed), and outputs are checked for type and shape (so garbage it returns is an error, not a number).
    """

    backend_name: str
    params: object
    model: object
    capabilities: Capabilities
    clock: BackendClock = field(default_factory=BackendClock)

    def forward(self, tokens, past=None, attention_mask=None):
        hp = self.params.hparams
        if past is not None and not self.capabilities.past:
            raise BackendError(f"{self.backend_name} does not support past")
        if attention_mask is not None and not self.capabilities.padding:
            raise BackendError(f"{self.backend_name} does not support padding")
        check_inputs(hp, tokens, None)
        if past is not None and not isinstance(past, Cache):
            raise InvalidInput(f"past must be the cache a previous forward returned, got {type(past).__name__}")
        seen = 0 if past is None else past.length
        if past is not None and past.batch != tokens.shape[0]:
            raise InvalidInput(f"past holds a batch of {past.batch}, tokens a batch of {tokens.shape[0]}")
        if seen + tokens.shape[1] > hp.n_ctx:
            raise InvalidInput(f"sequence of {tokens.shape[1]} tokens after a past of {seen} exceeds n_ctx {hp.n_ctx}")
        extra = {}
        if attention_mask is not None:
            check_attention_mask(attention_mask, (tokens.shape[0], seen + tokens.shape[1]))
            extra["attention_mask"] = attention_mask.astype(np.int64)
        tokens = tokens.astype(np.int64)
        start = time.perf_counter()
        try:
            logits, cache = self.model.forward(tokens, None if past is None else past.value, **extra)
        except InvalidInput:
            raise
        except Exception as e:
            raise BackendError(f"{self.backend_name} raised {type(e).__name__}: {e}") from e
        finally:
            self.clock.forward_seconds += time.perf_counter() - start
        logits = np.asarray(logits)
        expected = (*tokens.shape, hp.n_vocab)
        if logits.shape != expected:
            raise WrongShape(f"{self.backend_name} returned logits of shape {logits.shape}, expected {expected}")
        if logits.dtype.kind != "f":
            raise BackendError(f"{self.backend_name} returned logits of dtype {logits.dtype}, expected float")
        return logits, (Cache(cache, seen + tokens.shape[1], tokens.shape[0]) if self.capabilities.past else None)

    def loss(self, tokens):
        """Mean next-token cross-entropy: the backend's own where it has one, else from its logits."""
        check_inputs(self.params.hparams, tokens, None)
        if tokens.shape[1] < 2:
            raise InvalidInput("the language-model loss needs at least 2 tokens per sequence")
        if not self.capabilities.loss:
            return float(gpt2.lm_loss(self.forward(tokens)[0].astype(np.float64), tokens))
        try:
            value = self.model.loss(tokens.astype(np.int64))
        except Exception as e:
            raise BackendError(f"{self.backend_name} loss raised {type(e).__name__}: {e}") from e
        value = np.asarray(value)
        if value.shape != () or value.dtype.kind != "f":
            raise BackendError(f"{self.backend_name} returned a loss of shape {value.shape} and dtype {value.dtype}, expected a float scalar")
        return float(value)

    def set_wte(self, wte):
        if not self.capabilities.set_wte:
            raise BackendError(f"{self.backend_name} cannot replace wte in a live model")
        self.model.set_wte(np.asarray(wte))
        self.params = self.params.with_tensor("model/wte", wte)


@dataclass(frozen=True)
class Cache:
    """A backend's opaque cache with the number of tokens it holds."""

    value: object
    length: int
    batch: int


def right_padded(tokens, length):
    """tokens [batch, seq] at the top left of zeros [max(batch, MAX_BATCH), length]: one input shape per
    length, for libraries that compile every op per input shape (JAX). Under the causal mask the real
    tokens' logits never see the padding after them (causal_masking checks exactly that)."""
    from conformance.strategies import MAX_BATCH

    batch, seq = tokens.shape
    padded = np.zeros((max(batch, MAX_BATCH), length), tokens.dtype)
    padded[:batch, :seq] = tokens
    return padded


def guarded_load(backend, params, dtype=None, clock=None):
    """Load params into the backend (in its first dtype unless told), as a Guarded model that adds
    the seconds spent in the backend to `clock`."""
    dtype = dtype or backend.capabilities.dtypes[0]
    clock = clock or BackendClock()
    start = time.perf_counter()
    try:
        model = backend.load(params, dtype=dtype)
    except Unsupported:
        raise
    except Exception as e:
        raise BackendError(f"{backend.name} cannot load the parameters ({type(e).__name__}: {e})") from e
    finally:
        clock.load_seconds += time.perf_counter() - start
    return Guarded(backend.name, params, model, backend.capabilities, clock=clock)


def resolve(spec):
    """A backend from a bundled name, an entry-point name, or 'package.module:attr'."""
    if spec in BUNDLED:
        return _import(BUNDLED[spec], spec)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == spec:
            return _check_protocol(ep.load(), spec)
    if ":" in spec:
        return _import(spec, spec)
    known = ", ".join(sorted(set(BUNDLED) | {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}))
    raise BackendError(f"unknown backend {spec!r}: use one of {known} or 'package.module:attr'")


def _import(target, spec):
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise BackendError(f"backend {spec!r} cannot be imported: {e}") from e
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise BackendError(f"backend {spec!r}: module {module_name} has no attribute {attr!r}") from None
    return _check_protocol(obj() if isinstance(obj, type) else obj, spec)


def _check_protocol(obj, spec):
    missing = [a for a in ("name", "capabilities", "load") if not hasattr(obj, a)]
    if missing:
        raise BackendError(f"backend {spec!r} lacks {', '.join(missing)} (see conformance.backends for the protocol)")
    return obj


def availability():
    """[(name, available, why not / module)] for every bundled and entry-point backend."""
    rows = []
    for name, target in BUNDLED.items():
        module_name = target.partition(":")[0]
        spec = importlib.util.find_spec(module_name)
        missing = [m for m in _requires(module_name) if importlib.util.find_spec(m) is None]
        rows.append((name, spec is not None and not missing,
                     f"needs {', '.join(missing)}: pip install 'gpt2-conformance[{EXTRAS.get(name, name)}]'" if missing else target))
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        rows.append((ep.name, True, f"{ep.value} (entry point)"))
    return rows


EXTRAS = {"hf-torch-eager": "hf", "hf-torch-sdpa": "hf", "hf-torch-compile": "hf", "onnxruntime": "onnx",
          "keras-hub-tf": "keras", "keras-hub-jax": "keras", "keras-hub-torch": "keras", "llama-cpp": "llama",
          "hf-tf": "hf4", "hf-flax": "hf4", "openai-tf": "tf"}


def _requires(module_name):
    """Read a bundled backend module's REQUIRES without importing it (its imports may be what is missing)."""
    import ast

    spec = importlib.util.find_spec(module_name)
    tree = ast.parse(open(spec.origin).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "REQUIRES" for t in node.targets):
            return ast.literal_eval(node.value)
    return ()


# Bundled backends that run only when named (--backend), and why.
OPT_IN = {"hf-torch-compile": "compiles for every new architecture (10-20 s each on 2 cores)",
          "onnxruntime": "exports a graph for every new architecture (5-10 s each on 2 cores)",
          **{f"keras-hub-{e}": "fixes the Keras engine for its whole process (certify gives it a worker of its own)"
             for e in ("tf", "jax", "torch")},
          "llama-cpp": "aborts its process on some inputs (certify gives it a worker of its own)"}


def available_bundled():
    return [name for name, ok, _ in availability() if ok and name in BUNDLED and name not in OPT_IN]
