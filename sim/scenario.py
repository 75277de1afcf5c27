"""The scenario format: its schema, loading from YAML, and the errors a person can act on.

A scenario is validated once, here, at the boundary. Everything past this module may trust it.
Problems are reported as :class:`Problem` lines, ``file: key.path: what is wrong``, all of them at
once, so that a user fixes a file in one pass. The schema is pydantic; ``telcotwin schema``
exports it as JSON Schema for editors.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from sim.units import format_duration, parse_duration, parse_money, parse_utc

__all__ = [
    "MAX_LINK_MBPS",
    "Problem",
    "Scenario",
    "ScenarioError",
    "apply_overrides",
    "json_schema",
    "load_scenario",
    "parse_scenario",
]

# --- limits -----------------------------------------------------------------------------------

# Generous but finite: more than a real network has, so that no product of them overflows a
# float (a cell of 1e308 Mbps made inf * 0 = NaN in the PM counters). Each field's description
# states its limit, so ``telcotwin schema`` shows them.
MAX_CELL_MBPS = 100_000  # 100 Gbps; a 5G NR cell on 400 MHz of mmWave peaks near 20 Gbps
MAX_LINK_MBPS = 10_000_000  # 10 Tbps; one DWDM fibre pair carries a few tens of Tbps
MAX_LATENCY_MS = 10_000  # 10 s; a geostationary satellite hop takes about 280 ms
MAX_MS_PER_KM = 1.0  # 200 times fibre's 0.005 ms/km
MAX_RADIUS_KM = 2000
MAX_SUBSCRIBERS = 100_000_000
MAX_SESSION_MB = 100_000  # 100 GB in one data session
MAX_PRICE_DECIMALS = 6
MAX_PRICE = 1_000_000  # a month's fee or one unit's overage, in the currency unit
MAX_CALL_S = 86_400.0  # a mean holding time of a day; real ones are about two minutes
MAX_MTBF_S = 1000 * 365.25 * 86_400.0  # 1,000 years; telecom equipment is rated 10 to 100
MAX_MTTR_S = 365 * 86_400.0
MAX_NOTIFICATION_DELAY_S = 3600.0  # an hour; real element managers forward within seconds
MAX_HEARTBEAT_TIMEOUT_S = 3600.0
MAX_FLAPS = 10_000  # an alarm storm, not a denial of service on the simulator
MIN_FLAP_PERIOD_S = 2.0  # down and up again within it: half a second each way at least
MAX_FLAP_PERIOD_S = 86_400.0
MAX_MAINTENANCE_S = 30 * 86_400.0
# Subscribers x busy-hour rates x profile x growth can each be within bounds and still ask for
# more arrivals than memory holds (numpy refuses a Poisson mean above 9.2e18 outright); the
# national benchmark makes 3 million an hour.
MAX_ATTEMPTS_PER_HOUR = 1_000_000_000
YEAR_S = 365.25 * 86_400.0  # as in sim.traffic, whose growth this estimates

# --- scalar types -------------------------------------------------------------------------


def _not_negative(amount: Decimal) -> Decimal:
    if amount < 0:
        raise ValueError(f"a price cannot be negative ({amount})")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_PRICE_DECIMALS:
        # billing rates usage in 10**-9 of the currency unit (docs/bss.md): six decimals a
        # minute or a GB leave a whole number of those per MB
        raise ValueError(
            f"'{amount}' has more than {MAX_PRICE_DECIMALS} decimals (billing rates to "
            f"{MAX_PRICE_DECIMALS} decimals of the currency unit)"
        )
    if amount > MAX_PRICE:
        raise ValueError(f"{amount} is above {MAX_PRICE:,}, surely a mistake")
    return amount


Seconds = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(\d+(\.\d+)?d)?(\d+(\.\d+)?h)?(\d+(\.\d+)?m)?(\d+(\.\d+)?s)?$",
            "description": "a duration: '90s', '15m', '2h30m', '2d'",
        }
    ),
]


def _within_30_days(value: float) -> float:
    if value <= 0 or value > MAX_MAINTENANCE_S:
        raise ValueError("must be longer than 0s and at most 30d")
    return value


# A window of planned work or an injected anomaly: a duration longer than 0s, at most 30d.
Window = Annotated[Seconds, AfterValidator(_within_30_days)]
Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "description": "money"}),
]
Price = Annotated[Money, AfterValidator(_not_negative)]
UtcTime = Annotated[
    datetime,
    BeforeValidator(parse_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "description": "ISO 8601, UTC"}),
]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Identifier = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s/]+$")]
CellOrTower = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s]+$")]


def _lat_lon(value: list[float]) -> list[float]:
    latitude, longitude = value
    if not -90 <= latitude <= 90:
        raise ValueError(f"latitude {latitude} is not between -90 and 90")
    if not -180 <= longitude <= 180:
        raise ValueError(f"longitude {longitude} is not between -180 and 180")
    return value


LatLon = Annotated[list[float], Field(min_length=2, max_length=2), AfterValidator(_lat_lon)]


class _Strict(BaseModel):
    # strict: no true-as-1 or "3"-as-3; no infinities or NaN where a number is wanted
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# --- network --------------------------------------------------------------------------------


class CellDefaults(_Strict):
    """Capacity given to every tower's cells unless the tower says otherwise."""

    cells: int = Field(3, ge=1, le=64, description="cells (sectors) per tower; at most 64")
    voice_channels: int = Field(
        30, ge=1, le=1000, description="simultaneous calls per cell; at most 1,000"
    )
    data_mbps: float = Field(
        150.0,
        gt=0,
        le=MAX_CELL_MBPS,
        description="shared downlink capacity per cell in Mbps; at most 100,000 (100 Gbps)",
    )
    max_subscribers: int | None = Field(
        None,
        ge=1,
        le=MAX_SUBSCRIBERS,
        description="subscriptions a tower admits (southbound admission control); "
        "at most 100,000,000",
    )


