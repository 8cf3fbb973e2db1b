"""Failing examples saved as .npz and re-run: `certify --save-failing-inputs DIR`, `replay FILE`.

A property draws its example through `data.draw`; the runner records every draw of the failing
example (judge/search.py, RecordedData). Replaying feeds the same values back in the same order, so any property
re-runs its own check on the saved example, with no property-specific code here. The file also holds,
for people and other tools, the config (`hparams/*`), weights (`weights/<canonical name>`) and tokens of
every drawn generated model.
"""
import dataclasses
import hashlib
import importlib
import json
import re
import shlex
from pathlib import Path

import numpy as np

from gpt2_conformance.backends import Subject
from gpt2_conformance.cases import text
from gpt2_conformance.cases.strategies import Case, Space
from gpt2_conformance.judge.search import PropertyFailed, failure_kind
from gpt2_conformance.outcomes import Kind, Status
from gpt2_conformance.properties import REGISTRY, Context, applicable
from gpt2_conformance.properties.tokenizer import TokenizerContext
from gpt2_conformance.reference.params import param_shapes

# Weights are saved for people and other tools; beyond this many parameters (GPT-2 small's layers) the
# file would take hundreds of MB, and the seed in the saved case regenerates them exactly.
MAX_SAVED_PARAMETERS = 4_000_000

_TRUSTED = ("gpt2_conformance.",)  # the only package whose dataclasses a file may rebuild


class ReplayError(ValueError):
    """A file that is not a saved failing example, or that this suite cannot re-run."""


class FixedDraws:
    """Stands in for st.data(): returns the recorded values in the recorded order."""

    def __init__(self, draws):
        self._draws = list(draws)

    def draw(self, strategy, label=None):
        if not self._draws:
            raise ReplayError("the property draws more values than the file holds (saved by another suite version?)")
        saved_label, value = self._draws.pop(0)
        if saved_label != label:
            raise ReplayError(f"the property draws {label!r} where the file holds {saved_label!r}")
        return value


def save(directory, *, spec, backend_name, result):
    """Write result's failing example to DIR/<backend>__<property>[__<dtype>].npz; return its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", "__".join(filter(None, [backend_name, result.id, result.dtype])))
    path = free_path(directory, stem, spec)
    arrays = {}
    meta = {"property": result.id, "spec": spec, "backend": backend_name, "dtype": result.dtype,
            "status": result.status, "kind": result.kind, "message": result.message,
            "counterexample": result.counterexample,
            "draws": [[label, _encode(value, arrays)] for label, value in result.failing_draws]}
    for i, (_, value) in enumerate(result.failing_draws):
        if isinstance(value, Case):  # a generated model and its input
            arrays[f"tokens/{i}"] = value.tokens
            arrays.update({f"hparams/{i}/{k}": np.array(v) for k, v in value.hparams.to_dict().items()})
            if sum(np.prod(shape) for shape in param_shapes(value.hparams).values()) <= MAX_SAVED_PARAMETERS:
                arrays.update({f"weights/{i}/{k}": v for k, v in value.params().tensors.items()})
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), **arrays)
    return path


def free_path(directory, stem, spec):
    """DIR/<stem>.npz, or where another backend of this run whose name reads the same once sanitized has saved
    there, a name with spec's digest."""
    path = directory / f"{stem}.npz"
    return directory / f"{stem}__{hashlib.sha256(spec.encode()).hexdigest()[:8]}.npz" if path.exists() else path


def command(path, spec, subject=Subject.MODEL):
    """The command that replays a saved example."""
    return shlex.join(["gpt2-conformance", "replay", str(path), option(subject), spec])


def replayed(reproduction):
    """The saved example a reproduction (command's) replays, or None where it re-runs certify instead."""
    words = shlex.split(reproduction or "")
    return Path(words[2]) if words[1:2] == ["replay"] else None


def certify_command(spec, property_id, profile, seed=None, subject=Subject.MODEL):
    """The command that re-runs one property, where there is no saved example to replay."""
    return shlex.join(["gpt2-conformance", "certify", option(subject), spec, "--property", property_id,
                       "--profile", profile, *(["--seed", str(seed)] if seed is not None else [])])


def option(subject):
    return "--tokenizer" if subject == Subject.TOKENIZER else "--backend"


def load(path):
    """(meta dict, [(label, value)] draws) of a saved example."""
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            arrays = {k: f[k] for k in f.files if k.startswith("draw/")}
        missing = [k for k in ("property", "spec", "backend", "dtype", "draws") if k not in meta]
        if missing:
            raise ReplayError(f"{path} is not a saved failing example: it lacks {', '.join(missing)}")
        draws = [(label, _decode(value, arrays)) for label, value in meta["draws"]]
    except ReplayError:
        raise
    except Exception as e:  # a file cut short, another format, or JSON without what replay needs
        raise ReplayError(f"{path} is not a saved failing example ({type(e).__name__}: {e})") from None
    return meta, draws


