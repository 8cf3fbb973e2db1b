"""A disk cache of the oracle's results (float64 logits, e32 and the half-precision tiers' error, see
tolerances.py), shared by every backend, property run and process that meets the same example.

The oracle costs five reference forward passes per example, more than a fast backend spends on the
same example. Under a derandomized profile (ci) every backend is given the same examples, and pytest
and certify give them again: the same work each time. Entries are keyed by the bytes of the
parameters (generated weights, read-only, by the recipe that made them) and tokens, under a directory
named after the code that computes or generates them (reference/, tolerances.py, coverage.py,
weights.py, this file) and numpy's version, so any change there misses and never reads a stale value;
directories of other code versions are removed when a new one is made.

$GPT2_CONFORMANCE_CACHE names the cache directory (default .gpt2-conformance-cache in the working
directory); set it to the empty string to turn the cache off.
"""
import hashlib
import json
import math
import os
import shutil
import tempfile
import weakref
import zlib
from pathlib import Path

import numpy as np

from gpt2_conformance import __version__, reference
from gpt2_conformance.cases import weights
from gpt2_conformance.judge import tolerances

ENV = "GPT2_CONFORMANCE_CACHE"
DEFAULT = ".gpt2-conformance-cache"
# A directory grown past this (random profiles add new examples) keeps its most recently used entries, up to
# half of it. The README's two commands at ci leave 1.1 GB (the size classes' vocabulary-wide logits).
MAX_BYTES = 2 * 2**30

_digest = None
_checked = set()


class CacheError(ValueError):
    """$GPT2_CONFORMANCE_CACHE names a place where the cache cannot live."""


def check():
    """Raise CacheError unless the cache is off or its directory can be made and written."""
    root = os.environ.get(ENV, DEFAULT)
    if not root:
        return
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
    except OSError as e:
        raise CacheError(f"${ENV}={root!r}: the oracle cache cannot live there ({e.strerror or e}); set it to a "
                         "writable directory, or to the empty string to turn the cache off") from None


def reference_with_error(params, tokens):
    """tolerances.reference_with_error, read from the cache when this example was computed before."""
    def compute():
        ref64, e32 = tolerances.reference_with_error(params, tokens)
        return {"ref64": ref64, "e32": e32}

    entry = _cached(_key(params, tokens), compute)
    return entry["ref64"], float(entry["e32"])


def grads_with_error(params, tokens, loss_mask=None):
    """tolerances.grads_with_error, read from the cache likewise."""
    def compute():
        loss64, grads64, e32, scale = tolerances.grads_with_error(params, tokens, loss_mask)
        return {"loss": np.asarray(loss64), **{f"scale/{k}": np.asarray(v) for k, v in scale.items()},
                **{f"g/{k}": v for k, v in grads64.items()}, **{f"e/{k}": np.asarray(v) for k, v in e32.items()}}

    mask = "all" if loss_mask is None else hashlib.blake2b(np.ascontiguousarray(loss_mask).tobytes(), digest_size=8).hexdigest()
    entry = _cached(f"{_key(params, tokens)}-grad-{mask}", compute)
    return (float(entry["loss"]), {k[2:]: v for k, v in entry.items() if k.startswith("g/")},
            {k[2:]: float(v) for k, v in entry.items() if k.startswith("e/")},
            {k[6:]: float(v) for k, v in entry.items() if k.startswith("scale/")})


def tier_error(params, tokens, ref64, dtype):
    """tolerances.tier_error, read from the cache likewise (ref64 is a function of params and tokens)."""
    entry = _cached(f"{_key(params, tokens)}-{dtype}",
                    lambda: {"e": tolerances.tier_error(params, tokens, ref64, dtype)})
    return float(entry["e"])


def memo(params, tokens, tag, compute):
    """{field: array} of compute(), a function of params and tokens computed by conformance/judge/coverage.py or
    the modules above, read from the cache when this example was computed before."""
    return _cached(f"{_key(params, tokens)}-{tag}", compute)


def golden_weights(version, name, make):
    """{tensor name: float32 array} of golden case `name`, made by make() on a miss: the GPT-2 small shape
    case regenerates 124M weights (seconds). `version` names the golden data (a digest of its manifest);
    the caller verifies every read against the manifest's SHA-256. Outside the oracle's size-limited
    directory, which the 500 MB of the GPT-2 small shape case would overflow."""
    root = _root()
    if root is None:
        return make()
    directory = _fresh(root / f"golden-{version}-arrays{FORMAT}")  # another format's directory is removed
    return _stored(directory / f"{name}{SUFFIX}", make)


def _cached(key, compute):
    """{field: array} stored as <key>.arrays in the oracle's directory, computed by compute() on a miss."""
    directory = _directory()
    return compute() if directory is None else _stored(directory / f"{key}{SUFFIX}", compute)


def _stored(path, make):
    """The arrays stored at path, or make()'s, then stored there."""
    try:
        arrays = _read(path)
        os.utime(path)  # used now: the last to be evicted
        return arrays
    except Exception:  # absent, or unreadable (as a file cut short, or evicted meanwhile): made afresh
        pass
    arrays = make()
    _write(path, arrays)
    return arrays


