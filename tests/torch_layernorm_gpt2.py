"""examples/my_torch_gpt2.py with torch.nn.LayerNorm, as most PyTorch GPT-2s are written: correct, and exposed to
PyTorch's LayerNorm of width 1 (pytorch/pytorch#188375), which the upstream set `torch` bounds."""
from torch import nn

from examples.my_torch_gpt2 import MyBackend

backend = MyBackend(name="torch-layernorm-gpt2", layer_norm=nn.LayerNorm)