def subject_of(meta):
    """What a saved example's property checks (a model or a tokenizer): what its spec names."""
    if meta["property"] not in REGISTRY:
        raise ReplayError(f"unknown property {meta['property']!r} (saved by another suite version?)")
    return REGISTRY[meta["property"]].subject


def rerun(meta, draws, backend):
    """Re-run a saved example (from load) on backend: (Status, Kind or None, message), passed, failed or error.
    Raises ReplayError where certify would not run the property on this backend, or the example lies
    outside the backend's declared scope."""
    if subject_of(meta) != backend.capabilities.subject:
        raise ReplayError(f"{meta['property']} checks a {subject_of(meta)}, and {backend.name} is a "
                          f"{backend.capabilities.subject}")
    prop = REGISTRY[meta["property"]]
    ctx = _context(prop, meta, draws, backend)
    try:
        m = REGISTRY[meta["property"]].fn(ctx, FixedDraws(draws))
        if not m.ok:
            raise PropertyFailed(m)
    except ReplayError:
        raise
    except PropertyFailed as e:
        return Status.FAILED, Kind.TOLERANCE, str(e)
    except Exception as e:
        return Status.ERROR, failure_kind(e), f"{type(e).__name__}: {e}"
    return Status.PASSED, None, m.held()


def _context(prop, meta, draws, backend):
    """The context a saved example re-runs in; ReplayError where certify would not run it on this backend."""
    if prop.subject == Subject.TOKENIZER:  # any stratum: its strategy is built, but the saved values are what is drawn
        return TokenizerContext(backend, next(iter(prop.strata), None))
    why_not = applicable(prop, backend.capabilities, Space.for_backend(backend.capabilities))
    if why_not:
        raise ReplayError(f"{backend.name} cannot run {prop.id}: {why_not}")
    for _, value in draws:
        if hasattr(value, "hparams") and hasattr(value, "tokens"):
            tokens = np.asarray(value.tokens)
            if tokens.size and (tokens.min() < 0 or tokens.max() >= value.hparams.n_vocab):
                raise ReplayError(f"the saved example's tokens lie outside its own vocabulary of {value.hparams.n_vocab} "
                                  f"(ids {tokens.min()} to {tokens.max()}): the file is damaged")
            outside = backend.capabilities.scope.why_not(value.hparams, batch=value.tokens.shape[0])
            if outside:
                raise ReplayError(f"the saved example lies outside {backend.name}'s declared scope ({outside})")
    return Context(backend, meta["dtype"] or prop.dtype or backend.capabilities.core_dtype)


def _encode(value, arrays):
    if isinstance(value, text.GPT2Vocab):  # 50,257 symbols: saved by name
        return {"vocabulary": "GPT-2"}
    if isinstance(value, text.SmallVocab):  # its encoder follows from its merges
        return {"vocabulary": {"merges": [list(m) for m in value.merges], "corpus": list(value.corpus)}}
    if isinstance(value, np.ndarray):
        key = f"draw/{len(arrays)}"
        arrays[key] = value
        return {"ndarray": key}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        return {"dataclass": f"{cls.__module__}:{cls.__qualname__}",
                "fields": {f.name: _encode(getattr(value, f.name), arrays) for f in dataclasses.fields(value)
                           if f.metadata.get("saved", True)}}
    if isinstance(value, (list, tuple)):
        return {"tuple" if isinstance(value, tuple) else "list": [_encode(v, arrays) for v in value]}
    if isinstance(value, (set, frozenset)):  # sorted: the file is the same whatever the set's order
        return {"set": [_encode(v, arrays) for v in sorted(value)]}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ReplayError(f"cannot save a drawn {type(value).__name__}; draw arrays, numbers, strings, sets or dataclasses")


def _vocabulary(saved):
    if saved == "GPT-2":
        return text.gpt2()
    merges = [tuple(m) for m in saved["merges"]]
    return text.SmallVocab(text.encoder_of(merges), merges, tuple(saved["corpus"]))


def _decode(value, arrays):
    if not isinstance(value, dict):
        return value
    if "ndarray" in value:
        return arrays[value["ndarray"]]
    if "vocabulary" in value:
        return _vocabulary(value["vocabulary"])
    if "set" in value:
        return {_decode(v, arrays) for v in value["set"]}
    if "list" in value or "tuple" in value:
        items = [_decode(v, arrays) for v in value.get("list", value.get("tuple"))]
        return items if "list" in value else tuple(items)
    module, _, qualname = value["dataclass"].partition(":")
    if not module.startswith(_TRUSTED):
        raise ReplayError(f"the file names {value['dataclass']}, outside this suite")
    cls = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return cls(**{k: _decode(v, arrays) for k, v in value["fields"].items()})
