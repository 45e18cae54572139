"""E-mail over SMTP (stdlib smtplib): plain text + HTML alternative, STARTTLS before any credentials.

The Message-ID is derived from the idempotency key (`<alert-12-opened-mail@jianguan.local>`), and the key is
also in `X-Jianguan-Idempotency-Key`: a repeat after a crash between the server's 250 and the database
commit carries the same Message-ID, which mail clients and archives recognise as the same message.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from alerts.config import NOTIFIER_KINDS, EmailNotifierConfig
from alerts.notifiers import render
from alerts.notifiers.webhook import DeliveryError

_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._+=-]")


def message_id(idempotency_key: str, domain: str) -> str:
    return f"<{_ID_UNSAFE.sub('_', idempotency_key)[:200]}@{domain}>"


@NOTIFIER_KINDS.register(EmailNotifierConfig)
class EmailNotifier:
    def __init__(self, config: EmailNotifierConfig) -> None:
        self.id = config.id
        self.min_severity = config.min_severity
        self.config = config

    def message(self, payload: dict[str, Any], idempotency_key: str) -> EmailMessage:
        cfg = self.config
        msg = EmailMessage()
        msg["Subject"] = f"{cfg.subject_prefix} {render.title(payload)}".strip()
        msg["From"] = cfg.from_addr
        msg["To"] = ", ".join(cfg.to)
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = message_id(idempotency_key, cfg.message_id_domain)
        msg["X-Jianguan-Idempotency-Key"] = idempotency_key
        msg.set_content(render.plain(payload, cfg.timezone))
        msg.add_alternative(render.html_body(payload, cfg.timezone), subtype="html")
        return msg

    def send(self, payload: dict[str, Any], idempotency_key: str) -> None:
        msg = self.message(payload, idempotency_key)
        try:
            self._deliver(msg)
        except DeliveryError:
            raise
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError(f"email {self.id}: all recipients refused") from None
        except smtplib.SMTPResponseException as exc:  # 4xx/5xx from the server: its code, not its text
            raise DeliveryError(f"email {self.id}: SMTP {exc.smtp_code} ({type(exc).__name__})") from None
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryError(f"email {self.id}: {type(exc).__name__}") from None

    def _deliver(self, msg: EmailMessage) -> None:
        cfg = self.config
        with smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_s) as smtp:
            smtp.ehlo()
            if cfg.starttls:
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(f"email {self.id}: server offers no STARTTLS")
                context = ssl.create_default_context(cafile=cfg.ca_file)
                smtp.starttls(context=context)
                smtp.ehlo()
            if cfg.username is not None and cfg.password is not None:
                smtp.login(cfg.username, cfg.password.get_secret_value())
            # Some recipients refused while others took it: the message is out, and a retry would duplicate
            # it for those who have it, so it counts as delivered (the refused ones are not retried).
            smtp.send_message(msg)
