"""The top-level Dockerfile: hadolint-clean, and shaped the way docs/DEPLOY.md says.

Building the image takes minutes and a container engine, so it is not part of the
suite: scripts/build-image and scripts/smoke-image do that, and docs/DEPLOY.md
records their last run. These checks are the fast part.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from .tools import ROOT, executable, run

DOCKERFILE = ROOT / "Dockerfile"


def _hadolint(path: Path) -> list[dict[str, object]]:
    result = run([executable("hadolint"), "--format", "json", "--no-fail", str(path)])
    assert result.returncode == 0, result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    return findings


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    steps = _instructions(DOCKERFILE.read_text())
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def test_hadolint_finds_nothing() -> None:
    findings = _hadolint(DOCKERFILE)
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)


def test_hadolint_does_report_problems(tmp_path: Path) -> None:
    # The linter really runs: the same file made to end as root is flagged.
    bad = tmp_path / "Dockerfile"
    bad.write_text(DOCKERFILE.read_text() + "\nUSER root\n")
    assert "DL3002" in {f["code"] for f in _hadolint(bad)}


def test_multi_stage_on_debian_bookworm_slim() -> None:
    steps = _instructions(DOCKERFILE.read_text())
    assert ("ARG", "BASE=debian:bookworm-slim") in steps
    froms = [args for word, args in steps if word == "FROM"]
    assert froms == ["${BASE} AS builder", "${BASE}"]
    final = _final_stage()
    assert ("COPY", "--from=builder /opt/venv /opt/venv") in final
    # Nothing from the build context reaches the runtime stage except through the venv.
    assert [a for w, a in final if w in ("COPY", "ADD") and "--from=builder" not in a] == []


def test_runs_as_non_root_with_health_check_and_entrypoint() -> None:
    final = dict(_final_stage())
    assert final["USER"] == "10001:10001"
    assert "/healthz" in final["HEALTHCHECK"] and "python3" in final["HEALTHCHECK"]
    assert final["EXPOSE"] == "8000"
    assert json.loads(final["ENTRYPOINT"])[-4:] == ["draftroom", "serve", "--host", "0.0.0.0"]
    env = dict(pair.split("=", 1) for pair in shlex.split(final["ENV"].replace("$PATH", "PATH")))
    assert env["DRAFTROOM_DATA_DIR"] == "/data"
    assert env["DRAFTROOM_PORT"] == "8000"


def test_runtime_carries_what_export_needs() -> None:
    """WeasyPrint's libraries and the fonts the export tests rely on are installed."""
    runtime_apt = " ".join(a for w, a in _final_stage() if w == "RUN")
    test_apt = (ROOT / "scripts" / "test").read_text()
    export_packages = (
        "libpango-1.0-0",
        "libpangoft2-1.0-0",
        "libharfbuzz-subset0",
        "fonts-liberation2",
        "fonts-dejavu-core",
        "fonts-noto-color-emoji",
    )
    for package in export_packages:
        assert package in test_apt, f"{package} is no longer in scripts/test: update this list"
        assert re.search(rf"\b{re.escape(package)}\b", runtime_apt), package
    # pandoc and LibreOffice are test oracles only; the server never calls them.
    assert "pandoc" not in runtime_apt and "libreoffice" not in runtime_apt


def test_build_configuration_arrives_as_secrets_not_layers() -> None:
    text = DOCKERFILE.read_text()
    for secret in ("apt_sources", "pip_conf", "ca_bundle"):
        assert f"id={secret}" in text
    for word, args in _instructions(text):
        if word in ("COPY", "ADD"):
            assert not re.search(r"pip\.conf|\.crt|sources", args), args
        if word in ("ENV", "ARG"):
            assert not re.search(r"PIP_CONFIG_FILE|PIP_CERT|PIP_INDEX", args), args


def test_secrets_are_read_in_place_never_copied_into_the_image() -> None:
    """A secret copied to /etc (or anywhere outside the RUN's own temp dir, removed in
    the same step) would ship in the layer; the image must keep its own apt sources."""
    for word, args in _instructions(DOCKERFILE.read_text()):
        if word != "RUN":
            continue
        for copy in re.findall(
            r"\b(?:cp|mv|cat|install|tee)\b[^;&|]*?/run/secrets/\S+[^;&|]*", args
        ):
            target = copy.split()[-1].strip("\"'")
            assert target.startswith("/tmp/"), f"secret copied to {target}: {copy}"
            assert f"rm -rf {target.rsplit('/', 1)[0]}" in args, f"{target} is not removed: {copy}"
        assert "/etc/apt/sources.list" not in args.replace("SourceList", ""), args


def test_dockerignore_lets_in_only_what_the_build_copies() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for word, args in _instructions(DOCKERFILE.read_text()):
        if word == "COPY" and "--from" not in args:
            copied |= set(args.split()[:-1])
    assert copied == allowed == {"pyproject.toml", "README.md", "draftroom"}
