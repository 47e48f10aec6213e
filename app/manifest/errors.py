"""The manifest domain's refusals, each with its stable code."""
from __future__ import annotations

from app.errors import NotFound, ServiceUnavailable, Unprocessable


class ManifestNotBuilt(NotFound):
    code = "manifest_not_built"


class PdfFontMissing(ServiceUnavailable):
    code = "pdf_font_missing"


class DeliveryDateOutOfRange(Unprocessable):
    """A build asked for a date no order can carry yet, or long gone: a typo (1999, 2099), never
    a night's work."""
    code = "delivery_date_out_of_range"
