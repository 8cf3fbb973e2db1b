"""The certificate: what was run, on what, and what held, as strict JSON (described by
conformance/report/certificate.schema.json). Every report is rendered from it (report/text.py reads its
non-finite numbers back)."""
import json
import math
import platform
import re
import sys
from importlib import metadata
from pathlib import Path

from gpt2_conformance import __version__

SCHEMA = Path(__file__).with_name("certificate.schema.json")
VERSION = 5  # of the certificate's format: raised whenever a field changes meaning or goes away
PACKAGES = ("numpy", "hypothesis", "torch", "transformers", "tensorflow-cpu", "tensorflow", "safetensors",
            "onnx", "onnxscript", "onnxruntime", "keras", "keras-hub", "jax", "flax", "tf-keras",
            "llama-cpp-python", "gguf", "ctranslate2", "openvino", "tiktoken", "tokenizers",
            "tensorflow-text")
# JSON has no infinities or NaN (jq, JavaScript and Actions' fromJSON reject them): they are written as
# these strings, and the schema allows them wherever a number may be non-finite.
NON_FINITE = {math.inf: "inf", -math.inf: "-inf"}


def environment():
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {"python": sys.version.split()[0], "platform": platform.platform(), "packages": versions}


def build(backends, *, seed, profile, max_examples, partial, accepted, expectations=(), expectation_errors=(),
          command=None, checkpoint=None, tokenizers=(), shard=None):
    """backends, tokenizers: [run.certify.BackendRun], or anything with their to_dict() and `passed`;
    partial: why the run cannot certify ([] for a full run); accepted: the verdicts a passing run allows;
    expectations: the expectation files and upstream sets applied ([expectations.Expectations]); shard: a
    shard's record (run/certify.py), written only for a shard."""
    return strict({
        "certificate_version": VERSION,
        "suite_version": __version__,
        "seed": seed,
        "profile": profile,
        "max_examples": max_examples,
        "partial": list(partial),
        "accepted": accepted,
        "command": command,
        "checkpoint": checkpoint,  # the weights the properties ran on; None: generated weights
        "environment": environment(),
        "expectations": [e.record() for e in expectations],
        "expectation_errors": list(expectation_errors),
        "passed": all(b.passed for b in [*backends, *tokenizers]) and not expectation_errors and not partial,
        "backends": [b.to_dict() for b in backends],
        "tokenizers": [t.to_dict() for t in tokenizers],
        **({"shard": shard} if shard else {}),
    })


def certified(cert):
    """Every backend and tokenizer of a certificate in report order, as every report names them: a tokenizer as
    'NAME (tokenizer)', since a model and a tokenizer may share a name (reference)."""
    return [*cert["backends"], *({**t, "name": f"{t['name']} (tokenizer)"} for t in cert.get("tokenizers", ()))]


def strict(value):
    """value with every non-finite float replaced by its NON_FINITE string ("nan" for NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return NON_FINITE.get(value, "nan")
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def to_json(cert):
    """Indented, except that lists of numbers (and lists of those: the samples) stay on one line."""
    text = json.dumps(cert, indent=2, allow_nan=False)
    flat = r'\[(?:[^\[\]{}"]|"(?:-?inf|nan)")*\]'  # a list of numbers (non-finite ones as strings)
    text = re.sub(flat, lambda m: re.sub(r"\s+", "", m.group()).replace(",", ", "), text)
    text = re.sub(rf"\[\s*{flat}(?:,\s*{flat})*\s*\]", lambda m: re.sub(r"\s+", "", m.group()), text)
    return text + "\n"
