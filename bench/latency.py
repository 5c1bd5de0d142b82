"""2. Request/reply latency of RegisterPipeline at low load (one request in flight).

Method. One client (``CoordinatorClient.request``, as services use it) sends RegisterPipeline
requests for new pipelines one after another and times each round trip with ``perf_counter``:
from the call to the parsed reply. The same client code, in the same process, in the same loop,
alternates (in rotating order) between the worker and two baselines on the same broker, so that
every target sees the same noise:

- a bare echo service (``bench.loops echo``): consume the request, produce a reply of the size
  of the worker's (the value of a real RegisterPipeline reply) on its ``replyTo`` at once;
- the same echo with one Kafka transaction per reply: the floor for anything that commits its
  answer transactionally, as the worker does.

Then as many GetSystemStatus queries, alternating between the worker and the bare echo, which
answers them with the worker's own GetSystemStatus answer (taken once the registrations are
done, so of the same size: every pipeline's info).
"""

from __future__ import annotations

import json
import time

from bench.baselines import Echo
from bench.env import BenchError, say
from bench.plan import Context
from bench.report import Row, Target
from bench.stats import summary_ms
from coordinator.client import CoordinatorClient

NAME = "latency"
WARMUP = 20


def register(client: CoordinatorClient, pipeline_id: str) -> float:
    started = time.perf_counter()
    reply = client.request(
        {"type": "RegisterPipeline", "pipelineId": pipeline_id, "name": "Latency probe"}
    )
    elapsed = time.perf_counter() - started
    if not reply.ok:
        raise BenchError(f"registration refused: {reply.to_json()!r}")
    return elapsed


def query(client: CoordinatorClient) -> float:
    started = time.perf_counter()
    reply = client.request({"type": "GetSystemStatus"})
    elapsed = time.perf_counter() - started
    if not reply.ok:
        raise BenchError(f"query refused: {reply.to_json()!r}")
    return elapsed


def run(ctx: Context) -> None:
    requests = ctx.sizes.latency_requests
    coordinator = ctx.run.deployment("lat")
    bare = ctx.run.deployment("echo")
    transactional = ctx.run.deployment("echotx")
    try:
        worker = coordinator.worker().start()
        worker.wait_active()
        clients = {
            "worker": CoordinatorClient(coordinator.settings, timeout=10, retries=0),
            "echo": CoordinatorClient(bare.settings, timeout=10, retries=0),
            "echo-tx": CoordinatorClient(transactional.settings, timeout=10, retries=0),
        }
        try:
            first = clients["worker"].request(
                {"type": "RegisterPipeline", "pipelineId": "lat-first", "name": "Latency probe"}
            )
            value = json.loads(first.to_json())["value"]
            blob = json.dumps(value, separators=(",", ":")).encode()
            with (
                Echo(bare, blob, transactional=False),
                Echo(transactional, blob, transactional=True),
            ):
                order = list(clients)
                for index in range(WARMUP):
                    for target in order:
                        register(clients[target], f"warm-{target}-{index}")
                say(f"latency: {requests:,} sequential requests to each of {', '.join(order)}")
                samples: dict[str, list[float]] = {
                    target: [] for target in [*order, "query-worker", "query-echo"]
                }
                for index in range(requests):
                    rotation = order[index % 3 :] + order[: index % 3]
                    for target in rotation:
                        samples[target].append(register(clients[target], f"lat-{index:06d}"))
            # The queries' echo answers with the worker's own GetSystemStatus answer (every
            # pipeline registered: about 250 bytes each), so both move and parse the same bytes.
            status = json.loads(clients["worker"].request({"type": "GetSystemStatus"}).to_json())
            status_blob = json.dumps(status["value"], separators=(",", ":")).encode()
            with Echo(bare, status_blob, transactional=False):
                say(f"latency: {requests:,} sequential GetSystemStatus to the worker and the echo")
                for index in range(requests):
                    pair = ("worker", "echo") if index % 2 else ("echo", "worker")
                    for target in pair:
                        samples[f"query-{target}"].append(query(clients[target]))
        finally:
            for client in clients.values():
                client.close()
    finally:
        for deployment in (coordinator, bare, transactional):
            deployment.destroy()

    worker_ms = summary_ms(samples["worker"])
    echo_ms = summary_ms(samples["echo"])
    echo_tx_ms = summary_ms(samples["echo-tx"])
    label = "bare echo service"
    shape = f"{requests:,} sequential RegisterPipeline"
    ctx.results.add(Row(NAME, f"p50 ({shape})", worker_ms["p50"], "ms", echo_ms["p50"], label))
    p99 = worker_ms["p99"]
    ctx.results.add(
        Row(
            NAME,
            f"p99 ({shape})",
            p99,
            "ms",
            echo_ms["p99"],
            label,
            (Target("p99 <= 20 ms", p99 <= 20.0),),
        )
    )
    ctx.results.add(Row(NAME, f"max ({shape})", worker_ms["max"], "ms", echo_ms["max"], label))
    ctx.results.add(
        Row(
            NAME,
            "p99 against a transactional echo",
            p99,
            "ms",
            echo_tx_ms["p99"],
            "echo, one transaction per reply",
            (Target("<= 1.25x transactional echo", p99 <= 1.25 * echo_tx_ms["p99"]),),
            note=f"its p50 {echo_tx_ms['p50']:.1f} ms",
        )
    )
    query_ms = summary_ms(samples["query-worker"])
    query_echo_ms = summary_ms(samples["query-echo"])
    ctx.results.add(
        Row(
            NAME,
            f"query p99 ({requests:,} sequential GetSystemStatus)",
            query_ms["p99"],
            "ms",
            query_echo_ms["p99"],
            label,
            (Target("<= 2x echo", query_ms["p99"] <= 2 * query_echo_ms["p99"]),),
            note=f"p50 {query_ms['p50']:.1f} ms against {query_echo_ms['p50']:.1f} ms; "
            f"answers of {len(status_blob) / 1024:.0f} KiB",
        )
    )
    ctx.results.info[NAME] = {
        "requests": requests,
        "query": query_ms,
        "queryEcho": query_echo_ms,
        "worker": worker_ms,
        "echo": echo_ms,
        "echoTransactional": echo_tx_ms,
        "replyBytes": len(blob) + 150,
        "queryReplyBytes": len(status_blob) + 150,
    }
