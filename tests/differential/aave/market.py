"""An Aave V3 market in pyrevm, deployed the way Aave's own test setup deploys one, and a driver.

The deployment follows ``@aave/deploy-v3`` (the market Aave's own tests run on): a
``PoolAddressesProvider``, the ACL admin and an ``ACLManager`` granting the pool, emergency, risk
and asset-listing admin roles, the logic libraries linked into the ``Pool`` implementation, which
the provider puts behind its proxy and initialises, the same for ``PoolConfigurator``, an
``AaveOracle`` whose sources are ``MockAggregator``s, an ``AaveProtocolDataProvider``, one
``DefaultReserveInterestRateStrategy`` per reserve, then ``initReserves`` (AToken,
StableDebtToken and VariableDebtToken implementations behind proxies the configurator creates) and
the risk parameters through the configurator. The reserves and their parameters are those of Aave
V3 Ethereum in 2023 (``RESERVES``), with one eMode category (ETH correlated).

``AaveMarket`` drives it: supply, withdraw, borrow (variable), repay (also with aTokens),
setUserUseReserveAsCollateral, setUserEMode, liquidationCall, time jumps and price moves; each call
returns an ``Outcome`` (the decoded return values or the revert reason, and the decoded logs of the
transaction). Views read getReserveData, normalised income and debt, scaled and current balances,
previous indexes, the user configuration and eMode, and getUserAccountData.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode
from eth_utils.crypto import keccak

from ..evm import _ERROR, _PANIC, Chain, Contract, Reverted, _type
from . import artifacts

ZERO = "0x" + "00" * 20
OWNER = "0x" + "0a" * 20  # deployer, provider owner, ACL admin and every admin role
TREASURY = "0x" + "7e" * 20  # the aTokens' treasury (receives the liquidation protocol fee)
USERS = ["0x" + f"{0xA1 + i:02x}" * 20 for i in range(4)]
LIQUIDATORS = ["0x" + f"{0xB1 + i:02x}" * 20 for i in range(2)]
HUGE = 10**40  # every user's token balance, and allowance to the Pool
MAX_UINT = 2**256 - 1
RAY = 10**27
VARIABLE = 2  # DataTypes.InterestRateMode.VARIABLE
MARKET_ID = "softliq differential"


@dataclass(frozen=True)
class RateStrategy:
    """DefaultReserveInterestRateStrategy's parameters in basis points."""

    optimal_usage: int
    base: int
    slope1: int
    slope2: int


@dataclass(frozen=True)
class ReserveSpec:
    symbol: str
    decimals: int
    price: int  # USD, 8 decimals (AaveOracle's base currency unit is 1e8)
    ltv: int  # basis points
    liquidation_threshold: int
    liquidation_bonus: int  # 10500 = +5 %
    reserve_factor: int
    liquidation_protocol_fee: int  # share of the bonus, basis points
    rate: RateStrategy
    emode: int  # eMode category id, 0 = none


# Aave V3 Ethereum's parameters for these assets in 2023 (liquidation protocol fee 10 % of the bonus).
RESERVES = [
    ReserveSpec(
        "WETH",
        18,
        2_000 * 10**8,
        ltv=8_050,
        liquidation_threshold=8_300,
        liquidation_bonus=10_500,
        reserve_factor=1_500,
        liquidation_protocol_fee=1_000,
        rate=RateStrategy(8_000, 0, 380, 8_000),
        emode=1,
    ),
    ReserveSpec(
        "WBTC",
        8,
        30_000 * 10**8,
        ltv=7_000,
        liquidation_threshold=7_500,
        liquidation_bonus=10_625,
        reserve_factor=2_000,
        liquidation_protocol_fee=1_000,
        rate=RateStrategy(4_500, 0, 400, 30_000),
        emode=0,
    ),
    ReserveSpec(
        "USDC",
        6,
        1 * 10**8,
        ltv=7_700,
        liquidation_threshold=7_900,
        liquidation_bonus=10_450,
        reserve_factor=1_000,
        liquidation_protocol_fee=1_000,
        rate=RateStrategy(9_000, 0, 400, 6_000),
        emode=0,
    ),
    ReserveSpec(
        "wstETH",
        18,
        2_200 * 10**8,
        ltv=6_900,
        liquidation_threshold=8_000,
        liquidation_bonus=10_700,
        reserve_factor=1_500,
        liquidation_protocol_fee=1_000,
        rate=RateStrategy(4_500, 0, 450, 8_000),
        emode=1,
    ),
]


