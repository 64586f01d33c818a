"""Near-duplicate signatures of article texts: which stored stories a new one copies.

A syndicated or copied story keeps most of its sentences while the copy gets another
site's leftovers around it, another headline, a wire credit, a paragraph fewer or a few
words changed. Its word 5-shingles (every run of five consecutive words) mostly survive,
so the Jaccard similarity of the two shingle sets stays high, while two different stories
on the same topic share few five-word runs. ``benchmarks/story_clusters.py`` measures both
on real articles (docs/corroboration.md).

A text's signature is a MinHash of its shingles (``datasketch``: ``NUM_PERM`` hash values
whose equal share estimates the Jaccard similarity, see
:func:`adoptwatch.storage.clusters.estimated_jaccard`), cut into ``BANDS`` bands of
``ROWS`` values (locality-sensitive hashing): two texts whose similarity is ``s`` share
at least one band hash with probability ``1 - (1 - s**ROWS)**BANDS`` -- 0.99 at s = 0.5,
0.04 at s = 0.1 -- so the storage looks up candidates by equal band hashes (one join) and
confirms them on the whole signature.

The constants are part of what is stored (``story_signatures``, ``story_bands``):
changing any of them makes old and new signatures incomparable.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
from datasketch import MinHash

SHINGLE_WORDS = 5
ROWS = 3
BANDS = 42
NUM_PERM = ROWS * BANDS  # 126
SEED = 1  # datasketch's default; fixed, so that signatures from any process compare

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class StorySignature:
    """``minhash``: the ``NUM_PERM`` hash values as little-endian uint32 bytes;
    ``band_hashes``: one signed 64-bit hash per band (the band's number mixed in, so
    equal values in different bands do not match)."""

    minhash: bytes
    band_hashes: tuple[int, ...]


def shingles(text: str) -> set[str]:
    """The text's word 5-shingles, after Unicode NFKC and case folding (a text shorter
    than five words is one shingle)."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    if len(words) < SHINGLE_WORDS:
        return {" ".join(words)}
    return {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def story_signature(text: str) -> StorySignature:
    """The near-duplicate signature of an article's text (see the module)."""
    minhash = MinHash(num_perm=NUM_PERM, seed=SEED)
    minhash.update_batch([s.encode("utf-8") for s in shingles(text)])
    # datasketch keeps 32-bit values in a uint64 array: stored as 4 bytes each.
    values = np.asarray(minhash.hashvalues, dtype="<u4")
    bands = tuple(
        int.from_bytes(
            hashlib.blake2b(
                band.to_bytes(2, "little") + values[band * ROWS : (band + 1) * ROWS].tobytes(),
                digest_size=8,
            ).digest(),
            "little",
            signed=True,
        )
        for band in range(BANDS)
    )
    return StorySignature(values.tobytes(), bands)
