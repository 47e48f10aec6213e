"""A local stand-in for WeChat's login API: real HTTP on 127.0.0.1, served from a thread.

It speaks `GET /sns/jscode2session?appid=&secret=&js_code=&grant_type=authorization_code` as
WeChat does: always HTTP 200 with a JSON body labelled `text/plain`, carrying either
`{openid, session_key[, unionid]}` or `{errcode, errmsg}`.

    with FakeWechat(appid="wx-test", secret="s3cret") as wx:
        code = wx.issue_code("o-alice", unionid="u-alice")   # what wx.login would hand the app
        wx.fail_next(45011)                                   # the next call is rate limited
        settings = dict(wechat_api_base=wx.base_url, wechat_appid=wx.appid, wechat_secret=wx.secret)
"""
from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/user-login/code2Session.html
INVALID_CODE = 40029
CODE_USED = 40163
RATE_LIMITED = 45011
SYSTEM_BUSY = -1
INVALID_APPSECRET = 40125
INVALID_APPID = 40013
INVALID_GRANT_TYPE = 40002
ERRMSG = {
    INVALID_CODE: "invalid code",
    CODE_USED: "code been used",
    RATE_LIMITED: "api minute-quota reach limit  mustslower  retry next minute",
    SYSTEM_BUSY: "system error",
    INVALID_APPSECRET: "invalid appsecret",
    INVALID_APPID: "invalid appid",
    INVALID_GRANT_TYPE: "invalid grant_type",
    41008: "missing code",
}


@dataclass
class _Identity:
    openid: str
    unionid: str | None


@dataclass
class Call:
    """One request the fake received, as WeChat would have seen it."""

    path: str
    params: dict[str, str]
    answer: dict | tuple


@dataclass
class FakeWechat:
    appid: str = "wx-fake-appid"
    secret: str = "wx-fake-secret"
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self):
        self._codes: dict[str, _Identity] = {}
        self._used: set[str] = set()
        self._forced: list[int | tuple[int, str, bytes]] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- what a test controls ------------------------------------------------------------

    def issue_code(self, openid: str | None = None, *, unionid: str | None = None) -> str:
        """A fresh one-time login code for a (new or known) openid, as wx.login returns."""
        code = "code-" + secrets.token_hex(8)
        with self._lock:
            self._codes[code] = _Identity(openid or "o" + secrets.token_hex(12), unionid)
        return code

    def fail_next(self, errcode: int, times: int = 1) -> None:
        """Answer the next `times` well-formed calls with this errcode (45011, -1, ...)."""
        with self._lock:
            self._forced.extend([errcode] * times)

    def break_next(self, status: int = 502, body: bytes = b"<html>Bad Gateway</html>",
                   content_type: str = "text/html") -> None:
        """Answer the next call like a broken gateway in front of WeChat: not JSON at all."""
        with self._lock:
            self._forced.append((status, content_type, body))

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ---- the protocol --------------------------------------------------------------------

    def answer(self, path: str, params: dict[str, str]) -> dict | tuple[int, str, bytes]:
        with self._lock:
            if self._forced and isinstance(self._forced[0], tuple):
                return self._forced.pop(0)
        if path != "/sns/jscode2session":
            return {"errcode": 404, "errmsg": "not found"}
        if params.get("appid") != self.appid:
            return _error(INVALID_APPID)
        if params.get("secret") != self.secret:
            return _error(INVALID_APPSECRET)
        if params.get("grant_type") != "authorization_code":
            return _error(INVALID_GRANT_TYPE)
        code = params.get("js_code", "")
        if not code:
            return _error(41008)
        with self._lock:
            if self._forced:
                return _error(self._forced.pop(0))
            if code in self._used:
                return _error(CODE_USED)
            ident = self._codes.get(code)
            if ident is None:
                return _error(INVALID_CODE)
            self._used.add(code)
        body = {"openid": ident.openid, "session_key": secrets.token_urlsafe(16)}
        if ident.unionid:
            body["unionid"] = ident.unionid
        return body

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> "FakeWechat":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                url = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
                answer = fake.answer(url.path, params)
                with fake._lock:
                    fake.calls.append(Call(path=url.path, params=params, answer=answer))
                if isinstance(answer, tuple):
                    status, content_type, raw = answer
                else:
                    # WeChat reports errors in the body, not the status, and labels JSON as text.
                    status, content_type, raw = 200, "text/plain", json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-wechat", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None

    def __enter__(self) -> "FakeWechat":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _error(errcode: int) -> dict:
    return {"errcode": errcode, "errmsg": ERRMSG.get(errcode, "error")}
