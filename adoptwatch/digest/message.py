"""The email: addresses checked, the multipart message composed, a dry run written.

Addresses are parsed and refused when they are not exactly one plain mailbox, and the
finished message is checked for CR/LF in any header before it leaves."""

from __future__ import annotations

import base64
import email.policy
import email.utils
import html
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

from adoptwatch.digest.chart import render_chart
from adoptwatch.digest.content import Digest, clean_text
from adoptwatch.digest.errors import DigestConfigError, DigestError, InvalidAddress
from adoptwatch.digest.render_html import render_html
from adoptwatch.digest.render_text import render_text
from adoptwatch.digest.wording import subject_for
from adoptwatch.plain_text import CONTROL_CHARACTERS

# --- addresses and the message ---------------------------------------------------------


def parse_address(text: str) -> Address:
    """One mailbox, 'a@example.com' or 'Name <a@example.com>'; anything else is refused."""
    raw = "" if text is None else str(text)
    shown = raw.encode("unicode_escape").decode("ascii")
    if CONTROL_CHARACTERS.search(raw):
        raise InvalidAddress(f"{shown!r}: addresses may not contain CR, LF or control characters")
    try:
        header = email.policy.default.header_factory("To", raw)
        addresses = header.addresses
        defects = header.defects
        groups = header.groups
    except Exception:  # the parser raises IndexError, HeaderParseError, ... on junk
        raise InvalidAddress(f"{shown!r} is not an email address") from None
    if len(addresses) != 1 or defects or any(g.display_name is not None for g in groups):
        raise InvalidAddress(
            f"{shown!r} is not exactly one email address (write it like a@example.com or "
            "'Name <a@example.com>'; pass --to once per address)"
        )
    address = addresses[0]
    if not address.username or not address.domain:
        raise InvalidAddress(f"{shown!r} is not an email address")
    return Address(display_name=address.display_name, addr_spec=address.addr_spec)


def parse_addresses(texts: Sequence[str]) -> list[Address]:
    seen: dict[str, Address] = {}
    for text in texts:
        address = parse_address(text)
        seen.setdefault(address.addr_spec.lower(), address)
    return list(seen.values())


def message_domain(sender: Address) -> str:
    """The domain of Message-IDs: the sender's, when it is a plain host name."""
    domain = sender.domain or "adoptwatch.invalid"
    return domain if re.fullmatch(r"[A-Za-z0-9.-]+", domain) else "adoptwatch.invalid"


def compose_message(
    digest: Digest,
    sender: Address,
    recipients: Sequence[Address],
    now: datetime | None = None,
) -> EmailMessage:
    """multipart/alternative: text/plain, then multipart/related (text/html + the PNG)."""
    now = now or datetime.now(UTC)
    domain = message_domain(sender)
    chart = render_chart(digest)
    cid = f"<chart.{uuid.uuid4().hex[:16]}@{domain}>"
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["Subject"] = clean_text(subject_for(digest))
    msg["From"] = sender
    if recipients:
        msg["To"] = tuple(recipients)
    msg["Date"] = email.utils.format_datetime(now if now.tzinfo else now.replace(tzinfo=UTC))
    # Short enough never to be folded onto a second header line.
    msg["Message-ID"] = f"<digest.{digest.week.label}.{uuid.uuid4().hex[:16]}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Adoptwatch-Week"] = digest.week.label
    msg.set_content(render_text(digest), subtype="plain", cte="quoted-printable")
    msg.add_alternative(
        render_html(digest, f"cid:{cid[1:-1]}" if chart else None),
        subtype="html",
        cte="quoted-printable",
    )
    if chart:
        html_alternative = msg.get_payload()[1]
        html_alternative.add_related(
            chart,
            maintype="image",
            subtype="png",
            cid=cid,
            disposition="inline",
            filename="adoption-share.png",
        )
    _check_headers(msg)
    return msg


def _check_headers(msg: EmailMessage) -> None:
    # Belt and braces: the values above are built from cleaned parts, so this never
    # fires unless a future change lets article text into a header.
    for part in msg.walk():
        for name, value in part.items():
            if "\r" in str(value) or "\n" in str(value):
                raise DigestError(f"refusing to send: header {name} contains a line break")


def html_part(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    return part.get_content() if part is not None else ""


def standalone_html(msg: EmailMessage) -> str:
    """The HTML part with each cid: image inlined as a data: URI (opens in a browser)."""
    text = html_part(msg)
    for part in msg.walk():
        content_id = part.get("Content-ID")
        if content_id and part.get_content_maintype() == "image":
            data = base64.b64encode(part.get_content()).decode("ascii")
            uri = f"data:{part.get_content_type()};base64,{data}"
            text = text.replace(f"cid:{html.escape(content_id.strip('<>'), quote=True)}", uri)
    return text


def write_dry_run(msg: EmailMessage, path: Path | str) -> tuple[Path, Path]:
    """Write the message as ``path`` (.eml) and its HTML beside it; returns both paths."""
    eml = Path(path)
    if eml.suffix.lower() in (".html", ".htm"):
        raise DigestConfigError(
            f"--dry-run {eml}: give the .eml path; the .html is written beside it"
        )
    html_path = eml.with_suffix(".html")
    try:
        eml.parent.mkdir(parents=True, exist_ok=True)
        eml.write_bytes(msg.as_bytes(policy=email.policy.SMTP))
        html_path.write_text(standalone_html(msg), encoding="utf-8")
    except OSError as exc:
        raise DigestConfigError(f"cannot write {eml}: {exc.strerror or exc}") from None
    return eml, html_path
