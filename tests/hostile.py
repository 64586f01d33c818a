"""Hostile HTTP behaviour for :class:`tests.httpserver.RouteServer`: handlers that write raw,
malicious or broken answers onto a real socket. Everything here is written for the project.

Each factory returns a handler; bodies that are expensive to build are cached.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import socket
import ssl
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler
from pathlib import Path

from tests.httpserver import Handler, respond

MB = 1_000_000


# --- bodies ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def deflate_bomb(size: int, raw: bool = False) -> bytes:
    """``size`` zero bytes, deflated (zlib-wrapped, or raw deflate); about 1000:1."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    block = b"\0" * MB
    parts = [comp.compress(block) for _ in range(size // MB)]
    parts.append(comp.compress(b"\0" * (size % MB)))
    parts.append(comp.flush())
    return b"".join(parts)


@functools.lru_cache(maxsize=8)
def gzip_bomb(size: int, layers: int = 1) -> bytes:
    """``size`` zero bytes gzipped ``layers`` times (two layers: about a million to one)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * MB
    parts = [comp.compress(block) for _ in range(size // MB)]
    parts.append(comp.compress(b"\0" * (size % MB)))
    parts.append(comp.flush())
    body = b"".join(parts)
    for _ in range(layers - 1):
        body = gzip.compress(body, 9)
    return body


def billion_laughs(encoding: str = "utf-8", levels: int = 9) -> bytes:
    """The classic entity-expansion document, as an RSS feed: 10**levels "lol"s."""
    decls = ['  <!ENTITY lol0 "lol">']
    for level in range(1, levels + 1):
        decls.append(f'  <!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">')
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        "<!DOCTYPE rss [\n" + "\n".join(decls) + "\n]>\n"
        '<rss version="2.0"><channel><title>&lol9;</title>'
        "<item><title>&lol9;</title><link>http://laughs.example/1</link></item>"
        "</channel></rss>"
    )
    return text.encode(encoding)


def external_entity(target: str) -> bytes:
    """An RSS feed that declares an external entity naming ``target`` (a file or URL)."""
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE rss [ <!ENTITY leak SYSTEM "{target}"> ]>\n'
        '<rss version="2.0"><channel><title>t</title>'
        "<item><title>&leak;</title><link>http://leak.example/1</link></item>"
        "</channel></rss>"
    ).encode()


def external_dtd(dtd_url: str) -> bytes:
    """An RSS feed whose DOCTYPE points at an external DTD (which would define &leak;)."""
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE rss SYSTEM "{dtd_url}">\n'
        '<rss version="2.0"><channel><title>t</title>'
        "<item><title>x &leak; y</title><link>http://dtd.example/1</link></item>"
        "</channel></rss>"
    ).encode()


def garbage(size: int, seed: int = 7) -> bytes:
    """Deterministic binary noise (a cheap LCG; incompressible enough for tests)."""
    out = bytearray()
    state = seed
    while len(out) < size:
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        out += struct.pack("<Q", state)
    return bytes(out[:size])


_ALPHABET = b"abcdefghijklmnopqrstuvwxyz      ABCDEFGHIJKLMNOPQRSTUVWXYZ.,;0123456789"
_PRINTABLE = bytes(_ALPHABET[i % len(_ALPHABET)] for i in range(256))


def text_noise(size: int, seed: int = 11) -> bytes:
    """Printable, word-like noise that compresses poorly: text no parser can refuse."""
    return garbage(size, seed).translate(_PRINTABLE)


def rss(
    items: list[tuple[str | None, str | None, str | None, dt.datetime | None]],
    title: str = "Hostile test feed",
) -> bytes:
    """An RSS 2.0 document; items are (guid, link, title, published) with None = omitted."""
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{title}'
             "</title><link>http://feed.example/</link><description>d</description>"]  # fmt: skip
    for guid, link, item_title, published in items:
        parts.append("<item>")
        if guid is not None:
            parts.append(f'<guid isPermaLink="false">{guid}</guid>')
        if link is not None:
            parts.append(f"<link>{link}</link>")
        if item_title is not None:
            parts.append(f"<title>{item_title}</title>")
        if published is not None:
            parts.append(f"<pubDate>{published.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def article_html(title: str, paragraphs: list[str], charset: str | None = "utf-8") -> str:
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head>{meta}<title>{title}</title></head><body>"
        '<nav><a href="/">Home</a> <a href="/about">About</a></nav>'
        f"<article><h1>{title}</h1>{body}</article>"
        "<footer>Copyright the hostile test site. All rights reserved.</footer></body></html>"
    )


def tag_bomb(size: int) -> bytes:
    """A page that is nothing but empty paragraphs: millions of nodes for any parser."""
    return b"<html><body>" + b"<p>" * (size // 3)


# --- handlers -------------------------------------------------------------------------


def endless(
    content_type: str = "application/rss+xml", stopped: threading.Event | None = None
) -> Handler:
    """200 with no length, then bytes until the client hangs up (``stopped`` is set then)."""
    chunk = b"<item><title>more</title></item>" * 2000

    def handle(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Type", content_type)
        req.send_header("Connection", "close")
        req.end_headers()
        req.close_connection = True
        try:
            req.wfile.write(b'<rss version="2.0"><channel><title>endless</title>')
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                req.wfile.write(chunk)
        except OSError:
            pass
        finally:
            if stopped is not None:
                stopped.set()

    return handle


def lying_length(declared: int, content_type: str = "application/rss+xml") -> Handler:
    """Declares a huge Content-Length (and sends a little)."""

    def handle(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Type", content_type)
        req.send_header("Content-Length", str(declared))
        req.end_headers()
        req.wfile.write(b"<rss>")
        req.close_connection = True

    return handle


def drip(interval: float, total: int = 1000, content_type: str = "application/rss+xml") -> Handler:
    """Declares ``total`` bytes and sends one every ``interval`` seconds."""

    def handle(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200)
        req.send_header("Content-Type", content_type)
        req.send_header("Content-Length", str(total))
        req.end_headers()
        for _ in range(total):
            req.wfile.write(b" ")
            req.wfile.flush()
            time.sleep(interval)

    return handle


def encoded(body: bytes, encoding: str, content_type: str = "application/rss+xml") -> Handler:
    """``body`` served as is with the given Content-Encoding header."""

    def handle(req: BaseHTTPRequestHandler) -> None:
        respond(req, 200, body, {"Content-Encoding": encoding}, content_type)

    return handle


def reset_mid_body() -> Handler:
    """Promises 100 000 bytes, sends a few, then aborts the connection with a TCP RST."""

    def handle(req: BaseHTTPRequestHandler) -> None:
        req.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                        b"Content-Length: 100000\r\n\r\n<rss version=")  # fmt: skip
        req.wfile.flush()
        time.sleep(0.05)
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        req.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        req.close_connection = True
        req.connection.close()

    return handle


def not_http() -> Handler:
    """Answers with binary garbage instead of an HTTP status line."""

    def handle(req: BaseHTTPRequestHandler) -> None:
        req.wfile.write(garbage(2000))
        req.wfile.flush()
        req.close_connection = True

    return handle


def status_sequence(
    statuses: list[int], body: bytes = b"ok", headers: dict[str, str] | None = None,
    content_type: str = "application/rss+xml",
) -> tuple[Handler, list[float]]:  # fmt: skip
    """Answers with each status in turn (the last one repeats); returns request times too."""
    times: list[float] = []

    def handle(req: BaseHTTPRequestHandler) -> None:
        times.append(time.monotonic())
        status = statuses[min(len(times) - 1, len(statuses) - 1)]
        respond(req, status, body if status < 300 else b"no", headers if status >= 400 else None,
                content_type)  # fmt: skip

    return handle, times


def redirect(location: str, status: int = 302) -> Handler:
    def handle(req: BaseHTTPRequestHandler) -> None:
        respond(req, status, b"", {"Location": location})

    return handle


def counting(handler: Handler, calls: list[float]) -> Handler:
    def handle(req: BaseHTTPRequestHandler) -> None:
        calls.append(time.monotonic())
        handler(req)

    return handle


def delayed(handler: Handler, seconds: float) -> Handler:
    def handle(req: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        handler(req)

    return handle


# --- TLS --------------------------------------------------------------------------------


def self_signed_context(tmp: Path, host: str = "127.0.0.1") -> ssl.SSLContext:
    """A server-side TLS context with a freshly made self-signed certificate for ``host``."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "adoptwatch test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context