class Node(_Strict):
    id: Identifier
    role: Literal["core", "aggregation", "tower"]
    position: LatLon | None = Field(None, description="[latitude, longitude] in degrees")
    # a tower's own capacity, instead of network.defaults
    cells: int | None = Field(None, ge=1, le=64, description="at most 64")
    voice_channels: int | None = Field(None, ge=1, le=1000, description="at most 1,000")
    data_mbps: float | None = Field(
        None, gt=0, le=MAX_CELL_MBPS, description="per cell, in Mbps; at most 100,000"
    )
    max_subscribers: int | None = Field(
        None, ge=1, le=MAX_SUBSCRIBERS, description="at most 100,000,000"
    )

    @model_validator(mode="after")
    def _capacity_only_on_towers(self) -> Node:
        if self.role != "tower":
            given = [
                k
                for k in ("cells", "voice_channels", "data_mbps", "max_subscribers")
                if getattr(self, k) is not None
            ]
            if given:
                raise ValueError(
                    f"only towers have cells; a {self.role} node cannot set {given[0]}"
                )
        return self


class Link(_Strict):
    id: Identifier
    a: Identifier
    b: Identifier
    capacity_mbps: float = Field(
        gt=0, le=MAX_LINK_MBPS, description="in Mbps; at most 10,000,000 (10 Tbps)"
    )
    latency_ms: float = Field(
        1.0,
        ge=0,
        le=MAX_LATENCY_MS,
        description="one way; at most 10,000 (a geostationary satellite hop is about 280 ms)",
    )


class Region(_Strict):
    center: LatLon
    radius_km: float = Field(gt=0, le=MAX_RADIUS_KM, description="at most 2,000")


class Generate(_Strict):
    """A synthetic network: towers attached to the nearest aggregation site, each aggregation
    site dual-homed to the core sites."""

    towers: int = Field(ge=1, le=200_000, description="at most 200,000")
    aggregation: int = Field(ge=1, le=10_000, description="at most 10,000")
    cores: int = Field(2, ge=1, le=100, description="at most 100")
    region: Region
    tower_link_mbps: float = Field(
        1000.0, gt=0, le=MAX_LINK_MBPS, description="each tower's uplink; at most 10,000,000"
    )
    aggregation_link_mbps: float = Field(
        10_000.0,
        gt=0,
        le=MAX_LINK_MBPS,
        description="each aggregation site's link to a core (links between cores get four "
        "times it); at most 10,000,000",
    )
    prefix: str = Field("g", pattern=r"^[A-Za-z0-9_.-]*$")


class TopologyZoo(_Strict):
    """A real transport network from the Internet Topology Zoo (GraphML)."""

    graphml: str = Field(description="path, relative to the scenario file")
    cores: list[str] = Field(
        default_factory=list,
        description="node ids (abilene-4) or labels (New York) to use as core; a label carried "
        "by several nodes is refused, listing their ids, unless cores_match is 'all'; default: "
        "the internal node of highest degree",
    )
    cores_match: Literal["one", "all"] = Field(
        "one",
        description="'one': a label in cores must name a single node; 'all': a label names "
        "every node that carries it",
    )
    capacity_mbps: float = Field(
        10_000.0,
        gt=0,
        le=MAX_LINK_MBPS,
        description="for links without LinkSpeedRaw; at most 10,000,000",
    )
    latency_ms_per_km: float = Field(
        0.005,
        gt=0,
        le=MAX_MS_PER_KM,
        description="propagation delay, 0.005 in fibre; at most 1",
    )
    default_latency_ms: float = Field(
        1.0,
        ge=0,
        le=MAX_LATENCY_MS,
        description="for links between nodes without coordinates; at most 10,000",
    )


class OpenCellId(_Strict):
    """Towers from an OpenCellID CSV export, attached to the nearest transport node."""

    csv: str = Field(description="path, relative to the scenario file")
    radio: list[Literal["GSM", "UMTS", "LTE", "NR", "CDMA"]] = Field(default_factory=list)
    mcc: int | None = Field(None, ge=0, le=999, description="mobile country code; at most 999")
    net: int | None = Field(None, ge=0, le=999, description="mobile network code; at most 999")
    limit: int | None = Field(None, ge=1, description="keep the first N towers of the file")
    tower_link_mbps: float = Field(
        1000.0, gt=0, le=MAX_LINK_MBPS, description="each tower's uplink; at most 10,000,000"
    )


class TowersNearTransport(_Strict):
    """Synthetic towers scattered around the imported transport nodes."""

    count: int = Field(ge=1, le=200_000, description="at most 200,000")
    radius_km: float = Field(20.0, gt=0, le=MAX_RADIUS_KM, description="at most 2,000")
    tower_link_mbps: float = Field(
        1000.0, gt=0, le=MAX_LINK_MBPS, description="each tower's uplink; at most 10,000,000"
    )


class Network(_Strict):
    defaults: CellDefaults = CellDefaults()
    nodes: list[Node] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    generate: Generate | None = None
    topology_zoo: TopologyZoo | None = None
    opencellid: OpenCellId | None = None
    towers_near_transport: TowersNearTransport | None = None


