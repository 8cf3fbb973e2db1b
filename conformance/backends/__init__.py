"""Backends: the protocol (gpt2_conformance.backends.protocol), the guard around every loaded model
(gpt2_conformance.backends.guard), and the registry that turns a spec into a backend.

A spec is a bundled name, a name registered in the entry-point group `gpt2_conformance.backends`,
or `package.module:attr`.
"""
import ast
import importlib
import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass

import numpy as np

from gpt2_conformance.backends.guard import BackendClock, BackendError, Cache, Guarded, WrongShape, guarded_load
from gpt2_conformance.backends.protocol import PUBLISHED, Backend, Capabilities, Model, Scope, Subject, Unsupported

__all__ = ["BUNDLED", "PUBLISHED", "Backend", "BackendClock", "BackendError", "Cache", "Capabilities", "Guarded",
           "Model", "Scope", "Subject", "Unsupported", "WrongShape", "availability", "available_bundled", "bundled",
           "current_directory_last", "guarded_load", "entry_point_names", "import_backend", "padded_loss_weight",
           "resolve", "right_padded", "spec_problem"]

# the entry-point group a package registers its backends in, per subject
ENTRY_POINT_GROUPS = {Subject.MODEL: "gpt2_conformance.backends", Subject.TOKENIZER: "gpt2_conformance.tokenizers"}


@dataclass(frozen=True)
class Bundled:
    target: str  # "module:attr", imported only when the backend is used: a missing library hides only it
    extra: str  # the pip extra that installs what it needs ("" for none)
    opt_in: str | None = None  # why it runs only when named with --backend


_KERAS_ENGINE = "fixes the Keras engine for its whole process (certify gives it a worker of its own)"
BUNDLED = {
    "reference": Bundled("gpt2_conformance.backends.adapters.reference:backend", ""),
    "hf-torch-eager": Bundled("gpt2_conformance.backends.adapters.hf_torch:eager", "hf"),
    "hf-torch-sdpa": Bundled("gpt2_conformance.backends.adapters.hf_torch:sdpa", "hf"),
    "openai-tf": Bundled("gpt2_conformance.backends.adapters.openai_tf:backend", "tf"),
    "hf-torch-compile": Bundled("gpt2_conformance.backends.adapters.hf_torch_compile:backend", "hf",
                                "compiles for every new architecture (15-45 s each on 2 cores)"),
    "onnxruntime": Bundled("gpt2_conformance.backends.adapters.onnx_runtime:backend", "onnx",
                           "exports a graph for every new architecture (5-10 s each on 2 cores)"),
    "openvino": Bundled("gpt2_conformance.backends.adapters.openvino_engine:backend", "openvino",
                        "converts and compiles every model it loads (1-2 s of CPU each on 2 cores)"),
    "keras-hub-tf": Bundled("gpt2_conformance.backends.adapters.kerashub:tf", "keras", _KERAS_ENGINE),
    "keras-hub-jax": Bundled("gpt2_conformance.backends.adapters.kerashub:jax", "keras", _KERAS_ENGINE),
    "keras-hub-torch": Bundled("gpt2_conformance.backends.adapters.kerashub:torch", "keras", _KERAS_ENGINE),
    "llama-cpp": Bundled("gpt2_conformance.backends.adapters.llama_cpp:backend", "llama",
                         "aborts its process on some inputs (certify gives it a worker of its own)"),
    "hf-tf": Bundled("gpt2_conformance.backends.adapters.hf4:tf", "hf4", "needs transformers 4 (an environment of its own)"),
    "hf-flax": Bundled("gpt2_conformance.backends.adapters.hf4:flax", "hf4", "needs transformers 4 (an environment of its own)"),
    "ctranslate2": Bundled("gpt2_conformance.backends.adapters.ctranslate2_engine:backend", "ctranslate2",
                           "runs a frozen converted model: no set_wte, so certify it with --accept-frozen-weights"),
}


