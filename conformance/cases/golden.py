"""Golden cases: logits made by OpenAI's genuine src/model.py, committed as data under conformance/cases/golden/.

Each case is a directory conformance/cases/golden/<name>/ with its weights twice, weights.safetensors (the
official names and shapes) for load(), so that a base install without TensorFlow runs the cases, and
an official checkpoint (hparams.json, checkpoint, model.ckpt.*) that the official code loads
unchanged when the logits are made or re-checked; then inputs.npz (`tokens` [batch, seq],
`continuation` [batch, steps]) and logits.npz (`logits`, `positions`, `vocab`). The official code
runs the tokens in one call, then the continuation one token at a time through `past`, as sample.py
decodes; the rows of both, concatenated along the sequence, are the case's logits, of which
logits.npz keeps `logits[:, positions][:, :, vocab]` (every row and entry, except for the GPT-2
small shape case). Checkpoints are float32, as the official download is, and the official code
computes in float32. The GPT-2 small shape case is too big to commit: its weights are regenerated
from the seed (gpt2_conformance.cases.weights.random_params, NumPy PCG64) and checked against the SHA-256 in
manifest.json.

Tolerance (why it is what it is): the official logits are themselves a float32 GPT-2's, so they
differ from the exact logits by up to the float32 tolerance of gpt2_conformance.judge.tolerances, derived on
the case from the reference's own float32 error e32; a backend differs from the exact logits by up to
its own dtype's tolerance. By the triangle inequality a backend and the official code differ by at
most the sum, which is what the backend is held to. e32 and max |logits| are measured by
gpt2_conformance.judge.tolerances.reference_with_error when a case is made and stored in manifest.json, so
that no run recomputes them (slow at the GPT-2 small shape: docs/golden.md).

    gpt2-conformance golden --official-src CLONE/src          regenerate every case with the official code
    gpt2-conformance golden --check [--official-src CLONE/src] verify the committed logits
"""
import hashlib
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from gpt2_conformance.cases import checkpoints
from gpt2_conformance.cases.weights import random_params
from gpt2_conformance.judge import oracle_cache
from gpt2_conformance.judge.tolerances import logits_tolerance, max_abs_err, reference_with_error
from gpt2_conformance.outcomes import Exit
from gpt2_conformance.reference.params import HParams, InvalidParams, Params

GOLDEN_DIR = Path(__file__).parent / "golden"
MANIFEST = GOLDEN_DIR / "manifest.json"
WEIGHTS = "weights.safetensors"


@dataclass(frozen=True)
class Spec:
    """How a case is made: weights from random_params(hparams, seed, scale) stored as float32."""

    name: str
    about: str
    hparams: HParams
    seed: int
    scale: str
    batch: int
    length: int
    steps: int = 0  # continuation tokens decoded one at a time through past
    committed: bool = True  # False: too big, regenerated from the seed
    positions: tuple | None = None  # rows kept (None: all)
    vocab_kept: int | None = None  # vocabulary entries kept (None: all)


