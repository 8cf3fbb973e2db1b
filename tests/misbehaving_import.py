"""An adapter whose module fails to import, as one that needs a GPU library does on a machine without it."""
raise RuntimeError("CUDA driver not found")
