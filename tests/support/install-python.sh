#!/usr/bin/env bash
# Installs the Python dependencies of the test servers (tests/support/requirements.txt)
# into a virtual environment at <repo>/.venv. Idempotent: does nothing when the venv
# already holds exactly what requirements.txt lists (a stamp records its checksum).
# Needs python3 (3.9+) with the venv module; reaches PyPI through pip only when installing.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="$PWD/.venv"
requirements="$PWD/tests/support/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ -x "$venv/bin/python3" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
  && "$venv/bin/python3" -c 'import authlib, flask' 2>/dev/null; then
  echo "install-python: $venv is up to date ($("$venv/bin/python3" -c 'from importlib.metadata import version as v; print("Authlib", v("authlib"))'))"
  exit 0
fi

if [ ! -x "$venv/bin/python3" ]; then
  echo "install-python: creating virtual environment $venv with $($python --version 2>&1)"
  if ! "$python" -m venv "$venv"; then
    echo "install-python: '$python -m venv' failed (on Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
fi

echo "install-python: installing tests/support/requirements.txt"
"$venv/bin/python3" -m pip install --disable-pip-version-check --no-input --quiet -r "$requirements"
"$venv/bin/python3" -c 'from importlib.metadata import version as v; print("install-python: installed Authlib", v("authlib"), "and Flask", v("flask"))'
echo "$want" >"$stamp"
echo "install-python: done"
