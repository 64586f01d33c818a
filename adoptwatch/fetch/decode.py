"""Bounded decompression of response bodies.

Bodies are decompressed here, not by httpx: httpx inflates each network chunk without
an output limit, so one 64 KiB chunk of a deflate bomb becomes ~64 MiB before any cap
can look at it, and stacked encodings (``Content-Encoding: gzip, gzip``) multiply that.
:class:`BodyDecoder` inflates with ``zlib.decompressobj(...).decompress(data, max_length)``
so no step ever holds more than :data:`DECODE_PIECE` new bytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from adoptwatch.fetch.errors import BadEncoding, ResponseTooLarge

# The most new bytes one inflate step may produce; the size cap is checked after each.
DECODE_PIECE = 64 * 1024
# More stacked encodings than this is an attack, not a web server.
MAX_ENCODING_LAYERS = 2


def _looks_like_zlib(head: bytes) -> bool:
    # RFC 1950 header: CM = 8 (deflate) and the two bytes a multiple of 31.
    return len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0


class _Inflater:
    """One gzip or deflate layer, inflated in pieces of at most DECODE_PIECE bytes."""

    def __init__(self, coding: str, limit: int, url: str) -> None:
        self.coding = coding
        self.limit = limit  # most bytes this layer may produce in all
        self.url = url
        self.produced = 0
        self._d: Any = None
        self._pending = b""
        self._finished = False  # at least one complete member/stream seen

    def _start(self, head: bytes) -> Any:
        if self.coding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # "deflate" is meant to be zlib-wrapped (RFC 9110) but many servers send raw
        # deflate; tell them apart by the header, as browsers do.
        return zlib.decompressobj(zlib.MAX_WBITS if _looks_like_zlib(head) else -zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        data = self._pending + data if self._pending else data
        self._pending = b""
        while data:
            if self._d is None:
                if self._finished and not (self.coding == "gzip" and data[:2] == b"\x1f\x8b"):
                    return  # trailing bytes after the stream: ignored, as browsers do
                if len(data) < 2:
                    self._pending = data
                    return
                self._d = self._start(data)
            while True:
                try:
                    out = self._d.decompress(data, DECODE_PIECE)
                except zlib.error as exc:
                    raise BadEncoding(
                        f"{self.url} sent a corrupt {self.coding} body: {exc}", self.url
                    ) from None
                if out:
                    self.produced += len(out)
                    if self.produced > self.limit:
                        raise ResponseTooLarge(
                            f"{self.url} sent more than {self.limit:,} bytes (after decompression)",
                            self.url,
                        )
                    yield out
                if self._d.eof:
                    data = self._d.unused_data
                    self._d = None
                    self._finished = True
                    break
                data = self._d.unconsumed_tail
                if not data and len(out) < DECODE_PIECE:
                    return  # all input used and no output held back: wait for more

    def finish(self) -> Iterator[bytes]:
        if self._d is not None:
            # Everything was fed with a bounded max_length loop, so little is left here.
            try:
                out = self._d.flush()
            except zlib.error as exc:
                raise BadEncoding(
                    f"{self.url} sent a corrupt {self.coding} body: {exc}", self.url
                ) from None
            if out:
                self.produced += len(out)
                if self.produced > self.limit:
                    raise ResponseTooLarge(
                        f"{self.url} sent more than {self.limit:,} bytes (after decompression)",
                        self.url,
                    )
                yield out


class BodyDecoder:
    """Undoes Content-Encoding (gzip, deflate, stacked up to MAX_ENCODING_LAYERS) in bounded
    pieces; ``limit`` caps the bytes every layer may produce."""

    def __init__(self, content_encoding: str, limit: int, url: str) -> None:
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > MAX_ENCODING_LAYERS:
            raise BadEncoding(
                f"{url} stacks {len(codings)} content encodings ({content_encoding[:100]}); "
                f"at most {MAX_ENCODING_LAYERS} are accepted",
                url,
            )
        layers = []
        for coding in reversed(codings):  # the last one applied is undone first
            if coding in ("gzip", "x-gzip"):
                layers.append(_Inflater("gzip", limit, url))
            elif coding == "deflate":
                layers.append(_Inflater("deflate", limit, url))
            else:
                raise BadEncoding(
                    f"{url} answered with Content-Encoding {coding!r}; "
                    "only gzip and deflate were accepted",
                    url,
                )
        self._layers = layers

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, data)

    def finish(self) -> Iterator[bytes]:
        for index, layer in enumerate(self._layers):
            for piece in layer.finish():
                yield from self._through(index + 1, piece)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._layers):
            if data:
                yield data
            return
        for piece in self._layers[index].feed(data):
            yield from self._through(index + 1, piece)
