"""The WeChat server API client against the local fake (real HTTP) and a real Redis: one access
token shared by every thread and process, one refresh when WeChat rejects it, errcodes mapped to
errors a job can act on, bounded retries and timeouts, no token in a log."""
from __future__ import annotations

import logging
import multiprocessing
import socket

import pytest
from redis import Redis

from app import logging_setup
from app.config import Settings
from app.wechat import WechatClient, WechatMisconfigured, WechatRefused, WechatTransient, WechatUserRefused
from tests.concurrency import run_together
from tests.fakes.wechat_api import (STABLE_TOKEN, SUBSCRIBE_SEND, WXACODE, image_has_code,  # noqa: F401
                                    wechat_api)

DATA = {"thing1": {"value": "麒麟西瓜已到自提点"}}


@pytest.fixture
def settings(wechat_api, redis_server):
    Redis.from_url(redis_server.url()).flushall()
    return Settings(env="test", redis_url=redis_server.url(), wechat_timeout_s=2.0, **wechat_api.settings())


def client_for(settings: Settings, **overrides) -> WechatClient:
    s = settings.model_copy(update=overrides)
    return WechatClient(settings=s, redis=Redis.from_url(s.redis_url))


def test_the_token_is_fetched_once_and_reused_by_every_call_and_client(settings, wechat_api):
    first, second = client_for(settings), client_for(settings)

    token = first.access_token()

    assert second.access_token() == token
    assert first.wxacode_get_unlimited(scene="abc123")
    second.send_subscribe_message(touser_openid="o-alice", template_id="T1", page="pages/index", data=DATA)
    assert wechat_api.stable_token_count == 1
    assert wechat_api.token_calls[0]["force_refresh"] is False


def test_the_token_is_cached_until_a_margin_before_wechat_expires_it(settings, wechat_api):
    wechat_api.token_ttl_s = 7200
    client = client_for(settings, wechat_token_margin_s=300)

    client.access_token()

    ttl = client.redis.ttl(client.token_key)
    assert 6890 <= ttl <= 6900


def _threads_asking(redis_url: str, base: str, appid: str, secret: str, n: int, barrier) -> list[str]:
    """One process's share of the race: n threads, each with its own client, released together."""
    settings = Settings(env="test", redis_url=redis_url, wechat_api_base=base, wechat_appid=appid,
                        wechat_secret=secret, wechat_timeout_s=5.0)
    clients = [WechatClient(settings=settings, redis=Redis.from_url(redis_url)) for _ in range(n)]
    barrier.wait(60)
    return run_together(n, lambda i: clients[i].access_token())


def test_an_empty_cache_is_filled_by_one_stable_token_call_across_threads_and_processes(settings, wechat_api):
    # stable_token takes 300 ms: every caller misses the cache while the first fetch is in flight.
    wechat_api.token_delay_s = 0.3
    ctx = multiprocessing.get_context("spawn")
    processes, threads = 3, 8
    with ctx.Manager() as manager:
        barrier = manager.Barrier(processes + 1)
        with ctx.Pool(processes) as pool:
            pending = [pool.apply_async(_threads_asking, (settings.redis_url, settings.wechat_api_base,
                                                          settings.wechat_appid, settings.wechat_secret,
                                                          threads, barrier)) for _ in range(processes)]
            barrier.wait(60)
            here = run_together(threads, lambda i: client_for(settings).access_token())
            results = here + [t for p in pending for t in p.get(90)]

    assert len(results) == (processes + 1) * threads
    assert all(isinstance(t, str) for t in results), [t for t in results if not isinstance(t, str)]
    assert len(set(results)) == 1
    assert wechat_api.stable_token_count == 1


def test_a_rejected_token_is_refreshed_once_and_the_call_succeeds(settings, wechat_api):
    client = client_for(settings)
    old = client.access_token()
    wechat_api.invalidate_tokens()  # as if another party force-refreshed: WeChat answers 40001

    png = client.wxacode_get_unlimited(scene="s1", page="pages/share/index")

    assert image_has_code(png, "s1")
    assert wechat_api.stable_token_count == 2
    assert wechat_api.token_calls[1]["force_refresh"] is True
    assert client.access_token() != old


def test_an_expired_token_is_refreshed_once_by_many_threads_that_met_it(settings, wechat_api):
    client = client_for(settings)
    client.access_token()
    wechat_api.expire_tokens()  # 42001 for every call made with it
    wechat_api.token_delay_s = 0.2

    results = run_together(12, lambda i: client_for(settings).send_subscribe_message(
        touser_openid=f"o-{i}", template_id="T1", page=None, data=DATA))

    assert results == [None] * 12
    assert len(wechat_api.sends) == 12
    # One fetch at the start, one refresh for all twelve: the stale token is deleted only by the
    # first thread that sees it, the others find the new one.
    assert wechat_api.stable_token_count == 2


def test_a_token_refused_twice_gives_up_as_transient(settings, wechat_api):
    client = client_for(settings)
    wechat_api.fail_next(WXACODE, 40001, times=2)

    with pytest.raises(WechatTransient) as e:
        client.wxacode_get_unlimited(scene="s1")

    assert e.value.errcode == 40001
    assert wechat_api.stable_token_count == 2


