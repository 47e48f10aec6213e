"""Logging for every linli process: no secret ever reaches a record, and records made while a
request is served carry its request id.

Redaction happens when a record is created (a log record factory), not in one handler's filter:
that way it covers every logger and every handler, including gunicorn's, RQ's and pytest's
caplog, whatever was configured later.
"""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from pathlib import Path

from flask import has_request_context

from app.request_context import current_request_id, outside_flask_request_id

REDACTED = "[REDACTED]"
# Literal secrets shorter than this are not scrubbed: they would blank out ordinary words.
_MIN_SECRET_LEN = 6

_PATTERNS = [
    # Authorization headers and anything shaped like one.
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + REDACTED),
    # Query and form values that are credentials (jscode2session's secret, tokens, login codes).
    (re.compile(r"(?i)\b((?:access_|refresh_)?token|secret|js_code|session_key|password)=([^&\s'\"<>]+)"),
     r"\1=" + REDACTED),
    # A JWT on its own (header.payload.signature, base64url, header starting '{"').
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), REDACTED),
    # PEM private keys, whole or cut off.
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S),
     REDACTED),
]

_secrets: set[str] = set()
_longest_first: tuple[str, ...] = ()  # _secrets, sorted once when one is added (not per record)
_lock = threading.Lock()
_installed = False


def redact(text: str) -> str:
    for secret in _longest_first:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def add_secrets(*values: str | None) -> None:
    global _longest_first
    with _lock:
        _secrets.update(v for v in values if v and len(v) >= _MIN_SECRET_LEN)
        _longest_first = tuple(sorted(_secrets, key=len, reverse=True))


def register_settings_secrets(settings) -> None:
    """Every configured secret: the JWT key, WeChat's AppSecret, the APIv3 key and the lines of
    the merchant private key (a traceback may quote a part of it)."""
    add_secrets(settings.secret_key, settings.wechat_secret, settings.wechatpay_apiv3_key, settings.metrics_token)
    path = settings.wechatpay_private_key_path
    if path:
        try:
            pem = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        add_secrets(pem.strip(), *(line.strip() for line in pem.splitlines() if "-----" not in line))


def _request_id() -> str:
    try:


        if has_request_context():
            return current_request_id()
        return outside_flask_request_id.get() or "-"  # a request answered ahead of Flask (the purchase lane)
    except Exception:  # noqa: BLE001 - logging must never fail
        return "-"


def _scrub(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: keep it for the handler to report
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install() -> None:
    """Once per process: every record is scrubbed of secrets and gets `request_id`."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _scrub(record)
            record.request_id = _request_id()
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


# Fields a record may carry (`extra=`) that the JSON lines name: the per-request line has them all.
REQUEST_FIELDS = ("method", "route", "path", "status", "duration_ms", "user_id")


def _utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class UTCFormatter(logging.Formatter):
    """Text lines, their times in UTC whatever the process's zone (the scheduler runs in
    LINLI_TIMEZONE for RQ's cron), so that every process's lines sort together."""

    def formatTime(self, record, datefmt=None):  # noqa: N802 - logging's name
        return _utc(record.created)


class JSONFormatter(logging.Formatter):
    """LINLI_LOG_FORMAT=json: one JSON object a line: ts (UTC), level, logger, pid, request_id,
    msg, the request fields when there are some, exc. Messages are scrubbed of secrets when the
    record is made (install()); the request line names the path without its query."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": _utc(record.created), "level": record.levelname, "logger": record.name, "pid": record.process,
               "request_id": getattr(record, "request_id", "-"), "msg": record.getMessage()}
        for name in REQUEST_FIELDS:
            if getattr(record, name, None) is not None:
                out[name] = getattr(record, name)
        if record.exc_info or record.exc_text:
            out["exc"] = record.exc_text or redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


def log_format() -> str:
    return "json" if os.environ.get("LINLI_LOG_FORMAT", "text").lower() == "json" else "text"


def formatter() -> logging.Formatter:
    if log_format() == "json":
        return JSONFormatter()
    return UTCFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s", defaults={"request_id": "-"})


def configure(level: str = "INFO") -> None:
    """The CLI's logging: one line per record (text, or JSON with LINLI_LOG_FORMAT=json), times
    in UTC, with the request id when there is one."""
    install()
    handler = logging.StreamHandler()
    handler.setFormatter(formatter())
    logging.basicConfig(level=level, handlers=[handler])
