"""The test suite as a contributor runs it (`pytest -n 2 --gpt2-backend bundled`, the README's command), in a fresh
clone: no oracle cache, no Hypothesis database. The wall time, and from the JUnit XML the time the plugin's items
spent inside the backends' load() and forward() (the plugin records both per item)."""
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from gpt2_conformance.judge import oracle_cache

ROOT = Path(__file__).resolve().parents[1]


def test_pytest_in_a_fresh_clone(benchmark, tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {**os.environ, oracle_cache.ENV: str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    junit = tmp_path / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-n", "2", "--gpt2-backend", "bundled", "-q", "-p", "no:cacheprovider",
               f"--junitxml={junit}"]

    def run():
        start = time.perf_counter()
        proc = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True)
        return proc, time.perf_counter() - start

    proc, wall = benchmark.pedantic(run, rounds=1, iterations=1)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    recorded = {name: 0.0 for name in ("load_seconds", "forward_seconds")}
    for prop in ET.parse(junit).iter("property"):
        if prop.get("name") in recorded:
            recorded[prop.get("name")] += float(prop.get("value"))
    benchmark.group = "pytest"
    benchmark.extra_info.update(kind="pytest", wall_seconds=wall, **recorded,
                                tests=proc.stdout.strip().splitlines()[-1])
