"""A disk cache of the oracle's results (float64 logits and e32, see tolerances.py), shared by every
backend, property run and process that meets the same example.

The oracle costs five reference forward passes per example, more than a fast backend spends on the
same example. Under a derandomized profile (ci) every backend is given the same examples, and pytest
and certify give them again: the same work each time. Entries are keyed by the bytes of the
parameters and tokens, under a directory named after the code that computes them (reference/,
tolerances.py, this file) and numpy's version, so any change there misses and never reads a stale
value; directories of other code versions are removed when a new one is made.

$GPT2_CONFORMANCE_CACHE names the cache directory (default .gpt2-conformance-cache in the working
directory); set it to the empty string to turn the cache off.
"""
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

import reference
from conformance import __version__, tolerances

ENV = "GPT2_CONFORMANCE_CACHE"
DEFAULT = ".gpt2-conformance-cache"
MAX_BYTES = 512 * 2**20  # a directory grown past this (random profiles add new examples) starts afresh

_digest = None
_checked = set()


def reference_with_error(params, tokens):
    """tolerances.reference_with_error, read from the cache when this example was computed before."""
    directory = _directory()
    if directory is None:
        return tolerances.reference_with_error(params, tokens)
    path = directory / f"{_key(params, tokens)}.npz"
    try:
        with np.load(path) as entry:
            return entry["ref64"], float(entry["e32"])
    except Exception:  # absent, or unreadable (as a file cut short): computed afresh
        pass
    ref64, e32 = tolerances.reference_with_error(params, tokens)
    try:
        with tempfile.NamedTemporaryFile(dir=directory, suffix=".tmp", delete=False) as f:
            np.savez(f, ref64=ref64, e32=e32)
        os.replace(f.name, path)  # atomic: a concurrent reader sees the whole entry or none
    except OSError:  # a full disk or a directory another process cleared costs the cache, not the run
        pass
    return ref64, e32


def _directory():
    root = os.environ.get(ENV, DEFAULT)
    if not root:
        return None
    directory = Path(root).resolve() / f"oracle-{_code_digest()}"
    if directory not in _checked:
        _checked.add(directory)
        if directory.is_dir() and sum(p.stat().st_size for p in directory.iterdir()) > MAX_BYTES:
            shutil.rmtree(directory, ignore_errors=True)
        if not directory.is_dir():
            for stale in directory.parent.glob("oracle-*"):
                shutil.rmtree(stale, ignore_errors=True)
        directory.mkdir(parents=True, exist_ok=True)
    return directory


def _code_digest():
    global _digest
    if _digest is None:
        h = hashlib.sha256(f"{__version__} numpy {np.__version__}".encode())
        sources = sorted(Path(reference.__file__).parent.glob("*.py")) + [Path(tolerances.__file__), Path(__file__)]
        for source in sources:
            h.update(source.read_bytes())
        _digest = h.hexdigest()[:16]
    return _digest


def _key(params, tokens):
    h = hashlib.blake2b(digest_size=20)
    for name in sorted(params.tensors):
        value = np.ascontiguousarray(params.tensors[name])
        h.update(f"{name} {value.dtype.str} {value.shape}".encode())
        h.update(value.data)
    tokens = np.ascontiguousarray(tokens)
    h.update(f"tokens {tokens.dtype.str} {tokens.shape}".encode())
    h.update(tokens.data)
    return h.hexdigest()
