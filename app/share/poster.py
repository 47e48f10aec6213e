"""Drawing a share poster with Pillow: the target's name and price, the leader's pickup point and
the mini-program code, in the CJK font the manifests use (fonts-wqy-microhei)."""
from __future__ import annotations

import hashlib
import io
import os
import textwrap
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

FONT_PATH = os.environ.get("LINLI_PDF_FONT", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
WIDTH, HEIGHT, CODE = 750, 1180, 420
RED, INK, GREY = (226, 35, 26), (34, 34, 34), (120, 120, 120)


@dataclass
class PosterText:
    name: str
    price: int  # fen
    point_name: str | None
    point_address: str | None


def _font(size: int):
    if os.path.exists(FONT_PATH):
        return ImageFont.truetype(FONT_PATH, size=size, index=0)
    return ImageFont.load_default(size=size)  # no CJK glyphs, but a poster rather than an error


def render(text: PosterText, code: bytes) -> bytes:
    img = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, WIDTH, 120), fill=RED)
    draw.text((40, 36), "邻里团购 · 好物分享", font=_font(44), fill=(255, 255, 255))
    y = 170
    for line in textwrap.wrap(text.name, 15)[:3]:
        draw.text((40, y), line, font=_font(48), fill=INK)
        y += 64
    draw.text((40, y + 10), f"¥{text.price // 100}.{text.price % 100:02d}", font=_font(64), fill=RED)
    y += 110
    if text.point_name:
        draw.text((40, y), f"自提点：{text.point_name}", font=_font(30), fill=INK)
        y += 44
        for line in textwrap.wrap(text.point_address or "", 22)[:2]:
            draw.text((40, y), line, font=_font(26), fill=GREY)
            y += 38
    code_img = Image.open(io.BytesIO(code)).convert("RGB").resize((CODE, CODE), Image.Resampling.NEAREST)
    top = HEIGHT - CODE - 110
    img.paste(code_img, ((WIDTH - CODE) // 2, top))
    draw.text((WIDTH // 2, top + CODE + 40), "长按识别小程序码", font=_font(28), fill=GREY, anchor="mm")
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


PLACEHOLDER_SIZE = 280


def placeholder_code(scene: str) -> bytes:
    """A stand-in for WeChat's mini-program code (LINLI_POSTER_PLACEHOLDER, dev and test): round
    like the real one, a pattern of the scene's hash so that two shares differ, and a label that
    says it opens nothing."""
    img = Image.new("RGB", (PLACEHOLDER_SIZE, PLACEHOLDER_SIZE), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.ellipse((4, 4, PLACEHOLDER_SIZE - 4, PLACEHOLDER_SIZE - 4), outline=GREY, width=6)
    bits = int.from_bytes(hashlib.sha256(scene.encode()).digest(), "big")
    cell, first = 20, 60
    for i in range(8):
        for j in range(8):
            if (bits >> (i * 8 + j)) & 1:
                x, y = first + j * cell, first + i * cell
                draw.rectangle((x, y, x + cell - 4, y + cell - 4), fill=(200, 200, 200))
    draw.rounded_rectangle((50, 110, PLACEHOLDER_SIZE - 50, 170), radius=10, fill=(255, 255, 255), outline=GREY)
    draw.text((PLACEHOLDER_SIZE // 2, 140), "占位码 DEV", font=_font(28), fill=RED, anchor="mm")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()
