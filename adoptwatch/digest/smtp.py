"""Sending over SMTP: where to (the smtp_* settings or a Prefect EmailServerCredentials
block), and one send with every failure turned into a :class:`SendFailed` subclass.

The SMTP password is never logged, stored or put in an exception message."""

from __future__ import annotations

import base64
import logging
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from adoptwatch.digest.content import clean_text
from adoptwatch.digest.errors import (
    DigestConfigError,
    RecipientsRefused,
    SendFailed,
    SmtpAuthFailed,
    SmtpTlsFailed,
    SmtpUnavailable,
)
from adoptwatch.settings import Settings

log = logging.getLogger(__name__)


# --- SMTP --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send. ``security`` is 'plain', 'starttls' or 'ssl'."""

    host: str
    port: int
    security: str = "plain"
    user: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    verify: bool = True
    source: str = "settings"

    def describe(self) -> str:
        """Safe to log and store: never the password."""
        who = f", user {self.user}" if self.user else ""
        via = "" if self.source == "settings" else f" from {self.source}"
        return f"smtp {self.host}:{self.port} ({self.security}{who}){via}"


def smtp_config_from_settings(settings: Settings) -> SmtpConfig:
    if settings.smtp_ssl and settings.smtp_starttls:
        raise DigestConfigError(
            "smtp_ssl and smtp_starttls are both on; use smtp_ssl for implicit TLS (port 465) "
            "or smtp_starttls for STARTTLS (port 587), not both"
        )
    if not settings.smtp_host:
        raise DigestConfigError("smtp_host is empty; set ADOPTWATCH_SMTP_HOST")
    security = "ssl" if settings.smtp_ssl else ("starttls" if settings.smtp_starttls else "plain")
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=security,
        user=settings.smtp_user,
        password=settings.smtp_password,
        timeout=settings.smtp_timeout,
    )


def smtp_config_from_block(block: Any, timeout: float, name: str) -> SmtpConfig:
    """From a prefect-email ``EmailServerCredentials`` block (already loaded)."""
    from prefect_email.credentials import SMTPServer, SMTPType

    server = block.smtp_server
    host = server.value if isinstance(server, SMTPServer) else str(server)
    smtp_type = block.smtp_type
    security = {SMTPType.SSL: "ssl", SMTPType.STARTTLS: "starttls"}.get(smtp_type, "plain")
    return SmtpConfig(
        host=host,
        port=int(block.smtp_port or smtp_type.value),
        security=security,
        user=block.username or "",
        password=block.password.get_secret_value() if block.password else "",
        timeout=timeout,
        verify=block.verify is not False,
        source=f"block {name}",
    )


def load_credentials_block(name: str) -> Any:
    """Load an ``EmailServerCredentials`` block by name from the Prefect API."""
    from prefect_email import EmailServerCredentials

    try:
        return EmailServerCredentials.load(name)
    except Exception as exc:  # ValueError when missing, httpx errors when no API
        raise DigestConfigError(
            f"cannot load the EmailServerCredentials block {name!r} ({type(exc).__name__}); "
            "create it (prefect block register -m prefect_email, then in the UI) or clear "
            "email_credentials_block to use the smtp_* settings"
        ) from None


def resolve_smtp_config(
    settings: Settings, block_loader: Callable[[str], Any] = load_credentials_block
) -> SmtpConfig:
    """The block named by ``email_credentials_block`` when set, else the smtp_* settings."""
    name = settings.email_credentials_block
    if name:
        return smtp_config_from_block(block_loader(name), settings.smtp_timeout, name)
    return smtp_config_from_settings(settings)


def scrub(text: str, config: SmtpConfig) -> str:
    """Remove the password (and the base64 an AUTH exchange carries) from ``text``."""
    secrets = set()
    if config.password:
        pw = config.password
        secrets.add(pw)
        for raw in (pw, f"\0{config.user}\0{pw}", f"{config.user}\0{pw}"):
            secrets.add(base64.b64encode(raw.encode()).decode())
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "********")
    return text


def _reply(code: Any, message: Any) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {clean_text(text, 300)}"


def _tls_context(config: SmtpConfig, ssl_context: ssl.SSLContext | None) -> ssl.SSLContext:
    if ssl_context is not None:
        return ssl_context
    context = ssl.create_default_context()
    if not config.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


