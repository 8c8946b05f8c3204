# Draftroom server image.
#
#   scripts/build-image                      # builds draftroom:latest (see docs/DEPLOY.md)
#   docker run -p 8000:8000 -v draftroom-data:/data draftroom:latest
#
# Two stages: the builder compiles nothing of its own (every dependency ships a
# manylinux wheel) but needs pip and the build backend; the runtime stage gets only
# the finished virtualenv, so no compiler, pip cache or source tree ships.
#
# Package configuration for the build (apt sources, a pip index, a CA bundle for a
# TLS-inspecting proxy) comes in as BuildKit secrets, never as layers: see
# scripts/build-image. apt reads the sources from a copy in /tmp that the same RUN
# removes, so the image keeps its own /etc/apt. Without secrets the defaults
# (Debian's mirror, PyPI) are used.

ARG BASE=debian:bookworm-slim

FROM ${BASE} AS builder
# python3 from Debian is 3.11 on bookworm, which the project requires; the runtime
# stage installs the same package, so the venv's /usr/bin/python3 link stays valid.
# hadolint ignore=DL3008
RUN --mount=type=secret,id=apt_sources,required=false \
    set -eu; \
    set --; \
    if [ -s /run/secrets/apt_sources ]; then \
        mkdir -p /tmp/apt-sources; \
        suffix=list; grep -q '^Types:' /run/secrets/apt_sources && suffix=sources; \
        cp /run/secrets/apt_sources "/tmp/apt-sources/build.$suffix"; \
        set -- -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/tmp/apt-sources; \
    fi; \
    apt-get "$@" update; \
    apt-get "$@" install -y --no-install-recommends python3 python3-venv; \
    rm -rf /tmp/apt-sources /var/lib/apt/lists/*
WORKDIR /src
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# Dependencies first, from pyproject.toml alone, so editing the code reuses this layer.
COPY pyproject.toml README.md ./
RUN --mount=type=secret,id=pip_conf,required=false \
    --mount=type=secret,id=ca_bundle,required=false \
    set -eu; \
    [ -s /run/secrets/pip_conf ] && export PIP_CONFIG_FILE=/run/secrets/pip_conf; \
    [ -s /run/secrets/ca_bundle ] && export PIP_CERT=/run/secrets/ca_bundle; \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > /tmp/requirements.txt; \
    pip install --no-compile -r /tmp/requirements.txt
COPY draftroom ./draftroom
RUN --mount=type=secret,id=pip_conf,required=false \
    --mount=type=secret,id=ca_bundle,required=false \
    set -eu; \
    [ -s /run/secrets/pip_conf ] && export PIP_CONFIG_FILE=/run/secrets/pip_conf; \
    [ -s /run/secrets/ca_bundle ] && export PIP_CERT=/run/secrets/ca_bundle; \
    pip wheel --no-deps --wheel-dir /tmp/wheels . ; \
    pip install --no-deps --no-compile /tmp/wheels/draftroom-*.whl; \
    pip uninstall -y setuptools pip; \
    find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +; \
    /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib


FROM ${BASE}
# What export needs at run time: WeasyPrint's Pango/HarfBuzz libraries and fonts
# (Liberation for the themes' serif/sans, DejaVu as the wide-coverage fallback, Noto
# Color Emoji for emoji in PDFs). fontconfig builds the font cache here, at build
# time, so a read-only root filesystem works. tini reaps the export and agent worker
# processes and forwards SIGTERM, which starts Draftroom's drain.
# hadolint ignore=DL3008
RUN --mount=type=secret,id=apt_sources,required=false \
    set -eu; \
    set --; \
    if [ -s /run/secrets/apt_sources ]; then \
        mkdir -p /tmp/apt-sources; \
        suffix=list; grep -q '^Types:' /run/secrets/apt_sources && suffix=sources; \
        cp /run/secrets/apt_sources "/tmp/apt-sources/build.$suffix"; \
        set -- -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/tmp/apt-sources; \
    fi; \
    apt-get "$@" update; \
    apt-get "$@" install -y --no-install-recommends \
        python3 ca-certificates tini \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fontconfig \
        fonts-liberation2 fonts-dejavu-core fonts-noto-color-emoji; \
    rm -rf /tmp/apt-sources /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log; \
    groupadd --system --gid 10001 draftroom; \
    useradd --system --uid 10001 --gid draftroom --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin draftroom; \
    mkdir -p /data; \
    chown draftroom:draftroom /data

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DRAFTROOM_DATA_DIR=/data \
    DRAFTROOM_PORT=8000 \
    DRAFTROOM_LOG_FORMAT=json

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000

# No curl in the image: the health check uses the interpreter that is already here.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DRAFTROOM_PORT', '8000'), timeout=2)"]

# Flags after the image name are appended: docker run draftroom --drain-seconds 20
ENTRYPOINT ["tini", "--", "draftroom", "serve", "--host", "0.0.0.0"]