# --- subscribers and traffic ------------------------------------------------------------------


class Subscribers(_Strict):
    count: int = Field(ge=0, le=MAX_SUBSCRIBERS, description="at most 100,000,000")
    placement: Literal["uniform", "by_capacity"] | dict[Identifier, Share] = Field(
        "uniform", description="'uniform', 'by_capacity', or a map tower id -> share (sums to 1)"
    )
    products: dict[Identifier, Share] = Field(
        default_factory=dict, description="product id -> share of subscribers (sums to 1)"
    )

    @field_validator("placement", mode="before")
    @classmethod
    def _placement_kind(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in ("uniform", "by_capacity"):
            raise ValueError(
                f"'{value}' is not a placement: use 'uniform', 'by_capacity' or a "
                "map of tower id -> share"
            )
        if not isinstance(value, (str, dict)):
            raise ValueError("use 'uniform', 'by_capacity' or a map of tower id -> share")
        return value

    @field_validator("placement", "products")
    @classmethod
    def _shares_sum_to_one(cls, value: Any) -> Any:
        if (
            isinstance(value, dict)
            and value
            and not math.isclose(sum(value.values()), 1.0, abs_tol=1e-6)
        ):
            raise ValueError(f"shares must sum to 1, they sum to {sum(value.values()):.6g}")
        return value


class Voice(_Strict):
    busy_hour_calls: float = Field(
        ge=0, le=1000, description="calls per subscriber in the busy hour; at most 1,000"
    )
    mean_duration: Seconds = Field(description="mean call holding time; at most 1d")

    @field_validator("mean_duration")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than 0s")
        if value > MAX_CALL_S:
            raise ValueError("must be at most 1d")
        return value


class Data(_Strict):
    busy_hour_sessions: float = Field(
        ge=0, le=10_000, description="sessions per subscriber in the busy hour; at most 10,000"
    )
    mean_volume_mb: float = Field(
        gt=0, le=MAX_SESSION_MB, description="per session; at most 100,000 (100 GB)"
    )


class Traffic(_Strict):
    daily_profile: list[Annotated[float, Field(ge=0, le=1000)]] = Field(
        default_factory=lambda: [1.0] * 24,
        description=(
            "relative load for hours 0..23 (UTC), normalised by its largest value: the busiest "
            "hour carries busy_hour_calls and busy_hour_sessions, so [0.5]*24 and [1]*24 are "
            "the same flat profile"
        ),
    )
    voice: Voice
    data: Data
    growth_per_year: float = Field(
        0.0,
        ge=-0.99,
        le=100,
        description="0.2 for 20 % more traffic a year; at least -0.99, at most 100",
    )

    @field_validator("daily_profile")
    @classmethod
    def _twenty_four_hours(cls, value: list[float]) -> list[float]:
        if len(value) != 24:
            raise ValueError(f"needs 24 values, one per hour, got {len(value)}")
        if max(value) <= 0:
            raise ValueError("at least one hour must carry traffic")
        return value


# --- catalog (read by the BSS side) ------------------------------------------------------------


class Includes(_Strict):
    voice_minutes: int = Field(0, ge=0, le=1_000_000, description="a month; at most 1,000,000")
    data_gb: float = Field(0, ge=0, le=1_000_000, description="a month; at most 1,000,000")


class Overage(_Strict):
    voice_minute: Price = Decimal("0")
    data_gb: Price = Decimal("0")


class ProductSla(_Strict):
    availability: Share
    credit_percent: float = Field(ge=0, le=100, description="at most 100")


class Product(_Strict):
    id: Identifier
    name: str
    monthly_fee: Price
    includes: Includes = Includes()
    overage: Overage = Overage()
    sla: ProductSla | None = None


class Catalog(_Strict):
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    products: list[Product]
    tax_percent: float = Field(
        0.0,
        ge=0,
        le=100,
        description="tax added to every invoice, percent of its lines after credits; "
        "at least 0 and at most 100, with at most 4 decimals",
    )

    @field_validator("tax_percent")
    @classmethod
    def _tax_decimals(cls, value: float) -> float:
        if round(value, 4) != value:
            raise ValueError(f"{value} has more than 4 decimals")
        return value


class Customers(_Strict):
    """How the BSS groups the network's subscribers into customer accounts (docs/bss.md)."""

    account_sizes: dict[int, Share] = Field(
        default_factory=lambda: {1: 0.6, 2: 0.25, 3: 0.1, 4: 0.05},
        description="subscriptions per account -> share of accounts (sums to 1); sizes "
        "from 1 to 100",
    )

    @field_validator("account_sizes", mode="before")
    @classmethod
    def _whole_number_keys(cls, value: Any) -> Any:
        # JSON (scenario.json, the run as written) has string keys: "2" is the size 2
        if isinstance(value, dict):
            return {
                int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in value.items()
            }
        return value

    @field_validator("account_sizes")
    @classmethod
    def _sizes(cls, value: dict[int, float]) -> dict[int, float]:
        if not value:
            raise ValueError("give at least one account size")
        for size in value:
            if not 1 <= size <= 100:
                raise ValueError(f"account size {size} is not from 1 to 100")
        if abs(sum(value.values()) - 1.0) > 1e-6:
            raise ValueError(f"shares sum to {sum(value.values()):g}, not 1")
        return value


# --- faults and events ---------------------------------------------------------------------------


class Reliability(_Strict):
    mtbf: Seconds = Field(
        description="mean time between failures; at least 1m, at most 365250d (1,000 years)"
    )
    mttr: Seconds = Field(description="mean time to repair; at most 365d")

    @model_validator(mode="after")
    def _in_range(self) -> Reliability:
        if self.mtbf < 60 or self.mttr <= 0:
            raise ValueError("mtbf must be at least 1m and mttr longer than 0s")
        if self.mtbf > MAX_MTBF_S or self.mttr > MAX_MTTR_S:
            raise ValueError("mtbf must be at most 365250d (1,000 years) and mttr at most 365d")
        return self


class RandomFaults(_Strict):
    tower: Reliability | None = None
    aggregation: Reliability | None = None
    core: Reliability | None = None
    link: Reliability | None = None


class Notifications(_Strict):
    """How alarm notifications reach the twin: late, sometimes twice, sometimes not at all."""

    mean_delay: Seconds = Field(
        5.0,
        description="mean of the exponential delay from an element raising an alarm to the "
        "twin receiving it; at most 1h",
    )
    duplicate_rate: Share = Field(0.0, description="share of notifications delivered twice")
    lost_clear_rate: Share = Field(0.0, description="share of clears that never arrive")
    lost_dying_gasp_rate: Share = Field(
        0.0, description="share of dying gasps that never arrive (the node died mid-send)"
    )
    heartbeat_timeout: Seconds = Field(
        60.0,
        description="how long the management system waits for a node's heartbeat before it "
        "raises 'element unreachable'; longer than 0s, at most 1h",
    )

    @field_validator("mean_delay")
    @classmethod
    def _delay_in_range(cls, value: float) -> float:
        if value > MAX_NOTIFICATION_DELAY_S:
            raise ValueError("must be at most 1h")
        return value

    @field_validator("heartbeat_timeout")
    @classmethod
    def _timeout_in_range(cls, value: float) -> float:
        if value <= 0 or value > MAX_HEARTBEAT_TIMEOUT_S:
            raise ValueError("must be longer than 0s and at most 1h")
        return value


class Faults(_Strict):
    random: RandomFaults = RandomFaults()
    notifications: Notifications = Notifications()


class _Event(_Strict):
    at: Seconds


class FailEvent(_Event):
    action: Literal["fail"]
    target: Identifier
    repair_after: Seconds | None = Field(None, description="omit to leave it down")


class FlapEvent(_Event):
    """A link or node that goes down and up ``count`` times, one cycle per ``period``."""

    action: Literal["flap"]
    target: Identifier
    count: int = Field(ge=1, le=MAX_FLAPS, description="down-up cycles; at most 10,000")
    period: Seconds = Field(description="one down-up cycle; at least 2s, at most 1d")
    down: Seconds | None = Field(
        None, description="how long each cycle is down; shorter than period; default: half"
    )

    @model_validator(mode="after")
    def _cycle_in_range(self) -> FlapEvent:
        if not MIN_FLAP_PERIOD_S <= self.period <= MAX_FLAP_PERIOD_S:
            raise ValueError("period must be at least 2s and at most 1d")
        if self.down is not None and not 0 < self.down < self.period:
            raise ValueError("down must be longer than 0s and shorter than period")
        return self

    @property
    def down_s(self) -> float:
        return self.period / 2 if self.down is None else self.down


class MaintenanceEvent(_Event):
    """Planned work: the target is out of service for ``duration``, and its alarms say so."""

    action: Literal["maintenance"]
    target: Identifier
    duration: Window = Field(description="the window; longer than 0s, at most 30d")


class SurgeEvent(_Event):
    action: Literal["surge"]
    targets: list[CellOrTower] = Field(min_length=1, description="tower or cell ids")
    factor: float = Field(gt=0, le=1000, description="traffic multiplier; at most 1,000")
    duration: Seconds


class SleepEvent(_Event):
    """A sleeping cell (or every cell of a tower): it stays enabled, raises no alarm and sends
    its PM as usual, but carries nothing for ``duration``; its subscribers' attempts are lost
    without being counted by it. Ground truth only, never on the feed."""

    action: Literal["sleep"]
    target: CellOrTower = Field(description="a cell or tower id")
    duration: Window = Field(description="how long it sleeps; longer than 0s, at most 30d")


class DegradeEvent(_Event):
    """A cell's data capacity (every cell of a tower's), or a link's capacity, multiplied by
    ``factor`` for ``duration``. Voice channels are untouched. Raises no alarm: ground truth
    only, never on the feed."""

    action: Literal["degrade"]
    target: CellOrTower = Field(description="a cell, tower or link id")
    factor: float = Field(gt=0, le=1, description="capacity multiplier, in (0, 1]")
    duration: Window = Field(description="how long; longer than 0s, at most 30d")


class OrderEvent(_Event):
    action: Literal["order"]
    product: Identifier
    count: int = Field(1, ge=1, le=10_000_000, description="at most 10,000,000")
    tower: Identifier


class PriceChangeEvent(_Event):
    action: Literal["price_change"]
    product: Identifier
    monthly_fee: Price


Event = Annotated[
    FailEvent
    | FlapEvent
    | MaintenanceEvent
    | SurgeEvent
    | SleepEvent
    | DegradeEvent
    | OrderEvent
    | PriceChangeEvent,
    Field(discriminator="action"),
]
ACTIONS = ("fail", "flap", "maintenance", "surge", "sleep", "degrade", "order", "price_change")


# The KPIs a threshold may watch, by the scopes they exist for: the names of
# twin.oss.performance.KPIS (sim imports nothing of the twin's; tests/test_thresholds.py checks
# that the two lists agree).
RADIO_KPIS = (
    "ERAB.EstabInitAttNbr.QCI1",
    "ERAB.EstabInitSuccNbr.QCI1",
    "VoiceBlockingRate",
    "VoiceFailureRate",
    "VoiceDropRate",
    "VoiceCarriedErlangs",
    "DRB.PdcpSduVolumeDL",
    "DataThroughput",
    "DataUtilization",
    "RRU.CellUnavailableTime",
    "CellAvailability",
)
LINK_KPIS = (
    "LinkVolume",
    "LinkThroughput",
    "LinkUtilization",
    "LinkUnavailableTime",
    "LinkAvailability",
)
THRESHOLD_SCOPES = ("cell", "tower", "link", "network")


class ThresholdRule(_Strict):
    """One threshold in full, as OpenNMS defines one: the KPI watched on every resource of a
    scope; an alarm of ``severity`` after ``trigger_count`` consecutive PM intervals past
    ``trigger``, cleared by the first interval back past ``rearm`` (the hysteresis band)."""

    kpi: str = Field(
        description="a KPI of docs/kpis.md: a radio KPI for cell, tower or network, a link "
        "KPI for link"
    )
    scope: Literal["cell", "tower", "link", "network"] = Field(
        description="every cell, tower or link, or the whole network"
    )
    direction: Literal["high", "low"] = Field(
        "high", description="high: alarm above trigger; low: alarm below trigger"
    )
    trigger: float = Field(description="the value the KPI must go past (strictly)")
    rearm: float = Field(
        description="the value that clears the alarm: at or below trigger for high, at or "
        "above it for low"
    )
    trigger_count: int = Field(
        1,
        ge=1,
        le=10_000,
        description="consecutive PM intervals past trigger before the alarm; at least 1, at "
        "most 10,000",
    )
    severity: Literal["critical", "major", "minor", "warning"] = Field(
        "major", description="the alarm's perceived severity (X.733)"
    )

    @field_validator("kpi")
    @classmethod
    def _known_kpi(cls, value: str) -> str:
        if value not in RADIO_KPIS + LINK_KPIS:
            raise ValueError(f"unknown KPI '{value}'; known: {', '.join(RADIO_KPIS + LINK_KPIS)}")
        return value

    @field_validator("scope")
    @classmethod
    def _scope_fits_kpi(cls, value: str, info: ValidationInfo) -> str:
        kpi = info.data.get("kpi")
        if kpi in RADIO_KPIS and value == "link":
            raise ValueError(f"'{kpi}' is a radio KPI: use scope cell, tower or network")
        if kpi in LINK_KPIS and value != "link":
            raise ValueError(f"'{kpi}' is a link KPI: use scope link")
        return value

    @field_validator("rearm")
    @classmethod
    def _rearm_on_the_clearing_side(cls, value: float, info: ValidationInfo) -> float:
        trigger, direction = info.data.get("trigger"), info.data.get("direction", "high")
        if trigger is None:
            return value
        if direction == "high" and value > trigger:
            raise ValueError(
                f"{value:g} is above trigger {trigger:g}: a high threshold "
                "re-arms at or below its trigger"
            )
        if direction == "low" and value < trigger:
            raise ValueError(
                f"{value:g} is below trigger {trigger:g}: a low threshold "
                "re-arms at or above its trigger"
            )
        return value


class Thresholds(_Strict):
    """Threshold alerts on the KPIs (docs/thresholds.md). The defaults watch voice blocking
    above ``gos_target``, link utilisation above 0.9 (major) and 0.98 (critical) and cell
    availability below 1; the three shorthand keys move a default's trigger; ``rules`` adds
    thresholds in full."""

    cell_utilization: Share | None = Field(
        None,
        description="shorthand: a minor alarm when a cell's DataUtilization is above this for "
        "2 intervals, re-armed 0.1 below it; omitted: none",
    )
    voice_blocking: Share | None = Field(
        None,
        description="shorthand: the trigger of the default VoiceBlockingRate threshold on "
        "cells (major, 2 intervals, re-armed at half of it); omitted: twin.gos_target",
    )
    link_utilization: Share | None = Field(
        None,
        description="shorthand: the trigger of the default major LinkUtilization threshold "
        "(re-armed 0.1 below it; the critical one at 0.98 stays); omitted: 0.9",
    )
    defaults: bool = Field(
        True,
        description="keep the default thresholds; false: only the shorthand keys given and rules",
    )
    rules: list[ThresholdRule] = Field(
        default_factory=list, description="thresholds in full, beside the defaults"
    )


class AnomalySettings(_Strict):
    """How anomaly detection tells a cell's traffic from noise (docs/anomalies.md)."""

    enabled: bool = Field(
        True,
        description="look for surges, sleeping and degraded cells in every PM interval and "
        "score them in summary.json's anomalies; false only measures what it costs",
    )
    significance: float = Field(
        1e-6,
        gt=0,
        le=0.01,
        description="how unlikely, as Poisson noise around the cell's expected attempts, a "
        "count must be to be flagged (each tail, per cell and interval); at most 0.01",
    )
    surge_ratio: float = Field(
        1.5,
        gt=1,
        le=100,
        description="a surge counts at least this many times the attempts expected; above 1, "
        "at most 100",
    )
    low_ratio: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="traffic is low (a sleeping cell, or fewer people) at this share of the "
        "attempts expected or below; between 0 and 1",
    )
    degrade_share: float = Field(
        0.9,
        gt=0,
        lt=1,
        description="a cell is degraded when it serves less than this share of the data its "
        "demand and nominal capacity allow (its backhaul permitting); between 0 and 1",
    )


