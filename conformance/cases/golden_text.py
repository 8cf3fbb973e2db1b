"""Golden tokenizations: ids made by OpenAI's genuine src/encoder.py, committed as golden/tokenization.json.gz.

    python -m gpt2_conformance.cases.golden_text --official-src CLONE/src

texts() draws the texts, in groups, from fixed lists and a seeded random.Random; the official Encoder, built by
the official get_encoder from the shipped encoder.json and vocab.bpe (gpt2_conformance.reference.vocab),
encodes each, and decodes id sequences (decode_sequences) made from its own encodings. The file holds

    made_by  the SHA-256 of encoder.py and the versions of Python, its Unicode tables and `regex`
    encode   [{"group", "text", "ids"}], or "error" (the exception's name) for a text the official code
             cannot encode: a lone surrogate is not UTF-8
    decode   [{"group", "ids", "text"}]

The texts depend on the Unicode tables (unicodedata picks the characters of each general category, and only
characters whose category `regex` agrees with are kept), so regenerating with another Python may draw others;
the committed file holds the texts themselves. Rerunning with the same Python writes the same bytes (gzip
mtime 0), so `git status` after a rerun says whether the official code still agrees.
"""
import argparse
import gzip
import hashlib
import importlib.util
import itertools
import json
import random
import sys
import tempfile
import unicodedata
from collections import defaultdict
from functools import cache
from pathlib import Path

import regex

from gpt2_conformance.reference.vocab import END_OF_TEXT, VOCAB_DIR

GOLDEN = Path(__file__).parent / "golden" / "tokenization.json.gz"
SEED = 2019  # the year of GPT-2

CONTRACTIONS = ["s", "t", "re", "ve", "m", "ll", "d"]
# What \s matches and what it does not (though str.isspace does: U+001C-U+001F), and what only looks blank.
SPACES = [" ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u1680", "\u2000",
          "\u2007", "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\u180e", "\u200b", "\u2060",
          "\ufeff"]
