"""The manifest domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import NotFound, ServiceUnavailable


class ManifestNotBuilt(NotFound):
    code = "manifest_not_built"


class PdfFontMissing(ServiceUnavailable):
    code = "pdf_font_missing"
