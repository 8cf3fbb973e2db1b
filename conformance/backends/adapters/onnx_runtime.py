"""ONNX Runtime (CPU) running transformers' GPT2LMHeadModel exported by torch.onnx.export(dynamo=True).

Two graphs per architecture, dynamic in batch, sequence and past length: one without past, and one
that continues from past keys/values (exported only when a past is first given). An export takes
seconds, so the backend declares compiles_per_architecture (its cases draw from a fixed pool of
architectures) and graphs are cached per hparams for the life of the process; each load runs the cached
graph with its own weights given as initializer overrides (SessionOptions.add_initializer), ONNX
Runtime's public way to run one graph with other weights. set_wte overrides the token embedding the
same way: the exported graph holds wte once, read by both the embedding lookup and the head, so a
head the exporter had folded into a copy would not follow, and tied_head would say so.

The graph is exported unoptimized (optimize=False): onnxscript's optimizer, on by default, folds the
head's Transpose(wte) into a constant copy of wte.T, so the optimized graph holds two copies of wte,
cannot be run with other weights, and is no longer tied. ONNX Runtime's own ConstantFolding is disabled
for the same reason: it folds Transpose(wte) at session creation from the value in the file, not from
the add_initializer override, so the head keeps the export-time wte; its other graph optimizations stay
on (docs/backends.md has the versions this was found with).
"""
import os
import tempfile

import numpy as np

from gpt2_conformance.backends import Capabilities
from gpt2_conformance.backends.adapters.hf_torch import HFTorch
from gpt2_conformance.cases.checkpoints import hf_names

REQUIRES = ("torch", "transformers", "onnx", "onnxscript", "onnxruntime")

_GRAPHS = {}  # (hparams, with_past) -> path of the exported .onnx file
_DIR = tempfile.TemporaryDirectory(prefix="gpt2-conformance-onnx-")


def _step_module(model, n_layer):
    """The transformers model with flat tensors in and out: (input_ids, k0, v0, k1, ...) -> (logits, k0, v0, ...)."""
    import torch
    from transformers import DynamicCache

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, *past):
            cache = DynamicCache()
            for i in range(len(past) // 2):
                cache.update(past[2 * i], past[2 * i + 1], i)
            out = self.model(input_ids, past_key_values=cache, use_cache=True)
            present = out.past_key_values
            return (out.logits, *[t for i in range(n_layer) for t in (present.layers[i].keys, present.layers[i].values)])

    return Step()


def _export(params, with_past):
    import torch

    hp = params.hparams
    key = (hp, with_past)
    if key not in _GRAPHS:
        model = HFTorch("eager", device="cpu").build(params)
        batch, seq, past_len = 2, 3, 2  # sizes 0 and 1 would be specialised by torch.export, not left dynamic
        args = [torch.zeros((batch, seq), dtype=torch.int64)]
        shapes = [{0: "batch", 1: "seq"}]
        names = ["input_ids"]
        outputs = ["logits"] + [f"present.{i}.{kv}" for i in range(hp.n_layer) for kv in ("key", "value")]
        if with_past:
            for i in range(hp.n_layer):
                for kv in ("key", "value"):
                    args.append(torch.zeros((batch, hp.n_head, past_len, hp.head_dim)))
                    shapes.append({0: "batch", 2: "past"})
                    names.append(f"past.{i}.{kv}")
        program = torch.onnx.export(_step_module(model, hp.n_layer), tuple(args), dynamo=True,
                                    dynamic_shapes=(shapes[0], tuple(shapes[1:])) if with_past else (shapes[0],), input_names=names, output_names=outputs,
                                    optimize=False, verbose=False)
        path = os.path.join(_DIR.name, f"{len(_GRAPHS)}.onnx")
        program.save(path)
        _GRAPHS[key] = path
    return _GRAPHS[key]


class OnnxModel:
    def __init__(self, params):
        self.params = params
        self.sessions = {}

    def _session(self, with_past):
        if with_past not in self.sessions:
            import onnx
            import onnxruntime as ort

            path = _export(self.params, with_past)
            graph = onnx.load(path, load_external_data=False).graph
            initializers = {i.name for i in graph.initializer}
            options = ort.SessionOptions()
            options.add_session_config_entry("optimization.disable_specified_optimizers", "ConstantFolding")  # see above
            keep = []  # the arrays must outlive the session
            for name, hf in hf_names(self.params.hparams).items():
                value = self.params.tensors[name]
                value = value[0] if name.endswith("/w") else value
                onnx_name = f"model.transformer.{hf}"
                if name == "model/wte" and onnx_name not in initializers:
                    onnx_name = "model.lm_head.weight"  # the exporter names a tied weight by its last user
                if onnx_name not in initializers:
                    raise RuntimeError(f"the exported graph has no initializer {onnx_name}")
                array = np.ascontiguousarray(value, dtype=np.float32)
                keep.append((array, ort.OrtValue.ortvalue_from_numpy(array)))  # the OrtValue does not own the array
                options.add_initializer(onnx_name, keep[-1][1])
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            self.sessions[with_past] = (session, keep)
        return self.sessions[with_past][0]

    def forward(self, tokens, past=None):
        session = self._session(past is not None)
        feeds = {"input_ids": tokens}
        if past is not None:
            names = [i.name for i in session.get_inputs()][1:]
            feeds.update(zip(names, past))
        logits, *present = session.run(None, feeds)
        return logits, present

    def set_wte(self, wte):
        self.params = self.params.with_tensor("model/wte", wte)
        self.sessions.clear()


class OnnxRuntime:
    name = "onnxruntime"
    capabilities = Capabilities(past=True, set_wte=True, dtypes=("float32",), compiles_per_architecture=True)

    def load(self, params, dtype="float32"):
        return OnnxModel(params)


backend = OnnxRuntime()
