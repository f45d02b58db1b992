"""MinHash signatures, normalisation, shingles and LSH parameters (curators/minhash.py), against the rules
its docstring states and against datasketch itself."""

from __future__ import annotations

import random
import re
import tracemalloc

import numpy as np
import pytest
from datasketch import MinHash
from pydantic import ValidationError

import curators.dedup.minhash as mh
from curators.config import MinHashConfig
from curators.dedup.lsh import lsh_params, p_candidate, s_curve
from curators.dedup.minhash import (
    MinHasher,
    jaccard,
    normalize,
    shingle,
    shingle_set,
    signature_table,
)
from curators.ingest.plan import stdlib_dir
from tests.fresh_process import imports_pandas
from tests.realtext import docstrings
from warehouse.schemas import MINHASH

DOC_MODULES = ["textwrap", "heapq", "difflib", "argparse", "calendar", "functools", "pathlib", "typing"]

CHINESE = (
    "Python是一种广泛使用的解释型高级编程语言，由吉多·范罗苏姆创造，第一版发布于一九九一年。"
    "它的设计哲学强调代码的可读性和简洁的语法，尤其是使用空格缩进划分代码块。"
    "相比于C语言或Java，Python让开发者能够用更少的代码表达想法。"
    "标准库提供了丰富的模块，覆盖文件处理、网络通信、数据压缩和单元测试等常见任务。"
)
CHINESE_OTHER = (
    "长江是亚洲第一长河，发源于青藏高原的唐古拉山脉，流经青海、西藏、四川、云南、重庆、湖北、湖南、"
    "江西、安徽、江苏和上海，最后注入东海。长江流域气候温暖湿润，物产丰富，是中国重要的农业和工业地区。"
)
JAPANESE = (
    "Pythonは、汎用のプログラミング言語である。コードがシンプルで扱いやすく設計されており、"
    "C言語などに比べて、さまざまなプログラムを分かりやすく、少ないコード行数で書けるといった特徴がある。"
    "文法を極力単純化してコードの可読性を高め、読みやすく、また書きやすくしてプログラマの作業性と"
    "コードの信頼性を高めることを重視してデザインされた。"
)
RUSSIAN = (
    "Питон — высокоуровневый язык программирования общего назначения с динамической строгой типизацией и "
    "автоматическим управлением памятью. Он ориентирован на повышение производительности разработчика, "
    "читаемости кода и его качества, а также на обеспечение переносимости написанных на нём программ. "
    "Язык является полностью объектно-ориентированным в том плане, что всё является объектами. Необычной "
    "особенностью языка является выделение блоков кода отступами. Синтаксис ядра языка минималистичен, за счёт "
    "чего на практике редко возникает необходимость обращаться к документации."
)
GREEK = (
    "Η Python είναι μια γλώσσα προγραμματισμού υψηλού επιπέδου γενικής χρήσης. Η φιλοσοφία σχεδιασμού της "
    "δίνει έμφαση στην αναγνωσιμότητα του κώδικα με τη χρήση σημαντικής εσοχής. Οι δομές της γλώσσας και η "
    "αντικειμενοστρεφής προσέγγισή της στοχεύουν να βοηθήσουν τους προγραμματιστές να γράφουν σαφή και λογικό "
    "κώδικα για μικρά και μεγάλα έργα. Η γλώσσα υποστηρίζει πολλαπλά παραδείγματα προγραμματισμού, όπως τον "
    "δομημένο, τον αντικειμενοστρεφή και τον συναρτησιακό προγραμματισμό."
)
ARABIC = (
    "بايثون هي لغة برمجة عالية المستوى سهلة التعلم مفتوحة المصدر قابلة للتوسيع تعتمد أسلوب البرمجة الكائنية. "
    "تستخدم بشكل واسع في العديد من المجالات كبناء البرامج المستقلة باستخدام الواجهات الرسومية وفي تطبيقات الويب "
    "ويمكن استخدامها كلغة برمجة نصية للتحكم في أداء بعض البرمجيات. بشكل عام يمكن استخدام بايثون لبرمجة البرامج "
    "البسيطة للمبتدئين ولإنجاز المشاريع الضخمة في الوقت نفسه. غالبا ما ينصح المبتدئون في ميدان البرمجة بتعلم "
    "هذه اللغة لأنها من بين أسرع اللغات البرمجية تعلما."
)


