"""`certify` at the ci profile, one backend per run, as a user runs it (a fresh process): wall time,
examples per second per property, and the harness overhead, the share of the wall time spent outside
the backend's forward calls. Each backend runs twice on one oracle cache: cold (empty) and warm."""
import json
import os
import subprocess
import sys
import time

import pytest

from gpt2_conformance.backends import available_bundled
from gpt2_conformance.judge import oracle_cache
from gpt2_conformance.run.jobs import usable_cpus


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory):
    return tmp_path_factory.mktemp("oracle-cache")


@pytest.mark.parametrize("cache", ["cold", "warm"])
@pytest.mark.parametrize("spec", available_bundled())
def test_certify(benchmark, spec, cache, cache_root, tmp_path):
    env = {**os.environ, oracle_cache.ENV: str(cache_root / spec), "TF_CPP_MIN_LOG_LEVEL": "3"}
    command = [sys.executable, "-m", "gpt2_conformance.cli", "certify", "--backend", spec, "--profile", "ci",
               "--report-dir", str(tmp_path)]

    def certify():
        start = time.perf_counter()
        proc = subprocess.run(command, env=env, capture_output=True, text=True)
        return proc, time.perf_counter() - start

    proc, wall = benchmark.pedantic(certify, rounds=1, iterations=1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (backend,) = json.loads((tmp_path / "certificate.json").read_text())["backends"]
    props = backend["properties"]
    forward = sum(p["forward_seconds"] for p in props)
    benchmark.group = "certify"
    benchmark.extra_info.update(
        kind="certify", backend=backend["name"], cache=cache, wall_seconds=wall, jobs=usable_cpus(),
        forward_seconds=forward, load_seconds=sum(p["load_seconds"] for p in props),
        property_seconds=sum(p["seconds"] for p in props),
        properties={p["id"]: {"examples": p["examples"], "seconds": p["seconds"],
                              "forward_seconds": p["forward_seconds"]} for p in props},
    )
