/// The inference server the simulator imitates: what it answers wherever vLLM and llama.cpp's
/// `llama-server` differ in something a gateway reads (metrics, listings, errors, usage, timings).
public enum InferenceEngine: String, Sendable, Equatable, CaseIterable {
    /// vLLM's OpenAI-compatible server.
    case vllm
    /// llama.cpp's `llama-server`, started with `--metrics` and `--parallel` set to the slot count.
    case llamacpp
}