def bundled(subject=Subject.MODEL):
    """The table of bundled backends of subject: BUNDLED, or the tokenizers' (backends/tokenizer.py)."""
    if subject == Subject.TOKENIZER:
        from gpt2_conformance.backends.tokenizer import BUNDLED_TOKENIZERS

        return BUNDLED_TOKENIZERS
    return BUNDLED


def _protocol(subject):
    """(what a backend of subject is called, its capabilities class, that class as users import it)."""
    if subject == Subject.TOKENIZER:
        from gpt2_conformance.backends.tokenizer import TokenizerCapabilities

        return "tokenizer", TokenizerCapabilities, "gpt2_conformance.backends.tokenizer.TokenizerCapabilities"
    return "backend", Capabilities, "gpt2_conformance.backends.Capabilities"


def resolve(spec, subject=Subject.MODEL):
    """A backend of subject (a model, or a tokenizer) from a bundled name, an entry-point name, or
    'package.module:attr'."""
    if not isinstance(spec, str) or not spec:
        raise BackendError(f"a {_noun(subject)} spec must be a non-empty string, got {spec!r}")
    if spec in bundled(subject):
        return import_backend(bundled(subject)[spec].target, spec, subject)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUPS[subject]):
        if ep.name == spec:
            try:
                return check_protocol(ep.load(), spec, subject)
            except Exception as e:
                raise BackendError(f"{_noun(subject)} {spec!r} (entry point {ep.value}) cannot be loaded: "
                                   f"{type(e).__name__}: {e}") from e
    if ":" in spec:
        current_directory_last()
        return import_backend(spec, spec, subject)
    raise BackendError(_unknown(spec, subject))


def _noun(subject):
    return "tokenizer" if subject == Subject.TOKENIZER else "backend"


def spec_problem(spec, subject=Subject.MODEL):
    """Why spec certainly names no backend of subject (a typo: the user's mistake), or None. A module:attr spec is
    checked without running the module's code where it can be: the module must exist, and its source must
    bind attr at top level. Whether it imports and works is the backend's business, judged in its worker."""
    if spec in bundled(subject) or spec in entry_point_names(subject):
        return None
    module_name, colon, attr = spec.partition(":")
    if not colon or not all(p.isidentifier() for p in module_name.split(".") + attr.split(".")):
        return _unknown(spec, subject)
    current_directory_last()
    try:
        found = importlib.util.find_spec(module_name)
    except ModuleNotFoundError as e:
        if not (module_name + ".").startswith(f"{e.name}."):
            return None  # its package imports another module that is missing: the backend's failure
        found = None
    except Exception:  # a parent package that fails to import: the backend's failure, reported by its worker
        return None
    if found is None:
        return f"{_noun(subject)} {spec!r}: no module named {module_name!r} (looked in the current directory and the installed packages)"
    names, first = _top_level_names(found.origin), attr.split(".")[0]
    if names is not None and first not in names:
        return (f"{_noun(subject)} {spec!r}: module {module_name} has no attribute {first!r} "
                f"(it defines {', '.join(sorted(names)) or 'nothing'})")
    return None


def _unknown(spec, subject=Subject.MODEL):
    known = ", ".join(sorted(set(bundled(subject)) | entry_point_names(subject)))
    return f"unknown {_noun(subject)} {spec!r}: use one of {known} or 'package.module:attr'"


def current_directory_last():
    """An adapter in the current directory is found wherever the suite runs (certify's worker and replay
    alike), after the installed packages, so it can never shadow the suite's own."""
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())


def _top_level_names(origin):
    """The names a Python source file binds at top level, or None where that cannot be known from its text."""
    try:
        tree = ast.parse(open(origin, encoding="utf-8").read())
    except (OSError, TypeError, ValueError, SyntaxError):
        return None
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" for a in node.names):
                return None
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif not isinstance(node, ast.Expr):
            return None  # if/try/for/with at top level may bind anything: leave it to the import
    return None if "__getattr__" in names else names