PHRASES = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world! It's 3:45 p.m. on 2019-02-14.",
    "ALL CAPS WITH CONTRACTIONS: IT'S, WE'LL, THEY'RE, I'VE, I'M, DON'T, HE'D.",
    "mIxEd CaSe WoRdS aNd NuMbErS123abc456",
    "Größe, Fußgängerübergänge und Ärger",
    "¿Dónde está la biblioteca? ¡Aquí!",
    "L'été dernier, j'ai visité Besançon.",
    "Ångström, Øresund, Ærøskøbing",
    "Zażółć gęślą jaźń",
    "Příliš žluťoučký kůň úpěl ďábelské ódy",
    "Árvíztűrő tükörfúrógép",
    "Pijamalı hasta yağız şoföre çabucak güvendi. İstanbul",
    "Tiếng Việt có dấu: Nguyễn Thị Minh Khai",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Γαζέες καὶ μυρτιὲς δὲν θὰ βρῶ πιὰ στὸ χρυσαφὶ ξέφωτο",
    "Բարև աշխարհ",
    "გამარჯობა მსოფლიო",
    "שָׁלוֹם עולם, מה שלומך?",
    "مرحبا بالعالم! كيف حالك؟ مَرْحَبًا",
    "سلام دنیا",
    "नमस्ते दुनिया, आप कैसे हैं? क्षत्रिय",
    "হ্যালো বিশ্ব",
    "வணக்கம் உலகம்",
    "నమస్కారం ప్రపంచం",
    "ಹಲೋ ವರ್ಲ್ಡ್",
    "ഹലോ വേൾഡ്",
    "ਸਤ ਸ੍ਰੀ ਅਕਾਲ",
    "સ્વાગત છે",
    "ආයුබෝවන් ලෝකය",
    "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "ສະບາຍດີ",
    "សួស្តី\u200bពិភពលោក",
    "မင်္ဂလာပါ",
    "བཀྲ་ཤིས་བདེ་ལེགས།",
    "ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ ᠠ\u180eᠠ",
    "ሰላም ልዑል",
    "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ",
    "ᐃᓄᒃᑎᑐᑦ",
    "こんにちは世界。カタカナとひらがな、漢字。",
    "你好，世界！我们说中文。",
    "繁體中文測試：臺灣",
    "안녕하세요, 세계! 한국어 텍스트입니다.",
    "𐌷𐌰𐌻𐌻𐍉 𒀭𒂗𒆠",
    "𝔊𝔯𝔢𝔢𝔱𝔦𝔫𝔤𝔰 𝐁𝐨𝐥𝐝 𝟏𝟐𝟑",
    "ｆｕｌｌｗｉｄｔｈ\u3000ＴＥＸＴ\u3000１２３，ｗｏｒｌｄ！",
    "ﬁﬂﬀ ﬃ ﬄ ligatures",
    "x² + y³ = z⁴, H₂O, ½ + ¼ = ¾",
    "∀x∈ℝ: x² ≥ 0 ⇒ √(x²) = |x|",
    "price: $100, €85, £70, ¥1000, ₹500, ₿0.01",
    "“Smart quotes” and ‘single’ — dashes – and … ellipsis",
    "«Guillemets» „Anführungszeichen“ 「括弧」『二重』",
    "def f(x):\n    return x**2  # square\n",
    "<html><body class=\"main\">&amp;&lt;</body></html>",
    "https://example.com/path?q=1&r=two#frag",
    "user@example.com, @handle, #hashtag",
    "C:\\Users\\name\\file.txt",
    "{\"key\": [1, 2.5, -3e10, null, true]}",
    "SELECT * FROM t WHERE a >= 10 AND b <> 'x';",
    "tab\tseparated\tvalues\n1\t2\t3\n",
    "line one\r\nline two\r\n\r\nline four",
    "trailing spaces   \nand   multiple    spaces",
]
EMOJI = [
    "\U0001f44b", "\U0001f44b\U0001f3fb", "\U0001f44b\U0001f3fd", "\U0001f44b\U0001f3ff", "\U0001f44d\U0001f3fe",
    "\U0001f9d1\u200d\U0001f4bb", "\U0001f9d1\U0001f3fd\u200d\U0001f4bb",  # technologist, with a skin tone
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",  # family of four
    "\U0001f469\u200d\u2764\ufe0f\u200d\U0001f48b\u200d\U0001f468",  # kiss
    "\U0001f3f3\ufe0f\u200d\U0001f308", "\U0001f3f4\u200d\u2620\ufe0f",  # rainbow flag, pirate flag
    "\U0001f1fa\U0001f1f8", "\U0001f1ef\U0001f1f5\U0001f1eb\U0001f1f7",  # flags: regional indicator pairs
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland: tag characters
    "1\ufe0f\u20e3", "#\ufe0f\u20e3", "*\ufe0f\u20e3",  # keycaps
    "\u2764\ufe0f", "\u2764\ufe0e", "\u263a", "\u263a\ufe0f",  # variation selectors 16 and 15
    "\U0001f642", "\U0001f600\U0001f603\U0001f604", "\U0001f30d", "\U0001f408\u200d\u2b1b",
    "\U0001f441\ufe0f\u200d\U0001f5e8\ufe0f", "\U0001fae0",
    "\U0001f937\u200d\u2640\ufe0f", "\U0001f937\U0001f3fd\u200d\u2642\ufe0f", "\U0001f9d4\U0001f3fb\u200d\u2640\ufe0f",
    "\u00a9\ufe0f", "\u2122", "\U0001f51f", "\U0001f170\ufe0f", "\U0001f3fb",  # a skin tone alone
]
# What transformers' clean_up_tokenization_spaces changes when one of them is decoded alone (anchors.md section 9, 11).
CLEANED_UP = [" .", " ,", " ?", " !", " n't", " 'm", " 's", " 've", " 're"]
# Inputs of the tokenizer bugs in /work/shared/anchors.md section 9, by item.
KNOWN_BUGS = [
    "  a", "a\n\nb", "a  b", "a \n b", " a", "a ",  # 1 lookahead lost
    " café", "naïve", "६", "x६y",  # 2 ASCII classes (keras-hub's marker)
    "'Sam", "'S", "'LL", "'D", "1234", "12345678", " 1234",  # 3 contraction case, digit groups
    "we'll", "We'll", "we 'll", "we'l l",  # 4 the 'l l typo
    "hello \U0001f44b world \U0001f30d", "\u201c", "\u201d", "你", "\u2014",  # 5 the byte step
    " gracefully", "ableable", "gracefully",  # 6 greedy longest match
    "brutalist", "Hello,", " brutalist",  # 7 merge order
    "toString", "constructor", "valueOf", "hasOwnProperty", "__proto__", "isPrototypeOf", "propertyIsEnumerable",
    "toLocaleString", "__defineGetter__", "__lookupGetter__", " toString", "toString constructor",  # 8 cache
    END_OF_TEXT, "a" + END_OF_TEXT, END_OF_TEXT + "\n",  # 9
    "my", " my",  # 10 add_prefix_space
    "y is?", "do n't", *CLEANED_UP,  # 11 clean_up_tokenization_spaces
    "\u201c\u201d", "\u7c0c",  # 12 cut characters
    "abc abc",  # 14 no pre-tokenizer
    "e\u0301", "\u212b", "\u00c5", "\ufb01", "fi", "Kant\u014d", "Kanto\u0304",  # 16 normalization
]