@pytest.mark.parametrize(("errcode", "error", "code"), [
    (43101, WechatUserRefused, "wechat_user_refused"),
    (40003, WechatRefused, "wechat_refused"),
    (47003, WechatRefused, "wechat_refused"),
    (41030, WechatRefused, "wechat_refused"),
    (40037, WechatRefused, "wechat_refused"),
    (-1, WechatTransient, "wechat_unavailable"),
    (45009, WechatTransient, "wechat_unavailable"),
    (45011, WechatTransient, "wechat_unavailable"),
])
def test_wechat_errcodes_become_errors_that_say_whether_a_retry_can_help(settings, wechat_api, errcode, error,
                                                                         code):
    client = client_for(settings, wechat_retries=0)
    wechat_api.fail_next(SUBSCRIBE_SEND, errcode)

    with pytest.raises(error) as e:
        client.send_subscribe_message(touser_openid="o-alice", template_id="T1", page=None, data=DATA)

    assert e.value.errcode == errcode
    assert e.value.code == code
    assert e.value.retryable is (error is WechatTransient)
    assert wechat_api.sends == []


def test_a_refusal_is_not_retried_and_a_transient_error_is(settings, wechat_api):
    client = client_for(settings, wechat_retries=2)
    wechat_api.fail_next(SUBSCRIBE_SEND, 43101)
    with pytest.raises(WechatUserRefused):
        client.send_subscribe_message(touser_openid="o-a", template_id="T1", page=None, data=DATA)
    assert sum(c.path == SUBSCRIBE_SEND for c in wechat_api.calls) == 1

    wechat_api.fail_next(SUBSCRIBE_SEND, -1, times=2)
    client.send_subscribe_message(touser_openid="o-a", template_id="T1", page=None, data=DATA)
    assert sum(c.path == SUBSCRIBE_SEND for c in wechat_api.calls) == 4
    assert len(wechat_api.sends) == 1

    wechat_api.fail_next(SUBSCRIBE_SEND, 45011, times=3)
    with pytest.raises(WechatTransient):
        client.send_subscribe_message(touser_openid="o-a", template_id="T1", page=None, data=DATA)
    assert sum(c.path == SUBSCRIBE_SEND for c in wechat_api.calls) == 7


def test_wrong_credentials_are_a_configuration_error(settings, wechat_api):
    client = client_for(settings, wechat_secret="not-the-secret")

    with pytest.raises(WechatMisconfigured) as e:
        client.access_token()

    assert e.value.errcode == 40125
    assert not e.value.retryable


def test_a_slow_wechat_times_out_and_an_idempotent_call_is_retried(settings, wechat_api):
    client = client_for(settings, wechat_timeout_s=0.3, wechat_retries=2)
    client.access_token()

    wechat_api.delay_next(WXACODE, 1.0)
    assert image_has_code(client.wxacode_get_unlimited(scene="slow"), "slow")

    wechat_api.delay_next(WXACODE, 1.0, times=3)
    with pytest.raises(WechatTransient) as e:
        client.wxacode_get_unlimited(scene="slower")
    assert e.value.maybe_delivered


def test_a_send_that_timed_out_is_not_repeated_because_wechat_may_have_sent_it(settings, wechat_api):
    client = client_for(settings, wechat_timeout_s=0.3, wechat_retries=2)
    client.access_token()
    wechat_api.delay_next(SUBSCRIBE_SEND, 0.6)

    with pytest.raises(WechatTransient) as e:
        client.send_subscribe_message(touser_openid="o-a", template_id="T1", page=None, data=DATA)

    assert e.value.maybe_delivered
    assert sum(c.path == SUBSCRIBE_SEND for c in wechat_api.calls) <= 1


def test_an_unreachable_wechat_is_transient_and_nothing_was_delivered(settings, caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    client = client_for(settings, wechat_api_base=f"http://127.0.0.1:{dead}", wechat_retries=1)

    with pytest.raises(WechatTransient) as e:
        client.access_token()

    assert not e.value.maybe_delivered


def test_the_mini_program_code_is_the_image_wechat_drew_for_the_scene(settings, wechat_api):
    client = client_for(settings)

    png = client.wxacode_get_unlimited(scene="tok42", page="pages/share/index", width=280)

    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert image_has_code(png, "tok42") and not image_has_code(png, "tok43")
    assert [(c.scene, c.page, c.width, c.check_path) for c in wechat_api.codes] == [
        ("tok42", "pages/share/index", 280, False)]


def test_image_has_code_finds_the_code_pasted_small_inside_a_poster(settings, wechat_api):
    import io

    from PIL import Image

    png = client_for(settings).wxacode_get_unlimited(scene="poster1")
    poster = Image.new("RGB", (750, 1200), (250, 245, 235))
    code = Image.open(io.BytesIO(png)).resize((180, 180), Image.LANCZOS)
    poster.paste(code, (520, 960))
    out = io.BytesIO()
    poster.save(out, "PNG")

    assert image_has_code(out.getvalue(), "poster1")
    assert not image_has_code(out.getvalue(), "poster2")
    assert not image_has_code(Image.new("RGB", (750, 1200), "white"), "poster1")


def test_no_access_token_or_secret_reaches_a_log(settings, wechat_api, caplog):
    logging_setup.install()  # as every linli process does (urllib3 logs URLs at DEBUG: scrubbed)
    caplog.set_level(logging.DEBUG)
    client = client_for(settings, wechat_retries=0)
    token = client.access_token()
    wechat_api.invalidate_tokens()
    wechat_api.fail_next(SUBSCRIBE_SEND, 43101)

    with pytest.raises(WechatUserRefused):
        client.send_subscribe_message(touser_openid="o-a", template_id="T1", page=None, data=DATA)

    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert token not in text and client.access_token() not in text and settings.wechat_secret not in text
    assert any("/cgi-bin/message/subscribe/send" in r.getMessage() and "43101" in r.getMessage()
               for r in caplog.records if r.name == "app.wechat.client")
