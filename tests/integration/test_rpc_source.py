"""The RPC source against a loopback JSON-RPC server that serves a synthetic chain and misbehaves
like real providers: the lake it ingests must equal the synthetic source's, row for row."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from pipelines.assets.lake import ingest_assets
from pipelines.resources import ChainSourceResource, LakeResource
from softliq_core import steps
from softliq_core.sources.rpc import (
    ClientSettings,
    DayNotFinalError,
    RpcClient,
    RpcConfig,
    RpcError,
    RpcRetriesExhaustedError,
    RpcSource,
)
from softliq_core.sources.synthetic import SyntheticChain, SyntheticChainConfig, SyntheticSource
from softliq_core.store.lake import Lake
from softliq_core.tables import BLOCKS, RAW_LOGS
from tests.support.rpc_server import ChainRpcServer, Faults, Limits, serving

# Three days so the second one is final (the third day's first block follows it); 2 are ingested.
CONFIG = SyntheticChainConfig(seed=13, days=3, borrowers_per_market=8, crash_day=1)
DAYS = [date(2024, 3, 1), date(2024, 3, 2)]
KEY = "sk-FAKE-3f9a1c0d5e7b42a8e61d"
PATH = f"/v2/{KEY}"
FAST = ClientSettings(
    timeout=0.25,
    requests_per_second=0,
    max_attempts=30,
    backoff_base=0.001,
    backoff_max=0.01,
    batch_size=200,
    jitter_seed=1,
)


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    return SyntheticSource(CONFIG).chain


@pytest.fixture(scope="module")
def expected(chain: SyntheticChain, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("synthetic") / "lake")
    for day in DAYS:
        steps.ingest_day(SyntheticSource(CONFIG), lake, day)
    return lake


def watched(chain: SyntheticChain) -> tuple[str, ...]:
    return tuple(sorted({"0x" + a.hex() for a in chain.raw_logs["address"].unique().to_list()}))


def rpc_config(
    server: ChainRpcServer, chain: SyntheticChain, chunk: int = 2_000, **client: Any
) -> RpcConfig:
    settings = dataclasses.replace(FAST, **client)
    return RpcConfig(
        url=server.url(PATH),
        chain_id=CONFIG.chain_id,
        addresses=watched(chain),
        markets_from_block=CONFIG.first_block,
        min_block=CONFIG.first_block,
        confirmations=0,
        log_chunk_blocks=chunk,
        client=settings,
    )


def ingest(source: RpcSource, root: Path, days: list[date] = DAYS) -> Lake:
    lake = Lake(root)
    for day in days:
        steps.ingest_day(source, lake, day)
    return lake


def assert_same_lake(got: Lake, expected: Lake, days: list[date] = DAYS) -> None:
    for table, schema in (("raw_logs", RAW_LOGS), ("blocks", BLOCKS)):
        for day in days:
            ours = got.read(table, schema, CONFIG.chain_id, [day])
            theirs = expected.read(table, schema, CONFIG.chain_id, [day])
            assert ours.height == theirs.height > 0, (table, day)
            assert ours.equals(theirs), (table, day)
            files = [
                pl.read_parquet(
                    Path(lake.partition_dir(table, CONFIG.chain_id, day)) / "part-0.parquet"
                )
                for lake in (got, expected)
            ]
            assert files[0].equals(files[1])  # the same file contents, not only after the cast
    assert not list(Path(got.root).rglob("*.tmp"))


def test_clean_run_equals_the_synthetic_lake(
    chain: SyntheticChain, expected: Lake, tmp_path: Path
) -> None:
    with serving(chain) as server:
        # (no faults: a timeout a loaded machine cannot reach, so no retried batch counts below)
        source = RpcSource(rpc_config(server, chain, timeout=10.0))
        assert_same_lake(ingest(source, tmp_path), expected)
        assert source.tokens().sort("address").equals(chain.tokens_table().sort("address"))
        assert source.oracles().sort("oracle").equals(chain.oracles_table().sort("oracle"))
        # the last day has no block after it yet: not final, refused rather than cut short
        with pytest.raises(DayNotFinalError):
            source.day_block_range(date(2024, 3, 3))
        assert source.day_block_range(date(2024, 2, 28)) is None  # before the first block
        assert PATH in server.paths  # the key did reach the provider
    # two days of blocks in batches of 100, a handful of log ranges, few boundary probes
    assert server.stats["requests"] < 200


@pytest.mark.parametrize(
    ("limits", "faults", "seen"),
    [
        pytest.param(Limits(max_range=700), [], "refused:range", id="range-limit-suggested"),
        pytest.param(Limits(max_range=300, range_style="plain"), [], "refused:range", id="range-limit-plain"),
        pytest.param(Limits(max_results=40), [], "refused:results", id="result-limit-suggested"),
        pytest.param(Limits(max_results=40, results_style="plain"), [], "refused:results", id="result-limit-plain"),
        pytest.param(Limits(max_batch=30), [], "refused:batch", id="batch-limit"),
        pytest.param(Limits(), ["429"] * 4, "fault:429", id="429-retry-after"),
        pytest.param(Limits(), ["timeout"] * 3, "fault:timeout", id="timeouts"),
        pytest.param(Limits(), ["500", "502", "503", "500"], "fault:500", id="5xx"),
        pytest.param(Limits(), ["reset", "garbage", "rpc_rate", "partial"] * 2, "fault:partial", id="dropped-garbled-partial"),
    ],
)  # fmt: skip
def test_each_fault_kind_still_gives_the_same_lake(
    chain: SyntheticChain,
    expected: Lake,
    tmp_path: Path,
    limits: Limits,
    faults: list[str],
    seen: str,
) -> None:
    with serving(chain, limits, Faults(retry_after="0.01", timeout_sleep=0.4)) as server:
        for kind in faults:
            server.schedule(kind)
        source = RpcSource(rpc_config(server, chain))
        # the crash day: the most logs (one day keeps the suite quick; the other tests do two)
        assert_same_lake(ingest(source, tmp_path, DAYS[1:]), expected, DAYS[1:])
        assert source.tokens().height == len(chain.tokens)
    assert server.stats[seen] >= 1
    assert not server.faults.scheduled  # every scheduled fault was served


@pytest.mark.parametrize(
    ("range_style", "results_style"),
    [("alchemy", "infura"), ("plain", "plain")],
    ids=["limits-with-suggested-ranges", "limits-without"],
)
def test_hundreds_of_random_faults_still_give_the_same_lake(
    chain: SyntheticChain, expected: Lake, tmp_path: Path, range_style: str, results_style: str
) -> None:
    # (a provider cannot refuse a single block: the limit stays above the busiest block's logs)
    busiest = int(chain.raw_logs["block_number"].value_counts()["count"].max())  # type: ignore[arg-type]
    limits = Limits(
        max_range=400,
        max_results=max(30, busiest + 1),
        range_style=range_style,
        results_style=results_style,
    )
    kinds = ("429", "rpc_rate", "500", "502", "503", "timeout", "reset", "garbage", "partial")
    faults = Faults(rate=0.4, kinds=kinds, seed=2024, retry_after="0", timeout_sleep=0.3)
    with serving(chain, limits, faults) as server:
        source = RpcSource(rpc_config(server, chain, chunk=1_000, timeout=0.1, batch_size=40))
        assert_same_lake(ingest(source, tmp_path), expected)
    injected = server.faults_injected()
    print(f"{injected} faulty answers out of {server.stats['requests']} requests")
    assert injected >= 200, server.stats
    assert {k for k in server.stats if k.startswith("fault:")} >= {f"fault:{k}" for k in kinds}
    assert source.client.stats["retries"] >= 150
    assert server.stats["refused:range"] >= 1 and server.stats["refused:results"] >= 1


def test_retry_after_is_honoured_and_backoff_grows() -> None:
    chain_config = SyntheticChainConfig(seed=13, days=1, borrowers_per_market=2)
    sleeps: list[float] = []
    with serving(SyntheticSource(chain_config).chain, faults=Faults(retry_after="2")) as server:
        server.schedule("429", 2)
        server.schedule("500", 3)
        client = RpcClient(
            server.url(PATH),
            ClientSettings(requests_per_second=0, backoff_base=0.1, backoff_max=0.3, jitter_seed=3),
            sleep=sleeps.append,
        )
        assert int(client.call("eth_chainId", []), 16) == 1
    assert sleeps[0] >= 2.0 and sleeps[1] >= 2.0  # Retry-After: 2
    assert 0.1 <= sleeps[2] < sleeps[4] <= 0.3  # exponential, jittered, capped


def test_rate_limit_spaces_calls() -> None:
    sleeps: list[float] = []
    chain_config = SyntheticChainConfig(seed=13, days=1, borrowers_per_market=2)
    with serving(SyntheticSource(chain_config).chain) as server:
        client = RpcClient(  # a clock that stands still: the pacing alone, however slow the calls
            server.url(PATH),
            ClientSettings(requests_per_second=5),
            sleep=sleeps.append,
            clock=lambda: 0.0,
        )
        for _ in range(3):
            client.call("eth_blockNumber", [])
        client.batch([("eth_blockNumber", [])] * 10)
        client.call("eth_blockNumber", [])
    # (recorded, not slept) each call reserves 0.2 s after the previous; a batch of 10 counts ten
    assert sleeps == pytest.approx([0.2, 0.4, 0.6, 2.6])


def _texts(error: BaseException) -> str:
    return str(error) + repr(error) + "".join(traceback.format_exception(error))


def test_the_url_never_appears_in_logs_errors_or_the_lake(
    chain: SyntheticChain, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    with serving(
        chain, Limits(max_range=500), Faults(retry_after="0", timeout_sleep=0.4)
    ) as server:
        for kind in ("429", "timeout", "500", "reset", "garbage", "rpc_rate", "partial"):
            server.schedule(kind)
        config = rpc_config(server, chain)
        source = RpcSource(config)
        lake = ingest(source, tmp_path / "lake")
        source.tokens()
        # a rejected key (echoed back in the provider's message) is fatal at once
        server.schedule("403")
        with pytest.raises(RpcError) as rejected:
            RpcSource(config).day_block_range(DAYS[0])
        errors.append(rejected.value)
        # retries exhausted
        server.schedule("timeout", 3)
        with pytest.raises(RpcRetriesExhaustedError) as exhausted:
            RpcSource(rpc_config(server, chain, max_attempts=3)).day_block_range(DAYS[0])
        errors.append(exhausted.value)
        reprs = repr(config) + repr(source) + repr(source.client) + str(source.client._provider)
        url = server.url(PATH)
    # nobody listens any more
    with pytest.raises(RpcError) as refused:
        RpcSource(
            RpcConfig(url=url, client=FAST.__class__(max_attempts=2, backoff_base=0.001))
        ).safe_head()
    errors.append(refused.value)
    assert "invalid project id" in str(rejected.value) and "403" in str(rejected.value)
    assert "ConnectionError" in str(refused.value)
    assert any("POST" in r.getMessage() for r in caplog.records)  # urllib3 did log its requests
    assert any("retrying" in r.getMessage() for r in caplog.records)
    for text in (caplog.text, reprs, *(_texts(e) for e in errors)):
        assert KEY not in text
        assert PATH not in text
    for path in Path(lake.root).rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes()


class Killed(Exception):
    pass


def test_a_kill_in_the_middle_of_a_day_then_a_rerun_gives_the_same_lake(
    chain: SyntheticChain, expected: Lake, tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    with serving(chain, Limits(max_range=500)) as server:
        source = RpcSource(rpc_config(server, chain))
        sent, limit = 0, 10**9

        def hook() -> None:
            nonlocal sent
            sent += 1
            if sent > limit:
                raise Killed(f"killed after {limit} requests")

        source.client.before_request = hook
        steps.ingest_day(source, Lake(root), DAYS[0])
        limit = sent + sent // 2  # the middle of the second day, while its blocks are fetched
        with pytest.raises(Killed):
            steps.ingest_day(source, Lake(root), DAYS[1])
        lake = Lake(root)
        assert lake.read("raw_logs", RAW_LOGS, 1, [DAYS[0]]).height > 0  # day one was written
        assert not lake.has_partition("blocks", 1, DAYS[1])  # day two was not
        assert not list(root.rglob("*.tmp"))
        assert_same_lake(ingest(RpcSource(rpc_config(server, chain)), root), expected)


_CHILD = """
import sys
from datetime import date
from softliq_core import steps
from softliq_core.sources.rpc import ClientSettings, RpcConfig, RpcSource
from softliq_core.store.lake import Lake

