"""Normalise, shingle and MinHash documents; LSH band keys; the S-curve of a bands x rows choice.

The rules, as the docs state them:

- Normalisation (each switch in `MinHashConfig`): Unicode NFC; diacritics removed (NFKD, then the
  combining marks U+0300-036F, U+1AB0-1AFF, U+1DC0-1DFF, U+20D0-20FF, U+FE20-FE2F; other scripts'
  marks are kept); lower case; every digit -> 0; punctuation dropped (tokens are runs of word
  characters) or kept as one-character tokens.
- Tokens: runs of word characters. Han, kana and Thai characters are one token each (those scripts
  write no spaces, so a "word" would be a whole sentence).
- Token hashes: 64 bits (`curators.dedup.token_hash`), computed for a batch of documents at once with numpy over their
  normalised tokens joined by spaces (`_word_hashes`). Signatures record the hash's version in `sig_config`.
- Shingles: word n-grams (default 5) or character n-grams of the normalised text. A document with
  fewer tokens than n but at least one gets a single shingle of all its tokens (so it can only match
  a document with the same tokens). A document with no token after normalisation (punctuation or
  symbols only) gets no shingle: it is neither exact- nor near-deduplicated (`n_shingles` = 0).
- A document of any size is hashed in slices of `SLICE_CHARS` characters cut at whitespace, the last
  n-1 tokens of a slice carried into the next, so a 50 MB document needs bounded memory and gives the
  same shingles as if read whole.
- Signatures are exactly datasketch's `MinHash` (scheme `affine32`) over the shingles' 32-bit hashes:
  the same permutations (from `seed`), the same MurmurHash3 finalizer, computed for many documents
  at once with numpy instead of one `update()` per shingle. `tests/curators/dedup/test_minhash.py` checks
  equality with `datasketch.MinHash.bulk`.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import xxhash

from curators.dedup.config import MinHashConfig
from curators.dedup.lsh import s_curve
from curators.dedup.token_hash import GOLDEN, fmix64, hash_tokens

SLICE_CHARS = 1 << 20
GROUP_BYTES = 1 << 20  # normalised tokens hashed per numpy pass (their arrays stay small)
CHUNK_SHINGLES = 1 << 22  # shingles permuted at once (16 MiB per temporary array)
MAX_HASH32 = np.uint32(0xFFFFFFFF)


def _mark_ranges() -> str:
    """A regex class body of every combining mark (Unicode category M*) in the BMP. Python's `\\w` does
    not match them, yet Indic vowel signs and Arabic vowel marks are part of words."""
    ranges, start, prev = [], None, None
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code)).startswith("M"):
            if start is None:
                start = code
            elif code != prev + 1:
                ranges.append((start, prev))
                start = code
            prev = code
    if start is not None:
        ranges.append((start, prev))
    return "".join(f"\\u{a:04x}-\\u{b:04x}" if a != b else f"\\u{a:04x}" for a, b in ranges)


_NO_SPACE_SCRIPTS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u0e00-\u0e7f"
_NO_SPACE_CHAR = re.compile(rf"[{_NO_SPACE_SCRIPTS}]")
_LAST_SPACE = re.compile(r"\s(?=\S*\Z)")


@dataclass(frozen=True)
class _Patterns:
    """The token regexes, which hold every combining mark: built at first use (~0.08 s), not when a command that
    never tokenises imports this module."""

    word: re.Pattern  # words: runs of word characters and combining marks; Han, kana and Thai: one character each
    word_or_punct: re.Pattern
    plain_word: re.Pattern  # the same tokens on text without those scripts, faster (one character class)
    plain_word_or_punct: re.Pattern
    punct: re.Pattern
    last_non_word: re.Pattern


@functools.cache
def _patterns() -> _Patterns:
    marks, no_space = _mark_ranges(), _NO_SPACE_SCRIPTS
    return _Patterns(
        word=re.compile(rf"[{no_space}]|(?:(?![{no_space}])[\w{marks}])+"),
        word_or_punct=re.compile(rf"[{no_space}]|(?:(?![{no_space}])[\w{marks}])+|[^\w\s{marks}]"),
        plain_word=re.compile(rf"[\w{marks}]+"),
        plain_word_or_punct=re.compile(rf"[\w{marks}]+|[^\w\s{marks}]"),
        punct=re.compile(rf"[^\w\s{marks}]+"),
        last_non_word=re.compile(rf"[^\w{marks}](?=[\w{marks}]*\Z)"),
    )


_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_DIGIT = re.compile(r"\d")
_SPACE = re.compile(r"\s+")

_GOLDEN = GOLDEN
_S32 = np.uint64(32)
_fmix64 = fmix64


@functools.cache
def _ascii_table(lowercase: bool, zero_digits: bool) -> bytes:
    """bytes.translate table: word characters kept (cased, digits zeroed as configured), others -> space.
    On ASCII text, `text.encode().translate(table).split()` gives exactly the tokens of `\\w+`, ~3x faster."""
    table = bytearray(b" " * 256)
    for c in b"abcdefghijklmnopqrstuvwxyz_":
        table[c] = c
    for c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        table[c] = c + 32 if lowercase else c
    for c in b"0123456789":
        table[c] = ord("0") if zero_digits else c
    return bytes(table)


def normalize(text: str, config: MinHashConfig, digits: bool = True) -> str:
    """The text as compared: NFC (or diacritics removed), case, digits per config (word tokens have
    their digits replaced when hashed, so the tokenizer passes `digits=False`)."""
    if text.isascii():
        pass  # already NFC, no diacritics
    elif config.strip_diacritics:
        text = unicodedata.normalize("NFKD", text)
        text = _COMBINING.sub("", text)
        text = unicodedata.normalize("NFC", text)
    else:
        text = unicodedata.normalize("NFC", text)
    if config.lowercase:
        text = text.lower()
    if config.normalize_digits and digits:
        text = _DIGIT.sub("0", text)
    return text


def _slices(text: str) -> Iterator[str]:
    """`text` in pieces of about SLICE_CHARS characters, cut after the last whitespace of the window, else
    after its last non-word character (so no token is cut), else (one token longer than a slice) anywhere."""
    start, n = 0, len(text)
    while start < n:
        end = min(start + SLICE_CHARS, n)
        if end < n:
            window = text[start:end]
            found = _LAST_SPACE.search(window) or _patterns().last_non_word.search(window)
            if found and found.start() > 0:
                end = start + found.start() + 1
        yield text[start:end]
        start = end


@functools.cache
def _non_ascii_separators() -> re.Pattern:
    """One character class: every non-ASCII character that is not part of a word (not `\\w`, not a combining mark),
    or is a digit, and everything beyond the BMP (decided one by one, `_NonAsciiWords`). Built at first use
    (~0.02 s)."""
    ranges: list[tuple[int, int]] = []
    for code in range(0x80, 0x10000):
        char = chr(code)
        if _patterns().plain_word.fullmatch(char) is None or _DIGIT.match(char) is not None:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    body = "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" if a != b else re.escape(chr(a)) for a, b in ranges)
    return re.compile(f"[{body}\U00010000-\U0010ffff]")


class _NonAsciiWords(dict):
    """A character `_non_ascii_separators` matched -> what it becomes in the token text: a space (it separates
    words), "0" (a digit, when digits are zeroed), or itself (a word character)."""

    def __init__(self, zero_digits: bool) -> None:
        super().__init__()
        self.zero_digits = zero_digits

    def __missing__(self, char: str) -> str:
        if _patterns().plain_word.fullmatch(char) is None:
            value = " "
        elif self.zero_digits and _DIGIT.match(char):
            value = "0"
        else:
            value = char
        self[char] = value
        return value


_non_ascii_words = {True: _NonAsciiWords(zero_digits=True), False: _NonAsciiWords(zero_digits=False)}


@functools.cache
def _mixed_table(lowercase: bool, zero_digits: bool) -> bytes:
    """`_ascii_table` for the ASCII bytes of UTF-8 text; the bytes of other characters unchanged."""
    return _ascii_table(lowercase, zero_digits)[:128] + bytes(range(128, 256))


def _token_bytes(piece: str, config: MinHashConfig) -> bytes:
    """A slice of a document as its normalised word tokens: UTF-8, separated by b" " (which no token holds).

    Punctuation dropped (the default), and no Han, kana or Thai: the text itself, its separators made spaces by
    `bytes.translate` (ASCII) and by one regex pass over the other characters, gives the same tokens as
    `_regex_token_bytes`, faster (tests/curators/dedup/test_minhash.py compares them on random Unicode)."""
    if config.strip_punctuation and piece.isascii():
        return piece.encode("ascii").translate(_ascii_table(config.lowercase, config.normalize_digits))
    piece = normalize(piece, config, digits=False)
    if not config.strip_punctuation or _NO_SPACE_CHAR.search(piece):
        return _regex_token_bytes(piece, config)
    replace = _non_ascii_words[config.normalize_digits].__getitem__
    piece = _non_ascii_separators().sub(lambda found: replace(found.group()), piece)
    return piece.encode("utf-8", "surrogatepass").translate(_mixed_table(config.lowercase, config.normalize_digits))


def _regex_token_bytes(normalized: str, config: MinHashConfig) -> bytes:
    """The tokens of a normalised slice, found one by one by the token regexes, joined by spaces."""
    if not _NO_SPACE_CHAR.search(normalized):
        pattern = _patterns().plain_word if config.strip_punctuation else _patterns().plain_word_or_punct
    else:
        pattern = _patterns().word if config.strip_punctuation else _patterns().word_or_punct
    joined = " ".join(pattern.findall(normalized))
    if config.normalize_digits:
        joined = _DIGIT.sub("0", joined)
    return joined.encode("utf-8", "surrogatepass")


def _word_hashes(texts: Sequence[str], config: MinHashConfig) -> list[np.ndarray]:
    """The token hashes of each text, in order: its slices' tokens, hashed about GROUP_BYTES at a time."""
    parts: list[list[np.ndarray]] = [[] for _ in texts]
    group: list[tuple[int, bytes]] = []
    size = 0

    def hash_group() -> None:
        hashes, starts = hash_tokens(b" ".join(data for _, data in group))
        next_starts = np.cumsum(np.fromiter((len(data) + 1 for _, data in group), np.int64, len(group)))[:-1]
        for (doc, _), chunk in zip(group, np.split(hashes, np.searchsorted(starts, next_starts)), strict=True):
            parts[doc].append(chunk)

    for doc, text in enumerate(texts):
        for piece in _slices(text):
            data = _token_bytes(piece, config)
            group.append((doc, data))
            size += len(data) + 1
            if size >= GROUP_BYTES:
                hash_group()
                group, size = [], 0
    if group:
        hash_group()
    return [p[0] if len(p) == 1 else np.concatenate(p) if p else np.zeros(0, dtype=np.uint64) for p in parts]


