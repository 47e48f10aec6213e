"""A local stand-in for WeChat's server API (and its login, inherited from FakeWechat): real HTTP
on 127.0.0.1, answering as api.weixin.qq.com does.

- `POST /cgi-bin/stable_token` {grant_type, appid, secret, force_refresh}: `{access_token,
  expires_in}`; the same token while it lives unless force_refresh (which kills the old one).
  Counts its calls (`token_calls`). `expire_tokens()` / `invalidate_tokens()` make every token
  issued so far answer 42001 / 40001 on its next use.
- `POST /wxa/getwxacodeunlimit?access_token=` {scene, page, width, check_path}: a PNG whose
  pixels are a pattern derived from the scene (see `code_image`), recorded in `codes`;
  `image_has_code(image, scene)` finds that pattern inside a poster at any position and size.
- `POST /cgi-bin/message/subscribe/send?access_token=` {touser, template_id, page, data}: recorded
  in `sends`; data values checked against WeChat's limits (thing ≤ 20 characters, ...: 47003).

Faults: `fail_next(endpoint, errcode, times)` (e.g. 43101 or -1 on subscribe/send),
`delay_next(endpoint, seconds, times)` (for timeouts), `token_delay_s` (widens the refresh race).

    @pytest.fixture
    def settings_overrides(wechat_api):  # wechat_api: the fixture below, imported into the module
        return wechat_api.settings()
"""
from __future__ import annotations

import hashlib
import io
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image, ImageChops

from tests.fakes.wechat import Call, FakeWechat

STABLE_TOKEN = "/cgi-bin/stable_token"
WXACODE = "/wxa/getwxacodeunlimit"
SUBSCRIBE_SEND = "/cgi-bin/message/subscribe/send"

ERRMSG = {
    -1: "system error", 40001: "invalid credential, access_token is invalid or not latest",
    42001: "access_token expired", 41001: "access_token missing", 40013: "invalid appid",
    40125: "invalid appsecret", 40002: "invalid grant_type", 43101: "user refuse to accept the msg",
    40003: "invalid openid", 47003: "argument invalid!", 41030: "invalid page", 40037: "invalid template_id",
    40169: "invalid length for scene", 45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit",
}

# subscribeMessage.send: the longest value each kind of data key accepts (characters).
DATA_LIMITS = {"thing": 20, "character_string": 32, "number": 32, "letter": 32, "symbol": 5,
               "phrase": 5, "name": 10, "phone_number": 17, "car_number": 8, "amount": 32,
               "time": 64, "date": 64, "short_thing": 5}

# ---- the code pattern ------------------------------------------------------------------------
# A square image: a frame one cell wide in MARKER (a colour nothing else uses), around an 8 x 8 grid
# whose cells take one of eight far-apart colours, three bits each from sha256(scene).
MARKER = (255, 0, 128)
PALETTE = [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 160, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255),
           (128, 64, 0)]
GRID = 8


def code_pattern(scene: str) -> list[tuple[int, int, int]]:
    digest = int.from_bytes(hashlib.sha256(scene.encode()).digest(), "big")
    return [PALETTE[(digest >> (3 * i)) & 7] for i in range(GRID * GRID)]


