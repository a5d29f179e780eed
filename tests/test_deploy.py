"""The container files, checked statically (nothing here can pull base images or run a
Docker engine): hadolint on the Dockerfile, and the compose file's services as deployed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO


def test_the_dockerfile_passes_hadolint_and_runs_as_a_non_root_user() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    r = subprocess.run(
        [str(hadolint), "--failure-threshold", "info", "Dockerfile"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [ln.strip() for ln in (REPO / "Dockerfile").read_text().splitlines()]
    assert [ln for ln in lines if ln.startswith("FROM ")] == ["FROM python:3.11-slim"]
    user = [ln for ln in lines if ln.startswith("USER ")]
    assert user and user[-1] != "USER root" and not user[-1].startswith("USER 0")
    assert any(ln.startswith("HEALTHCHECK") for ln in lines)
    assert any("/api/v1/health" in ln for ln in lines)
    assert 'VOLUME ["/data"]' in lines
    for ln in lines:  # every file the image copies exists
        if ln.startswith("COPY "):
            for source in ln.split()[1:-1]:
                assert (REPO / source).exists(), source
    assert "torch" not in (REPO / "Dockerfile").read_text()


def test_compose_has_the_chat_and_a_chroma_server_with_volumes() -> None:
    path = REPO / "compose.yaml"
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30
        ).returncode
        == 0
    ):
        r = subprocess.run(
            [docker, "compose", "-f", str(path), "config", "-q"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"ARTICLEBOT_AUTH": "u:p", "PATH": "/usr/bin:/bin"},
        )
        assert r.returncode == 0, r.stderr
    compose = yaml.safe_load(path.read_text())
    services = compose["services"]
    assert set(services) == {"web", "chroma"}
    web, chroma = services["web"], services["chroma"]
    assert web["build"] == "."
    assert web["environment"]["ARTICLEBOT_CHROMA_URL"] == "http://chroma:8000"
    assert web["environment"]["ARTICLEBOT_AUTH"].startswith("${ARTICLEBOT_AUTH:?")
    assert web["ports"] == ["127.0.0.1:7860:7860"]  # published on loopback only
    assert "ports" not in chroma  # the store is reachable from the web service only
    assert chroma["image"].startswith("chromadb/chroma:")
    volumes = set(compose["volumes"])
    assert {v.split(":")[0] for v in web["volumes"] + chroma["volumes"]} == volumes


def test_the_health_route_needs_no_password_and_tells_nothing(tmp_path: Path) -> None:
    import httpx

    from tests.bot.ui.webapp import running_app

    with running_app(tmp_path, "--auth", "ola:hemmelig") as app:
        response = httpx.get(app.url + "api/v1/health", timeout=30)
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        assert httpx.get(app.url + "api/v1/articles", timeout=30).status_code == 401