@dataclass(frozen=True)
class EModeSpec:
    category: int
    ltv: int
    liquidation_threshold: int
    liquidation_bonus: int
    label: str


EMODE = EModeSpec(1, 9_000, 9_300, 10_100, "ETH correlated")


@dataclass(frozen=True)
class ReserveData:
    """Pool.getReserveData (DataTypes.ReserveData, v3.0)."""

    configuration: int
    liquidity_index: int
    current_liquidity_rate: int
    variable_borrow_index: int
    current_variable_borrow_rate: int
    current_stable_borrow_rate: int
    last_update_timestamp: int
    id: int
    a_token: str
    stable_debt_token: str
    variable_debt_token: str
    interest_rate_strategy: str
    accrued_to_treasury: int
    unbacked: int
    isolation_mode_total_debt: int


@dataclass(frozen=True)
class AccountData:
    """Pool.getUserAccountData: values in the base currency (USD, 8 decimals), HF in WAD."""

    total_collateral_base: int
    total_debt_base: int
    available_borrows_base: int
    current_liquidation_threshold: int
    ltv: int
    health_factor: int


@dataclass
class Outcome:
    """One transaction: its decoded return values, or the revert reason; and its decoded logs."""

    name: str
    returned: tuple[Any, ...] | None
    reason: str | None
    logs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.reason is None

    def events(self, name: str, contract: str | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.logs
            if e["event"] == name and (contract is None or e["contract"] == contract)
        ]


# -- decoding the logs ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Event:
    name: str
    indexed: list[tuple[str, str]]
    data: list[tuple[str, str]]


def _events(abi: list[dict[str, Any]]) -> dict[bytes, _Event]:
    found = {}
    for item in abi:
        if item["type"] != "event" or item.get("anonymous"):
            continue
        types = [_type(a) for a in item["inputs"]]
        topic0 = keccak(f"{item['name']}({','.join(types)})".encode())
        found[topic0] = _Event(
            item["name"],
            [(a["name"], t) for a, t in zip(item["inputs"], types, strict=True) if a["indexed"]],
            [
                (a["name"], t)
                for a, t in zip(item["inputs"], types, strict=True)
                if not a["indexed"]
            ],
        )
    return found


def revert_code(data: bytes) -> str:
    """What softliq's ``AaveRevert.code`` calls a revert: Errors.sol's code (``'35'``) or another
    Error(string) text, ``Panic(0x11)`` for checked arithmetic, ``''`` for a bare revert (WadRayMath
    and PercentageMath overflow, a call to an address without code)."""
    if data[:4] == _ERROR:
        (text,) = decode(["string"], data[4:])
        return str(text)
    if data[:4] == _PANIC:
        (code,) = decode(["uint256"], data[4:])
        return f"Panic(0x{code:x})"
    return "0x" + data.hex() if data else ""


