#!/usr/bin/env python3
"""Writes a tiny Hugging Face model directory for vLLM's `--load-format dummy`: a real tokenizer, no weights.

vLLM reads the architecture from config.json and the tokenizer and chat template from the tokenizer files; with
`--load-format dummy` it fills the weights with random values itself, so nothing is downloaded and no weight file is
written. What the model says is noise, but the server that runs it is the real one, with its real protocol,
scheduler, metrics and usage reports. The tokenizer is a byte-level BPE trained here on a fixed text, so token counts
are a real tokenizer's.

    tiny_hf_model.py --output DIRECTORY

Run it with the python of the vLLM venv (provisioning/engines/vllm.sh path), which has the `tokenizers` package.
The same run always writes the same files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

# vLLM's CPU attention kernels take head sizes of 32 and up (16 starts, then fails the first request and takes the
# server down): hidden 128 over 4 heads is 32.
HIDDEN = 128
LAYERS = 2
HEADS = 4
HEADS_KV = 2
INTERMEDIATE = 256
CONTEXT = 4096
VOCABULARY = 1024  # the most the trainer may make; the fixed text gives fewer
SPECIAL = ["<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
UNKNOWN, BEGIN, END = SPECIAL[:3]

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + (message['content'] if message['content'] is string else '')"
    " + '<|end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)

# The text the tokenizer learns its merges from: any fixed text will do; this one has the words the tests send.
TRAINING_TEXT = """\
A gateway stands between the clients and the inference workers. Each client reaches it through its own tunnel and
speaks the chat completion protocol: a model, a list of messages, and how many tokens it may take.
Name three rivers of Europe. The Danube, the Rhine and the Loire are rivers of Europe; the Volga is the longest.
Write a long story about the sea. The sea was grey in the morning and blue by noon, and the boats came home at dusk.
The worker answers with tokens, one after another, and counts the tokens of the prompt and of the completion.
When many requests arrive at once, the worker keeps some of them waiting until a slot is free; the requests of a
higher priority are scheduled before those of a lower one. The gateway reads how many requests wait, and how full
the cache of keys and values is, and sends each new request where the wait is shortest.
Hello! How are you today? I am well, thank you. What time is it? It is ten past three in the afternoon.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 100 1000 2048 4096. Punctuation: , . ; : ! ? ' " ( ) [ ] { } - _ / + = * &.
"""


def train_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(unk_token=UNKNOWN))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCABULARY, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(TRAINING_TEXT.splitlines(keepends=True), trainer=trainer)
    return tokenizer


def write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


def write_model(output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer()
    tokenizer.save(str(output / "tokenizer.json"))
    begin, end = tokenizer.token_to_id(BEGIN), tokenizer.token_to_id(END)
    write_json(output / "config.json", {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": HEADS_KV, "head_dim": HIDDEN // HEADS, "intermediate_size": INTERMEDIATE,
        "vocab_size": tokenizer.get_vocab_size(), "max_position_embeddings": CONTEXT,
        "hidden_act": "silu", "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": False,
        "attention_bias": False, "mlp_bias": False, "bos_token_id": begin, "eos_token_id": end,
        "torch_dtype": "float32",
    })
    write_json(output / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": BEGIN, "eos_token": END, "unk_token": UNKNOWN,
        "additional_special_tokens": SPECIAL[3:], "model_max_length": CONTEXT, "add_bos_token": False,
        "clean_up_tokenization_spaces": False, "chat_template": CHAT_TEMPLATE,
    })
    write_json(output / "generation_config.json", {"bos_token_id": begin, "eos_token_id": end})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, required=True, help="the model directory to write")
    write_model(parser.parse_args().output)


if __name__ == "__main__":
    main()