SPECS = [
    Spec("one_head_one_layer_full_ctx", "n_head 1, n_layer 1, a sequence of the full n_ctx",
         HParams(n_vocab=37, n_ctx=16, n_embd=8, n_head=1, n_layer=1), seed=1, scale="unit", batch=1, length=16),
    Spec("four_heads_two_layers_batch3", "n_head 4, n_layer 2, batch 3 at the full n_ctx",
         HParams(n_vocab=101, n_ctx=24, n_embd=32, n_head=4, n_layer=2), seed=2, scale="unit", batch=3, length=24),
    Spec("eight_heads_three_layers", "n_head 8, n_layer 3, batch 2",
         HParams(n_vocab=251, n_ctx=32, n_embd=64, n_head=8, n_layer=3), seed=3, scale="unit", batch=2, length=19),
    Spec("four_layers_prefill_then_past", "n_layer 4: a prefill of 30, then 10 tokens one at a time through past "
         "(as sample.py decodes) up to the full n_ctx",
         HParams(n_vocab=97, n_ctx=40, n_embd=48, n_head=6, n_layer=4), seed=4, scale="unit", batch=2, length=30,
         steps=10),
    Spec("large_scores", "attention scores thousands apart (scale 'large': max |score| 4.4e3)",
         HParams(n_vocab=53, n_ctx=32, n_embd=32, n_head=2, n_layer=2), seed=5, scale="large", batch=2, length=32),
    Spec("huge_scores_past", "scores beyond 1e4 (scale 'huge': max |score| 4.7e4), prefill then past",
         HParams(n_vocab=61, n_ctx=24, n_embd=24, n_head=3, n_layer=1), seed=6, scale="huge", batch=1, length=20,
         steps=4),
    Spec("tiny_hidden_states", "hidden-state variance below LayerNorm's eps (scale 'tiny')",
         HParams(n_vocab=29, n_ctx=8, n_embd=16, n_head=2, n_layer=1), seed=7, scale="tiny", batch=2, length=8),
    Spec("prime_vocab_1031", "a vocabulary of 1031 (prime: a multiple of nothing convenient)",
         HParams(n_vocab=1031, n_ctx=12, n_embd=16, n_head=2, n_layer=1), seed=8, scale="unit", batch=2, length=12),
    Spec("gpt2_small_shape", "the GPT-2 small shape (124M parameters) with generated weights; rows 0, 1, 15, 31 "
         "and 1024 vocabulary entries (including the first and the last) kept",
         HParams(n_vocab=50257, n_ctx=1024, n_embd=768, n_head=12, n_layer=12), seed=124, scale="unit", batch=1,
         length=32, committed=False, positions=(0, 1, 15, 31), vocab_kept=1024),
]


def weights_sha256(params):
    """SHA-256 over the tensors in name order: name, shape, float32 little-endian C-order bytes."""
    h = hashlib.sha256()
    for name in sorted(params.tensors):
        value = np.ascontiguousarray(params.tensors[name], dtype="<f4")
        h.update(f"{name}{list(value.shape)}".encode())
        h.update(value.tobytes())
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class GoldenCase:
    name: str
    params: object  # float32 Params
    tokens: np.ndarray
    continuation: np.ndarray
    logits: np.ndarray  # official, [batch, len(positions), len(vocab)]
    positions: np.ndarray
    vocab: np.ndarray

    @property
    def all_tokens(self):
        return np.concatenate([self.tokens, self.continuation], axis=1)

    def kept(self, rows):
        """The stored part of full rows [batch, seq + steps, n_vocab]."""
        return rows[:, self.positions][:, :, self.vocab]


def manifest():
    return json.loads(MANIFEST.read_text())


def names():
    return [c["name"] for c in manifest()["cases"]]


def manifest_entry(name):
    return {c["name"]: c for c in manifest()["cases"]}[name]


@lru_cache(maxsize=None)  # the GPT-2 small shape case takes seconds to regenerate, or to read back
def load(name) -> GoldenCase:
    entry = manifest_entry(name)
    directory = GOLDEN_DIR / name
    w, hparams = entry["weights"], HParams.from_dict(entry["hparams"])
    if w["committed"]:
        tensors = read_weights(directory / WEIGHTS)
    else:  # 124M float64 normals cast to float32: seconds, so kept on disk between processes
        make = lambda: random_params(hparams, w["seed"], w["scale"], dtype=np.float32).tensors  # noqa: E731
        tensors = oracle_cache.golden_weights(_manifest_digest(), name, make)
    params = Params(hparams, tensors)
    if weights_sha256(params) != entry["weights"]["sha256"]:
        raise InvalidParams(f"golden case {name}: the weights' SHA-256 differs from manifest.json "
                            "(changed weights, or a changed generator)")
    inputs, stored = np.load(directory / "inputs.npz"), np.load(directory / "logits.npz")
    return GoldenCase(name, params, inputs["tokens"], inputs["continuation"], stored["logits"],
                      stored["positions"], stored["vocab"])