def _norm(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    return value


class AaveMarket:
    """The deployed market and a driver for it (``spec`` reserves, ``EMODE``)."""

    def __init__(self, reserves: list[ReserveSpec] | None = None, chain: Chain | None = None):
        self.specs = {s.symbol: s for s in (reserves or RESERVES)}
        self.artifacts = artifacts.load()
        self.chain = chain or Chain(self.artifacts)
        self.labels: dict[str, str] = {}  # address -> label used in decoded logs
        self._event_abis: dict[str, dict[bytes, _Event]] = {}
        self.prices: dict[str, int] = {}
        self.trace: list[str] = []  # every transaction through ``transact``, readable
        self._deploy()
        self.deployed_calls = len(self.trace)

    # -- deployment ----------------------------------------------------------------------

    def _deploy(self) -> None:
        chain = self.chain
        chain.evm.set_balance(OWNER, 10**30)
        deploy = self._deploy_labelled
        self.provider = deploy("PoolAddressesProvider", ("string", MARKET_ID), ("address", OWNER))
        self.provider.call(OWNER, "setACLAdmin", OWNER)
        self.acl = deploy("ACLManager", ("address", self.provider.address))
        self.provider.call(OWNER, "setACLManager", self.acl.address)
        for role in ("addPoolAdmin", "addEmergencyAdmin", "addRiskAdmin", "addAssetListingAdmin"):
            self.acl.call(OWNER, role, OWNER)

        self.libraries: dict[str, str] = {}
        for name in artifacts.LIBRARIES:
            self.libraries[name] = deploy(name, label=name).address
        pool_impl = deploy("Pool", ("address", self.provider.address), label="PoolImpl")
        pool_impl.call(OWNER, "initialize", self.provider.address)
        self.provider.call(OWNER, "setPoolImpl", pool_impl.address)
        (pool,) = self.provider.view("getPool")
        self.pool = self._at("Pool", pool, "Pool")

        configurator_impl = deploy("PoolConfigurator", label="PoolConfiguratorImpl")
        configurator_impl.call(OWNER, "initialize", self.provider.address)
        self.provider.call(OWNER, "setPoolConfiguratorImpl", configurator_impl.address)
        (configurator,) = self.provider.view("getPoolConfigurator")
        self.configurator = self._at("PoolConfigurator", configurator, "PoolConfigurator")

        self.tokens: dict[str, Contract] = {}
        self.aggregators: dict[str, Contract] = {}  # each asset's current source
        self.feeds: list[str] = []  # every MockAggregator deployed, in order
        for spec in self.specs.values():
            token = deploy(
                "MintableERC20",
                ("string", spec.symbol),
                ("string", spec.symbol),
                ("uint8", spec.decimals),
                label=spec.symbol,
            )
            self.tokens[spec.symbol] = token
            self.aggregators[spec.symbol] = deploy(
                "MockAggregator", ("int256", spec.price), label=f"{spec.symbol}/USD"
            )
            self.feeds.append(self.aggregators[spec.symbol].address.lower())
            self.prices[spec.symbol] = spec.price
        self.oracle = deploy(
            "AaveOracle",
            ("address", self.provider.address),
            ("address[]", [t.address for t in self.tokens.values()]),
            ("address[]", [a.address for a in self.aggregators.values()]),
            ("address", ZERO),  # no fallback oracle
            ("address", ZERO),  # base currency: USD
            ("uint256", 10**8),
        )
        self.provider.call(OWNER, "setPriceOracle", self.oracle.address)
        self.data_provider = deploy("AaveProtocolDataProvider", ("address", self.provider.address))
        self.provider.call(OWNER, "setPoolDataProvider", self.data_provider.address)

        a_impl = deploy("AToken", ("address", self.pool.address), label="ATokenImpl")
        s_impl = deploy("StableDebtToken", ("address", self.pool.address), label="SDTokenImpl")
        v_impl = deploy("VariableDebtToken", ("address", self.pool.address), label="VDTokenImpl")
        inputs = []
        for spec in self.specs.values():
            r = spec.rate
            strategy = deploy(
                "DefaultReserveInterestRateStrategy",
                ("address", self.provider.address),
                ("uint256", r.optimal_usage * RAY // 10_000),
                ("uint256", r.base * RAY // 10_000),
                ("uint256", r.slope1 * RAY // 10_000),
                ("uint256", r.slope2 * RAY // 10_000),
                # stable borrowing is never enabled; Aave V3 Ethereum's stable parameters
                ("uint256", 0),
                ("uint256", 0),
                ("uint256", 200 * RAY // 10_000),
                ("uint256", 800 * RAY // 10_000),
                ("uint256", 2_000 * RAY // 10_000),
                label=f"{spec.symbol}RateStrategy",
            )
            s = spec.symbol
            inputs.append(
                (
                    a_impl.address,
                    s_impl.address,
                    v_impl.address,
                    spec.decimals,
                    strategy.address,
                    self.tokens[s].address,
                    TREASURY,
                    ZERO,  # no incentives controller
                    f"Aave {s}",
                    f"a{s}",
                    f"Aave Variable Debt {s}",
                    f"variableDebt{s}",
                    f"Aave Stable Debt {s}",
                    f"stableDebt{s}",
                    b"",
                )
            )
        self.configurator.call(OWNER, "initReserves", inputs)

        self.a_tokens: dict[str, Contract] = {}
        self.v_tokens: dict[str, Contract] = {}
        self.symbols: dict[str, str] = {}  # underlying address -> symbol
        cfg = self.configurator
        for spec in self.specs.values():
            s, asset = spec.symbol, self.tokens[spec.symbol].address
            self.symbols[asset] = s
            data = self.reserve_data(s)
            self.a_tokens[s] = self._at("AToken", data.a_token, f"a{s}")
            self.v_tokens[s] = self._at("VariableDebtToken", data.variable_debt_token, f"v{s}")
            self._at("StableDebtToken", data.stable_debt_token, f"s{s}")
            cfg.call(
                OWNER,
                "configureReserveAsCollateral",
                asset,
                spec.ltv,
                spec.liquidation_threshold,
                spec.liquidation_bonus,
            )
            cfg.call(OWNER, "setReserveBorrowing", asset, True)
            cfg.call(OWNER, "setReserveFactor", asset, spec.reserve_factor)
            cfg.call(OWNER, "setLiquidationProtocolFee", asset, spec.liquidation_protocol_fee)
        e = EMODE
        cfg.call(
            OWNER,
            "setEModeCategory",
            e.category,
            e.ltv,
            e.liquidation_threshold,
            e.liquidation_bonus,
            ZERO,  # no eMode price source (never used on mainnet)
            e.label,
        )
        for spec in self.specs.values():
            if spec.emode:
                cfg.call(
                    OWNER, "setAssetEModeCategory", self.tokens[spec.symbol].address, spec.emode
                )

        for user in [*USERS, *LIQUIDATORS]:
            chain.evm.set_balance(user, 10**24)
            for token in self.tokens.values():
                token.call(user, "mint(address,uint256)", user, HUGE)
                token.call(user, "approve", self.pool.address, MAX_UINT)
        self.deployed_block = chain.block_number - 1

    def _deploy_labelled(
        self, name: str, *ctor: tuple[str, Any], label: str | None = None
    ) -> Contract:
        code = None
        if self.artifacts["contracts"][name]["linkReferences"]:
            code = artifacts.link(self.artifacts["contracts"][name], self.libraries)
        contract = self.chain.deploy(name, *ctor, sender=OWNER, code=code)
        self._label(contract.address, name, label or name)
        return contract

    def _at(self, name: str, address: str, label: str) -> Contract:
        contract = self.chain.at(name, address)
        self._label(contract.address, name, label)
        return contract

    def _label(self, address: str, name: str, label: str) -> None:
        self.labels[address.lower()] = label
        self._event_abis[address.lower()] = _events(self.artifacts["contracts"][name]["abi"])

    # -- transactions --------------------------------------------------------------------

    def transact(self, sender: str, contract: Contract, name: str, *args: Any) -> Outcome:
        self.trace.append(
            f"t={self.chain.timestamp} {self.labels.get(contract.address, contract.address)}"
            f".{name}{args} from {sender}"
        )
        first = len(self.chain.logs)
        try:
            returned = contract.call(sender, name, *args)
        except Reverted as exc:
            return Outcome(name, None, revert_code(exc.data))
        return Outcome(name, returned, None, self.decode(self.chain.logs[first:]))

    def decode(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Raw log rows (as ``Chain`` records them) decoded with the emitting contract's ABI."""
        out = []
        for row in rows:
            address = "0x" + bytes(row["address"]).hex()
            event = self._event_abis.get(address, {}).get(row["topic0"])
            decoded: dict[str, Any] = {
                "contract": self.labels.get(address, address),
                "address": address,
                "block_number": row["block_number"],
                "log_index": row["log_index"],
                "event": event.name if event else "0x" + bytes(row["topic0"]).hex(),
            }
            if event is not None:
                topics = [row[f"topic{i}"] for i in range(1, 1 + len(event.indexed))]
                for (name, typ), topic in zip(event.indexed, topics, strict=True):
                    decoded[name] = _norm(decode([typ], topic)[0])
                values = decode([t for _, t in event.data], row["data"])
                for (name, _), value in zip(event.data, values, strict=True):
                    decoded[name] = _norm(value)
            out.append(decoded)
        return out

    def event_name(self, address: str, topic0: str) -> str:
        """The name of the event ``topic0`` (0x-hex) of the contract at ``address``."""
        event = self._event_abis.get(address, {}).get(bytes.fromhex(topic0[2:]))
        return event.name if event else topic0

    def asset(self, symbol: str) -> str:
        return self.tokens[symbol].address

    def supply(
        self, user: str, symbol: str, amount: int, on_behalf_of: str | None = None
    ) -> Outcome:
        return self.transact(
            user, self.pool, "supply", self.asset(symbol), amount, on_behalf_of or user, 0
        )

    def withdraw(self, user: str, symbol: str, amount: int, to: str | None = None) -> Outcome:
        """Returns (amount withdrawn,); ``MAX_UINT`` withdraws the whole balance."""
        return self.transact(user, self.pool, "withdraw", self.asset(symbol), amount, to or user)

    def borrow(
        self, user: str, symbol: str, amount: int, on_behalf_of: str | None = None
    ) -> Outcome:
        return self.transact(
            user,
            self.pool,
            "borrow",
            self.asset(symbol),
            amount,
            VARIABLE,
            0,
            on_behalf_of or user,
        )

    def repay(
        self, user: str, symbol: str, amount: int, on_behalf_of: str | None = None
    ) -> Outcome:
        """Returns (amount repaid,); ``MAX_UINT`` repays the whole debt (own debt only)."""
        return self.transact(
            user, self.pool, "repay", self.asset(symbol), amount, VARIABLE, on_behalf_of or user
        )

    def repay_with_atokens(self, user: str, symbol: str, amount: int) -> Outcome:
        return self.transact(
            user, self.pool, "repayWithATokens", self.asset(symbol), amount, VARIABLE
        )

    def set_collateral(self, user: str, symbol: str, use: bool) -> Outcome:
        return self.transact(
            user, self.pool, "setUserUseReserveAsCollateral", self.asset(symbol), use
        )

    def set_emode(self, user: str, category: int) -> Outcome:
        return self.transact(user, self.pool, "setUserEMode", category)

    def liquidation_call(
        self,
        liquidator: str,
        collateral: str,
        debt: str,
        user: str,
        debt_to_cover: int,
        receive_atoken: bool,
    ) -> Outcome:
        return self.transact(
            liquidator,
            self.pool,
            "liquidationCall",
            self.asset(collateral),
            self.asset(debt),
            user,
            debt_to_cover,
            receive_atoken,
        )

    def transfer_atokens(self, sender: str, symbol: str, to: str, amount: int) -> Outcome:
        """AToken.transfer (the Pool's finalizeTransfer checks the sender's health)."""
        return self.transact(sender, self.a_tokens[symbol], "transfer", to, amount)

    def mint_to_treasury(self, sender: str, symbols: list[str]) -> Outcome:
        """Pool.mintToTreasury: the reserves' accruedToTreasury becomes the treasury's aTokens."""
        return self.transact(sender, self.pool, "mintToTreasury", [self.asset(s) for s in symbols])

    def warp(self, seconds: int) -> None:
        self.chain.warp(seconds)

    @property
    def timestamp(self) -> int:
        return self.chain.timestamp

    def set_price(self, symbol: str, price: int) -> Outcome:
        """A new MockAggregator answering ``price``, set as the asset's source in AaveOracle."""
        aggregator = self._deploy_labelled(
            "MockAggregator", ("int256", price), label=f"{symbol}/USD"
        )
        self.aggregators[symbol] = aggregator
        self.feeds.append(aggregator.address.lower())
        self.trace.append(f"t={self.chain.timestamp} price {symbol} = {price}")
        outcome = self.transact(
            OWNER, self.oracle, "setAssetSources", [self.asset(symbol)], [aggregator.address]
        )
        assert outcome.ok, outcome
        self.prices[symbol] = price
        return outcome

    # -- views ---------------------------------------------------------------------------

    def reserve_data(self, symbol: str) -> ReserveData:
        (raw,) = self.pool.view("getReserveData", self.asset(symbol))
        fields = list(raw)
        fields[0] = fields[0][0]  # ReserveConfigurationMap{data}
        return ReserveData(*(_norm(v) for v in fields))

    def normalized_income(self, symbol: str) -> int:
        return int(self.pool.view("getReserveNormalizedIncome", self.asset(symbol))[0])

    def normalized_debt(self, symbol: str) -> int:
        return int(self.pool.view("getReserveNormalizedVariableDebt", self.asset(symbol))[0])

    def price(self, symbol: str) -> int:
        return int(self.oracle.view("getAssetPrice", self.asset(symbol))[0])

    def account_data(self, user: str) -> AccountData:
        return AccountData(*self.pool.view("getUserAccountData", user))

    def user_configuration(self, user: str) -> int:
        ((data,),) = self.pool.view("getUserConfiguration", user)
        return int(data)

    def uses_as_collateral(self, user: str, symbol: str) -> bool:
        return bool(self.user_configuration(user) >> (2 * self.reserve_data(symbol).id + 1) & 1)

    def is_borrowing(self, user: str, symbol: str) -> bool:
        return bool(self.user_configuration(user) >> (2 * self.reserve_data(symbol).id) & 1)

    def user_emode(self, user: str) -> int:
        return int(self.pool.view("getUserEMode", user)[0])

    def scaled_balance(self, symbol: str, user: str) -> int:
        return int(self.a_tokens[symbol].view("scaledBalanceOf", user)[0])

    def scaled_debt(self, symbol: str, user: str) -> int:
        return int(self.v_tokens[symbol].view("scaledBalanceOf", user)[0])

    def balance(self, symbol: str, user: str) -> int:
        """aToken balanceOf: the supplied amount with interest."""
        return int(self.a_tokens[symbol].view("balanceOf", user)[0])

    def debt(self, symbol: str, user: str) -> int:
        """variableDebtToken balanceOf: the borrowed amount with interest."""
        return int(self.v_tokens[symbol].view("balanceOf", user)[0])

    def previous_index(self, symbol: str, user: str, debt: bool = False) -> int:
        token = self.v_tokens[symbol] if debt else self.a_tokens[symbol]
        return int(token.view("getPreviousIndex", user)[0])

    def scaled_total_supply(self, symbol: str) -> int:
        return int(self.a_tokens[symbol].view("scaledTotalSupply")[0])

    def scaled_total_debt(self, symbol: str) -> int:
        return int(self.v_tokens[symbol].view("scaledTotalSupply")[0])

    def underlying_balance(self, symbol: str, holder: str) -> int:
        return int(self.tokens[symbol].view("balanceOf", holder)[0])
