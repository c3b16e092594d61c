#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image
# (Ubuntu): it installs gradcheck, with TensorFlow, into a venv of its own.
#
# gradcheck comes from the wheel you put beside this script in the autograder
# zip (build it in a gradcheck checkout: `pip wheel --no-deps -w WHERE .`),
# or else from GRADCHECK_SPEC (any pip requirement: a URL, a git+https link).
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"

apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip

python3 -m venv "$ROOT/venv"
"$ROOT/venv/bin/pip" install --upgrade pip

shopt -s nullglob
wheels=("$ROOT"/source/gradcheck-*.whl)
if ((${#wheels[@]})); then
    spec="${wheels[-1]}"
else
    spec="${GRADCHECK_SPEC:?put a gradcheck wheel beside setup.sh in the autograder zip, or set GRADCHECK_SPEC}"
fi
# tomli: the TOML reader of --weights on Python 3.10 (3.11 has its own).
"$ROOT/venv/bin/pip" install "$spec" "tomli; python_version < '3.11'"

# Fail the image build now rather than every submission later.
"$ROOT/venv/bin/gradcheck" --version
