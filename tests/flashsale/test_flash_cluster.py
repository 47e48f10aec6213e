"""Flash sales on a real 3-node Redis Cluster (LINLI_FLASH_REDIS_URL=redis+cluster://...): each sale's
keys share one hash tag, so its script runs on one shard; several sales sold at once from many
threads, each exactly to its stock, and drained into orders. RQ stays on the plain Redis."""
from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from redis import Redis

from app.db import transaction
from app.flashsale import flows as flash_flows
from app.flashsale import service as flash
from app.flashsale.models import FlashSale
from tests.conftest import login
from tests.flashsale.test_flash_basics import bound_buyer, make_sale
from tests.services import free_port, wait_port


@pytest.fixture(scope="module")
def redis_cluster():
    exe, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    base = tempfile.mkdtemp(prefix="linli-cluster-")
    procs, ports = [], []

    def node() -> None:
        # A free port can be taken by another process before the node binds it: try another.
        for _ in range(5):
            p = free_port()
            proc = subprocess.Popen([exe, "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                                     "--cluster-config-file", f"{base}/nodes-{p}.conf", "--save", "",
                                     "--appendonly", "no", "--dir", base],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(proc)
            try:
                wait_port(p, timeout=30)
                if proc.poll() is None:
                    ports.append(p)
                    return
            except RuntimeError:
                pass
            proc.kill()
        raise RuntimeError("could not start a cluster node")

    try:
        for _ in range(3):
            node()
        subprocess.run([cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-replicas", "0",
                        "--cluster-yes"], check=True, capture_output=True, timeout=60)
        deadline = time.time() + 30
        while not all(b"cluster_state:ok" in subprocess.run([cli, "-p", str(p), "cluster", "info"],
                                                             capture_output=True).stdout for p in ports):
            assert time.time() < deadline, "the cluster never became ok"
            time.sleep(0.1)
        yield ports
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def settings_overrides(redis_cluster):
    for p in redis_cluster:  # each test's database numbers its sales from 1 again
        Redis(port=p).flushall()
    return {"flash_redis_url": f"redis+cluster://127.0.0.1:{redis_cluster[0]}"}


def test_concurrent_purchases_of_several_sales_on_a_redis_cluster(app, admin, product, leader, client,
                                                                  redis_cluster, redis_server):
    point = leader[1]["pickup_point_id"]
    sales = [make_sale(admin, product["skus"][0]["id"], stock=10, limit=2)["id"] for _ in range(4)]
    tokens = [bound_buyer(client, f"cl{i}", point).headers for i in range(12)]
    reqs = [(h, s) for s in sales for h in tokens for _ in range(2)]  # 24 tries × 1 unit for 10 units, per sale
    random.Random(3).shuffle(reqs)

    def one(args):
        headers, sale = args
        r = app.test_client().post(f"/api/v1/flash-sales/{sale}/purchase", json={"qty": 1}, headers=headers)
        return sale, r.status_code, r.get_json()

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, reqs))
    assert Counter(s for s, status, _ in results if status == 202) == {s: 10 for s in sales}
    assert {b["code"] for _, status, b in results if status != 202} <= {"sold_out", "limit_exceeded"}
    # The sales' keys are spread over the cluster's shards, none on the plain Redis.
    slots = {Redis(port=redis_cluster[0]).cluster("keyslot", f"{{fs:{s}}}:left") for s in sales}
    assert len(slots) == 4
    assert not Redis.from_url(redis_server.url()).keys("{fs:*")
    with app.app_context():
        assert sum(flash_flows.drain_sale(s, min_idle_ms=0) for s in sales) == 40
        with transaction() as s:
            assert [s.get(FlashSale, i).held for i in sales] == [10, 10, 10, 10]