def _char_hashes_of(text: str, config: MinHashConfig) -> np.ndarray:
    """Character mode: the normalised text (punctuation dropped when configured), whitespace runs made
    one space, stripped at both ends; a 64-bit hash per character."""
    parts = []
    ends_in_space = True  # a leading space is dropped like one after a space
    for piece in _slices(text):
        piece = normalize(piece, config, digits=True)
        if config.strip_punctuation:
            piece = _patterns().punct.sub(" ", piece)
        collapsed = _SPACE.sub(" ", piece)
        if ends_in_space and collapsed.startswith(" "):
            collapsed = collapsed[1:]
        if not collapsed:
            continue
        ends_in_space = collapsed.endswith(" ")
        parts.append(np.frombuffer(collapsed.encode("utf-32-le", "surrogatepass"), dtype=np.uint32))
    if not parts:
        return np.zeros(0, dtype=np.uint64)
    codes = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if codes.size and codes[-1] == ord(" "):
        codes = codes[:-1]
    return _fmix64(codes.astype(np.uint64) + _GOLDEN)


def shingles_from_tokens(tokens: np.ndarray, n: int) -> np.ndarray:
    """64-bit hashes of the n-grams of a token-hash sequence (order-sensitive). Fewer than n tokens
    but at least one: one shingle of them all."""
    t = tokens.size
    if t == 0:
        return np.zeros(0, dtype=np.uint64)
    width = min(n, t)
    count = t - width + 1
    h = tokens[:count].copy()
    for k in range(1, width):
        h = h * _GOLDEN + tokens[k : k + count]
    return _fmix64(h + np.uint64(width))


