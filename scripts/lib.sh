# Shared by scripts/run and scripts/test: a Python >= 3.12 and a virtualenv in .venv that
# matches the requirements file (reinstalled only when that file changes).

find_python() {
    local candidate
    for candidate in python3.13 python3.12 python3 \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    echo "GroupFlier needs Python 3.12 or newer (Django 6); none was found on PATH or in pyenv." >&2
    return 1
}

ensure_venv() {
    local requirements="$1" stamp python
    stamp=".venv/.installed-$(basename "$requirements" .txt)"
    if [ ! -x .venv/bin/python ]; then
        python=$(find_python)
        echo "Creating .venv with $python"
        "$python" -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ -n "$(find requirements -newer "$stamp" -name '*.txt')" ]; then
        echo "Installing $requirements"
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
        touch "$stamp"
    fi
}