@cache
def category_characters() -> dict[str, list[str]]:
    """{general category: its characters}, for all 30 categories. Only assigned characters on which unicodedata
    and `regex` agree (their Unicode versions may differ); Cn is the noncharacters, unassigned forever."""
    by_category = defaultdict(list)
    for cp in range(0x110000):
        by_category[unicodedata.category(chr(cp))].append(chr(cp))
    by_category["Cn"] = [c for c in by_category["Cn"] if 0xFDD0 <= ord(c) <= 0xFDEF or ord(c) & 0xFFFE == 0xFFFE]
    return {cat: [c for c in chars if cat == "Cs" or regex.fullmatch(rf"\p{{{cat}}}", c)]
            for cat, chars in sorted(by_category.items())}


def category_texts(rng: random.Random) -> list[str]:
    """Characters of every general category, the first, the last and eight drawn, each in five contexts."""
    texts = []
    for chars in category_characters().values():
        for c in [chars[0], chars[-1], *rng.sample(chars, min(8, len(chars)))]:
            texts += [c, " " + c, "a" + c + "b", c * 3, "1" + c + " " + c + "!"]
    return texts


def contraction_texts() -> list[str]:
    """Each contraction in every mix of cases, where GPT-2's pattern takes it and where it does not."""
    texts = []
    for c in CONTRACTIONS:
        for cased in sorted({"".join(p) for p in itertools.product(*[(x.lower(), x.upper()) for x in c])}):
            for context in ["'{}", "it'{}", "IT'{}", "'{}am", " '{}", "''{}", "'{} '{}", "{}'", "x'{}1", "'{}\n"]:
                texts.append(context.format(cased, cased))
    return texts + ["it\u2019s", "it\u02bcs", "it`s", "it''s", "rock 'n' roll", "o'clock", "y'all", "'tis", "ma'am",
                    "can't", "won't", "I'd've", "'''", "'", "' s", "'s's", "s'", "'re're"]


def whitespace_texts(rng: random.Random) -> list[str]:
    """Runs of each space character and mixtures of them, alone, between words, at either end; and no text."""
    texts = [""]
    for space in SPACES:
        for n in [1, 2, 3, 17]:
            run = space * n
            texts += [run, "a" + run + "b", run + "a", "a" + run, "1" + run + "!"]
    for _ in range(60):
        run = "".join(rng.choice(SPACES) for _ in range(rng.randint(2, 6)))
        texts += [run, "word" + run + "word", run + " x"]
    return texts


def digit_texts() -> list[str]:
    """The decimal digits of every script, other numbers (Nl, No), and their mixtures with ASCII digits."""
    zeros = [c for c in category_characters()["Nd"] if unicodedata.decimal(c) == 0]
    texts = []
    for zero in zeros:
        digits = "".join(chr(ord(zero) + i) for i in range(10))
        texts += [digits, " " + digits[3:6], "12" + digits[:2], digits[7:] + "abc"]
    return texts + ["Ⅻ", "ⅰⅱⅲ", "〇一二三", "½¾", "²³¹", "①②③", "𐄇𐄈", "1½", " 10⁶", "٣.١٤", "१,२३४"]


def script_of(c: str) -> str:
    """The first word of a character's name, which is its script for most letters ("CYRILLIC", "CJK")."""
    return unicodedata.name(c, "").split(" ")[0]


def script_texts(rng: random.Random) -> list[str]:
    """Phrases in many languages, and words drawn from the letters and marks of every script (by the first
    word of the characters' names) with 10 letters or more."""
    letters, marks = defaultdict(list), defaultdict(list)
    chars = category_characters()
    for c in chars["Lo"] + chars["Ll"] + chars["Lu"]:
        letters[script_of(c)].append(c)
    for c in chars["Mn"] + chars["Mc"]:
        marks[script_of(c)].append(c)
    del letters[""]  # Tangut, Nushu and Khitan ideographs: no names in unicodedata
    texts = list(PHRASES)
    for script in sorted(s for s in letters if len(letters[s]) >= 10):
        for _ in range(2):
            words = []
            for _ in range(rng.randint(1, 4)):
                pool = letters[script] * 4 + marks[script]
                words.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 8))))
            texts.append(" ".join(words))
    return texts