@dataclass
class Shingled:
    """A document's shingles: 64-bit hashes (for exact Jaccard) and the exact-duplicate key."""

    exact_hash: str
    n_tokens: int
    shingles: np.ndarray  # uint64, in document order, repeats kept

    @property
    def hash32(self) -> np.ndarray:
        """The 32-bit values given to MinHash (datasketch's hashfunc output)."""
        return (self.shingles >> _S32).astype(np.uint32)


def shingle_all(texts: Sequence[str], config: MinHashConfig) -> list[Shingled]:
    """The shingles of each text (a batch: word tokens are hashed for many texts at once)."""
    if config.shingle == "char":
        token_lists = [_char_hashes_of(text, config) for text in texts]
    else:
        token_lists = _word_hashes(texts, config)
    return [
        Shingled(
            exact_hash=xxhash.xxh3_128_hexdigest(tokens.tobytes()) if tokens.size else "",
            n_tokens=int(tokens.size),
            shingles=shingles_from_tokens(tokens, config.ngram),
        )
        for tokens in token_lists
    ]


def shingle(text: str, config: MinHashConfig) -> Shingled:
    return shingle_all([text], config)[0]


def shingle_sets(texts: Sequence[str], config: MinHashConfig) -> list[np.ndarray]:
    """The distinct 64-bit shingle hashes of each text, sorted (for exact Jaccard)."""
    return [np.unique(s.shingles) for s in shingle_all(texts, config)]