@dataclass(frozen=True)
class SendReceipt:
    accepted: list[str]
    refused: dict[str, str]  # address -> server reply


def send_message(
    msg: EmailMessage,
    config: SmtpConfig,
    sender: Address,
    recipients: Sequence[Address],
    ssl_context: ssl.SSLContext | None = None,
) -> SendReceipt:
    """Send ``msg`` to ``recipients`` (the envelope; headers never add recipients).

    Raises a :class:`SendFailed` subclass with a message that names the server and
    its reply but never the password.
    """
    where = config.describe()
    to_addrs = [r.addr_spec for r in recipients]
    if not to_addrs:
        raise DigestConfigError("no recipients")
    if config.user and config.security == "plain":
        log.warning(
            "logging in to %s without TLS: the password crosses the network in clear; "
            "set smtp_starttls or smtp_ssl",
            where,
        )
    context = _tls_context(config, ssl_context)
    try:
        if config.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                config.host, config.port, timeout=config.timeout, context=context
            )
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        with smtp:
            smtp.ehlo()
            if config.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if config.user:
                smtp.login(config.user, config.password)
            refused_raw = smtp.send_message(msg, from_addr=sender.addr_spec, to_addrs=to_addrs)
    except smtplib.SMTPAuthenticationError as exc:
        raise SmtpAuthFailed(
            scrub(f"{where} refused the login: {_reply(exc.smtp_code, exc.smtp_error)}", config)
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        replies = {a: _reply(*r) for a, r in exc.recipients.items()}
        transient = all(400 <= r[0] < 500 for r in exc.recipients.values())
        detail = "; ".join(f"{a}: {r}" for a, r in replies.items())
        raise RecipientsRefused(
            scrub(f"{where} refused every recipient: {detail}", config), transient=transient
        ) from None
    except smtplib.SMTPSenderRefused as exc:
        raise RecipientsRefused(
            scrub(
                f"{where} refused the sender {sender.addr_spec}: "
                f"{_reply(exc.smtp_code, exc.smtp_error)}",
                config,
            ),
            transient=400 <= exc.smtp_code < 500,
        ) from None
    except smtplib.SMTPDataError as exc:
        cls = SmtpUnavailable if 400 <= exc.smtp_code < 500 else RecipientsRefused
        raise cls(
            scrub(f"{where} refused the message: {_reply(exc.smtp_code, exc.smtp_error)}", config),
            transient=400 <= exc.smtp_code < 500,
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        cls = SmtpTlsFailed if config.security == "starttls" else SmtpAuthFailed
        raise cls(scrub(f"{where}: {clean_text(exc, 300)}", config)) from None
    except smtplib.SMTPConnectError as exc:
        raise SmtpUnavailable(
            scrub(
                f"{where} refused the connection: {_reply(exc.smtp_code, exc.smtp_error)}", config
            )
        ) from None
    except smtplib.SMTPResponseException as exc:
        transient = 400 <= exc.smtp_code < 500
        cls = SmtpUnavailable if transient else SendFailed
        raise cls(
            scrub(f"{where} said {_reply(exc.smtp_code, exc.smtp_error)}", config),
            transient=transient,
        ) from None
    except smtplib.SMTPServerDisconnected as exc:
        raise SmtpUnavailable(
            scrub(f"{where} closed the connection: {clean_text(exc, 300)}", config)
        ) from None
    except ssl.SSLError as exc:  # before OSError: it is one
        raise SmtpTlsFailed(
            scrub(f"{where}: TLS failed: {clean_text(exc.reason or exc, 300)}", config)
        ) from None
    except TimeoutError as exc:
        raise SmtpUnavailable(
            f"{where} timed out after {config.timeout:g}s ({type(exc).__name__})"
        ) from None
    except OSError as exc:
        raise SmtpUnavailable(
            scrub(f"{where} is unreachable: {clean_text(exc.strerror or exc, 300)}", config)
        ) from None
    except smtplib.SMTPException as exc:
        raise SendFailed(
            scrub(f"{where}: {type(exc).__name__}: {clean_text(exc, 300)}", config)
        ) from None
    refused = {a: _reply(*r) for a, r in (refused_raw or {}).items()}
    accepted = [a for a in to_addrs if a not in refused]
    return SendReceipt(accepted=accepted, refused=refused)