def combining_texts(rng: random.Random) -> list[str]:
    """Combining marks on letters, digits, spaces, punctuation and emoji, at the start of a text, stacked."""
    marks = [chr(c) for c in range(0x300, 0x370)]
    texts = ["\u0301", "\u0301a", " \u0301", "a \u0301b", "1\u0301", "!\u0301", "\U0001f44b\u0301", "\u20dd",
             "a\u20dd", "A\u0308\u0301", "\u1100\u1161\u11a8", "\u1100\u1161\u11a8\u1100\u1161\u11a8 \u1112\u1161",
             "ก\u0e33", "क\u094d\u0937", "ñ", "n\u0303", "\u05e9\u05b8\u05c1"]
    for _ in range(50):
        base = rng.choice("aZ1 !\u3042\u0434")
        texts.append(base + "".join(rng.choice(marks) for _ in range(rng.randint(1, 12))) + rng.choice(["", "x", " y"]))
    return texts


def emoji_texts() -> list[str]:
    """Emoji with skin tones, ZWJ sequences, flags, keycaps and variation selectors, alone and in text."""
    texts = []
    for e in EMOJI:
        texts += [e, " " + e, "a" + e + "b", e * 3, e + "!", "hello " + e + " world"]
    return texts + [" ".join(EMOJI), "".join(EMOJI)]


def end_of_text_texts() -> list[str]:
    """<|endoftext|> as the official code sees it, ordinary text: alone, repeated, in text, cut, misspelled."""
    texts = [END_OF_TEXT, " " + END_OF_TEXT, END_OF_TEXT * 2, "a" + END_OF_TEXT + "b", "a " + END_OF_TEXT + " b",
             "\n" + END_OF_TEXT + "\n", "<|EndOfText|>", "<|ENDOFTEXT|>", "< |endoftext| >", "<|endoftext|",
             "<<|endoftext|>>", "<|endoftext|>\u0301", "endoftext", " endoftext", "<|im_start|>", "<|fim_prefix|>"]
    for i in range(1, len(END_OF_TEXT)):
        texts += [END_OF_TEXT[:i], END_OF_TEXT[i:], "x" + END_OF_TEXT[:i]]
    return texts


def long_texts(rng: random.Random) -> list[str]:
    """Long pieces (tiktoken's #15 runs of 10,000, words of thousands of random letters) and texts of more
    than 1,024 ids (GPT-2's context)."""
    texts = []
    for c in ["^", "0", "a", "'s", " ", "\n"]:
        texts += [c * 10_000, " " + c * 10_000, c * 10_000 + "\n"]
    texts += ["ab" * 3_000, "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(5_000)),
              "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(3_000)),
              "".join(rng.choice("0123456789") for _ in range(5_000)),
              "".join(rng.choice("!\"#$%&()*+,-./:;<=>?@[]^_`{|}~") for _ in range(3_000)),
              "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(1_000)),
              "".join(chr(rng.randint(0x430, 0x44F)) for _ in range(2_000))]
    for n in [40, 80, 160]:
        texts.append(" ".join(rng.choice(PHRASES) for _ in range(n)))
    return texts


def is_unicode(text: str) -> bool:
    """Whether a text is valid Unicode, which UTF-8 can encode (a lone surrogate is not)."""
    return not regex.search(r"\p{Cs}", text)


def mixed_texts(rng: random.Random, pool: list[str]) -> list[str]:
    """Short texts of the other groups joined, so that pieces meet at every kind of boundary."""
    short = [t for t in pool if len(t) <= 40 and is_unicode(t)]
    return ["".join(rng.choice(short) for _ in range(rng.randint(2, 6))) for _ in range(400)]


def texts() -> dict[str, list[str]]:
    """{group: texts}; a text is kept in the first group that has it."""
    rng = random.Random(SEED)
    groups = {"categories": category_texts(rng), "contractions": contraction_texts(),
              "whitespace": whitespace_texts(rng), "digits": digit_texts(), "scripts": script_texts(rng),
              "combining": combining_texts(rng), "emoji": emoji_texts(), "end_of_text": end_of_text_texts(),
              "known_bugs": list(KNOWN_BUGS), "long": long_texts(rng)}
    groups["mixed"] = mixed_texts(rng, [t for group in groups.values() for t in group])
    seen = set()
    for name, group in groups.items():
        groups[name] = list(dict.fromkeys(t for t in group if t not in seen))
        seen.update(groups[name])
    return groups