def shingle_set(text: str, config: MinHashConfig) -> np.ndarray:
    return shingle_sets([text], config)[0]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sorted arrays of distinct values. The intersection is counted by a binary search
    of the smaller array's values in the larger one (~3x faster than `np.intersect1d`, which sorts both again)."""
    if a.size == 0 and b.size == 0:
        return 0.0
    small, large = (a, b) if a.size <= b.size else (b, a)
    if small.size == 0:
        return 0.0
    at = np.searchsorted(large, small)
    at[at == large.size] = 0  # beyond the last value: compared with any value, it is not equal
    inter = int(np.count_nonzero(large[at] == small))
    return inter / (a.size + b.size - inter)


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def affine32_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's `affine32` permutations (`MinHash._init_permutations`, datasketch 2.0): odd `a`, any `b`,
    drawn from `RandomState(seed)`. Written out here because `import datasketch` pulls in scipy (~1 s in every
    process that signs); `tests/curators/dedup/test_minhash.py` checks them against datasketch's own."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


class MinHasher:
    """Signatures and band keys for many documents at once (datasketch `affine32` MinHash)."""

    def __init__(self, config: MinHashConfig) -> None:
        self.config = config
        self.bands, self.rows = config.lsh
        self.num_perm = self.bands * self.rows
        a, b = affine32_permutations(self.num_perm, config.seed)
        self.a = a[None, :]
        self.b = b[None, :]

    def signatures(self, hash32: list[np.ndarray]) -> np.ndarray:
        """(documents x num_perm) uint32 MinHash values; a document without shingles keeps 0xFFFFFFFF.

        Computed one permutation at a time over every shingle of the batch (contiguous 1-D arithmetic
        and `minimum.reduceat` per document: ~10x faster than a shingles x permutations block), in
        chunks of CHUNK_SHINGLES shingles so that memory stays bounded for a document of any size."""
        d = len(hash32)
        sig_t = np.full((self.num_perm, d), MAX_HASH32, dtype=np.uint32)
        lengths = np.fromiter((h.size for h in hash32), dtype=np.int64, count=d)
        if d == 0 or lengths.sum() == 0:
            return sig_t.T.copy()
        values = _fmix32(np.concatenate(hash32))
        doc_of = np.repeat(np.arange(d), lengths)
        total = values.size
        a, b = self.a[0], self.b[0]
        with np.errstate(over="ignore"):
            for start in range(0, total, CHUNK_SHINGLES):
                end = min(start + CHUNK_SHINGLES, total)
                chunk = values[start:end]
                docs = doc_of[start:end]
                firsts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
                owners = docs[firsts]
                tmp = np.empty_like(chunk)
                for p in range(self.num_perm):
                    np.multiply(chunk, a[p], out=tmp)
                    np.add(tmp, b[p], out=tmp)
                    reduced = np.minimum.reduceat(tmp, firsts)
                    row = sig_t[p]
                    row[owners] = np.minimum(row[owners], reduced)
        return sig_t.T.copy()

    def band_keys(self, sig: np.ndarray) -> np.ndarray:
        """(documents x bands) uint64: a hash of each band's `rows` values, salted by the band number."""
        d = sig.shape[0]
        keys = np.empty((d, self.bands), dtype=np.uint64)
        for band in range(self.bands):
            cols = sig[:, band * self.rows : (band + 1) * self.rows].astype(np.uint64)
            h = np.full(d, ((band + 1) * int(_GOLDEN)) % (1 << 64), dtype=np.uint64)
            for j in range(self.rows):
                h = _fmix64(h ^ cols[:, j])
            keys[:, band] = h
        return keys

    @cached_property
    def curve(self) -> dict:
        return s_curve(self.bands, self.rows)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """The MinHash estimate: the share of equal signature values."""
    return float(np.mean(sig_a == sig_b))