class TwinConfig(_Strict):
    gos_target: Share = Field(
        0.02,
        description="grade of service: the highest acceptable voice blocking; the default "
        "voice-blocking threshold's trigger",
    )
    thresholds: Thresholds = Field(
        Thresholds(), description="threshold alerts on the KPIs (docs/thresholds.md)"
    )
    fault_management: bool = Field(
        True,
        description="run fault management (the alarm list and root cause) on the feed and "
        "score it in summary.json's alarms; false only measures what it costs",
    )
    performance_management: bool = Field(
        True,
        description="compute the KPIs of every PM interval and the busy hours (summary.json's "
        "kpis); false only measures what it costs",
    )
    anomalies: AnomalySettings = Field(
        AnomalySettings(), description="anomaly detection: surges, sleeping and degraded cells"
    )
    service_assurance: bool = Field(
        True,
        description="measure every subscription's availability per monthly billing cycle and "
        "publish a breach of its product's sla.availability (summary.json's sla); false only "
        "measures what it costs",
    )
    business: bool = Field(
        True,
        description="run the BSS (customers, rating, billing, revenue: summary.json's billing "
        "and revenue) when the scenario has a catalog; false only measures what it costs",
    )


class PlanningCosts(_Strict):
    """Unit costs of capacity upgrades, in ``planning.currency``; any left out is not priced."""

    voice_channel: Price | None = Field(None, description="one more voice channel in a cell")
    cell: Price | None = Field(
        None, description="one more cell (sector or carrier) at a tower, its channels included"
    )
    data_mbps: Price | None = Field(None, description="one more Mbps of a cell's data capacity")
    link_mbps: Price | None = Field(None, description="one more Mbps of a link's capacity")


