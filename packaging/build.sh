#!/usr/bin/env bash
# Build photofind's one-folder desktop bundle (dist/photofind/) from a checkout, then run the
# bundle's own smoke check (`photofind --self-test`) so a broken bundle never passes.
#
#   packaging/build.sh                 # use the current python3 (photofind's deps installed)
#   packaging/build.sh --venv .venv    # fresh venv: installs photofind[package] into it
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu packaging/build.sh --venv .venv
#                                      # ... with torch's CPU-only wheels (smaller build)
#   packaging/build.sh --no-test       # skip the smoke check
# Same script and spec on Windows (Git Bash) and macOS; run it on the OS you build for.
set -euo pipefail

PYINSTALLER_VERSION=6.22.3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
VENV="" TEST=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --venv) VENV=$2; shift 2 ;;
        --no-test) TEST=0; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

started=$(date +%s)
if [[ -n $VENV ]]; then
    "$PYTHON" -m venv "$VENV"
    PY="$VENV/bin/python"
    [[ -x $PY ]] || PY="$VENV/Scripts/python.exe"  # Windows layout
    "$PY" -m pip install --upgrade pip
    if [[ -n ${TORCH_INDEX_URL:-} ]]; then  # torch/torchvision from another index first
        "$PY" -m pip install --index-url "$TORCH_INDEX_URL" "torch==2.14.1" "torchvision==0.29.1"
    fi
    "$PY" -m pip install "$ROOT[package]"
else
    PY=$PYTHON
    "$PY" -m pip install "pyinstaller==$PYINSTALLER_VERSION"
fi

echo "== PyInstaller $("$PY" -m PyInstaller --version) with $("$PY" --version)"
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" "$ROOT/packaging/photofind.spec"
built=$(date +%s)

BUNDLE="$ROOT/dist/photofind"
EXE="$BUNDLE/photofind"
[[ -x $EXE ]] || EXE="$BUNDLE/photofind.exe"
echo "== bundle: $(du -sh "$BUNDLE" | cut -f1) in $BUNDLE; build took $((built - started)) s"

if [[ $TEST == 1 ]]; then
    echo "== smoke check: $EXE --self-test"
    # from an empty folder, without this checkout on the path: only the bundle may answer
    (cd "$(mktemp -d)" && env -u PYTHONPATH QT_QPA_PLATFORM=offscreen "$EXE" --self-test)
    echo "== smoke check passed"
fi