def _manifest_digest():
    return file_sha256(MANIFEST)[:16]


def read_weights(path):
    """{official name: array} from a case's weights.safetensors."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise InvalidParams(f"cannot read the golden weights {path}: {e}") from None


def write_weights(params, directory):
    """The checkpoint's float32 tensors again, under the same names, for load() without TensorFlow."""
    save_file({name: np.ascontiguousarray(value, dtype=np.float32) for name, value in params.tensors.items()},
              str(Path(directory) / WEIGHTS))


def tolerance(name, dtype):
    """What a backend in `dtype` may differ from the official float32 logits (see the module docstring)."""
    r = manifest_entry(name)["reference"]
    largest = np.array([r["max_abs_logit"]])
    return logits_tolerance(largest, r["e32"], dtype) + logits_tolerance(largest, r["e32"], "float32")


def rows(model, case, past=True):
    """A loaded model's logits for every row of a case: the tokens at once, then the continuation one
    token at a time through past (or, for a model without past, the whole sequence at once)."""
    if not past:
        return model.forward(case.all_tokens)[0]
    logits, cache = model.forward(case.tokens)
    out = [logits]
    for i in range(case.continuation.shape[1]):
        logits, cache = model.forward(case.continuation[:, i:i + 1], past=cache)
        out.append(logits)
    return np.concatenate(out, axis=1)


# Making and checking the data

def run_official(src, checkpoint_dir, tokens, continuation):
    """Every row of logits from the official src/model.py, run in a subprocess (gpt2_conformance.cases.official)."""
    src = Path(src)
    if not (src / "model.py").is_file():
        raise InvalidParams(f"{src} has no model.py: give the src/ folder of a clone of openai/gpt-2")
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "inputs.npz", tokens=tokens, continuation=continuation)
        proc = subprocess.run([sys.executable, "-m", "gpt2_conformance.cases.official", str(src), str(checkpoint_dir),
                               str(Path(tmp) / "inputs.npz"), str(Path(tmp) / "out.npz")],
                              capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"the official code failed:\n{proc.stderr[-3000:]}")
        out = np.load(Path(tmp) / "out.npz")
        return np.concatenate([out["logits"], out["continuation_logits"]], axis=1)


def generate(spec, src):
    """Write a case's checkpoint (if committed), inputs and official logits; return its manifest entry."""
    directory = GOLDEN_DIR / spec.name
    directory.mkdir(parents=True, exist_ok=True)
    params = random_params(spec.hparams, spec.seed, spec.scale).astype(np.float32)
    rng = np.random.default_rng(spec.seed)
    all_tokens = rng.integers(0, spec.hparams.n_vocab, (spec.batch, spec.length + spec.steps))
    tokens, continuation = all_tokens[:, :spec.length], all_tokens[:, spec.length:]
    positions = np.arange(all_tokens.shape[1]) if spec.positions is None else np.array(spec.positions)
    vocab = np.arange(spec.hparams.n_vocab)
    if spec.vocab_kept:
        inner = rng.choice(np.arange(1, spec.hparams.n_vocab - 1), spec.vocab_kept - 2, replace=False)
        vocab = np.sort(np.concatenate([[0, spec.hparams.n_vocab - 1], inner]))
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint_dir = checkpoints.save_official(params, directory if spec.committed else tmp)
        official = run_official(src, checkpoint_dir, tokens, continuation)
    if spec.committed:
        write_weights(params, directory)
    np.savez(directory / "inputs.npz", tokens=tokens, continuation=continuation)
    np.savez(directory / "logits.npz", logits=official[:, positions][:, :, vocab].astype(np.float32),
             positions=positions, vocab=vocab)
    ref64, e32 = reference_with_error(params, all_tokens)
    weights = {"committed": spec.committed, "sha256": weights_sha256(params), "dtype": "float32"}
    if not spec.committed:
        weights.update(seed=spec.seed, scale=spec.scale,
                       generator="gpt2_conformance.cases.weights.random_params(hparams, seed, scale).astype(float32), NumPy PCG64")
    return {"name": spec.name, "about": spec.about, "hparams": spec.hparams.to_dict(), "weights": weights,
            "inputs": {"batch": spec.batch, "tokens": spec.length, "continuation_one_at_a_time": spec.steps},
            "stored": {"positions": positions.tolist() if spec.positions else "all",
                       "vocab": f"{len(vocab)} entries" if spec.vocab_kept else "all"},
            "reference": {"e32": e32, "max_abs_logit": float(np.abs(ref64).max())},
            "tolerance": "float32 tolerance of the case (gpt2_conformance.judge.tolerances) for the official code "
                         "plus the backend's own dtype tolerance: see conformance/cases/golden.py"}


