"""Email over SMTP with the standard library (run in a thread: smtplib blocks).

``use_tls`` means STARTTLS, except on port 465 where the connection is TLS from the start.
A recipient or message the server refuses for good (5xx) is a business outcome; anything else
(connection trouble, 4xx, bad credentials an operator can fix) is retried.
"""

import asyncio
import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage

from adapters.ports import ProviderUnavailable
from models.errors import DomainError
from models.notifications import EmailMessage, to_mime

IMPLICIT_TLS_PORT = 465


class SmtpEmailSender:
    name = "smtp"

    def __init__(self, host: str, port: int, username: str | None, password: str | None, use_tls: bool,
                 sender: str, timeout: float = 30.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.username, self.password, self.use_tls = username, password, use_tls
        self.sender = sender

    async def send(self, message: EmailMessage) -> str:
        mime = to_mime(message, sender=self.sender, date=datetime.now(UTC))
        await asyncio.to_thread(self._deliver, mime)
        return mime["Message-ID"]

    def _deliver(self, mime: MimeMessage) -> None:
        try:
            with self._connect() as smtp:
                smtp.send_message(mime)
        except smtplib.SMTPRecipientsRefused as refused:
            if all(code >= 500 for code, _ in refused.recipients.values()):
                raise DomainError(f"the mail server refused {mime['To']}", code="email_undeliverable") from refused
            raise ProviderUnavailable(f"recipient deferred: {refused.recipients}") from refused
        except smtplib.SMTPDataError as rejected:
            if rejected.smtp_code >= 500:
                raise DomainError(f"the mail server rejected the message: {rejected.smtp_error!r}",
                                  code="email_rejected") from rejected
            raise ProviderUnavailable(f"SMTP {rejected.smtp_code}") from rejected
        except (smtplib.SMTPException, OSError) as trouble:
            raise ProviderUnavailable(f"SMTP {self.host}:{self.port}: {trouble}") from trouble

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.use_tls and self.port == IMPLICIT_TLS_PORT:
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.use_tls and self.port != IMPLICIT_TLS_PORT:
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp
