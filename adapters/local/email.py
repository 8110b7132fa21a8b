"""Development stand-in for email: each message becomes an RFC 5322 ``.eml`` file in an outbox folder.

Files are named by idempotency key and published with a hard link, which never replaces an
existing file: a repeat send leaves the first message untouched and returns the same Message-ID.
"""

import asyncio
import os
import uuid
from datetime import UTC, datetime
from email import policy
from pathlib import Path
from urllib.parse import quote

from models.notifications import EmailMessage, message_id, to_mime


class OutboxEmailSender:
    name = "outbox"

    def __init__(self, directory: Path | str, sender: str = "orders@orderflow.local"):
        self.directory = Path(directory)
        self.sender = sender

    def path_for(self, key: str) -> Path:
        # Percent-encoding keeps any key a single, reversible file name (":" and "/" included).
        return self.directory / f"{quote(key, safe='')}.eml"

    async def send(self, message: EmailMessage) -> str:
        return await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> str:
        path = self.path_for(message.idempotency_key)
        if not path.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            mime = to_mime(message, sender=self.sender, date=datetime.now(UTC))
            draft = self.directory / f".{uuid.uuid4().hex}.tmp"
            draft.write_bytes(mime.as_bytes(policy=policy.SMTP))  # CRLF line ends, as on the wire
            try:
                os.link(draft, path)  # atomic, and refuses to replace a concurrent first send
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        return message_id(message.idempotency_key, self.sender)
