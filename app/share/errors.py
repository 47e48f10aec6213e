"""The share domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import NotFound, ServiceUnavailable


class ShareNotFound(NotFound):
    code = "share_not_found"


class ShareTargetNotFound(NotFound):
    code = "share_target_not_found"


class PosterUnavailable(ServiceUnavailable):
    code = "poster_unavailable"
