"""Canonical GPT-2 parameters: the official hparams and the official variable names and shapes."""
from dataclasses import InitVar, dataclass, field, fields, replace

import numpy as np

LAYER_SHAPES = {  # per block, in terms of n_embd (e); Conv1D weights are [1, nx, nf]
    "ln_1/g": lambda e: (e,),
    "ln_1/b": lambda e: (e,),
    "attn/c_attn/w": lambda e: (1, e, 3 * e),
    "attn/c_attn/b": lambda e: (3 * e,),
    "attn/c_proj/w": lambda e: (1, e, e),
    "attn/c_proj/b": lambda e: (e,),
    "ln_2/g": lambda e: (e,),
    "ln_2/b": lambda e: (e,),
    "mlp/c_fc/w": lambda e: (1, e, 4 * e),
    "mlp/c_fc/b": lambda e: (4 * e,),
    "mlp/c_proj/w": lambda e: (1, 4 * e, e),
    "mlp/c_proj/b": lambda e: (e,),
}


class InvalidParams(ValueError):
    """Parameters or hparams that are not a GPT-2."""


class InvalidInput(ValueError):
    """Tokens or past that the model cannot take."""


@dataclass(frozen=True)
class HParams:
    n_vocab: int
    n_ctx: int
    n_embd: int
    n_head: int
    n_layer: int

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise InvalidParams(f"hparams.{f.name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head:
            raise InvalidParams(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")

    @property
    def head_dim(self):
        return self.n_embd // self.n_head

    def to_dict(self):
        return {f.name: int(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, d):
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in d]
        if missing:
            raise InvalidParams(f"hparams lack {', '.join(missing)}")
        return cls(**{n: d[n] for n in names})


def param_shapes(hp):
    """Every canonical tensor name with its shape."""
    shapes = {"model/wte": (hp.n_vocab, hp.n_embd), "model/wpe": (hp.n_ctx, hp.n_embd)}
    for i in range(hp.n_layer):
        shapes.update({f"model/h{i}/{name}": shape(hp.n_embd) for name, shape in LAYER_SHAPES.items()})
    shapes["model/ln_f/g"] = (hp.n_embd,)
    shapes["model/ln_f/b"] = (hp.n_embd,)
    return shapes


@dataclass(frozen=True, eq=False)
class Params:
    hparams: HParams
    tensors: dict = field(repr=False)
    check: InitVar[bool] = True  # False only for tensors derived from valid ones (a conversion of dtype)
    # The recipe that made these read-only tensors (set by their maker; a derived Params, made by replace, has
    # none): a cache can key them by it instead of hashing their bytes.
    origin: str | None = field(default=None, init=False, compare=False, repr=False, metadata={"saved": False})

    def __post_init__(self, check):
        if check:
            validate(self.hparams, self.tensors)

    def layer(self, i):
        prefix = f"model/h{i}/"
        return {name[len(prefix):]: value for name, value in self.tensors.items() if name.startswith(prefix)}

    def astype(self, dtype):
        return replace(self, tensors={k: v.astype(dtype) for k, v in self.tensors.items()}, check=False)

    def perturbed(self, rng, relative):
        """Every tensor plus itself times relative * N(0, 1), elementwise, in its own dtype."""
        return replace(self, tensors={k: v + v * (relative * rng.standard_normal(v.shape, dtype=v.dtype))
                                      for k, v in self.tensors.items()}, check=False)

    def with_tensor(self, name, value):
        return replace(self, tensors={**self.tensors, name: np.asarray(value)})

    @property
    def dtype(self):
        return self.tensors["model/wte"].dtype


def validate(hp, tensors):
    """Raise InvalidParams naming every missing, extra, misshaped, non-float or non-finite tensor."""
    expected = param_shapes(hp)
    problems = []
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing:
        problems.append(f"missing tensors: {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected tensors: {', '.join(extra)}")
    for name in sorted(set(expected) & set(tensors)):
        value = tensors[name]
        if not isinstance(value, np.ndarray):
            problems.append(f"{name} is a {type(value).__name__}, not a NumPy array")
        elif value.shape != expected[name]:
            problems.append(f"{name} has shape {value.shape}, expected {expected[name]} for {hp}")
        elif value.dtype.kind != "f":
            problems.append(f"{name} has dtype {value.dtype}, expected a float dtype")
        elif not np.isfinite(value).all():
            problems.append(f"{name} has {np.size(value) - np.isfinite(value).sum()} non-finite values")
    if problems:
        raise InvalidParams("invalid GPT-2 parameters: " + "; ".join(problems))


def check_inputs(hp, tokens, past=None, attention_mask=None):
    """Raise InvalidInput unless tokens is an int array [batch, seq] of ids in [0, n_vocab) that fits
    n_ctx after past, past (if any) has the official shape [batch, n_layer, 2, n_head, seq, head_dim],
    and attention_mask (if any) is 0/1 of shape [batch, past + seq]."""
    if not isinstance(tokens, np.ndarray) or tokens.dtype.kind not in "iu":
        raise InvalidInput(f"tokens must be an integer NumPy array, got {getattr(tokens, 'dtype', type(tokens))}")
    if tokens.ndim != 2 or tokens.shape[0] < 1 or tokens.shape[1] < 1:
        raise InvalidInput(f"tokens must have shape [batch>=1, seq>=1], got {tokens.shape}")
    bad = tokens[(tokens < 0) | (tokens >= hp.n_vocab)]
    if bad.size:
        raise InvalidInput(f"token ids must lie in [0, {hp.n_vocab}); got {sorted(set(bad.tolist()))[:5]}")
    past_length = 0
    if past is not None:
        expected = (tokens.shape[0], hp.n_layer, 2, hp.n_head, None, hp.head_dim)
        shape = getattr(past, "shape", None)
        if shape is None or len(shape) != 6 or any(e is not None and s != e for s, e in zip(shape, expected)):
            raise InvalidInput(
                f"past must have shape [batch={tokens.shape[0]}, n_layer={hp.n_layer}, 2, n_head={hp.n_head}, "
                f"seq, head_dim={hp.head_dim}], got {shape}"
            )
        past_length = shape[-2]
    if past_length + tokens.shape[1] > hp.n_ctx:
        raise InvalidInput(
            f"sequence of {tokens.shape[1]} tokens after a past of {past_length} exceeds n_ctx {hp.n_ctx}"
        )
    if attention_mask is not None:
        check_attention_mask(attention_mask, (tokens.shape[0], past_length + tokens.shape[1]))


def check_attention_mask(attention_mask, shape):
    if not isinstance(attention_mask, np.ndarray) or attention_mask.shape != shape:
        raise InvalidInput(f"attention_mask must be an array of shape [batch, past + seq] = {list(shape)}, "
                           f"got {getattr(attention_mask, 'shape', type(attention_mask))}")
    if not np.isin(attention_mask, (0, 1)).all():
        raise InvalidInput("attention_mask must hold only 0 (padding) and 1 (real token)")