class Planning(_Strict):
    """Capacity planning (telcotwin report): how demand grows, how cells grow, what it costs."""

    growth: Literal["auto", "scenario", "fitted"] = Field(
        "auto",
        description="the traffic growth to forecast with: the scenario's "
        "traffic.growth_per_year, fitted per cell from the run's daily busy hours (needs a run "
        "of at least 7 days), or auto: fitted when the run is long enough, else the scenario's",
    )
    max_voice_channels_per_cell: int = Field(
        1000,
        ge=1,
        le=1000,
        description="the most voice channels one cell can take; a cell needing more gets new "
        "cells beside it instead; at most 1,000",
    )
    currency: str | None = Field(
        None, pattern=r"^[A-Z]{3}$", description="ISO 4217 code of the costs (default: catalog's)"
    )
    costs: PlanningCosts = PlanningCosts()


class Variant(_Strict):
    """A what-if: the scenario with a few things changed, run beside it by ``telcotwin compare``
    with the same seed."""

    name: Identifier
    description: str = ""
    set: dict[str, Any] = Field(
        default_factory=dict,
        description="values to override by their key path, as --set takes them: "
        "{network.links[2].capacity_mbps: 1000, traffic.growth_per_year: 0.3}",
    )
    add_nodes: list[Node] = Field(default_factory=list, description="nodes to add")
    remove_nodes: list[Identifier] = Field(
        default_factory=list, description="ids of network.nodes to remove, with their links"
    )
    add_links: list[Link] = Field(default_factory=list, description="links to add")
    remove_links: list[Identifier] = Field(
        default_factory=list, description="ids of network.links to remove"
    )
    add_events: list[Event] = Field(default_factory=list, description="events to add")
    remove_events: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=list,
        description="positions in the scenario's events list (from 0) of events to remove",
    )