def real_texts() -> list[str]:
    """Docstrings of standard-library modules: real English prose, a few thousand characters each."""
    return [docstrings(stdlib_dir() / f"{name}.py") for name in DOC_MODULES]


def paragraphs() -> list[str]:
    """Real paragraphs (standard-library docstrings) plus non-Latin ones, for building big documents."""
    found = [p for text in real_texts() for p in text.split("\n\n") if len(p) > 100]
    return [*found, RUSSIAN, GREEK, "Le café de l'élève à Noël, déjà vu. " * 3, CHINESE]


def big_document(n_chars: int, parts: list[str]) -> tuple[str, int]:
    """Paragraphs repeated with a counter until `n_chars`; returns the text and its number of word tokens
    (default config), counted per paragraph, so the whole text is never tokenised at once."""
    tokens_of = [shingle(p, MinHashConfig()).n_tokens for p in parts]
    pieces: list[str] = []
    size = tokens = i = 0
    while size < n_chars:
        k = i % len(parts)
        piece = f"Section {i}.  {parts[k]}"
        pieces.append(piece)
        size += len(piece) + 2
        tokens += 2 + tokens_of[k]
        i += 1
    return "\n\n".join(pieces), tokens


def delete_words(text: str, every: int) -> str:
    words = text.split(" ")
    return " ".join(w for i, w in enumerate(words) if i % every != every // 2)


def word_tokens(text: str) -> int:
    return len(re.findall(r"\w+", text))


# --- Signatures: exactly datasketch -------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        MinHashConfig(),
        MinHashConfig(num_perm=64, seed=7),
        MinHashConfig(bands=32, rows=4, seed=42),
        MinHashConfig(bands=9, rows=3, seed=0, ngram=3),
        MinHashConfig(shingle="char", ngram=7, num_perm=128, seed=123),
    ],
    ids=["default", "num_perm64-seed7", "32x4-seed42", "9x3-seed0-3gram", "char7-seed123"],
)
def test_signatures_equal_datasketch_bulk(config: MinHashConfig) -> None:
    texts = [*real_texts(), CHINESE, RUSSIAN, "one two", "!!! ???", ""]
    hasher = MinHasher(config)
    shingled = [shingle(t, config) for t in texts]
    ours = hasher.signatures([s.hash32 for s in shingled])
    theirs = MinHash.bulk(
        [[int(v) for v in s.hash32] for s in shingled],
        num_perm=hasher.num_perm,
        seed=config.seed,
        scheme="affine32",
        hashfunc=lambda v: v,
    )
    assert ours.shape == (len(texts), config.permutations)
    for row, ref in zip(ours, theirs, strict=True):
        assert ref.hashvalues.dtype == np.uint32
        np.testing.assert_array_equal(row, ref.hashvalues)
    assert (ours[-1] == 0xFFFFFFFF).all()  # no shingle: datasketch's empty MinHash
    assert (ours[-3] != 0xFFFFFFFF).all()  # one shingle: every permutation has a value


@pytest.mark.parametrize(("num_perm", "seed"), [(1, 0), (112, 1), (128, 7), (256, 2**31 - 1)])
def test_permutations_are_datasketchs(num_perm: int, seed: int) -> None:
    a, b = mh.affine32_permutations(num_perm, seed)
    ref_a, ref_b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    np.testing.assert_array_equal(a, ref_a)
    np.testing.assert_array_equal(b, ref_b)
    assert a.dtype == b.dtype == np.uint32 and (a % 2 == 1).all()


