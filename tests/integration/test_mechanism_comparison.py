"""The mechanism comparison set replayed on the crash chain: the report's comparison table is SQL
over the outcome tables, and each design leaves its own trace in them."""

from __future__ import annotations

from pathlib import Path

import pytest

from softliq_core import steps
from softliq_core.replay.scenario import load_scenarios, parse_scenarios
from softliq_core.store.warehouse import Warehouse
from tests.conftest import OutcomeStore

COMPARISON = Path(__file__).parents[2] / "data" / "scenarios" / "comparison.toml"


@pytest.fixture(scope="module")
def comparison(
    outcome_store: OutcomeStore, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("comparison")
    lake = outcome_store.lake
    outcomes = steps.replay_scenarios(lake, outcome_store.chain_id, load_scenarios(COMPARISON))
    steps.store_outcomes(outcomes, root / "softliq.duckdb", lake)
    report = steps.write_governance_report(
        lake, outcome_store.chain_id, root / "softliq.duckdb", COMPARISON, root / "report"
    )
    return root / "softliq.duckdb", report


# The comparison table recomputed from the action and position rows, in token units.
FROM_OUTCOMES = """
SELECT s.name AS scenario, m.label AS market,
       count(a.kind) FILTER (a.kind = 'pre_liquidation') AS soft,
       count(a.kind) FILTER (a.kind = 'liquidation') AS hard,
       coalesce(sum(a.borrower_penalty), 0) / 10 ^ m.loan_decimals AS penalty,
       (coalesce(sum(a.bad_debt_assets), 0) + any_value(p.unrealised)) / 10 ^ m.loan_decimals AS bad_debt,
       coalesce(sum(a.liquidator_profit), 0) / 10 ^ m.loan_decimals AS profit,
       coalesce(sum(a.keeper_incentive), 0) / 10 ^ m.loan_decimals AS keeper,
       coalesce(sum(a.reserves_change), 0) / 10 ^ m.loan_decimals AS reserves,
       any_value(p.band_loss) / 10 ^ m.loan_decimals AS band_loss,
       any_value(p.arbitrage_profit) / 10 ^ m.loan_decimals AS arbitrage
FROM (SELECT scenario_id, market_id, sum(unrealised_bad_debt) AS unrealised,
             sum(band_loss) AS band_loss, sum(arbitrage_profit) AS arbitrage_profit
      FROM position_outcomes GROUP BY ALL) p
JOIN scenarios s USING (scenario_id) JOIN lake_markets m USING (market_id)
LEFT JOIN liquidation_actions a USING (scenario_id, market_id)
GROUP BY s.name, m.label, m.loan_decimals
"""


def test_the_comparison_table_is_sql_over_the_outcome_tables(comparison: tuple[Path, Path]) -> None:
    duckdb, report = comparison
    text = report.read_text().split("## Mechanism comparison", 1)[1].split("\n## ", 1)[0]
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith(("| market", "|---"))
    ]
    expected = {
        (r["scenario"], r["market"]): r
        for r in Warehouse(duckdb).query(FROM_OUTCOMES).iter_rows(named=True)
    }
    designs = set()
    for market, mechanism, name, counts, *amounts in rows:
        row = expected[(name.strip("`"), market)]
        assert counts == f"{row['soft']} + {row['hard']}"
        columns = ("penalty", "bad_debt", "profit", "keeper", "reserves", "band_loss", "arbitrage")
        assert amounts == [f"{row[c]:,.2f}" for c in columns], (name, market)
        designs.add(mechanism)
    assert {
        "maker_clipper",
        "compound_absorb",
        "euler_liquidation",
        "morpho_liquidation",
        "llamma_bands",
    } <= designs
    llamma = [row for (name, _), row in expected.items() if name == "llamma_a100_n10"]
    assert any(row["band_loss"] > 0 and row["arbitrage"] > 0 for row in llamma)
    assert "![borrower penalty and bad debt by mechanism](mechanism_comparison.png)" in text
    assert (report.parent / "mechanism_comparison.png").read_bytes().startswith(b"\x89PNG")


def test_each_design_leaves_its_trace(comparison: tuple[Path, Path]) -> None:
    duckdb, _ = comparison
    by_name = {
        r["name"]: r
        for r in Warehouse(duckdb)
        .query(
            "SELECT s.name, count(*) FILTER (kind = 'auction_start') AS kicks, "
            "count(*) FILTER (kind = 'liquidation') AS takes, "
            "sum(keeper_incentive::HUGEINT) AS keeper, "
            "count(*) FILTER (taker_paid::HUGEINT <> repaid_assets::HUGEINT) AS priced_apart "
            "FROM liquidation_actions JOIN scenarios s USING (scenario_id) GROUP BY s.name"
        )
        .iter_rows(named=True)
    }
    maker, comet = by_name["maker_clipper"], by_name["compound_absorb"]
    assert maker["kicks"] > 0 and maker["takes"] > 0 and maker["keeper"] > 0
    assert maker["priced_apart"] == maker["takes"]  # takers pay the tab with its penalty
    assert comet["priced_apart"] == comet["takes"] > 0  # buyers pay the store-front price
    assert by_name["euler_v2"]["priced_apart"] == by_name["morpho_liquidation"]["priced_apart"] == 0


def test_an_auction_running_at_the_end_keeps_its_debt_and_lot_on_the_position(
    outcome_store: OutcomeStore, tmp_path: Path
) -> None:
    """Auctions that never clear (they start at twice the oracle price and decay over ~30 years):
    a barked position's debt and collateral sit in its auction at the end of the data, and its
    outcome row still shows them, so the summary's unrealised bad debt sees them."""
    never_clears = {
        "name": "maker_never_clears",
        "mechanism": "maker_clipper",
        "buf": "2",
        "calc": "linear",
        "tau": 10**9,
        "tail": 10**9,
        "cusp": "0",
        "chop": "1.05",
    }
    scenarios = parse_scenarios({"scenario": [never_clears]})
    lake = outcome_store.lake
    steps.store_outcomes(
        steps.replay_scenarios(lake, outcome_store.chain_id, scenarios),
        tmp_path / "softliq.duckdb",
        lake,
    )
    rows = (
        Warehouse(tmp_path / "softliq.duckdb")
        .query(
            """
        WITH barks AS (
            SELECT market_id, borrower, count(*) AS barks,
                   arg_min(debt_before::HUGEINT, block_number) AS debt_at_bark,
                   arg_min(collateral_before::HUGEINT, block_number) AS collateral_at_bark,
                   count(*) FILTER (kind = 'liquidation') AS takes
            FROM liquidation_actions WHERE kind <> 'auction_reset' GROUP BY ALL
        )
        SELECT b.*, p.debt::HUGEINT AS debt, p.collateral::HUGEINT AS collateral,
               p.collateral_value::HUGEINT AS collateral_value,
               p.unrealised_bad_debt::HUGEINT AS unrealised
        FROM barks b JOIN position_outcomes p USING (market_id, borrower)
        """
        )
        .to_dicts()
    )
    assert rows and all(r["takes"] == 0 and r["barks"] == 1 for r in rows)
    for r in rows:  # the whole position went into its auction (no hole limit), nothing sold
        assert r["debt"] >= r["debt_at_bark"] > 0
        assert r["collateral"] >= r["collateral_at_bark"] > 0
        assert r["unrealised"] == max(0, r["debt"] - r["collateral_value"])