url, root, first, *addresses = sys.argv[1:]
source = RpcSource(RpcConfig(
    url=url, addresses=tuple(addresses), markets_from_block=int(first), min_block=int(first),
    confirmations=0, client=ClientSettings(requests_per_second=0, batch_size=200),
))
for day in (date(2024, 3, 1), date(2024, 3, 2)):
    steps.ingest_day(source, Lake(root), day)
"""


def test_a_process_killed_with_sigkill_mid_day_then_rerun_gives_the_same_lake(
    chain: SyntheticChain, expected: Lake, tmp_path: Path
) -> None:
    root = tmp_path / "lake"
    with serving(chain) as server:
        args = [server.url(PATH), str(root), str(CONFIG.first_block), *watched(chain)]
        child = subprocess.Popen([sys.executable, "-c", _CHILD, *args])

        def kill(n: int) -> None:
            if n == 60:  # day one is ~40 requests: this is inside day two
                os.kill(child.pid, signal.SIGKILL)
                child.wait()

        server.on_request = kill
        assert child.wait(timeout=60) == -signal.SIGKILL
        server.on_request = None
        lake = Lake(root)
        assert lake.read("blocks", BLOCKS, 1, [DAYS[0]]).height > 0
        assert not lake.has_partition("blocks", 1, DAYS[1])
        assert_same_lake(ingest(RpcSource(rpc_config(server, chain)), root), expected)


@pytest.fixture
def rpc_env(monkeypatch: pytest.MonkeyPatch, chain: SyntheticChain) -> Iterator[ChainRpcServer]:
    with serving(chain, Limits(max_range=1_000)) as server:
        monkeypatch.setenv("SOFTLIQ_RPC_URL", server.url(PATH))
        yield server


def test_dagster_ingests_from_the_rpc_kind(
    rpc_env: ChainRpcServer, chain: SyntheticChain, expected: Lake, tmp_path: Path
) -> None:
    daily = dg.DailyPartitionsDefinition(start_date="2024-03-01", end_date="2024-03-03")
    source = ChainSourceResource(
        kind="rpc",
        rpc_addresses=list(watched(chain)),
        rpc_chunk_blocks=2_000,
        rpc_requests_per_second=0,
        rpc_backoff_base=0.001,
        rpc_confirmations=0,
        rpc_min_block=CONFIG.first_block,
        rpc_markets_from_block=CONFIG.first_block,
    )
    assert "SOFTLIQ_RPC_URL" not in repr(source) and KEY not in repr(source)
    lake = Lake(tmp_path / "lake")
    result = dg.materialize(
        [ingest_assets(daily)],
        partition_key=DAYS[1].isoformat(),
        resources={"source": source, "lake": LakeResource(root=str(lake.root))},
    )
    assert result.success
    assert_same_lake(lake, expected, DAYS[1:])
    assert rpc_env.stats["refused:range"] >= 1