def test_signatures_do_not_depend_on_batching_and_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    config = MinHashConfig()
    hasher = MinHasher(config)
    hashes = [shingle(t, config).hash32 for t in real_texts()]
    together = hasher.signatures(hashes)
    alone = np.vstack([hasher.signatures([h]) for h in hashes])
    monkeypatch.setattr(mh, "CHUNK_SHINGLES", 97)  # documents cut across many blocks
    chunked = hasher.signatures(hashes)
    np.testing.assert_array_equal(together, alone)
    np.testing.assert_array_equal(together, chunked)


# --- Token hashes: the vectorised hash is the reference one; the fast paths give the regex paths' tokens -----


# Characters of many kinds: ASCII (controls, NUL, punctuation), Latin with diacritics, combining marks, Cyrillic,
# Arabic and its digits, Devanagari and its vowel signs, spaces of other kinds, zero-width and format characters,
# full-width forms, lone surrogates, and beyond the BMP (emoji, skin tones, math digits, Deseret, Han ext. B).
UNICODE_POOL = [
    chr(c)
    for c in [
        *range(0x00, 0x80), *range(0xA0, 0x250), *range(0x300, 0x370), *range(0x400, 0x460), *range(0x600, 0x670),
        *range(0x6F0, 0x6FA), *range(0x900, 0x980), *range(0x2000, 0x2070), *range(0xFF00, 0xFF20), 0x1369,
        0x3000, 0xFEFF, 0xD800, 0xDFFF, 0x1F600, 0x1F3FB, 0x1D7CE, 0x10400, 0x20000,
    ]
]  # fmt: skip


@pytest.mark.parametrize(
    "config",
    [MinHashConfig(), MinHashConfig(lowercase=False, normalize_digits=False), MinHashConfig(strip_diacritics=False)],
    ids=["default", "case-digits", "diacritics"],
)
def test_the_fast_tokeniser_finds_the_tokens_of_the_regexes(config: MinHashConfig) -> None:
    rng = random.Random(3)
    checked = 0
    for _ in range(3000):
        text = "".join(
            rng.choice(UNICODE_POOL) if rng.random() < 0.6 else rng.choice(["word", " ", "Z9", "_", ".", "\t"])
            for _ in range(rng.randint(0, 80))
        )
        if mh._NO_SPACE_CHAR.search(text):
            continue  # Han, kana and Thai take the regex path
        fast = mh._token_bytes(text, config)
        reference = mh._regex_token_bytes(normalize(text, config, digits=False), config)
        assert [t for t in fast.split(b" ") if t] == [t for t in reference.split(b" ") if t], repr(text)
        checked += 1
    assert checked > 2000


def test_a_word_hashes_the_same_in_ascii_and_in_other_text() -> None:
    """ASCII texts take `bytes.translate`, others the Unicode path: the same word must give the same hash."""
    config = MinHashConfig()
    words = "alpha beta gamma delta epsilon zeta eta theta"
    ascii_only = shingle(words, config)
    with_accent = shingle(words + " café", config)
    with_han = shingle(words + " 中文", config)
    n = ascii_only.shingles.size
    np.testing.assert_array_equal(with_accent.shingles[:n], ascii_only.shingles)
    np.testing.assert_array_equal(with_han.shingles[:n], ascii_only.shingles)