class Scenario(_Strict):
    """A whole scenario file, validated."""

    name: Identifier
    description: str = ""
    seed: int = Field(
        0,
        ge=0,
        lt=2**63,
        description="seeds every random draw of the run; below 9,223,372,036,854,775,808 (2**63)",
    )
    start: UtcTime
    duration: Seconds
    pm_interval: Seconds = 900.0
    usage_interval: Seconds = Field(86400.0, description="how often usage records are cut")
    network: Network
    subscribers: Subscribers
    traffic: Traffic
    catalog: Catalog | None = None
    customers: Customers = Customers()
    faults: Faults = Faults()
    events: list[Event] = Field(default_factory=list)
    twin: TwinConfig = TwinConfig()
    planning: Planning | None = Field(
        None, description="capacity planning: growth, cell limits and unit costs of upgrades"
    )
    variants: list[Variant] = Field(
        default_factory=list,
        description="what-ifs for telcotwin compare: each a name and what it changes",
    )

    @field_validator("variants")
    @classmethod
    def _variant_names_unique(cls, value: list[Variant]) -> list[Variant]:
        names = [v.name for v in value]
        for name in names:
            if name == "base" or names.count(name) > 1:
                raise ValueError(f"variant name '{name}' is taken (by 'base' or another)")
        return value

    @field_validator("duration")
    @classmethod
    def _duration_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be longer than 0s")
        if value > 5 * 365 * 86400:
            raise ValueError("runs are limited to 5 years")
        return value

    @field_validator("pm_interval")
    @classmethod
    def _pm_divides_hour(cls, value: float) -> float:
        if value < 60 or value != int(value) or 3600 % int(value):
            raise ValueError(
                "must be whole minutes dividing one hour evenly (1m, 5m, 15m, 30m, 1h), so "
                "hours are whole"
            )
        return value

    @field_validator("usage_interval")
    @classmethod
    def _usage_positive(cls, value: float) -> float:
        # whole seconds keep every boundary an exact float, so ticks and segments agree
        if value < 60 or value != int(value):
            raise ValueError("must be whole seconds, at least 1m")
        return value

    @field_validator("start")
    @classmethod
    def _whole_second(cls, value: datetime) -> datetime:
        if value.microsecond:
            raise ValueError("must be a whole second (PM intervals are counted on the clock)")
        return value


