"""`fuzz` and the example database: a bug the ci profile's draws miss is found by a short randomized search,
stored, and from then on replayed by the ci gate (certify --database) and by other searches sharing the
database; a stored failure that holds now is dropped."""
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from gpt2_conformance import cli
from gpt2_conformance.backends import resolve
from gpt2_conformance.cases import databases, profiles, strategies
from gpt2_conformance.judge.search import REPLAYED, database_key
from gpt2_conformance.outcomes import Exit, Status
from gpt2_conformance.properties import REGISTRY, Context
from tests import certificates

ROOT = Path(__file__).resolve().parents[1]
RARE = "tests.rare_bug:backend"  # wrong only for batches of 3 or 4 whose key length is 3 modulo 8
ONE = ("--property", "reference_logits")


def command(*args, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "gpt2_conformance.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def certify(out, *args, spec=RARE):
    status, output = command("certify", "--backend", spec, *ONE, "--profile", "ci", "--report-dir", out, *args)
    (result,) = certificates.read(out / "certificate.json")["backends"][0]["properties"]
    return status, output, result


def fuzz(database, saved, *args):
    return command("fuzz", "--backend", RARE, *ONE, "--minutes", 2, "--database", database, "--save-failing-inputs",
                   saved, "--stop-on-failure", *args)


def entries(database):
    return sorted(p for p in Path(database).rglob("*") if p.is_file())


def test_the_ci_profile_misses_the_rare_bug(tmp_path):
    """What makes the rest worth showing: without a database, ci's fixed draws pass the mutant."""
    status, output, result = certify(tmp_path)
    assert status == Exit.PARTIAL and result["status"] == Status.PASSED, output  # partial: one property


def test_fuzz_finds_it_and_the_database_gates_it(tmp_path):
    db, saved = tmp_path / "db", tmp_path / "fuzz-failures"
    status, output = fuzz(db, saved)
    assert status == Exit.NOT_CERTIFIED and "found: last_key_dropped_at_3_mod_8 / reference_logits" in output, output
    (found,) = saved.rglob("*.npz")
    assert command("replay", found)[0] == Exit.NOT_CERTIFIED
    stored = entries(db)
    assert stored

    # a second search of two workers on the same database: each replays the finding before it generates
    status, output = fuzz(db, tmp_path / "second", "-j", 2)
    assert status == Exit.NOT_CERTIFIED and output.count("found: ") == 2, output
    assert all(f"after {n} examples" not in output for n in range(4, 1000)), output  # replayed, not searched anew

    # the ci gate with the database: the stored failure fails the property, is saved, and replays
    status, output, result = certify(tmp_path / "gate", "--database", db)
    assert status == Exit.NOT_CERTIFIED and result["status"] == Status.FAILED, output
    assert REPLAYED in result["message"] and "Case(hparams=" in result["counterexample"]
    (gated,) = (tmp_path / "gate" / "failing-inputs").glob("*.npz")
    assert command("replay", gated)[0] == Exit.NOT_CERTIFIED
    # and the plugin's item, under its default ci profile
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests/test_gpt2_conformance.py", "-q", "-p",
                           "no:cacheprovider", "--gpt2-backend", RARE, "--gpt2-database", str(db),
                           "-k", "reference_logits and not float", "--gpt2-report-dir", str(tmp_path / "plugin")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and REPLAYED in proc.stdout, proc.stdout + proc.stderr

    # fixed (the same name, the reference's model): the stored failure holds now, is dropped and not counted
    status, output, result = certify(tmp_path / "fixed", "--database", db, spec="tests.rare_bug:fixed")
    assert result["status"] == Status.PASSED and result["examples"] == profiles.get("ci").max_examples, output
    assert len(entries(db)) < len(stored)


@pytest.fixture
def redis_server(tmp_path):
    """redis://HOST:PORT of a Redis server started for the test (skipped where none is installed)."""
    pytest.importorskip("redis")
    if not shutil.which("redis-server"):
        pytest.skip("no redis-server here (apt-get install redis-server)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        _wait_for(port)
        yield f"redis://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_for(port, seconds=30):
    import redis

    deadline = time.monotonic() + seconds
    while True:
        try:
            return redis.Redis(port=port).ping()
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_fuzz_runs_on_two_machines_share_a_redis_database(tmp_path, redis_server):
    status, output = fuzz(redis_server, tmp_path / "first")
    assert status == Exit.NOT_CERTIFIED and "found: " in output, output
    status, output = fuzz(redis_server, tmp_path / "second", "-j", 2)
    assert status == Exit.NOT_CERTIFIED and output.count("found: ") == 2, output
    assert all(f"after {n} examples" not in output for n in range(4, 1000)), output  # replayed, not searched anew


def test_profiles_are_the_same_where_a_ci_variable_is_set():
    """Hypothesis activates its own derandomized, database-less "ci" profile where CI is set (GitHub
    Actions sets it): thorough and fuzz searches must not inherit it."""
    show = ("from gpt2_conformance.cases import profiles; "
            "print([(p.derandomize, p.database is None) for p in profiles.PROFILES.values()])")
    shown = subprocess.run([sys.executable, "-c", show], env={**os.environ, "CI": "true"}, capture_output=True,
                           text=True, check=True).stdout
    assert shown == "[(False, False), (True, True), (False, False)]\n"  # dev, ci, thorough


def test_each_search_has_a_database_key_of_its_own():
    backend, prop = resolve("reference"), REGISTRY["reference_logits"]
    strata = [space for space, _ in strategies.strata(strategies.Space(), 50, prop.id)]
    keys = {database_key(p, Context(backend, dtype, space)) for p in (prop, REGISTRY["kv_cache"])
            for dtype in ("float32", "float16") for space in strata}
    assert len(keys) == 2 * 2 * len(strata)
    spread = replace(strata[1], spread=1)
    assert database_key(prop, Context(backend, "float32", spread)) not in keys


def test_database_locations(tmp_path):
    from hypothesis.database import DirectoryBasedExampleDatabase, MultiplexedDatabase

    assert isinstance(databases.open_database(str(tmp_path)), DirectoryBasedExampleDatabase)
    shared = databases.open_database("github:owner/repo/nightly-db")  # nothing is fetched until it is read
    assert isinstance(shared, MultiplexedDatabase)
    assert databases.problem("github:owner") and databases.problem(__file__)  # not OWNER/REPO; a file
    assert databases.checked("db") == str(Path("db").resolve())


@pytest.mark.parametrize("args,message", [
    (["--database", "github:owner"], "github:OWNER/REPO"),
    (["--examples", "10"], "at least 50"),
    (["--property", "roundtrip"], "not a property of what is searched"),
])
def test_fuzz_usage_errors(tmp_path, args, message, capsys):
    argv = ["fuzz", "--backend", "reference", "--minutes", "1", "--database", str(tmp_path / "db"), *args]
    assert cli.main(argv) == Exit.USAGE
    assert message in capsys.readouterr().err