def signature_table(ids: list[str], texts: list[str], hasher: MinHasher, run_id: str) -> pa.Table:
    """`minhash` rows for a batch of documents (schema `warehouse.schemas.MINHASH`)."""
    from warehouse.arrays import int_array, string_array
    from warehouse.schemas import MINHASH

    shingled = shingle_all(texts, hasher.config)
    sig = hasher.signatures([s.hash32 for s in shingled])
    keys = hasher.band_keys(sig)
    n = len(ids)
    n_shingles = np.fromiter((s.shingles.size for s in shingled), dtype=np.int64, count=n)
    # Columns from buffers (`warehouse.arrays`): `pa.array` would import pandas in every process that signs.
    has = n_shingles > 0
    valid = None if has.all() else pa.py_buffer(np.packbits(has, bitorder="little"))
    offsets = np.arange(n + 1, dtype=np.int32) * hasher.bands
    keys_array = pa.Array.from_buffers(pa.uint64(), keys.size, [None, pa.py_buffer(np.ascontiguousarray(keys))])
    bands = pa.Array.from_buffers(pa.list_(pa.uint64()), n, [valid, pa.py_buffer(offsets)], children=[keys_array])
    width = hasher.num_perm * 4
    sig_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(has * width, out=sig_offsets[1:])
    raw = np.ascontiguousarray(sig[has]).astype("<u4", copy=False).tobytes()
    signature = pa.Array.from_buffers(pa.binary(), n, [valid, pa.py_buffer(sig_offsets), pa.py_buffer(raw)])
    columns = [
        string_array(ids),
        string_array([hasher.config.sig_config] * n),
        string_array([s.exact_hash for s in shingled]),
        int_array([s.n_tokens for s in shingled]),
        pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(n_shingles)]),
        int_array([len(t) for t in texts]),
        bands,
        signature,
        string_array([run_id] * n),
    ]
    return pa.Table.from_arrays(columns, schema=MINHASH)