def decode_sequences(rng: random.Random, encoded: dict[str, list[int]]) -> dict[str, list[list[int]]]:
    """{group: id sequences}: every byte alone, encodings cut inside multi-byte characters or reversed, ids
    drawn at random, <|endoftext|>, and the ids of anchors.md section 9, 11."""
    multi_byte = [ids for text, ids in encoded.items() if len(text.encode("utf-8")) > len(text) and len(ids) <= 12]
    cut = rng.sample(multi_byte, 40)
    return {
        "bytes": [[i] for i in range(256)],
        "cut": [ids[:k] for ids in cut for k in range(1, len(ids))] + [ids[k:] for ids in cut for k in (1, 2)],
        "reversed": [ids[::-1] for ids in cut],
        "random": [[rng.randrange(50257) for _ in range(rng.randint(1, 16))] for _ in range(60)],
        "end_of_text": [[50256], [50256, 50256], [64, 50256, 65], [447, 50256, 250]],  # 64 "a", 65 "b"
        "known_bugs": [[], [88, 318, 5633], [5633], [764], *(encoded[text] for text in CLEANED_UP)],
    }


def official_encoder(src: Path, models_dir: Path):
    """OpenAI's Encoder from src/encoder.py, loaded by its own get_encoder from the shipped files, which it
    reads from models_dir/124M/ as it reads the official download."""
    spec = importlib.util.spec_from_file_location("gpt2_official_encoder", Path(src) / "encoder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (models_dir / "124M").mkdir()
    for name in ["encoder.json", "vocab.bpe"]:
        (models_dir / "124M" / name).write_bytes(gzip.decompress((VOCAB_DIR / f"{name}.gz").read_bytes()))
    return module.get_encoder("124M", str(models_dir))


def official_encodings(encoder, groups: dict[str, list[str]]) -> list[dict]:
    """[{"group", "text", "ids" or "error"}] for every text, in group order."""
    records = []
    for group, texts in groups.items():
        for text in texts:
            try:
                records.append({"group": group, "text": text, "ids": encoder.encode(text)})
            except UnicodeEncodeError as e:
                records.append({"group": group, "text": text, "error": type(e).__name__})
    return records


def generate(src: Path) -> dict:
    """The golden data (see the module docstring), made by the official code in src/."""
    with tempfile.TemporaryDirectory() as tmp:
        encoder = official_encoder(src, Path(tmp))
    encode = official_encodings(encoder, texts())
    encoded = {r["text"]: r["ids"] for r in encode if "ids" in r}
    decode = [{"group": group, "ids": ids, "text": encoder.decode(ids)}
              for group, sequences in decode_sequences(random.Random(SEED), encoded).items() for ids in sequences]
    made_by = {"official_encoder_py_sha256": hashlib.sha256((Path(src) / "encoder.py").read_bytes()).hexdigest(),
               "python": sys.version.split()[0], "unicodedata": unicodedata.unidata_version, "regex": regex.__version__,
               "how": "python -m gpt2_conformance.cases.golden_text --official-src CLONE/src (openai/gpt-2 "
                      "src/encoder.py unmodified, on reference/vocab's encoder.json and vocab.bpe)"}
    return {"made_by": made_by, "encode": encode, "decode": decode}


@cache
def load() -> dict:
    """The committed golden tokenizations (see the module docstring)."""
    return json.loads(gzip.decompress(GOLDEN.read_bytes()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpt2_conformance.cases.golden_text",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--official-src", type=Path, required=True, metavar="PATH",
                        help="the src/ folder of a clone of openai/gpt-2")
    args = parser.parse_args(argv)
    if not (args.official_src / "encoder.py").is_file():
        print(f"golden_text: {args.official_src} has no encoder.py: give the src/ folder of a clone of openai/gpt-2",
              file=sys.stderr)
        return 1
    data = generate(args.official_src)
    GOLDEN.write_bytes(gzip.compress(json.dumps(data, separators=(",", ":")).encode(), compresslevel=9, mtime=0))
    print(f"{GOLDEN}: {len(data['encode'])} texts, {len(data['decode'])} id sequences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