# --- problems and loading ---------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario: where, and what."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        # One problem, one line: a key or value holding a newline must not break it in two.
        path, message = _printable(self.path), _printable(self.message)
        return f"{self.file}: {path}: {message}" if path else f"{self.file}: {message}"


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class ScenarioError(Exception):
    """A scenario that cannot be run; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def dotted(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """Return a key path such as ``network.links[3].b`` from a location tuple."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _pydantic_problems(file: str, error: ValidationError, raw: Any) -> list[Problem]:
    problems = []
    for item in error.errors():
        loc = list(item["loc"])
        # Discriminated unions add the tag to the location (events[2].fail.at): drop it.
        if len(loc) >= 3 and loc[0] == "events" and isinstance(loc[2], str) and loc[2] in ACTIONS:
            del loc[2]
        if item["type"] == "literal_error" and isinstance(item["input"], (dict, list)):
            continue  # the other branch of a union (a map where a word was also allowed)
        # A union names its failed branch in the location (placement.dict[...]): drop it.
        loc = [part for part in loc if not (isinstance(part, str) and "[" in part)]
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "missing":
            message = "required key is missing"
        elif item["type"] == "union_tag_invalid":
            message = f"unknown action; use one of {item['ctx']['expected_tags']}"
        elif item["type"] == "union_tag_not_found":
            message = f"needs an 'action' ({', '.join(ACTIONS[:-1])} or {ACTIONS[-1]})"
        elif item["type"] == "string_pattern_mismatch":
            allowed = "spaces" if "/" not in item["ctx"]["pattern"] else "spaces or '/'"
            message = f"'{item['input']}' is not an id: ids have no {allowed}"
        elif item["type"] == "dict_type" or item["type"] == "model_type":
            message = "should be a mapping of keys to values"
        problems.append(Problem(file, dotted(loc), message))
    return problems


def _check_references(file: str, scenario: Scenario) -> list[Problem]:
    """Problems pydantic cannot see: duplicate ids and references to unknown things."""
    problems: list[Problem] = []
    net = scenario.network
    for kind, ids in (("nodes", [n.id for n in net.nodes]), ("links", [k.id for k in net.links])):
        seen: set[str] = set()
        for index, item_id in enumerate(ids):
            if item_id in seen:
                problems.append(
                    Problem(file, f"network.{kind}[{index}].id", f"duplicate id '{item_id}'")
                )
            seen.add(item_id)
    node_ids = {n.id for n in net.nodes}
    link_ids = {link.id for link in net.links}
    for dupe in sorted(node_ids & link_ids):
        problems.append(Problem(file, "network.links", f"id '{dupe}' names both a node and a link"))
    has_imports = bool(net.generate or net.topology_zoo)
    for index, link in enumerate(net.links):
        for end in ("a", "b"):
            ref = getattr(link, end)
            if ref not in node_ids and not has_imports:
                problems.append(
                    Problem(file, f"network.links[{index}].{end}", f"unknown node '{ref}'")
                )
        if link.a == link.b:
            problems.append(
                Problem(file, f"network.links[{index}]", f"link joins '{link.a}' to itself")
            )
    if scenario.catalog is not None:
        product_ids: set[str] = set()
        for index, product in enumerate(scenario.catalog.products):
            if product.id in product_ids:
                problems.append(
                    Problem(file, f"catalog.products[{index}].id", f"duplicate id '{product.id}'")
                )
            product_ids.add(product.id)
        known_products: set[str] | None = product_ids
    else:
        known_products = None
    if known_products is not None:
        for name in scenario.subscribers.products:
            if name not in known_products:
                problems.append(
                    Problem(file, f"subscribers.products.{name}", f"unknown product '{name}'")
                )
    for index, event in enumerate(scenario.events):
        where = f"events[{index}]"
        if event.at >= scenario.duration:
            where_in_run = "at the end" if event.at == scenario.duration else "past the end"
            problems.append(
                Problem(
                    file,
                    f"{where}.at",
                    f"{format_duration(event.at)} is {where_in_run} of the run "
                    f"({format_duration(scenario.duration)}); an event must come before it",
                )
            )
        if isinstance(event, MaintenanceEvent) and event.at + event.duration > scenario.duration:
            problems.append(
                Problem(
                    file,
                    f"{where}.duration",
                    f"the window ends at {format_duration(event.at + event.duration)}, past the "
                    f"end of the run ({format_duration(scenario.duration)}); planned work is "
                    "booked to finish within it",
                )
            )
        if isinstance(event, (SleepEvent, DegradeEvent)) and event.at + event.duration > (
            scenario.duration
        ):
            problems.append(
                Problem(
                    file,
                    f"{where}.duration",
                    f"the window ends at {format_duration(event.at + event.duration)}, past the "
                    f"end of the run ({format_duration(scenario.duration)}); an injected "
                    "anomaly must end within it, so that it is scored whole",
                )
            )
        if (
            isinstance(event, (OrderEvent, PriceChangeEvent))
            and known_products is not None
            and event.product not in known_products
        ):
            problems.append(Problem(file, f"{where}.product", f"unknown product '{event.product}'"))
    return problems


