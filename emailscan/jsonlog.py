"""JSON-lines logging for crawls (LOG_JSON): one object per record, carrying the job id."""

from __future__ import annotations

import json
import logging


class JsonFormatter(logging.Formatter):
    def __init__(self, job_id: str | None = None):
        super().__init__()
        self.job_id = job_id

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "job_id": self.job_id,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def install(job_id: str | None = None) -> None:
    """Switch the root logger's handlers (Scrapy's included) to JSON lines."""
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter(job_id))
