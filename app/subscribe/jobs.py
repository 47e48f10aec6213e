"""Subscribe messages' jobs: send a batch of the outbox, and sweep what an enqueue lost."""
from __future__ import annotations

from app.db import transaction
from app.subscribe import service
from app.wechat import WechatTransient


def send_subscribe_messages_job(send_ids: list[int]) -> dict[str, int]:
    """Deliver each send (each takes its own grant, safe twice). Sends that met a transient error
    are pending again; raising makes RQ run the job again after its Retry interval, and the rerun
    acts on those alone (the others are no longer pending)."""
    outcomes: dict[str, int] = {}
    for send_id in send_ids:
        outcome = service.deliver(send_id=send_id) or "not_pending"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if outcomes.get("retry"):
        raise WechatTransient(f"{outcomes['retry']} subscribe message(s) met a transient WeChat error; "
                              "RQ retries the job.")
    return outcomes


def sweep_subscribe_sends_job() -> int:
    with transaction() as s:
        ids = service.sweep(s)
    if ids:
        service.enqueue_sends(ids)
    return len(ids)