def _check_traffic_volume(file: str, scenario: Scenario) -> list[Problem]:
    """Refuse traffic whose busiest hour would hold more arrivals than a run can draw."""
    traffic = scenario.traffic
    per_subscriber = traffic.voice.busy_hour_calls + traffic.data.busy_hour_sessions
    # growth is largest at the end of the run, or at its start when traffic shrinks
    growth = max(1.0, (1.0 + traffic.growth_per_year) ** (scenario.duration / YEAR_S))
    # the daily profile is normalised by its peak, so the busiest hour is at 1.0
    peak = scenario.subscribers.count * per_subscriber * growth
    if peak <= MAX_ATTEMPTS_PER_HOUR:
        return []
    return [
        Problem(
            file,
            "traffic",
            f"about {peak:,.0f} call attempts and data sessions in the busiest hour "
            "(subscribers x (busy_hour_calls + busy_hour_sessions) x growth over the run); "
            f"more than {MAX_ATTEMPTS_PER_HOUR:,} is surely a mistake",
        )
    ]


def parse_scenario(raw: Any, file: str = "<scenario>") -> Scenario:
    """Return a validated :class:`Scenario` from parsed YAML, or raise :class:`ScenarioError`."""
    if not isinstance(raw, dict):
        raise ScenarioError([Problem(file, "", "a scenario is a YAML mapping of keys to values")])
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as error:
        raise ScenarioError(_pydantic_problems(file, error, raw)) from None
    problems = _check_references(file, scenario) + _check_traffic_volume(file, scenario)
    if problems:
        raise ScenarioError(problems)
    return scenario


# YAML 1.2 core schema numbers (spec 1.2.2, section 10.3.2). Ints are tried before floats, as
# the float pattern also matches a plain integer.
_YAML_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_YAML_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading numbers the way YAML 1.2 does; used for scenario files and
    ``--set`` values alike.

    PyYAML follows YAML 1.1, where ``1e3`` (no dot, no sign in the exponent) is a string, ``017``
    is octal 15, and ``1_000`` and ``1:30`` (sexagesimal, 90) are numbers. Here ``1e3``, ``1E+3``,
    ``.5`` and ``-.5`` are floats, ``017`` is 17, ``0o17`` is 15, and ``1_000`` and ``1:30`` are
    strings. Booleans and null stay as PyYAML reads them. A value that cannot hold its explicit
    tag (``!!int many``) is a :class:`yaml.constructor.ConstructorError` with its position.
    """

    def construct_yaml12_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if digits.startswith(("0o", "0x")):
            return int(digits[2:], 8 if digits[1] == "o" else 16)
        return sign * int(digits)  # leading zeros are decimal in YAML 1.2: 017 is 17

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        # PyYAML's constructors raise these for an explicit tag on a value it cannot hold
        except (ValueError, TypeError, AttributeError):
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            value = f"'{node.value}'" if isinstance(node.value, str) else "this value"
            raise yaml.constructor.ConstructorError(
                None, None, f"{value} is not a valid {tag}", node.start_mark
            ) from None


# PyYAML's own resolvers less its YAML 1.1 ints and floats, then the YAML 1.2 ones
_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_INT_TAG, _FLOAT_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(_INT_TAG, _YAML_INT, list("-+0123456789"))
_Yaml12Loader.add_implicit_resolver(_FLOAT_TAG, _YAML_FLOAT, list("-+.0123456789"))
_Yaml12Loader.add_constructor(_INT_TAG, _Yaml12Loader.construct_yaml12_int)


def read_yaml(path: Path) -> Any:
    """Return the parsed YAML of a file, or raise :class:`ScenarioError` naming line and column."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([Problem(str(path), "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError([Problem(str(path), "", f"cannot read: {error}")]) from None
    try:
        return yaml.load(text, Loader=_Yaml12Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError([Problem(name, where, f"YAML syntax error: {error.problem}")]) from None
    except yaml.YAMLError as error:
        raise ScenarioError([Problem(name, "", f"YAML syntax error: {error}")]) from None


def apply_overrides(raw: Any, overrides: list[str], file: str) -> Any:
    """Apply ``dotted.key=value`` overrides (values read as YAML, numbers as YAML 1.2 reads
    them) to a parsed scenario."""
    problems = []
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            problems.append(Problem(file, "--set", f"'{item}' is not key=value"))
            continue
        try:
            value = yaml.load(text, Loader=_Yaml12Loader)
        except yaml.YAMLError:
            value = text
        parts: list[str | int] = []
        for piece in key.replace("]", "").replace("[", ".").split("."):
            if piece:
                parts.append(int(piece) if piece.isdigit() else piece)
        target = raw
        try:
            for part in parts[:-1]:
                target = target[part]
            last = parts[-1]
            if isinstance(target, list) and isinstance(last, int) and last >= len(target):
                raise IndexError(last)
            target[last] = value
        except (KeyError, IndexError, TypeError):
            problems.append(
                Problem(file, key, "--set names a key path that is not in the scenario")
            )
    if problems:
        raise ScenarioError(problems)
    return raw


def load_scenario(path: str | Path, overrides: list[str] | None = None) -> Scenario:
    """Return the validated scenario in a YAML file, or raise :class:`ScenarioError`."""
    path = Path(path)
    raw = read_yaml(path)
    if overrides:
        raw = apply_overrides(raw, overrides, path.name)
    return parse_scenario(raw, path.name)


def json_schema() -> dict[str, Any]:
    """Return the scenario format as a JSON Schema document."""
    schema = Scenario.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Telcotwin scenario"
    return schema