@pytest.mark.parametrize("config", [MinHashConfig(), MinHashConfig(strip_punctuation=False, ngram=3)])
def test_shingles_do_not_depend_on_the_batch(config: MinHashConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [
        *real_texts(), CHINESE, RUSSIAN, ARABIC, "", "!!! ???", "x" * 300 + " long token",
        "one", JAPANESE + " mixed ascii words", "\x00 nul \x1c sep",
    ]  # fmt: skip
    alone = [shingle(t, config) for t in texts]
    monkeypatch.setattr(mh, "GROUP_BYTES", 257)  # groups cut between (and across) many slices
    monkeypatch.setattr(mh, "SLICE_CHARS", 1009)
    together = mh.shingle_all(texts, config)
    for a, b in zip(alone, together, strict=True):
        assert (a.exact_hash, a.n_tokens) == (b.exact_hash, b.n_tokens)
        np.testing.assert_array_equal(a.shingles, b.shingles)


def test_signature_table_holds_each_documents_signature_and_band_keys() -> None:
    texts = [real_texts()[0], "", "!!! ???", RUSSIAN, "one two", real_texts()[1]]
    ids = [f"d{i}" for i in range(len(texts))]
    hasher = MinHasher(MinHashConfig())
    table = signature_table(ids, texts, hasher, "run-9")
    assert table.schema == MINHASH
    table.validate(full=True)
    sig = hasher.signatures([shingle(t, hasher.config).hash32 for t in texts])
    keys = hasher.band_keys(sig)
    for i, row in enumerate(table.to_pylist()):
        s = shingle(texts[i], hasher.config)
        assert row["id"] == ids[i] and row["run_id"] == "run-9" and row["sig_config"] == hasher.config.sig_config
        assert (row["exact_hash"], row["n_tokens"], row["n_shingles"]) == (s.exact_hash, s.n_tokens, s.shingles.size)
        assert row["n_chars"] == len(texts[i])
        if s.shingles.size == 0:
            assert row["bands"] is None and row["signature"] is None
        else:
            assert row["bands"] == keys[i].tolist()
            assert row["signature"] == sig[i].astype("<u4").tobytes()
    assert table.column("signature").null_count == 2


def test_signing_does_not_import_pandas() -> None:
    """Worker processes sign shards: pyarrow's conversion of Python or numpy values would import pandas (~0.3 s)."""
    assert not imports_pandas(
        "from curators.dedup.config import MinHashConfig\n"
        "from curators.dedup.minhash import MinHasher, signature_table\n"
        "table = signature_table(['a', 'b'], ['one two three four five six', ''], MinHasher(MinHashConfig()), 'r')\n"
        "assert table.num_rows == 2"
    )


def test_different_seeds_give_different_signatures() -> None:
    text = real_texts()[0]
    a = MinHasher(MinHashConfig(seed=1)).signatures([shingle(text, MinHashConfig()).hash32])
    b = MinHasher(MinHashConfig(seed=2)).signatures([shingle(text, MinHashConfig()).hash32])
    assert np.mean(a == b) < 0.1


def test_jaccard_is_that_of_the_sets() -> None:
    rng = np.random.default_rng(5)
    top = np.uint64(2**64 - 1)
    for _ in range(300):
        universe = rng.integers(0, 2**64 - 1, 40, dtype=np.uint64, endpoint=True)
        universe[:2] = [0, top]  # the extremes: a searched value beyond the last one, or equal to it
        a = np.unique(rng.choice(universe, rng.integers(0, 30)))
        b = np.unique(rng.choice(universe, rng.integers(0, 30)))
        sa, sb = set(a.tolist()), set(b.tolist())
        expected = len(sa & sb) / len(sa | sb) if sa | sb else 0.0
        assert jaccard(a, b) == pytest.approx(expected) and jaccard(b, a) == pytest.approx(expected)


def test_signature_estimate_tracks_exact_jaccard() -> None:
    config = MinHashConfig(num_perm=256, bands=64, rows=4)
    hasher = MinHasher(config)
    base = real_texts()[2]
    for every in (40, 10, 4):
        copy = delete_words(base, every)
        exact = jaccard(shingle_set(base, config), shingle_set(copy, config))
        sig = hasher.signatures([shingle(base, config).hash32, shingle(copy, config).hash32])
        assert abs(mh.estimated_jaccard(sig[0], sig[1]) - exact) < 0.1, (every, exact)


# --- Normalisation: each switch both ways ------------------------------------------------------


def same(a: str, b: str, config: MinHashConfig) -> bool:
    """Whether two texts are the same document after normalisation (exact key and shingle set)."""
    sa, sb = shingle(a, config), shingle(b, config)
    return sa.exact_hash == sb.exact_hash and np.array_equal(shingle_set(a, config), shingle_set(b, config))


SWITCH_CASES = [
    ("lowercase", "The Quick Brown Fox Jumps over the lazy dog", "the quick brown fox jumps over the LAZY DOG"),
    ("normalize_digits", "Python 3.11 was released in October 2022", "Python 3.12 was released in October 2023"),
    ("strip_diacritics", "Le café de l'élève à Noël était déjà prêt", "Le cafe de l'eleve a Noel etait deja pret"),
    ("strip_punctuation", "Hello, world! How are you -- today?", "Hello world How are you today"),
]


@pytest.mark.parametrize("shingles", ["word", "char"])
@pytest.mark.parametrize(("switch", "a", "b"), SWITCH_CASES, ids=[c[0] for c in SWITCH_CASES])
def test_each_normalisation_switch_decides_what_matches(switch: str, a: str, b: str, shingles: str) -> None:
    on = MinHashConfig(shingle=shingles, ngram=3, **{switch: True})
    off = MinHashConfig(shingle=shingles, ngram=3, **{switch: False})
    assert same(a, b, on)
    assert not same(a, b, off)


def test_normalise_rules() -> None:
    config = MinHashConfig()
    assert normalize("Ünïcödé ÉLÈVE 2024", config) == "unicode eleve 0000"
    assert normalize("Ünïcödé", MinHashConfig(strip_diacritics=False, lowercase=False)) == "Ünïcödé"
    # NFC: a decomposed é equals the composed one even when diacritics are kept.
    keep = MinHashConfig(strip_diacritics=False)
    assert normalize("cafe\u0301", keep) == normalize("caf\u00e9", keep) == "caf\u00e9"
    assert same("cafe\u0301 au lait", "caf\u00e9 au lait", keep)
    # Digits of any script become 0; the tokenizer passes digits=False (tokens are zeroed when hashed).
    assert normalize("٣ apples", config) == "0 apples"
    assert normalize("42", config, digits=False) == "42"
    # Whitespace never matters between word tokens.
    assert same("alpha beta gamma delta", "alpha\n\n beta\tgamma   delta", config)


def test_punctuation_kept_becomes_one_token_per_mark() -> None:
    assert shingle("a, b.", MinHashConfig(strip_punctuation=True)).n_tokens == 2
    assert shingle("a, b.", MinHashConfig(strip_punctuation=False)).n_tokens == 4
    assert shingle("Wait... what?!", MinHashConfig(strip_punctuation=False)).n_tokens == 2 + 5


# --- Shingles ------------------------------------------------------------------------------------


def test_word_ngrams_count_and_order() -> None:
    config = MinHashConfig(ngram=5)
    text = "one two three four five six seven"
    s = shingle(text, config)
    assert s.n_tokens == 7 and s.shingles.size == 3
    # Order matters: the same words in another order are other shingles.
    assert not np.array_equal(shingle_set(text, config), shingle_set("seven six five four three two one", config))
    # Repeats are kept in `shingles` and removed in the set.
    twice = shingle(f"{text} {text}", config)
    assert twice.shingles.size == 14 - 4 and shingle_set(f"{text} {text}", config).size == 3 + 4


def test_a_document_shorter_than_n_gets_one_shingle_of_all_its_tokens() -> None:
    config = MinHashConfig(ngram=5)
    short = shingle("Hello, big world", config)
    assert short.n_tokens == 3 and short.shingles.size == 1 and short.exact_hash
    assert same("Hello, big world", "hello BIG world!", config)
    # It only matches a document with the same tokens.
    assert jaccard(shingle_set("hello big world", config), shingle_set("hello big world again", config)) == 0.0
    assert jaccard(shingle_set("hello big world", config), shingle_set("hello world", config)) == 0.0
    one = shingle("word", config)
    assert one.n_tokens == 1 and one.shingles.size == 1


@pytest.mark.parametrize("text", ["!!! ???", "", "   \n\t ", "... --- ...", "→ ★ ♥"])
def test_no_token_means_no_shingle_and_no_exact_key(text: str) -> None:
    s = shingle(text, MinHashConfig())
    assert s.n_tokens == 0 and s.shingles.size == 0 and s.exact_hash == ""
    table = signature_table(["x"], [text], MinHasher(MinHashConfig()), "r")
    row = table.to_pylist()[0]
    assert row["n_shingles"] == 0 and row["exact_hash"] == ""
    assert row["bands"] is None and row["signature"] is None


@pytest.mark.parametrize("text", ["!!! ???", "... --- ..."])
def test_char_shingles_of_punctuation_only_text_are_none(text: str) -> None:
    """Documented: 'A document with no token after normalisation (punctuation or symbols only) gets no
    shingle', and punctuation is dropped by normalisation unless strip_punctuation is off."""
    s = shingle(text, MinHashConfig(shingle="char"))
    assert s.shingles.size == 0 and s.exact_hash == ""


def test_one_repeated_token_document() -> None:
    config = MinHashConfig()
    spam = shingle("spam " * 1000, config)
    assert spam.n_tokens == 1000 and spam.shingles.size == 996
    assert np.unique(spam.shingles).size == 1
    # The same word repeated another number of times: the same shingle set, not the same document.
    assert jaccard(shingle_set("spam " * 1000, config), shingle_set("spam " * 7, config)) == 1.0
    assert shingle("spam " * 7, config).exact_hash != spam.exact_hash
    sig = MinHasher(config).signatures([spam.hash32])
    assert (sig != 0xFFFFFFFF).all()


def test_char_shingles() -> None:
    config = MinHashConfig(shingle="char", ngram=5)
    s = shingle("abcdefg", config)
    assert s.n_tokens == 7 and s.shingles.size == 3
    # Runs of whitespace are one space.
    assert same("ab  cd\n\nef", "ab cd ef", config)
    # Shorter than n: one shingle.
    assert shingle("abc", config).shingles.size == 1
    # A spelling variant keeps most character shingles but changes whole word shingles.
    text = real_texts()[1]
    variant = text.replace("the ", "teh ")
    word = MinHashConfig()
    char_j = jaccard(shingle_set(text, config), shingle_set(variant, config))
    word_j = jaccard(shingle_set(text, word), shingle_set(variant, word))
    assert char_j > 0.7 and word_j < char_j


# --- Non-Latin scripts ---------------------------------------------------------------------------


def test_chinese_and_japanese_are_tokenised_per_character() -> None:
    config = MinHashConfig()
    assert shingle("日本語のテキスト", config).n_tokens == 8
    assert shingle("东京タワー", config).n_tokens == 5
    han = re.findall(r"[\u4e00-\u9fff]", CHINESE)
    latin = re.findall(r"[A-Za-z]+", CHINESE)
    assert shingle(CHINESE, config).n_tokens == len(han) + len(latin)
    kana_kanji = re.findall(r"[\u3040-\u30ff\u4e00-\u9fff]", JAPANESE)
    assert shingle(JAPANESE, config).n_tokens == len(kana_kanji) + len(re.findall(r"[A-Za-z]+", JAPANESE))


@pytest.mark.parametrize("text", [RUSSIAN, GREEK, ARABIC], ids=["russian", "greek", "arabic"])
def test_space_separated_scripts_are_tokenised_by_words(text: str) -> None:
    assert shingle(text, MinHashConfig()).n_tokens == word_tokens(text)


@pytest.mark.parametrize(
    "text", [CHINESE, JAPANESE, RUSSIAN, GREEK, ARABIC], ids=["chinese", "japanese", "russian", "greek", "arabic"]
)
def test_non_latin_near_copy_has_a_sensible_jaccard(text: str) -> None:
    config = MinHashConfig()
    if " " in text:
        words = text.split(" ")
        near = " ".join([*words[:30], "также", *words[31:]])  # one word replaced
    else:
        near = text[:40] + "和" + text[41:]  # one character replaced
    j = jaccard(shingle_set(text, config), shingle_set(near, config))
    assert 0.75 < j < 1.0, j
    others = [CHINESE_OTHER if text is CHINESE else CHINESE, RUSSIAN if text is not RUSSIAN else GREEK]
    for other in others:
        assert jaccard(shingle_set(text, config), shingle_set(other, config)) < 0.05


def test_indic_vowel_signs_are_part_of_words() -> None:
    """Devanagari (Hindi) writes words with spaces; its vowel signs (combining marks, category Mc/Mn) are
    "other scripts' marks" that normalisation keeps. The tokenizer drops them and splits the word around
    them, so 'बाल' (hair), 'बिल' (bill) and 'बोल' (speak) all become the tokens ['ब', 'ल']."""
    config = MinHashConfig()
    assert shingle("हिंदी भाषा", config).n_tokens == 2
    assert shingle("बाल", config).exact_hash != shingle("बोल", config).exact_hash
    assert shingle("बिल", config).exact_hash != shingle("बोल", config).exact_hash


# --- Large documents: slicing is exact, memory bounded -----------------------------------------------


SLICE_CONFIGS = [
    MinHashConfig(),
    MinHashConfig(strip_punctuation=False, lowercase=False),
    MinHashConfig(shingle="char", ngram=5),
    MinHashConfig(strip_diacritics=False, normalize_digits=False, ngram=3),
]


@pytest.mark.parametrize("config", SLICE_CONFIGS, ids=["word", "word-punct-case", "char5", "word3-raw"])
def test_slicing_gives_the_same_shingles_as_the_whole_text(
    config: MinHashConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    text, _ = big_document(3_000_000, paragraphs())
    monkeypatch.setattr(mh, "SLICE_CHARS", 1 << 40)
    whole = shingle(text, config)
    monkeypatch.setattr(mh, "SLICE_CHARS", 65_537)
    assert len(list(mh._slices(text))) > 40
    sliced = shingle(text, config)
    assert sliced.n_tokens == whole.n_tokens
    assert sliced.exact_hash == whole.exact_hash
    np.testing.assert_array_equal(sliced.shingles, whole.shingles)


def test_slicing_is_exact_when_words_are_separated_by_tabs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tab-separated text (a TSV dump, say) has no space or newline to cut at: the slices are cut inside
    words, which changes the tokens and so the shingles ('the same shingles as if read whole')."""
    text = "\t".join(f"cell{i}x" for i in range(300_000))
    config = MinHashConfig()
    monkeypatch.setattr(mh, "SLICE_CHARS", 1 << 40)
    whole = shingle(text, config)
    monkeypatch.setattr(mh, "SLICE_CHARS", 10_007)
    sliced = shingle(text, config)
    assert sliced.n_tokens == whole.n_tokens == 300_000
    np.testing.assert_array_equal(sliced.shingles, whole.shingles)


@pytest.mark.slow
def test_a_12_mb_document_is_shingled_and_signed_in_bounded_memory() -> None:
    # 12 slices prove what 50 did: a peak of a few slices, not of the document (this test was 50 MB, then 24:
    # ~75 s, then ~34 s of the suite under tracemalloc).
    text, tokens = big_document(12 * 1024 * 1024, paragraphs())
    assert len(list(mh._slices(text))) >= 12
    config = MinHashConfig()
    hasher = MinHasher(config)
    tracemalloc.start()
    try:
        table = signature_table(["big"], [text], hasher, "r")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    row = table.to_pylist()[0]
    assert row["n_tokens"] == tokens  # no word was cut or merged at a slice boundary
    assert row["n_shingles"] == tokens - 4
    assert row["n_chars"] == len(text)
    assert len(row["signature"]) == 4 * hasher.num_perm and len(row["bands"]) == hasher.bands
    text_bytes = len(text.encode("utf-8"))
    assert peak < 10 * text_bytes, f"peak {peak / 1e6:.0f} MB for {text_bytes / 1e6:.0f} MB of text"


# --- LSH parameters ------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_perm", [64, 112, 128, 256])
@pytest.mark.parametrize("threshold", [0.5, 0.6, 0.7, 0.8, 0.85, 0.9])
def test_lsh_params_meet_the_recall_rule(threshold: float, num_perm: int) -> None:
    bands, rows = lsh_params(threshold, num_perm)
    assert 1 <= bands * rows <= num_perm
    assert p_candidate(threshold + 0.05, bands, rows) >= 0.99


def test_lsh_params_choose_the_fewest_false_candidates_among_those_with_the_recall() -> None:
    threshold, num_perm = 0.8, 112
    bands, rows = lsh_params(threshold, num_perm)
    low = np.linspace(0.0, threshold - 0.1, 50)
    chosen = float(np.mean(p_candidate(low, bands, rows)))
    for r in range(1, num_perm + 1):
        b = num_perm // r
        if p_candidate(threshold + 0.05, b, r) >= 0.99:
            assert chosen <= float(np.mean(p_candidate(low, b, r))) + 1e-12, (b, r)


def test_explicit_bands_and_rows_are_used_as_given() -> None:
    config = MinHashConfig(bands=20, rows=5, num_perm=64, threshold=0.5)
    assert config.lsh == (20, 5) and config.permutations == 100
    hasher = MinHasher(config)
    assert (hasher.bands, hasher.rows, hasher.num_perm) == (20, 5, 100)
    table = signature_table(["a"], [real_texts()[0]], hasher, "r")
    row = table.to_pylist()[0]
    assert len(row["bands"]) == 20 and len(row["signature"]) == 400
    with pytest.raises(ValidationError, match="set both"):
        MinHashConfig(bands=20)


def test_band_keys_are_equal_exactly_when_the_band_is() -> None:
    config = MinHashConfig(bands=8, rows=4)
    hasher = MinHasher(config)
    sig = hasher.signatures([shingle(t, config).hash32 for t in real_texts()[:2]])
    copy = sig.copy()
    copy[1, :4] = sig[0, :4]  # band 0 of document 1 made equal to document 0's
    keys = hasher.band_keys(np.vstack([sig, copy[1:]]))
    assert keys[0, 0] == keys[2, 0] and (keys[0, 1:] != keys[2, 1:]).all()
    # The same rows in another band give another key (keys are salted by band).
    same_rows = np.tile(sig[0, :4], 8)[None, :]
    assert np.unique(hasher.band_keys(same_rows)).size == 8


def test_s_curve_is_monotone_with_its_midpoint() -> None:
    for bands, rows in [(16, 7), (20, 5), (9, 13), (1, 1)]:
        curve = s_curve(bands, rows)
        values = list(curve["p_candidate"].values())
        assert values == sorted(values) and all(0.0 <= v <= 1.0 for v in values)
        assert curve["midpoint"] == round((1 / bands) ** (1 / rows), 3)
        grid = p_candidate(np.linspace(0, 1, 201), bands, rows)
        assert (np.diff(grid) >= 0).all() and grid[0] == 0.0 and grid[-1] == 1.0
    steep = s_curve(16, 7)["p_candidate"]
    assert steep["0.50"] < 0.2 and steep["0.90"] > 0.99
