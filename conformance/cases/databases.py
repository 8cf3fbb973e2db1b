"""Hypothesis' example database, as --database (certify, fuzz) and --gpt2-database (the plugin) name it: where
the failures a search finds are kept, so that later runs replay them first (docs/fuzzing.md).

A location is one of:
- a directory: Hypothesis' DirectoryBasedExampleDatabase there (several processes may share it);
- `github:OWNER/REPO[/ARTIFACT]`: the newest artifact of that name (default hypothesis-example-db) that a
  GitHub Actions workflow of OWNER/REPO uploaded, read-only (GitHubArtifactDatabase; the token comes from
  GITHUB_TOKEN), multiplexed with the local directory LOCAL, where this run's own findings go: Hypothesis'
  documented recipe for a shared database. A missing or unreachable artifact only warns;
- `redis://HOST:PORT[/DB]`: Hypothesis' RedisExampleDatabase, for a team's fuzzing machines (the `redis` extra).

Only a worker opens one (open_database): the parent checks the location (problem) and passes the string on.
"""
from pathlib import Path

GITHUB, REDIS = "github:", "redis://"
DEFAULT_ARTIFACT = "hypothesis-example-db"  # GitHubArtifactDatabase's default name
LOCAL = Path(".hypothesis") / "examples"  # Hypothesis' own default directory: a github: location's local half


def checked(location):
    """location as a worker in any directory opens it (a directory made absolute); ValueError (the user's
    mistake) where it names no usable example database."""
    why = problem(location)
    if why:
        raise ValueError(why)
    return location if location.startswith((GITHUB, REDIS)) else str(Path(location).resolve())


def problem(location):
    """Why location names no usable example database (the user's mistake), or None."""
    if location.startswith(GITHUB):
        parts = location.removeprefix(GITHUB).split("/")
        if len(parts) not in (2, 3) or not all(parts):
            return f"--database {location}: write github:OWNER/REPO or github:OWNER/REPO/ARTIFACT"
        return None
    if location.startswith(REDIS):
        try:
            import redis  # noqa: F401
        except ImportError:
            return (f"--database {location}: a Redis database needs the redis package "
                    "(pip install 'gpt2-conformance[redis]')")
        return None
    path = Path(location)
    if path.exists() and not path.is_dir():
        return f"--database {location}: not a directory"
    return None


def open_database(location):
    """The Hypothesis ExampleDatabase at location (see the module's docstring)."""
    from hypothesis.database import DirectoryBasedExampleDatabase

    if location.startswith(GITHUB):
        return _github(location.removeprefix(GITHUB))
    if location.startswith(REDIS):
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase

        return RedisExampleDatabase(redis.Redis.from_url(location))
    return DirectoryBasedExampleDatabase(location)


def _github(where):
    """A CI artifact, read-only (GitHubArtifactDatabase raises on writes), with the local directory beside it."""
    from hypothesis import database as db


    owner, repo, *artifact = where.split("/")
    shared = db.GitHubArtifactDatabase(owner, repo, artifact_name=artifact[0] if artifact else DEFAULT_ARTIFACT)
    return db.MultiplexedDatabase(db.DirectoryBasedExampleDatabase(LOCAL), db.ReadOnlyDatabase(shared))
