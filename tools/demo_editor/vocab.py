"""A trimmed CLIP BPE tokenizer: the words the demo editor knows, and byte-level pieces for everything else.

CLIP's full vocabulary (49,408 tokens) would make the text embedding table most of the model's size. The
trimmed tokenizer keeps all 512 byte symbols (with and without the end-of-word marker), so any text still
tokenizes, plus exactly the BPE merges that CLIP applies to our words. Because the kept merges keep their
relative order, a kept word is split into the same pieces as by the full tokenizer; an unknown word stops
merging early and ends up as smaller pieces (down to single bytes), never as an error.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path

import regex

from in2n_server.editor.clip_vocab import END_TOKEN, NUM_MERGES, START_TOKEN, byte_symbols

# CLIP's pre-tokenizer: special tokens, English contractions, letter runs, single digits, other runs.
WORD_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)

# Common words kept beside the phrasings, so everyday instructions split into whole words.
_COMMON_TEXT = """
a an the it its this that these those is are was be to of in on at by for with from into onto as and or
but not no yes please can could would you i me my we our your make makes made turn turns change changes
give look looks like more less very much too some all every everything whole scene image picture photo
view object objects thing things colour color colours colors tint tone hue light lights lighting shadow
sky ground floor wall table chair car house tree trees grass water sea sun moon day night morning
evening noon dark bright dim warm cool cold hot soft hard shiny matte metal metallic wood wooden stone
glass plastic gold golden silver bronze copper red orange yellow green blue purple pink brown black
white grey gray cyan magenta violet teal navy lime turquoise beige autumn winter summer spring snow rain
fog foggy snowy sunny cloudy old new big small large tiny paint painting style photo cartoon sketch
drawing statue person face man woman dog cat bear horse flower flowers fire ice up down over under left
right top bottom front back side inside outside now again than then so just only also same other
different time want put show set keep let add remove
"""
COMMON_WORDS = tuple(_COMMON_TEXT.split())


def _byte_to_symbol() -> dict[int, str]:
    """GPT-2's byte table as a mapping: printable bytes stand for themselves, the others for 256 + n."""
    printable = {ord(symbol) for symbol in byte_symbols() if ord(symbol) < 256}
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_SYMBOL = _byte_to_symbol()


def _load_merges(bpe_gz: Path) -> list[tuple[str, str]]:
    with gzip.open(bpe_gz, "rt", encoding="utf-8") as file:
        lines = file.read().split("\n")
    return [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]


def _word_symbols(word: str) -> list[str]:
    """A word's bytes as CLIP's printable byte symbols, the last one carrying the end-of-word marker."""
    symbols = [BYTE_TO_SYMBOL[byte] for byte in word.encode("utf-8")]
    symbols[-1] += "</w>"
    return symbols


def _merges_used(word: str, ranks: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    """Run CLIP's BPE on one word and return the merges it applies, in order."""
    symbols = _word_symbols(word)
    used: list[tuple[str, str]] = []
    while len(symbols) > 1:
        pairs = [(symbols[i], symbols[i + 1]) for i in range(len(symbols) - 1)]
        best = min(pairs, key=lambda pair: ranks.get(pair, 1 << 30))
        if best not in ranks:
            break
        used.append(best)
        merged: list[str] = []
        i = 0
        while i < len(symbols):
            if i < len(symbols) - 1 and (symbols[i], symbols[i + 1]) == best:
                merged.append(symbols[i] + symbols[i + 1])
                i += 2
            else:
                merged.append(symbols[i])
                i += 1
        symbols = merged
    return used


def words_of(texts: Iterable[str]) -> set[str]:
    """The pre-tokenized words of some texts, lower-cased as CLIP's tokenizer does."""
    return {word for text in texts for word in WORD_PATTERN.findall(text.lower().strip())}


def write_trimmed_tokenizer(
    bpe_gz: Path, texts: Iterable[str], out_dir: Path, model_max_length: int = 77
) -> int:
    """Write a CLIP tokenizer that keeps the merges of `texts` (and COMMON_WORDS); returns its size."""
    merges = _load_merges(bpe_gz)
    ranks = {pair: rank for rank, pair in enumerate(merges)}
    kept: set[tuple[str, str]] = set()
    for word in sorted(words_of(texts) | set(COMMON_WORDS)):
        kept.update(_merges_used(word, ranks))
    kept_merges = sorted(kept, key=ranks.__getitem__)
    symbols = byte_symbols()
    tokens = (
        symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in kept_merges] + [START_TOKEN, END_TOKEN]
    )
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_text = "#version: 0.2\n" + "\n".join(" ".join(m) for m in kept_merges) + "\n"
    (out_dir / "merges.txt").write_text(merges_text, encoding="utf-8")
    special = {
        "bos_token": START_TOKEN,
        "eos_token": END_TOKEN,
        "unk_token": END_TOKEN,
        "pad_token": END_TOKEN,
    }
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": model_max_length, "do_lower_case": True}
    (out_dir / "tokenizer_config.json").write_text(
        json.dumps({**config, **special}, indent=2), encoding="utf-8"
    )
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")
    return len(vocab)
