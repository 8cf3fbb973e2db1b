"""Probes of upstream sets (judge/upstream.py): the smallest reproduction of each framework deviation whose
entries cannot find it fixed by themselves (they are not strict: whether a run meets them depends on the
examples drawn). Each returns whether the deviation still shows in the installed framework; it runs only
in a backend's worker that already imported that framework."""


def torch_layernorm_width_1():
    """pytorch/pytorch#188375: over one feature, LayerNorm's output is its bias and its weight's gradient is
    exactly 0; torch's CPU kernel returns about -1e-5."""
    import torch

    generator = torch.Generator().manual_seed(0)
    norm = torch.nn.LayerNorm(1)
    x = torch.randn(8, 5, 1, generator=generator)
    (norm(x) * torch.randn(8, 5, 1, generator=generator)).sum().backward()
    return bool(norm.weight.grad.abs().max() > 0)
