"""What popgate-inference-sim answers (its documented, deterministic output)."""

from __future__ import annotations

from typing import Mapping, Sequence


SIM_WORDS = ["Hello", "from", "the", "popgate", "inference", "simulator."]
DEFAULT_COMPLETION_TOKENS = 12


def sim_text(tokens: int = DEFAULT_COMPLETION_TOKENS) -> str:
    """The simulator's completion of `tokens` tokens."""
    return " ".join(SIM_WORDS[i % len(SIM_WORDS)] for i in range(tokens))


def sim_prompt_tokens(messages: Sequence[Mapping[str, str]]) -> int:
    """The simulator's prompt token count: words per message plus one per message."""
    return sum(len(m["content"].split()) + 1 for m in messages)