def entry_point_names(subject=Subject.MODEL):
    return {ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUPS[subject])}


def import_backend(target, spec, subject=Subject.MODEL):
    """The backend of subject that target ("module:attr", an instance or a class to instantiate) names, checked
    against subject's protocol."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # an adapter's own import may raise anything, not only ImportError
        raise BackendError(f"backend {spec!r} cannot be imported: {type(e).__name__}: {e}") from e
    try:
        obj = getattr(module, attr)
    except AttributeError:
        raise BackendError(f"backend {spec!r}: module {module_name} has no attribute {attr!r}") from None
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as e:
            raise BackendError(f"backend {spec!r}: {attr}() raised {type(e).__name__}: {e}") from e
    return check_protocol(obj, spec, subject)


def check_protocol(obj, spec, subject=Subject.MODEL):
    """obj, if it is a backend of subject (a model or a tokenizer); else BackendError naming what it lacks."""
    noun, capabilities, public = _protocol(subject)
    missing = [a for a in ("name", "capabilities", "load") if not hasattr(obj, a)]
    if missing:
        raise BackendError(f"{noun} {spec!r} lacks {', '.join(missing)} (see {public.rpartition('.')[0]})")
    if not isinstance(obj.name, str) or not obj.name:
        raise BackendError(f"{noun} {spec!r} has name {obj.name!r}: a backend's name must be a non-empty string")
    if not isinstance(obj.capabilities, capabilities):
        raise BackendError(f"{noun} {spec!r} has capabilities of type {type(obj.capabilities).__name__}: use {public}")
    return obj


def availability(subject=Subject.MODEL):
    """[(name, available, why not / target)] for every bundled and entry-point backend of subject."""
    rows = []
    for name, entry in bundled(subject).items():
        module_name = entry.target.partition(":")[0]
        missing = [m for m in _requires(module_name) if importlib.util.find_spec(m) is None]
        rows.append((name, not missing,
                     f"needs {', '.join(missing)}: pip install 'gpt2-conformance[{entry.extra}]'" if missing else entry.target))
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUPS[subject]):
        rows.append((ep.name, True, f"{ep.value} (entry point)"))
    return rows


def _requires(module_name):
    """A bundled backend module's REQUIRES, read without importing it (its imports may be what is missing)."""
    tree = ast.parse(open(importlib.util.find_spec(module_name).origin).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "REQUIRES" for t in node.targets):
            return ast.literal_eval(node.value)
    return ()


def available_bundled(subject=Subject.MODEL):
    """The bundled backends of subject that run by default (not opt-in) and whose libraries are installed."""
    table = bundled(subject)
    return [name for name, ok, _ in availability(subject) if ok and name in table and not table[name].opt_in]


def right_padded(tokens, length):
    """tokens [batch, seq] at the top left of zeros, padded to a power of two in batch (at least 4) and in
    length (at most `length`): few input shapes, for libraries that compile every op per input shape (JAX).
    Under the causal mask the real tokens' logits never see the padding after them (causal_masking checks
    exactly that)."""
    batch, seq = tokens.shape
    padded = np.zeros((max(4, _power_of_two(batch)), min(length, _power_of_two(seq))), tokens.dtype)
    padded[:batch, :seq] = tokens
    return padded


def padded_loss_weight(tokens, padded, loss_mask=None):
    """float32 [padded batch, padded seq - 1]: 1 (or loss_mask) for the predictions of tokens [batch, seq],
    0 for the padding's, so that a mean over the padded batch is the mean over the real predictions."""
    batch, seq = tokens.shape
    weight = np.zeros((padded.shape[0], padded.shape[1] - 1), np.float32)
    weight[:batch, :seq - 1] = 1 if loss_mask is None else loss_mask
    return weight


def _power_of_two(n):
    return 1 << (n - 1).bit_length()