def _fresh(directory):
    """directory, created if absent, after removing its siblings of other versions (same prefix)."""
    if not directory.is_dir():
        prefix = directory.name.split("-")[0]
        for stale in directory.parent.glob(f"{prefix}-*"):
            if stale.name != directory.name:  # another process may have just made this one
                shutil.rmtree(stale, ignore_errors=True)
        directory.mkdir(exist_ok=True)
    return directory


def _write(path, arrays):
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
            _dump(f, arrays)
        os.replace(f.name, path)  # atomic: a concurrent reader sees the whole entry or none
    except OSError:  # a full disk or a directory another process cleared costs the cache, not the run
        pass


# An entry's file: MAGIC and one line of JSON ([[name, dtype, shape], ...]) padded to a multiple of ALIGN, each
# array's bytes in C order from a multiple of ALIGN, then the CRC-32 of everything before it (4 bytes, little
# endian). Not .npz: its zip archive and a header parsed per array made a read 0.59 ms where this takes 0.16, and a
# warm ci run of one backend reads ~1,900 entries.
FORMAT = 1
MAGIC = f"gpt2-conformance arrays {FORMAT}\n".encode()
SUFFIX = ".arrays"
ALIGN = 64


def _dump(file, arrays):
    arrays = {name: np.asarray(value, order="C") for name, value in arrays.items()}
    header = MAGIC + json.dumps([[name, value.dtype.str, value.shape] for name, value in arrays.items()]).encode()
    pieces, size = [header + b" " * (-(len(header) + 1) % ALIGN) + b"\n"], 0
    for value in arrays.values():
        pieces += [bytes(-size % ALIGN), value.reshape(-1).view(np.uint8)]
        size += -size % ALIGN + value.nbytes
    crc = 0
    for piece in pieces:
        file.write(piece)
        crc = zlib.crc32(piece, crc)
    file.write(crc.to_bytes(4, "little"))


def _read(path):
    """The arrays of an entry (writable), or ValueError where its file is not a whole, undamaged entry."""
    with open(path, "rb") as f:
        data = bytearray(os.fstat(f.fileno()).st_size)
        whole = f.readinto(data) == len(data)
    intact = whole and zlib.crc32(memoryview(data)[:-4]) == int.from_bytes(data[-4:], "little")
    end = data.find(b"\n", len(MAGIC))
    if not (intact and data.startswith(MAGIC) and end > 0):
        raise ValueError(f"{path} is not a whole cache entry")
    arrays, offset = {}, end + 1
    for name, dtype, shape in json.loads(data[len(MAGIC):end]):
        offset += -offset % ALIGN
        value = np.frombuffer(data, np.dtype(dtype), math.prod(shape), offset).reshape(shape)
        arrays[name], offset = value, offset + value.nbytes
    if offset != len(data) - 4:
        raise ValueError(f"{path}: its header and its size disagree")
    return arrays


def _root():
    root = os.environ.get(ENV, DEFAULT)
    if not root:
        return None
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def _directory():
    root = _root()
    if root is None:
        return None
    directory = root / f"oracle-{_code_digest()}"
    if directory not in _checked:
        _fresh(directory)
        _evict(directory, MAX_BYTES)
        _checked.add(directory)
    return directory


def _evict(directory, limit):
    """Where directory's entries take more than limit bytes, remove the least recently used until they take
    half of it. A concurrent writer renames its .tmp file into place between our listing and our stat, and a
    concurrent process evicts too: a file gone meanwhile is passed over, never an error."""
    entries = []
    for path in directory.iterdir():
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries) if total > limit else ():
        if total <= limit // 2:
            break
        path.unlink(missing_ok=True)
        total -= size


def _code_digest():
    global _digest
    if _digest is None:
        h = hashlib.sha256(f"{__version__} numpy {np.__version__}".encode())
        sources = sorted(Path(reference.__file__).parent.glob("*.py")) + [Path(tolerances.__file__), Path(__file__),
                                                                              Path(__file__).with_name("coverage.py"),
                                                                              Path(weights.__file__)]
        for source in sources:
            h.update(source.read_bytes())
        _digest = h.hexdigest()[:16]
    return _digest


_params_digests = weakref.WeakKeyDictionary()  # an example asks the oracle of the same weights several times


def _key(params, tokens):
    if params not in _params_digests:
        _params_digests[params] = _params_digest(params)
    h = hashlib.blake2b(_params_digests[params], digest_size=20)
    tokens = np.ascontiguousarray(tokens)
    h.update(f"tokens {tokens.dtype.str} {tokens.shape}".encode())
    h.update(tokens.data)
    return h.hexdigest()


def _params_digest(params):
    # The hparams too: the tensors' shapes leave n_head out, and weights drawn from one seed are the same for
    # every n_head that divides n_embd (shrinking goes to seed 0 and the smallest widths), while the logits differ.
    h = hashlib.blake2b(repr(params.hparams).encode(), digest_size=20)
    if params.origin is not None and not any(v.flags.writeable for v in params.tensors.values()):
        h.update(f"made by {params.origin}".encode())  # weights.py is in the directory's digest: the same bytes
        return h.digest()
    for name in sorted(params.tensors):
        value = np.ascontiguousarray(params.tensors[name])
        h.update(f"{name} {value.dtype.str} {value.shape}".encode())
        h.update(value.data)
    return h.digest()
