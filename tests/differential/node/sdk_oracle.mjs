// @morpho-org/blue-sdk as an oracle: reads cases as JSON Lines on stdin, writes the SDK's answers
// as JSON Lines on stdout (one per case, same order). Integers travel as decimal strings.
// Usage: node sdk_oracle.mjs <cache dir holding node_modules>   (see tests/differential/artifacts.py)
import { createInterface } from "node:readline";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const cacheDir = process.argv[2];
const sdk = await import(
  pathToFileURL(join(cacheDir, "node_modules/@morpho-org/blue-sdk/lib/esm/index.js")).href
);
const {
  AdaptiveCurveIrmLib,
  MathLib,
  Market,
  MarketParams,
  PreLiquidationPosition,
  getDefaultPreLiquidationParams,
} = sdk;

const ADDRESS = (n) => "0x" + n.toString(16).padStart(40, "0");
const str = (v) => (v === undefined || v === null ? null : typeof v === "bigint" ? v.toString() : v);

function irm(c) {
  const tsa = BigInt(c.total_supply_assets);
  const tba = BigInt(c.total_borrow_assets);
  // Morpho's IRM input: utilization = totalBorrowAssets.wDivDown(totalSupplyAssets), 0 if no supply.
  const utilization = tsa > 0n ? MathLib.wDivDown(tba, tsa) : 0n;
  const r = AdaptiveCurveIrmLib.getBorrowRate(utilization, BigInt(c.start_rate_at_target), BigInt(c.elapsed));
  return {
    utilization: str(utilization),
    avg_borrow_rate: str(r.avgBorrowRate),
    end_borrow_rate: str(r.endBorrowRate),
    end_rate_at_target: str(r.endRateAtTarget),
    w_exp: c.w_exp_x === undefined ? null : str(AdaptiveCurveIrmLib.wExp(BigInt(c.w_exp_x))),
  };
}

function pre(c) {
  const params = new MarketParams({
    loanToken: ADDRESS(1),
    collateralToken: ADDRESS(2),
    oracle: ADDRESS(3),
    irm: ADDRESS(4),
    lltv: BigInt(c.lltv),
  });
  const market = new Market({
    params,
    totalSupplyAssets: BigInt(c.total_supply_assets),
    totalBorrowAssets: BigInt(c.total_borrow_assets),
    totalSupplyShares: BigInt(c.total_supply_shares),
    totalBorrowShares: BigInt(c.total_borrow_shares),
    lastUpdate: 0n,
    fee: 0n,
    price: BigInt(c.market_price),
  });
  const preLiquidationParams = {
    preLltv: BigInt(c.pre_lltv),
    preLCF1: BigInt(c.pre_lcf1),
    preLCF2: BigInt(c.pre_lcf2),
    preLIF1: BigInt(c.pre_lif1),
    preLIF2: BigInt(c.pre_lif2),
    preLiquidationOracle: ADDRESS(5),
  };
  const position = new PreLiquidationPosition(
    {
      preLiquidationParams,
      preLiquidation: ADDRESS(6),
      preLiquidationOraclePrice: BigInt(c.price),
      user: ADDRESS(7),
      marketId: params.id,
      supplyShares: 0n,
      borrowShares: BigInt(c.borrow_shares),
      collateral: BigInt(c.collateral),
    },
    market,
  );
  const out = {
    is_liquidatable: position.isLiquidatable ?? null,
    ltv: str(position.ltv),
    seizable_collateral: str(position.seizableCollateral),
  };
  if (position.isLiquidatable) {
    const p = position.preLiquidationParams;
    const quotient = MathLib.wDivDown(position.ltv - p.preLltv, BigInt(c.lltv) - p.preLltv);
    const lcf = p.getCloseFactor(quotient);
    out.quotient = str(quotient);
    out.pre_lcf = str(lcf);
    out.pre_lif = str(p.getIncentiveFactor(quotient));
    out.repayable_shares = str(MathLib.wMulDown(BigInt(c.borrow_shares), lcf));
  }
  return out;
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
const lines = [];
for await (const line of rl) {
  if (!line.trim()) continue;
  const c = JSON.parse(line);
  let answer;
  try {
    if (c.kind === "irm") answer = irm(c);
    else if (c.kind === "pre") answer = pre(c);
    else {
      const d = getDefaultPreLiquidationParams(BigInt(c.lltv));
      answer = Object.fromEntries(Object.entries(d).map(([k, v]) => [k, str(v)]));
    }
  } catch (e) {
    answer = { error: String(e && e.message ? e.message : e) };
  }
  lines.push(JSON.stringify(answer));
}
process.stdout.write(lines.join("\n") + "\n");
