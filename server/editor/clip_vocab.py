"""Build a Hugging Face CLIP tokenizer directory from OpenAI's BPE merges file, offline.

Models built here (the tiny test pipeline, the demo editor) need a real CLIP tokenizer, and no hub is
reachable. OpenAI's merges file (MIT, shipped in open_clip's wheel as `bpe_simple_vocab_16e6.txt.gz`)
defines the whole 49,408-token vocabulary: 256 byte symbols, the same with the end-of-word marker `</w>`,
one token per merge, then the two special tokens. Written as `vocab.json` + `merges.txt`, it loads with
`CLIPTokenizer.from_pretrained(dir)`.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

# The merges file holds more lines than CLIP uses; CLIP keeps 49152 - 256 - 2 of them.
NUM_MERGES = 49152 - 256 - 2
START_TOKEN = "<|startoftext|>"
END_TOKEN = "<|endoftext|>"


def byte_symbols() -> list[str]:
    """GPT-2's reversible byte → printable-unicode table, in CLIP's order."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def write_clip_tokenizer(bpe_gz: Path, out_dir: Path, model_max_length: int = 77) -> Path:
    """Write vocab.json, merges.txt and the tokenizer configs of CLIP's tokenizer into `out_dir`."""
    with gzip.open(bpe_gz, "rt", encoding="utf-8") as stream:
        lines = stream.read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : NUM_MERGES + 1]]
    symbols = byte_symbols()
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges] + [START_TOKEN, END_TOKEN]
    vocab = {token: index for index, token in enumerate(tokens)}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_text = "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n"
    (out_dir / "merges.txt").write_text(merges_text, encoding="utf-8")
    config = {
        "tokenizer_class": "CLIPTokenizer",
        "model_max_length": model_max_length,
        "bos_token": START_TOKEN,
        "eos_token": END_TOKEN,
        "unk_token": END_TOKEN,
        "pad_token": END_TOKEN,
        "do_lower_case": True,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    special = {
        "bos_token": START_TOKEN,
        "eos_token": END_TOKEN,
        "unk_token": END_TOKEN,
        "pad_token": END_TOKEN,
    }
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2), encoding="utf-8")
    return out_dir
