"""An independent word count, written from the rules in README.md and never
from the C code: the tests compare microtask's results with it.
"""
import collections
import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

_SEPARATORS = bytes(range(0x00, 0x20)) + b"\x7f " + \
    b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_TABLE = bytearray(range(256))
for _b in _SEPARATORS:
    _TABLE[_b] = ord(" ")
for _b in range(ord("A"), ord("Z") + 1):
    _TABLE[_b] = _b + 32
_TABLE = bytes(_TABLE)


def count_words(*chunks):
    """Counts words in each byte string separately (a file's end ends a word)."""
    counts = collections.Counter()
    for data in chunks:
        counts.update(w for w in data.translate(_TABLE).split(b" ") if w)
    return counts


def as_json_keys(counts):
    """Word bytes -> the keys mtctl prints: UTF-8 kept, other bytes as \\xNN."""
    out = {}
    for word, n in counts.items():
        key = word.decode("utf-8", errors="backslashreplace")
        assert key not in out
        out[key] = n
    return out
