#!/usr/bin/env sh
# Print the path of a Python interpreter >= 3.12, or explain and fail.
# Order: $BAYESFOLD_PYTHON, interpreters on the PATH, pyenv installs, uv installs.
set -u
ok() {
    "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1
}
try() {
    if [ -n "$1" ] && ok "$1"; then
        command -v "$1" 2>/dev/null || printf '%s\n' "$1"
        exit 0
    fi
}
try "${BAYESFOLD_PYTHON:-}"
for name in python3 python3.12 python3.13 python3.14 python; do
    try "$name"
done
if command -v pyenv >/dev/null 2>&1; then
    for version in $(pyenv versions --bare 2>/dev/null | sort -t. -k1,1n -k2,2n); do
        prefix=$(pyenv prefix "$version" 2>/dev/null) || continue
        try "$prefix/bin/python3"
    done
fi
# pyenv's own folder, for shells where pyenv is installed but not initialised.
for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
    try "$candidate"
done
if command -v uv >/dev/null 2>&1; then
    try "$(uv python find '>=3.12' 2>/dev/null)"
fi
echo "bayesfold needs Python >= 3.12 and found none (tried \$BAYESFOLD_PYTHON," \
    "python3.1x/python3 on the PATH, pyenv and uv). Install one, or point" \
    "BAYESFOLD_PYTHON at it." >&2
exit 1
