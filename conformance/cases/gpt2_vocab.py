"""Rebuild OpenAI's encoder.json and vocab.bpe, byte for byte, from whisper's gpt2.tiktoken, and ship them gzipped.

    python -m gpt2_conformance.cases.gpt2_vocab PATH/gpt2.tiktoken

gpt2.tiktoken is whisper/assets/gpt2.tiktoken in the openai-whisper package on PyPI (`pip download --no-deps
openai-whisper`, then read it out of the archive; its SHA-256 is that of tiktoken's r50k_base). It lists GPT-2's
50,256 tokens as "base64 rank" lines, rank = id: the 256 single bytes in the order of bytes_to_unicode, then
one token per merge in rank order; <|endoftext|> (50256) is not in it. A merge is recovered from the token it
made: BPE over the token's bytes with the merges of lower rank stops at exactly two symbols, the merge's pair.

The rebuilt files must hash to what tiktoken publishes for OpenAI's (gpt2_conformance.reference.vocab.SHA256);
only then are reference/vocab/encoder.json.gz and vocab.bpe.gz written (gzip with mtime 0, so the same zlib
writes the same bytes).
"""
import argparse
import base64
import gzip
import hashlib
import json
import sys
from pathlib import Path

from gpt2_conformance.reference.bpe import bpe, bytes_as_symbols, bytes_to_unicode
from gpt2_conformance.reference.vocab import END_OF_TEXT, SHA256, VOCAB_DIR


def read_tiktoken(path: Path) -> list[bytes]:
    """The tokens of a .tiktoken file in rank order, checked to be ranked 0, 1, 2, ... without gaps."""
    tokens = []
    for line in Path(path).read_text().splitlines():
        encoded, rank = line.split()
        if int(rank) != len(tokens):
            raise ValueError(f"{path}: rank {rank} where {len(tokens)} was expected")
        tokens.append(base64.b64decode(encoded))
    return tokens


def check_base_bytes(tokens: list[bytes]) -> None:
    """Ids 0-255 must be the single bytes in bytes_to_unicode's order (printable first), as encoder.json has them."""
    if tokens[:256] != [bytes([b]) for b in bytes_to_unicode()]:
        raise ValueError("the first 256 tokens are not the single bytes in the order of bytes_to_unicode")


def recover_merges(tokens: list[bytes]) -> list[tuple[str, str]]:
    """vocab.bpe's merges, in rank order: the pair each token from id 256 on is made of."""
    ranks = {}
    for token in tokens[256:]:
        pair = bpe(bytes_as_symbols(token), ranks)  # only the merges of lower rank are known yet
        if len(pair) != 2:
            raise ValueError(f"token {len(ranks) + 256} ({token!r}) is not one merge of two earlier tokens: {pair}")
        ranks[pair] = len(ranks)
    return list(ranks)


def encoder_json(tokens: list[bytes]) -> bytes:
    """encoder.json: {symbol: id} in id order, <|endoftext|> last, as json.dumps writes it by default."""
    encoder = {bytes_as_symbols(token): i for i, token in enumerate(tokens)} | {END_OF_TEXT: len(tokens)}
    return json.dumps(encoder).encode("utf-8")


def vocab_bpe(merges: list[tuple[str, str]]) -> bytes:
    """vocab.bpe: a version line, then one merge a line, its two symbols separated by a space."""
    return ("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)).encode("utf-8")


def rebuild(tiktoken_path: Path) -> dict[str, bytes]:
    """{file name: the file's bytes}, each checked against the SHA-256 published for OpenAI's."""
    tokens = read_tiktoken(tiktoken_path)
    check_base_bytes(tokens)
    files = {"encoder.json": encoder_json(tokens), "vocab.bpe": vocab_bpe(recover_merges(tokens))}
    for name, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        if digest != SHA256[name]:
            raise ValueError(f"the rebuilt {name} has SHA-256 {digest}, not OpenAI's {SHA256[name]}")
    return files


def write_gzipped(files: dict[str, bytes], directory: Path) -> None:
    """<name>.gz for each file, with mtime 0 and no file name in the header, so that the bytes are reproducible."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=9, mtime=0))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpt2_conformance.cases.gpt2_vocab",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("tiktoken", type=Path, help="whisper/assets/gpt2.tiktoken from the openai-whisper package")
    parser.add_argument("--out", type=Path, default=VOCAB_DIR, help="where the .gz files go (default: reference/vocab)")
    args = parser.parse_args(argv)
    try:
        files = rebuild(args.tiktoken)
    except (OSError, ValueError) as e:
        print(f"gpt2_vocab: {e}", file=sys.stderr)
        return 1
    write_gzipped(files, args.out)
    for name in files:
        print(f"{args.out / name}.gz: SHA-256 of {name} as published ({SHA256[name][:16]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
