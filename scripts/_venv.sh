# shellcheck shell=bash
# Shared by scripts/test and scripts/serve (sourced, not executed).
#
#   draftroom_venv [EXTRAS]   create/refresh .venv and `pip install -e '.[EXTRAS]'`
#
# Idempotent and fast when nothing changed: the editable install is redone only when
# pyproject.toml or the interpreter changed, when EXTRAS were not installed yet, or when the
# venv is missing/broken (stamp file .venv/.draftroom-install-stamp).
# DRAFTROOM_FORCE_INSTALL=1 forces a reinstall. $PYTHON (default python3) creates the venv.

DRAFTROOM_ROOT="${DRAFTROOM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
DRAFTROOM_VENV="$DRAFTROOM_ROOT/.venv"

draftroom_venv() {
    local extras="${1:-}"
    local py="${PYTHON:-python3}"
    local spec="."
    [[ -n "$extras" ]] && spec=".[$extras]"

    if ! "$DRAFTROOM_VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        echo "==> creating $DRAFTROOM_VENV with $(command -v "$py" || echo "$py")"
        rm -rf "$DRAFTROOM_VENV"
        if ! "$py" -m venv "$DRAFTROOM_VENV"; then
            echo "error: '$py -m venv' failed (on Debian: apt-get install python3-venv)" >&2
            return 1
        fi
    fi

    local stamp="$DRAFTROOM_VENV/.draftroom-install-stamp"
    local base
    base="$({ cat "$DRAFTROOM_ROOT/pyproject.toml"
              "$DRAFTROOM_VENV/bin/python" -c 'import sys; print(sys.version)'; } \
            | sha256sum | cut -d' ' -f1)"
    # stamp: line 1 = base hash, following lines = extras sets installed against it
    if [[ "${DRAFTROOM_FORCE_INSTALL:-0}" != 1 && -f "$stamp" ]] \
        && [[ "$(head -n1 "$stamp")" == "$base" ]] \
        && { [[ -z "$extras" ]] || tail -n +2 "$stamp" | grep -qxF "$extras"; } \
        && "$DRAFTROOM_VENV/bin/python" -c 'import draftroom' >/dev/null 2>&1; then
        return 0
    fi
    echo "==> pip install -e '$spec'"
    (cd "$DRAFTROOM_ROOT" \
        && "$DRAFTROOM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            --upgrade pip \
        && "$DRAFTROOM_VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            -e "$spec") || return 1
    if [[ -f "$stamp" && "$(head -n1 "$stamp")" == "$base" ]]; then
        [[ -n "$extras" ]] && echo "$extras" >> "$stamp"
    else
        { echo "$base"; [[ -n "$extras" ]] && echo "$extras"; } > "$stamp"
    fi
    return 0
}
