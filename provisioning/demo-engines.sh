# The demo's workers as real inference engines (`demo.sh up` with POPGATE_DEMO_WORKERS=engines, `make demo REAL=1`):
# llama.cpp's server, built once per machine (provisioning/engines/llama-server.sh), serving a tiny model with a real
# tokenizer and random weights (provisioning/engines/tiny_gguf.py) in the compute namespace, where the simulators
# run otherwise. Its text is noise; its protocol, usage, metrics and slots are the real engine's.
#
# Sourced by demo.sh, which defines what is used here (REPO_DIR, DEMO_DIR, COMPUTE_NS, BACKBONE_COMPUTE, SIM_PORT,
# log, die, start_daemon_binary, worker_healthy).

readonly ENGINE_SCRIPT="$REPO_DIR/provisioning/engines/llama-server.sh"
readonly ENGINE_MODEL=popgate-tiny-llama ENGINE_EMBEDDING_MODEL=popgate-tiny-embed
# The model's own context (tiny_gguf.py's CONTEXT) for each of a server's slots.
readonly ENGINE_CONTEXT=16384 ENGINE_SLOTS=2
# The operator's record of the weights served: llama.cpp reports no version of its model.
readonly ENGINE_MODEL_REVISION=tiny-seed-1

# label, port offset, model served, tier weights. The same shape of PoP as the simulators': one node preferred by
# the fast tiers, two for the cheap tiers, whose loads decide between them; and one embedding server.
readonly ENGINES=(
    "llama-big 0 $ENGINE_MODEL { medium = 1, fast = 5, ludicrous = 10 }"
    "llama-a 1 $ENGINE_MODEL { slow = 10, medium = 5, fast = 1 }"
    "llama-b 2 $ENGINE_MODEL { slow = 10, medium = 5, fast = 1 }"
    "llama-embed 3 $ENGINE_EMBEDDING_MODEL { slow = 1, medium = 1, fast = 1, ludicrous = 1 }"
)

engine_backends_config() {
    local entry label offset model weights
    for entry in "${ENGINES[@]}"; do
        read -r label offset model weights <<<"$entry"
        cat <<EOF

[[backends]]
name = "$label"
url = "http://$BACKBONE_COMPUTE:$((SIM_PORT + offset))"
models = ["$model"]
kind = "llamacpp"
tier_weights = $weights
model_revisions = { "$model" = "$ENGINE_MODEL_REVISION" }
EOF
    done
}

# Builds llama-server unless this machine has (about 6 minutes on 2 cores the first time) and writes the model.
prepare_engines() {
    local vocab
    log "llama-server: built once per machine ($ENGINE_SCRIPT build)"
    ENGINE_BINARY="$(bash "$ENGINE_SCRIPT" build | tail -n 1)" || die "llama-server could not be built"
    vocab="$(bash "$ENGINE_SCRIPT" vocab)" || die "llama-server's vocabulary file is missing"
    mkdir -p "$DEMO_DIR/state/models"
    python3 "$REPO_DIR/provisioning/engines/tiny_gguf.py" --vocab "$vocab" \
        --output "$DEMO_DIR/state/models/popgate-tiny.gguf" >/dev/null ||
        die "tiny_gguf.py failed (\`make deps\` installs the gguf package it needs)"
}

# As a PoP would start them: Prometheus metrics on, a fixed number of slots, one thread each (the machine is small).
start_engines() {
    local entry label offset model weights
    local -a extra
    for entry in "${ENGINES[@]}"; do
        read -r label offset model weights <<<"$entry"
        extra=()
        [[ $model == "$ENGINE_EMBEDDING_MODEL" ]] && extra=(--embeddings --pooling mean)
        start_daemon_binary "$COMPUTE_NS" "llama-server@$label" "$ENGINE_BINARY" \
            --model "$DEMO_DIR/state/models/popgate-tiny.gguf" --alias "$model" \
            --host "$BACKBONE_COMPUTE" --port "$((SIM_PORT + offset))" --metrics \
            --parallel "$ENGINE_SLOTS" --ctx-size "$((ENGINE_CONTEXT * ENGINE_SLOTS))" --threads 1 --seed 1 "${extra[@]}"
    done
}

# llama-server answers /health with 503 until its model is loaded.
engines_healthy() {
    local entry label offset rest
    for entry in "${ENGINES[@]}"; do
        read -r label offset rest <<<"$entry"
        worker_healthy "$offset" || return 1
    done
}
