"""The 64-bit hash of dedup's normalised tokens: `token_hash` for one token (the definition), `hash_tokens` for
every token of a buffer at once with numpy (what `curators.dedup.minhash` uses). Its version is
`curators.dedup.config.TOKEN_HASH_VERSION`."""

from __future__ import annotations

import numpy as np
import xxhash

LONG_TOKEN_BYTES = 128  # longer tokens are hashed one call each (see `token_hash`)

# splitmix64 / MurmurHash3 64-bit finalizer constants.
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S33 = np.uint64(33)
_GOLDEN_INT = 0x9E3779B97F4A7C15
_U64 = (1 << 64) - 1
_MASKS = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [_U64], dtype=np.uint64)  # the first n bytes of a word


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, elementwise (wrapping uint64 arithmetic)."""
    h = h ^ (h >> _S33)
    h = h * _M1
    h = h ^ (h >> _S33)
    h = h * _M2
    return h ^ (h >> _S33)


def _fmix64_int(h: int) -> int:
    """`fmix64` of one Python int (0 <= h < 2**64)."""
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _U64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & _U64
    return h ^ (h >> 33)


def token_hash(token: bytes) -> int:
    """The 64-bit hash of one normalised token (its UTF-8 bytes), as `hash_tokens` computes it for many at once.

    Up to LONG_TOKEN_BYTES: the bytes read as little-endian 64-bit words w0, w1, ... (the last one padded with
    zero bytes); h = w0, then h = fmix64(h + GOLDEN) ^ wk for each next word; the hash is fmix64(h + n * GOLDEN)
    for a token of n bytes. Longer tokens (rare: a base64 blob, a hex dump): xxh3_64 of the bytes, because the
    rounds above grow with the length. The definition is hand-written, not a library's hash, so that a whole batch
    of tokens is hashed with a few numpy passes (tokenising was ~2/3 of signing, most of it one Python object and
    one dict lookup per token)."""
    n = len(token)
    if n > LONG_TOKEN_BYTES:
        return xxhash.xxh3_64_intdigest(token)
    padded = token + bytes(-n % 8)
    words = [int.from_bytes(padded[i : i + 8], "little") for i in range(0, len(padded), 8)]
    h = words[0]
    for word in words[1:]:
        h = _fmix64_int((h + _GOLDEN_INT) & _U64) ^ word
    return _fmix64_int((h + n * _GOLDEN_INT) & _U64)


def hash_tokens(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """`token_hash` of every token of `data` (tokens: the runs of bytes other than b" "), in order, and the offset
    where each starts."""
    n = len(data)
    solid = np.zeros(n + 2, dtype=np.int8)  # 1 inside a token, with a 0 before and after the data
    np.not_equal(np.frombuffer(data, dtype=np.uint8), 32, out=solid[1:-1].view(np.bool_))
    edges = np.flatnonzero(np.diff(solid))
    starts = edges[0::2]
    lengths = edges[1::2] - starts
    # words[i]: the 8 bytes from offset i, little-endian (an overlapping view; 8 zero bytes after the data)
    words = np.ndarray((n,), dtype="<u8", buffer=data + bytes(8), strides=(1,))
    h = words[starts] & _MASKS[np.minimum(lengths, 8)]
    long = np.flatnonzero(lengths > LONG_TOKEN_BYTES)
    todo = np.flatnonzero((lengths > 8) & (lengths <= LONG_TOKEN_BYTES))
    offset = 8
    while todo.size:
        rest = lengths[todo] - offset
        h[todo] = fmix64(h[todo] + GOLDEN) ^ (words[starts[todo] + offset] & _MASKS[np.minimum(rest, 8)])
        offset += 8
        todo = todo[rest > 8]
    h = fmix64(h + lengths.astype(np.uint64) * GOLDEN)
    for i in long.tolist():
        begin = int(starts[i])
        h[i] = xxhash.xxh3_64_intdigest(data[begin : begin + int(lengths[i])])
    return h, starts