def code_image(scene: str, width: int = 430) -> Image.Image:
    cells = GRID + 2
    cell = max(1, width // cells)
    img = Image.new("RGB", (cell * cells, cell * cells), MARKER)
    for i, colour in enumerate(code_pattern(scene)):
        x, y = (i % GRID + 1) * cell, (i // GRID + 1) * cell
        img.paste(colour, (x, y, x + cell, y + cell))
    return img


def code_png(scene: str, width: int = 430) -> bytes:
    out = io.BytesIO()
    code_image(scene, width).save(out, "PNG")
    return out.getvalue()


def _nearest(rgb) -> tuple[int, int, int]:
    return min(PALETTE, key=lambda p: sum((a - b) ** 2 for a, b in zip(p, rgb)))


def image_has_code(image: bytes | Image.Image, scene: str) -> bool:
    """True if `image` (a poster, PNG bytes or a PIL image) shows the fake's code for `scene`,
    pasted square at any position and scale (nearest, bilinear or Lanczos resampling)."""
    img = Image.open(io.BytesIO(image)) if isinstance(image, (bytes, bytearray)) else image
    img = img.convert("RGB")
    # Pixels close to MARKER: their bounding box is the code's frame.
    diff = ImageChops.difference(img, Image.new("RGB", img.size, MARKER)).convert("L")
    box = diff.point(lambda v: 255 if v < 40 else 0).getbbox()
    if box is None:
        return False
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    if w < GRID + 2 or abs(w - h) > max(2, w // 20):
        return False
    cell_w, cell_h = w / (GRID + 2), h / (GRID + 2)
    seen = [_nearest(img.getpixel((int(left + (i % GRID + 1.5) * cell_w), int(top + (i // GRID + 1.5) * cell_h))))
            for i in range(GRID * GRID)]
    return seen == code_pattern(scene)


# ---- the server -----------------------------------------------------------------------------

@dataclass
class Send:
    touser: str
    template_id: str
    page: str | None
    data: dict


@dataclass
class Code:
    scene: str
    page: str | None
    width: int
    check_path: bool


@dataclass
class FakeWechatApi(FakeWechat):
    token_ttl_s: int = 7200
    token_delay_s: float = 0.0  # stable_token takes this long: a wider window for a refresh race
    pages: set[str] | None = None  # pages that exist (for check_path); None: every page
    templates: set[str] | None = None  # template ids that exist; None: every id
    bad_openids: set[str] = field(default_factory=set)
    token_calls: list[dict] = field(default_factory=list)
    codes: list[Code] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)

    def __post_init__(self):
        super().__post_init__()
        self._tokens: dict[str, tuple[float, int | None]] = {}  # token → (expires at, errcode if killed)
        self._current: str | None = None
        self._api_faults: dict[str, list[int]] = {}
        self._delays: dict[str, list[float]] = {}

    # ---- what a test controls --------------------------------------------------------------

    def settings(self) -> dict:
        """Settings overrides pointing an app at this fake (posters ask it for their codes)."""
        return dict(wechat_api_base=self.base_url, wechat_appid=self.appid, wechat_secret=self.secret,
                    poster_placeholder=False)

    def fail_next(self, endpoint_or_errcode, errcode: int | None = None, times: int = 1) -> None:
        """fail_next(SUBSCRIBE_SEND, 43101): the next `times` calls of that endpoint answer errcode.
        fail_next(45011) keeps FakeWechat's meaning (the login endpoint)."""
        if errcode is None:
            return super().fail_next(endpoint_or_errcode, times)
        with self._lock:
            self._api_faults.setdefault(endpoint_or_errcode, []).extend([errcode] * times)

    def delay_next(self, endpoint: str, seconds: float, times: int = 1) -> None:
        with self._lock:
            self._delays.setdefault(endpoint, []).extend([seconds] * times)

    def expire_tokens(self) -> None:
        self._kill_tokens(42001)

    def invalidate_tokens(self) -> None:
        self._kill_tokens(40001)

    def _kill_tokens(self, errcode: int) -> None:
        with self._lock:
            for token, (exp, _) in self._tokens.items():
                self._tokens[token] = (exp, errcode)
            self._current = None

    @property
    def stable_token_count(self) -> int:
        with self._lock:
            return len(self.token_calls)

    # ---- the protocol ----------------------------------------------------------------------

    def answer_post(self, path: str, params: dict[str, str], body) -> dict | tuple[int, str, bytes]:
        with self._lock:
            delay = self._delays.get(path, []) and self._delays[path].pop(0)
        if delay:
            time.sleep(delay)
        if not isinstance(body, dict):
            return _error(47001)
        if path == STABLE_TOKEN:
            return self._stable_token(body)
        if path not in (WXACODE, SUBSCRIBE_SEND):
            return {"errcode": 404, "errmsg": "not found"}
        token_error = self._check_token(params.get("access_token"))
        if token_error:
            return _error(token_error)
        with self._lock:
            faults = self._api_faults.get(path)
            if faults:
                return _error(faults.pop(0))
        if path == WXACODE:
            return self._wxacode(body)
        return self._send(body)

    def _stable_token(self, body: dict) -> dict:
        if self.token_delay_s:
            time.sleep(self.token_delay_s)
        with self._lock:
            self.token_calls.append(dict(body, secret="***"))
            faults = self._api_faults.get(STABLE_TOKEN)
            if faults:
                return _error(faults.pop(0))
            if body.get("grant_type") != "client_credential":
                return _error(40002)
            if body.get("appid") != self.appid:
                return _error(40013)
            if body.get("secret") != self.secret:
                return _error(40125)
            now = time.monotonic()
            current = self._current and self._tokens.get(self._current)
            if body.get("force_refresh") or not current or current[0] <= now or current[1]:
                if self._current and body.get("force_refresh"):
                    self._tokens[self._current] = (self._tokens[self._current][0], 40001)
                self._current = "ACCESS_TOKEN_" + secrets.token_hex(16)
                self._tokens[self._current] = (now + self.token_ttl_s, None)
            expires = self._tokens[self._current][0]
            return {"access_token": self._current, "expires_in": max(0, int(expires - now))}

    def _check_token(self, token: str | None) -> int | None:
        if not token:
            return 41001
        with self._lock:
            known = self._tokens.get(token)
        if known is None:
            return 40001
        expires, killed = known
        if killed:
            return killed
        return 42001 if expires <= time.monotonic() else None

    def _wxacode(self, body: dict) -> dict | tuple[int, str, bytes]:
        scene, page = body.get("scene"), body.get("page")
        if not isinstance(scene, str) or not 1 <= len(scene) <= 32:
            return _error(40169)
        check_path = body.get("check_path", True)  # WeChat's own default is true
        if page and check_path and self.pages is not None and page not in self.pages:
            return _error(41030)
        width = int(body.get("width") or 430)
        with self._lock:
            self.codes.append(Code(scene=scene, page=page, width=width, check_path=bool(check_path)))
        return 200, "image/png", code_png(scene, max(280, min(width, 1280)))

    def _send(self, body: dict) -> dict:
        touser, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
        if not touser or touser in self.bad_openids:
            return _error(40003)
        if not template_id or (self.templates is not None and template_id not in self.templates):
            return _error(40037)
        if not isinstance(data, dict) or not data:
            return _error(47003)
        for key, item in data.items():
            value = item.get("value") if isinstance(item, dict) else None
            kind = key.rstrip("0123456789")
            if not isinstance(value, str) or not value or len(value) > DATA_LIMITS.get(kind, 20):
                return {"errcode": 47003, "errmsg": f"argument invalid! data.{key}.value invalid"}
        page = body.get("page")
        if page and self.pages is not None and page.split("?")[0] not in self.pages:
            return _error(41030)
        with self._lock:
            self.sends.append(Send(touser=touser, template_id=template_id, page=page, data=data))
        return {"errcode": 0, "errmsg": "ok"}

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> "FakeWechatApi":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session expects of WeChat

            def _reply(self, path, params, answer):
                with fake._lock:
                    fake.calls.append(Call(path=path, params=params, answer=answer))
                if isinstance(answer, tuple):
                    status, content_type, raw = answer
                else:
                    # WeChat reports errors in the body, not the status.
                    status, content_type, raw = 200, "application/json; charset=UTF-8", json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self):  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                self._reply(url.path, params, fake.answer(url.path, params))

            def do_POST(self):  # noqa: N802
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = None
                try:
                    self._reply(url.path, params, fake.answer_post(url.path, params, body))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and went away

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-wechat-api", daemon=True)
        self._thread.start()
        return self


def _error(errcode: int) -> dict:
    return {"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}


@pytest.fixture
def wechat_api(fake_wechat):
    """A fresh fake per test, with the appid and secret the suite's settings use."""
    with FakeWechatApi(appid=fake_wechat.appid, secret=fake_wechat.secret) as fake:
        yield fake
