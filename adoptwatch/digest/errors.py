"""The digest's errors; their tree is drawn in :mod:`adoptwatch.errors`."""

from __future__ import annotations

from adoptwatch.errors import AdoptwatchError


class DigestError(AdoptwatchError):
    """Base class for digest errors (the tree is drawn in :mod:`adoptwatch.errors`)."""


class InvalidWeek(DigestError):
    """Not an ISO week such as 2026-W48."""


class InvalidAddress(DigestError):
    """An address is not exactly one plain mailbox, or carries CR/LF."""


class DigestConfigError(DigestError):
    """The settings do not allow a digest to be built or sent."""


class NotRecorded(DigestError):
    """The message was sent but the database refused the digest_log row (busy, read-only)."""


class SendFailed(DigestError):
    """The digest was not sent. ``transient``: a later retry may succeed."""

    transient = False

    def __init__(self, message: str, transient: bool | None = None) -> None:
        super().__init__(message)
        if transient is not None:
            self.transient = transient


class SmtpUnavailable(SendFailed):
    """The server could not be reached, dropped the connection, timed out or said 4xx."""

    transient = True


class SmtpTlsFailed(SendFailed):
    """TLS could not be set up (handshake, certificate, or STARTTLS not offered)."""


class SmtpAuthFailed(SendFailed):
    """The server refused the credentials (or offers no authentication)."""


class RecipientsRefused(SendFailed):
    """The server refused the sender, every recipient, or the message."""


def is_transient(exc: BaseException) -> bool:
    """True when retrying the send may help (connection trouble, timeouts, 4xx replies)."""
    return isinstance(exc, SendFailed) and exc.transient
