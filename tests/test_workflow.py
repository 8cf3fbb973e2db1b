"""The reusable workflow's certify step, run as GitHub runs it (bash -e), with certify replaced by a recorder."""
import itertools
import os
import shlex
import subprocess
from pathlib import Path

import pytest

from gpt2_conformance import cli

ROOT = Path(__file__).resolve().parents[1]
INDENT = " " * 10  # of the step's `run: |` block


def certify_step():
    text = (ROOT / ".github" / "workflows" / "certify.yml").read_text()
    step = text[text.index("- name: Certify"):]
    lines = step[step.index("run: |"):].splitlines()[1:]
    return "\n".join(line[len(INDENT):] for line in itertools.takewhile(
        lambda line: line.startswith(INDENT) or not line.strip(), lines))


@pytest.mark.parametrize("expectations,database,passed", [
    ("", "", []),
    ("conformance/expectations.toml", "", ["--expectations", "conformance/expectations.toml"]),
    ("conformance/expectations.toml torch", "github:OWNER/REPO",
     ["--expectations", "conformance/expectations.toml", "--expectations", "torch", "--database", "github:OWNER/REPO"]),
])
def test_each_expectation_file_set_and_database_reaches_certify(tmp_path, expectations, database, passed):
    recorded = tmp_path / "args"
    (tmp_path / "gpt2-conformance").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {recorded}\n')
    (tmp_path / "gpt2-conformance").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "BACKEND": "my_package.adapter:backend",
           "EXPECTATIONS": expectations, "DATABASE": database, "PROFILE": "ci", "ARGS": "--accept-scope",
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"), "GITHUB_OUTPUT": str(tmp_path / "output")}
    subprocess.run(["bash", "-e", "-c", certify_step()], cwd=tmp_path, env=env, check=True)
    assert recorded.read_text().split("\n")[:-1] == [
        "certify", "--backend", "my_package.adapter:backend", "--profile", "ci", "--report-dir",
        "gpt2-conformance-report", *passed, "--accept-scope"]
    assert (tmp_path / "output").read_text() == "passed=true\n"


def test_the_nightly_shard_matrix_is_what_certify_shard_accepts():
    """Every job of the nightly matrix runs a shard `--shard I/N` accepts, and the N jobs of a backend cover its run."""
    yaml = pytest.importorskip("yaml")
    from gpt2_conformance.judge.shards import Shard

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    assert set(workflow[True]) == {"schedule", "workflow_dispatch"}  # YAML 1.1 reads the key `on` as True
    count = int(workflow["env"]["SHARDS"])
    jobs = workflow["jobs"]
    matrix = jobs["shard"]["strategy"]["matrix"]
    assert matrix["shard"] == list(range(1, count + 1))
    assert [Shard.parse(f"{i}/{count}") for i in matrix["shard"]] == [Shard(i, count) for i in matrix["shard"]]
    certify = next(s["run"] for s in jobs["shard"]["steps"] if s.get("name") == "Certify one shard")
    assert '--shard "${{ matrix.shard }}/$SHARDS"' in certify and "--seed" in certify and "thorough" in certify
    assert jobs["merge"]["needs"] == "shard" and jobs["merge"]["strategy"]["matrix"]["backend"] == matrix["backend"]
    uploads = [s["with"]["name"] for s in jobs["fuzz"]["steps"] if "upload-artifact" in s.get("uses", "")]
    assert uploads == ["hypothesis-example-db"]
    fuzz = next(s["run"] for s in jobs["fuzz"]["steps"] if s.get("name") == "Fuzz")
    args = cli.parser().parse_args(shlex.split(fuzz.replace("\\\n", " "))[1:])
    assert args.database == uploads[0] and args.backend == matrix["backend"]
