#!/usr/bin/env python3
"""Writes a tiny llama-architecture GGUF model: a real tokenizer, random weights.

The tokenizer is copied from one of the vocabulary-only GGUF files llama.cpp ships in its sources
(models/ggml-vocab-*.gguf), so token counts, and therefore usage, are a real tokenizer's. The weights are
random and the model is a few layers of a few dozen dimensions: what it says is noise, but the server that runs
it is the real one, with its real protocol, slots, metrics and usage reports. Nothing is downloaded.

    tiny_gguf.py --vocab LLAMA_CPP_SOURCES/models/ggml-vocab-llama-spm.gguf --output tiny.gguf [--name NAME]

The same inputs always give the same file (the weights come from a fixed seed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter

ARCHITECTURE = "llama"
# Small enough to run at hundreds of tokens a second on one core, large enough to be a llama model.
EMBEDDING = 64
LAYERS = 2
HEADS = 4
HEADS_KV = 2
FEED_FORWARD = 128
CONTEXT = 16384  # room for long streams: a cut-stream test must still be generating when the client hangs up
SEED = 20261207


def copy_tokenizer(reader: GGUFReader, writer: GGUFWriter) -> int:
    """Copies every tokenizer.* key; returns the vocabulary's size."""
    size = 0
    for name, field in reader.fields.items():
        if not name.startswith("tokenizer."):
            continue
        kind = GGUFValueType(field.types[0])
        if kind == GGUFValueType.ARRAY:
            sub = GGUFValueType(field.types[-1])
            writer.add_key_value(name, field.contents(), kind, sub_type=sub)
            if name == "tokenizer.ggml.tokens":
                size = len(field.data)
        else:
            writer.add_key_value(name, field.contents(), kind)
    if size == 0:
        raise SystemExit("tiny_gguf.py: the vocabulary file has no tokenizer.ggml.tokens; give a ggml-vocab-*.gguf")
    return size


def add_weights(writer: GGUFWriter, vocabulary: int) -> None:
    rng = np.random.default_rng(SEED)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    head_dim = EMBEDDING // HEADS
    writer.add_tensor("token_embd.weight", weight(vocabulary, EMBEDDING))
    for block in range(LAYERS):
        prefix = f"blk.{block}"
        writer.add_tensor(f"{prefix}.attn_norm.weight", np.ones(EMBEDDING, dtype=np.float32))
        writer.add_tensor(f"{prefix}.attn_q.weight", weight(EMBEDDING, EMBEDDING))
        writer.add_tensor(f"{prefix}.attn_k.weight", weight(HEADS_KV * head_dim, EMBEDDING))
        writer.add_tensor(f"{prefix}.attn_v.weight", weight(HEADS_KV * head_dim, EMBEDDING))
        writer.add_tensor(f"{prefix}.attn_output.weight", weight(EMBEDDING, EMBEDDING))
        writer.add_tensor(f"{prefix}.ffn_norm.weight", np.ones(EMBEDDING, dtype=np.float32))
        writer.add_tensor(f"{prefix}.ffn_gate.weight", weight(FEED_FORWARD, EMBEDDING))
        writer.add_tensor(f"{prefix}.ffn_up.weight", weight(FEED_FORWARD, EMBEDDING))
        writer.add_tensor(f"{prefix}.ffn_down.weight", weight(EMBEDDING, FEED_FORWARD))
    writer.add_tensor("output_norm.weight", np.ones(EMBEDDING, dtype=np.float32))
    writer.add_tensor("output.weight", weight(vocabulary, EMBEDDING))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=Path, required=True, help="a vocabulary-only GGUF from llama.cpp's models/")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--name", default="popgate-tiny", help="general.name, which the server reports")
    args = parser.parse_args()
    if not args.vocab.is_file():
        print(f"tiny_gguf.py: no vocabulary file {args.vocab}", file=sys.stderr)
        return 2

    reader = GGUFReader(args.vocab)
    partial = args.output.with_name(args.output.name + ".partial")
    writer = GGUFWriter(partial, ARCHITECTURE)
    writer.add_name(args.name)
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(EMBEDDING)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(FEED_FORWARD)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS_KV)
    writer.add_rope_dimension_count(EMBEDDING // HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(0)  # all F32
    vocabulary = copy_tokenizer(reader, writer)
    add_weights(writer, vocabulary)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    partial.replace(args.output)  # a reader never sees half a model
    print(f"{args.output}: {vocabulary} tokens, {LAYERS} layers of {EMBEDDING}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