def file_sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def regenerate(src, only=None):
    entries = {c["name"]: c for c in manifest()["cases"]} if MANIFEST.exists() else {}
    for spec in SPECS:
        if only and spec.name not in only:
            continue
        print(f"  {spec.name}", file=sys.stderr, flush=True)
        entries[spec.name] = generate(spec, src)
    data = {"made_by": {"official_model_py_sha256": file_sha256(Path(src) / "model.py"),
                        "how": "gpt2-conformance golden --official-src CLONE/src (openai/gpt-2, src/model.py unmodified, "
                               "TensorFlow 2 compat.v1 with the shims in conformance/cases/official.py)"},
            "cases": [entries[s.name] for s in SPECS if s.name in entries]}
    MANIFEST.write_text(json.dumps(data, indent=1) + "\n")


def check(src=None, only=None):
    """[(case, producer, max |error|, tolerance)]: the committed logits against the official code (when
    given its src/ folder) or against openai-tf, each held to the float32-vs-float32 tolerance."""
    from gpt2_conformance.backends import guarded_load, resolve

    results = []
    for entry in manifest()["cases"]:
        if only and entry["name"] not in only:
            continue
        case = load(entry["name"])
        if src:
            with tempfile.TemporaryDirectory() as tmp:
                directory = GOLDEN_DIR / case.name if entry["weights"]["committed"] else checkpoints.save_official(case.params, tmp)
                produced, producer = run_official(src, directory, case.tokens, case.continuation), "official"
        else:
            produced, producer = rows(guarded_load(resolve("openai-tf"), case.params), case), "openai-tf"
        results.append((case.name, producer, max_abs_err(case.kept(produced), case.logits), tolerance(case.name, "float32")))
    return results


def command(args):
    if args.check:
        results = check(args.official_src, args.case)
        print(f"{'case':<32} {'checked with':<12} {'max |error|':>12} {'tolerance':>12}  ratio")
        for name, producer, err, tol in results:
            print(f"{name:<32} {producer:<12} {err:12.3g} {tol:12.3g}  {err / tol:.3g}")
        bad = [name for name, _, err, tol in results if not err <= tol]
        if bad:
            print(f"\ncommitted logits disagree: {', '.join(bad)}", file=sys.stderr)
        return Exit.NOT_CERTIFIED if bad else Exit.CERTIFIED
    if not args.official_src:
        print("golden: give --official-src CLONE/src to regenerate, or --check to verify", file=sys.stderr)
        return Exit.USAGE
    regenerate(args.official_src, args.case)
    return Exit.CERTIFIED


def add_parser(sub):
    g = sub.add_parser("golden", help="regenerate or check the golden logits of OpenAI's official code")
    g.set_defaults(run=command)
    g.add_argument("--official-src", type=Path, metavar="PATH", help="the src/ folder of a clone of openai/gpt-2")
    g.add_argument("--check", action="store_true",
                   help="verify the committed logits (against the official code with --official-src, else openai-tf)")
    g.add_argument("--case", action="append", choices=[s.name for s in SPECS], help="regenerate or check only these cases (repeatable)")
