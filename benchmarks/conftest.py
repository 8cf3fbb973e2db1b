"""Shared fixtures of the benchmarks, and the machine facts every table must state."""
import os
import platform

import pytest

from gpt2_conformance.cases.weights import random_params
from gpt2_conformance.reference import HParams
from gpt2_conformance.report import certificate

GPT2_SMALL = HParams(n_vocab=50257, n_ctx=1024, n_embd=768, n_head=12, n_layer=12)
# Environment variables that change how fast BLAS runs; the table says which were set.
BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.fixture(scope="session")
def gpt2_small():
    """GPT-2 small's shape with random float64 weights (124M normals: seconds to draw, so drawn once)."""
    return random_params(GPT2_SMALL, seed=0)


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["blas_env"] = {name: os.environ.get(name) for name in BLAS_ENV}
    machine_info["cpu_count"] = os.cpu_count()
    machine_info["load_average_at_end"] = os.getloadavg()
    machine_info["platform"] = platform.platform()
    machine_info["packages"] = certificate.environment()["packages"]
