"""OpenVINO (CPU plugin, float32) running transformers' GPT2LMHeadModel converted by openvino.convert_model.

Each load converts the model to OpenVINO's IR, with dynamic batch and sequence dimensions, and compiles
it for the CPU: a frozen engine, as OpenVINO is deployed, its weights constants of the compiled graph.
The conversion folds the weights into the IR (each Conv1D weight becomes a transposed constant), so it
must see each load's weights: 0.5-1.2 s of CPU a load, compiling 0.3-0.7 s more (on 2 cores).

What is cached is the TorchScript trace convert_model starts from, one per architecture, given each
load's weights by load_state_dict: TorchScript keeps every graph it traces for the life of the process
(3.5 MB for 3 layers, 13 MB with the trace check convert_model runs itself), and tracing every load grew
a ci run's worker to 4.7 GB. A reloaded trace converts to the same compiled graph, with bitwise the same
logits, as convert_model of the load's own model. A new architecture thus costs a trace (0.1-0.8 s) and
memory never given back, and the backend declares compiles_per_architecture.

The IR reads wte as one constant for both the embedding Gather and the head MatMul (transpose_b): the
head is tied at load, which reference_logits checks. The engine compiles with INFERENCE_PRECISION_HINT
f32, and load checks that it took: on CPUs with AMX or AVX512-BF16 the plugin's default is bf16, which
would certify another precision.

No set_wte: the weights are frozen into the compiled engine (a new wte means converting again, which
is loading another model). No past: transformers 5 starts each DynamicCache layer from a 1-D empty
tensor concatenated with the keys (torch's legacy cat rule), which the PyTorch frontend of openvino
2026.4 cannot convert ("Axis -2 out of the tensor rank range"); optimum-intel 2.2, which patches the
model for a stateful export, would replace transformers 5.25 by 5.5 and torch 2.13 by 2.14. So the
model is traced without a cache, and with an all-ones attention mask: with neither, transformers looks
for packed sequences with torch.diff, which the frontend cannot convert either (aten::diff).

`int8` (not bundled) is the same engine with its weights compressed to INT8 by nncf.compress_weights
(INT8_ASYM, per output channel; activations stay float32): a probe of what weight compression costs in
accuracy, not a backend to certify (it needs nncf, which the openvino extra leaves out).
"""
import copy
import functools

from gpt2_conformance.backends import Capabilities
from gpt2_conformance.backends.adapters.hf_torch import HFTorch, transformer_state

REQUIRES = ("openvino", "torch", "transformers")

_TRACES = {}  # hparams -> TorchScript trace of the model


def _logits_module(model):
    """The transformers model as tokens -> logits, in the form the PyTorch frontend converts (see above)."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids):
            return self.model(input_ids, attention_mask=torch.ones_like(input_ids), use_cache=False).logits

    return Logits()


def _traced(params):
    """The TorchScript trace of this architecture's model, traced the first time, reused after with other
    weights: TorchScript keeps every traced graph for the life of the process (see above)."""
    import torch

    hp = params.hparams
    if hp not in _TRACES:
        # a copy: the model's tensors may be the suite's own arrays (from_numpy), and each load overwrites them
        model = copy.deepcopy(HFTorch("eager", device="cpu").build(params))
        example = torch.zeros((2, min(2, hp.n_ctx)), dtype=torch.int64)  # no longer than n_ctx
        _TRACES[hp] = torch.jit.trace(_logits_module(model), example, check_trace=False)
    return _TRACES[hp]


def _convert(params):
    """OpenVINO's IR of the params' GPT-2, dynamic in batch and sequence length: the architecture's trace
    with this load's weights, copied into the IR (share_weights=False) since the next load of the
    architecture overwrites the trace's."""
    import openvino as ov

    traced = _traced(params)
    state = {f"model.{name}": tensor for name, tensor in transformer_state(params).items()}
    traced.load_state_dict({**state, "model.lm_head.weight": state["model.transformer.wte.weight"]})
    return ov.convert_model(traced, share_weights=False, input=[(ov.PartialShape([-1, -1]), ov.Type.i64)])


def _int8_weights(graph):
    """The graph with its weights (embedding and head included) compressed to INT8 by NNCF."""
    import nncf

    return nncf.compress_weights(graph, mode=nncf.CompressWeightsMode.INT8_ASYM)


@functools.cache
def _core():
    import openvino as ov

    return ov.Core()


def _compile_f32(graph):
    """The graph compiled for the CPU, computing in float32 whatever the CPU's default precision."""
    import openvino as ov

    compiled = _core().compile_model(graph, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    precision = compiled.get_property("INFERENCE_PRECISION_HINT")
    if precision != ov.Type.f32:
        raise RuntimeError(f"OpenVINO compiled the model with inference precision {precision}, not f32")
    return compiled


class OpenVINOModel:
    def __init__(self, compiled):
        self.compiled = compiled

    def forward(self, tokens, past=None):
        return self.compiled(tokens)[0], None


class OpenVINOBackend:
    capabilities = Capabilities(dtypes=("float32",), compiles_per_architecture=True)

    def __init__(self, weights="float32"):
        if weights not in ("float32", "int8"):
            raise ValueError(f"weights must be float32 or int8, got {weights!r}")
        self.weights = weights
        self.name = "openvino" if weights == "float32" else f"openvino-{weights}"

    def load(self, params, dtype="float32"):
        graph = _convert(params)
        if self.weights == "int8":
            graph = _int8_weights(graph)
        return OpenVINOModel(_compile_f32(graph))


backend = OpenVINOBackend()
int8 = OpenVINOBackend(weights="int8")
