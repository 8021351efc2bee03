"""Settings: the schema of a tickdeck config and how it is resolved from its sources.

Four layers, each beating the one before: the schema defaults, a TOML file
(usually from ``configs/``), environment variables ``TICKDECK_<SECTION>__<KEY>``
and overrides passed by the caller (the CLI) as dotted keys. Every model
forbids unknown keys, because a misspelt risk limit that is silently ignored
is how a desk loses money; any problem becomes a ``ConfigError`` whose message
is one line naming the source, the key path and the bad value.

Money and quantities are ``Decimal``. TOML floats are parsed as ``Decimal``
(``0.1`` is ``Decimal("0.1")``, never ``0.1000000000000000055``); strings and
integers are accepted too. Secrets are ``SecretStr`` fields that only the
environment should set; ``settings_to_toml`` writes them as ``"***"``.
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
import warnings
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import Enum
from pathlib import Path, PurePath
from types import UnionType
from typing import Annotated, Any, Final, Literal, Union, get_args, get_origin

import tomli_w
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretBytes,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from actors.intervals import interval_ns
from app.logs import LOG_LEVELS

__all__ = [
    "ENV_PREFIX",
    "BacktestSettings",
    "ConfigError",
    "ControlSettings",
    "DataSettings",
    "ExchangeSettings",
    "InstrumentSettings",
    "LogSettings",
    "ReconcilerSettings",
    "RiskSettings",
    "RuntimeSettings",
    "Settings",
    "StrategySettings",
    "TuiSettings",
    "load_settings",
    "settings_to_toml",
]

ENV_PREFIX: Final = "TICKDECK_"
_ENV_DELIMITER: Final = "__"
_MASK: Final = "***"
_MAX_SHOWN_VALUE: Final = 60

Key = tuple[str | int, ...]
"""A path into the config tree: table names, then a key (or a list index)."""


class ConfigError(ValueError):
    """A config that cannot be used; the message is one line a user can act on."""

    def __init__(self, message: str, *, key: str = "", source: str = "") -> None:
        super().__init__(" ".join(message.split()))
        self.key = key
        self.source = source


def _model_config() -> ConfigDict:
    return ConfigDict(extra="forbid", frozen=True)


class DataSettings(BaseModel):
    model_config = _model_config()

    dir: Path = Path("data")


class BacktestSettings(BaseModel):
    model_config = _model_config()

    symbols: list[str] = Field(default_factory=lambda: ["BTCUSDT"], min_length=1)
    interval: str = "1m"
    start: date = date(2024, 1, 1)
    end: date = Field(default=date(2024, 1, 31), description="exclusive", validate_default=True)
    initial_cash: Decimal = Field(default=Decimal(100000), gt=0)
    quote_asset: str = Field(default="USDT", min_length=1)
    seed: int = 0
    journal: bool = False

    @field_validator("interval")
    @classmethod
    def _known_interval(cls, value: str) -> str:
        interval_ns(value)
        return value

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, value: date, info: ValidationInfo) -> date:
        start = info.data.get("start")
        if start is not None and value <= start:
            raise ValueError(f"must be after backtest.start ({start}); the end is exclusive")
        return value


StrategyParam = int | float | str | bool


class StrategySettings(BaseModel):
    model_config = _model_config()

    name: str = Field(default="sma_cross", min_length=1)
    params: dict[str, StrategyParam] = Field(
        default_factory=lambda: {"fast": 10, "slow": 30, "quantity": "0.01"}
    )


class ExchangeSettings(BaseModel):
    """The backtest exchange's fill model; see venues/backtest.py."""

    model_config = _model_config()

    taker_fee_bps: Decimal = Field(default=Decimal(10), ge=0)
    maker_fee_bps: Decimal = Field(default=Decimal(2), ge=0)
    half_spread_bps: Decimal = Field(default=Decimal(1), ge=0)
    impact_bps: Decimal = Field(default=Decimal(10), ge=0)
    participation_cap: Decimal = Field(default=Decimal("0.1"), gt=0, le=1)
    slippage_noise_bps: Decimal = Field(default=Decimal(0), ge=0)


class InstrumentSettings(BaseModel):
    model_config = _model_config()

    base: str = Field(min_length=1)
    quote: str = Field(min_length=1)
    tick_size: Decimal = Field(gt=0)
    lot_size: Decimal = Field(gt=0)
    min_quantity: Decimal = Field(default=Decimal(0), ge=0)
    min_notional: Decimal = Field(default=Decimal(0), ge=0)


# Binance spot filters (PRICE_FILTER, LOT_SIZE, NOTIONAL) for the two symbols the
# demo and the README use. Raw values, so a config can override one field of an entry.
_DEFAULT_INSTRUMENTS: Final[dict[str, dict[str, str]]] = {
    "BTCUSDT": {
        "base": "BTC",
        "quote": "USDT",
        "tick_size": "0.01",
        "lot_size": "0.00001",
        "min_notional": "5",
    },
    "ETHUSDT": {
        "base": "ETH",
        "quote": "USDT",
        "tick_size": "0.01",
        "lot_size": "0.0001",
        "min_notional": "5",
    },
}


class RiskSettings(BaseModel):
    model_config = _model_config()

    max_order_notional: Decimal = Field(default=Decimal(50000), ge=0)
    max_position_notional: Decimal = Field(default=Decimal(100000), ge=0)
    daily_loss_limit: Decimal = Field(default=Decimal(5000), ge=0, description="0 = off")


class ReconcilerSettings(BaseModel):
    model_config = _model_config()

    interval_seconds: int = Field(default=3600, gt=0)


class BinanceSettings(BaseModel):
    """The Binance spot venue. The default address is the built-in simulator on loopback;
    ``https://api.binance.com`` is real Binance. Keys are read only from the environment
    (``TICKDECK_BINANCE__API_KEY`` and ``..._API_SECRET``, or an Ed25519 key's PEM file in
    ``..._PRIVATE_KEY_PATH``): a config file or a command line that holds one is refused."""

    model_config = _model_config()

    base_url: str = "http://127.0.0.1:8765"
    recv_window_ms: int = Field(default=5000, gt=0, le=60000)
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    private_key_path: Path | None = None


class JournalSettings(BaseModel):
    """Where and how sessions journal (DESIGN.md §5): under ``<data.dir>/journal``."""

    model_config = _model_config()

    snapshot_every: int = Field(
        default=100_000, gt=0, description="messages between snapshots of every actor"
    )
    batch_frames: int = Field(default=4096, gt=0, description="frames per write + fsync at most")
    segment_mb: int = Field(default=64, gt=0, description="a new segment file after this size")
    linger_us: int = Field(
        default=2000, ge=0, le=1_000_000,
        description="how long a batch nobody waits for may wait to share an order's fsync",
    )  # fmt: skip


class RuntimeSettings(BaseModel):
    """The live scheduler's inboxes and restart policy (actors/health.RestartPolicy), and
    the thread switch interval of a session: the journal's fsync returns in a worker
    thread, which waits for the interpreter lock until the event loop's thread gives it
    up, at most this often; Python's 5 ms default put whole milliseconds on the p99 of an
    order's write-ahead wait (benchmarks/tick_to_order_latency.py: p99 2.2 ms at 500 us
    against 2.5-3.8 ms at the default, in the same session)."""

    model_config = _model_config()

    inbox_capacity: int = Field(default=1024, gt=0)
    max_restarts: int = Field(default=5, ge=0)
    restart_window_seconds: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    initial_backoff_seconds: float = Field(default=0.05, gt=0, allow_inf_nan=False)
    max_backoff_seconds: float = Field(
        default=5.0, gt=0, allow_inf_nan=False, validate_default=True
    )
    switch_interval_us: int = Field(
        default=500, ge=100, le=100_000,
        description="a session's interpreter thread switch interval (Python's default: 5000)",
    )  # fmt: skip

    @field_validator("max_backoff_seconds")
    @classmethod
    def _max_not_below_initial(cls, value: float, info: ValidationInfo) -> float:
        initial = info.data.get("initial_backoff_seconds")
        if initial is not None and value < initial:
            raise ValueError(f"must be >= runtime.initial_backoff_seconds ({initial})")
        return value


# The field ``json`` replaces BaseModel's deprecated ``json()`` method on purpose: the
# config key and the attribute read the same (``settings.log.json``), and nothing here
# serialises a model with ``.json()``. Pydantic warns about such shadowing at class
# creation; that one warning, for this one class, is expected.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "json"', category=UserWarning)

    class LogSettings(BaseModel):
        model_config = _model_config()

        level: str = "INFO"
        json: bool = True
        file: Path | None = None

        @field_validator("level")
        @classmethod
        def _known_level(cls, value: str) -> str:
            level = value.upper()
            if level not in LOG_LEVELS:
                raise ValueError(f"unknown log level; known: {', '.join(LOG_LEVELS)}")
            return level


class TuiSettings(BaseModel):
    """The terminal UI of a session run in this process (``tickdeck`` / ``tickdeck tui``).
    ``on_error``: when the UI itself fails, ``"headless"`` keeps the session running
    without a screen (Ctrl-C then stops it cleanly), ``"stop"`` stops it cleanly with a
    final snapshot. Quitting the UI stops such a session either way; ``tickdeck serve``
    runs one that outlives its UIs."""

    model_config = _model_config()

    on_error: Literal["headless", "stop"] = "headless"
    simulator_speed: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    simulator_days: int = Field(default=30, ge=2, le=3650)


class ControlSettings(BaseModel):
    """``tickdeck serve``'s control API: loopback TCP at ``host``:``port`` (0: any free
    port), or a unix socket at ``unix_socket`` when set. Every request needs the token,
    which is ``TICKDECK_CONTROL__TOKEN`` from the environment (only) or else generated,
    and is written only to the session's ``control.json`` (owner-only permissions)."""

    model_config = _model_config()

    host: Literal["127.0.0.1", "::1", "localhost"] = "127.0.0.1"
    port: int = Field(default=8766, ge=0, le=65535)
    unix_socket: Path | None = None
    token: SecretStr | None = None


class Settings(BaseSettings):
    """The whole resolved config. Build it with ``load_settings``: the environment
    prefix and delimiter live here, but reading them is ``load_settings``'s job."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=_ENV_DELIMITER,
        extra="forbid",
        frozen=True,
    )

    data: DataSettings = DataSettings()
    backtest: BacktestSettings = BacktestSettings()
    strategy: StrategySettings = StrategySettings()
    exchange: ExchangeSettings = ExchangeSettings()
    instruments: dict[str, InstrumentSettings] = Field(
        default_factory=lambda: {
            symbol: InstrumentSettings.model_validate(fields)
            for symbol, fields in _DEFAULT_INSTRUMENTS.items()
        }
    )
    risk: RiskSettings = RiskSettings()
    reconciler: ReconcilerSettings = ReconcilerSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    journal: JournalSettings = JournalSettings()
    binance: BinanceSettings = BinanceSettings()
    log: LogSettings = LogSettings()
    tui: TuiSettings = TuiSettings()
    control: ControlSettings = ControlSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Validation reads only what it is given: ``load_settings`` layers the sources
        itself, so that it can say which one a bad value came from."""
        return (init_settings,)

    @field_validator("instruments", mode="before")
    @classmethod
    def _over_default_instruments(cls, value: Any) -> Any:
        """A config entry is laid over the built-in one, so a file can add a symbol or
        change one filter without losing (or having to repeat) the defaults."""
        if not isinstance(value, Mapping):
            return value
        merged: dict[str, Any] = {
            symbol: dict(fields) for symbol, fields in _DEFAULT_INSTRUMENTS.items()
        }
        for symbol, fields in value.items():
            if isinstance(fields, Mapping) and symbol in merged:
                merged[symbol].update(fields)
            else:
                merged[symbol] = fields
        return merged

    def instrument(self, symbol: str) -> InstrumentSettings:
        """The trading rules of ``symbol``; a symbol without an entry is a config error."""
        try:
            return self.instruments[symbol]
        except KeyError:
            raise ConfigError(
                f"instruments.{symbol}: no instrument settings for symbol {symbol!r}; add an "
                f"[instruments.{symbol}] table with base, quote, tick_size and lot_size",
                key=f"instruments.{symbol}",
            ) from None


# --- loading ------------------------------------------------------------------------------

# Keys whose values are secrets: accepted from the environment only, never from a file.
SECRET_KEYS: tuple[Key, ...] = (
    ("binance", "api_key"),
    ("binance", "api_secret"),
    ("control", "token"),
)


def load_settings(
    config: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Resolve the config: defaults < ``config`` file < environment < ``overrides``.

    ``overrides`` maps dotted keys to values (``{"backtest.seed": 3}``); each one
    replaces the value at its key whole, so ``{"strategy.params": {...}}`` is the
    complete parameter set. Environment variables are merged key by key instead.
    """
    # Starting from the defaults lets an environment variable change one entry of a
    # table whose default is a whole dict (strategy.params) without dropping the rest.
    tree: dict[str, Any] = Settings.model_validate({}).model_dump(by_alias=True)
    sources: dict[Key, str] = {}
    if config is not None:
        source = str(config)
        for key, value in _read_toml(config).items():
            _assign(tree, sources, (key,), value, source)
    for key, value, source in _environment_values():
        _assign(tree, sources, key, value, source)
    for dotted, value in (overrides or {}).items():
        _assign(tree, sources, tuple(dotted.split(".")), value, "override")
    for key in SECRET_KEYS:
        source = sources.get(key)
        if source is None or source.startswith("environment"):
            continue
        section = tree[str(key[0])]
        if section.get(key[1]) == _MASK:  # a saved config's placeholder: not a value
            section[key[1]] = None
        else:
            dotted = ".".join(map(str, key))
            raise ConfigError(
                f"{source}: {dotted} is a secret and is read only from the environment "
                f"({ENV_PREFIX}{_ENV_DELIMITER.join(map(str, key)).upper()}); remove it from there",
                key=dotted,
                source=source,
            )
    for key in sorted(tree):
        if key.startswith("_"):  # BaseSettings.__init__ would take it as one of its options
            raise ConfigError(
                f"{sources[(key,)]}: unknown key {key!r}", key=key, source=sources[(key,)]
            )
    try:
        return Settings.model_validate(tree)
    except ValidationError as error:
        raise _config_error(error, sources) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file, parse_float=Decimal)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found", source=str(path)) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}", source=str(path)) from None
    except OSError as error:
        raise ConfigError(
            f"{path}: cannot read config file: {error.strerror}", source=str(path)
        ) from None


def _environment_values() -> list[tuple[Key, Any, str]]:
    """``(key, value, source)`` for every ``TICKDECK_`` variable, leaf by leaf.

    pydantic-settings splits and JSON-decodes the variables of known sections;
    a variable naming no section is passed on as it is, so that validation
    reports it as an unknown key instead of ignoring a typo.
    """
    names = {name.lower(): name for name in os.environ if name.upper().startswith(ENV_PREFIX)}
    try:
        decoded = EnvSettingsSource(Settings)()
    except SettingsError as error:
        raise _undecodable_variable(names, error) from None
    values: list[tuple[Key, Any, str]] = []
    for key, value in _leaves(decoded, ()):
        if key[0] == "instruments" and len(key) > 1:
            key = (key[0], str(key[1]).upper(), *key[2:])  # variable names are case-folded
        if key[:2] == ("strategy", "params") and len(key) == 3 and isinstance(value, str):
            value = decode_param(value)
        values.append((key, value, _variable_source(key, names)))
    for lowered, name in sorted(names.items()):
        section = lowered[len(ENV_PREFIX) :].split(_ENV_DELIMITER)
        if section[0] not in Settings.model_fields:
            values.append((tuple(section), os.environ[name], f"environment {name}"))
    return values


def _undecodable_variable(names: Mapping[str, str], error: SettingsError) -> ConfigError:
    """Name the variable pydantic-settings could not decode (it names only the section)."""
    for lowered, name in sorted(names.items()):
        key: Key = tuple(lowered[len(ENV_PREFIX) :].split(_ENV_DELIMITER))
        known, annotation = _schema_path(key)
        if known != key or not _is_table_or_list(annotation):
            continue
        try:
            json.loads(os.environ[name])
        except ValueError:
            return ConfigError(
                f"environment {name}: {_dotted(key)} = {_show(os.environ[name], annotation)}: "
                """a list or table from the environment must be JSON, e.g. '["BTCUSDT"]'""",
                key=_dotted(key),
                source=f"environment {name}",
            )
    return ConfigError(f"environment: {error}")


def _leaves(tree: Mapping[str, Any], prefix: Key) -> list[tuple[Key, Any]]:
    leaves: list[tuple[Key, Any]] = []
    for key, value in tree.items():
        if isinstance(value, Mapping):
            leaves.extend(_leaves(value, (*prefix, key)))
        else:
            leaves.append(((*prefix, key), value))
    return leaves


def _variable_source(key: Key, names: Mapping[str, str]) -> str:
    """The variable that set ``key``: itself, or the JSON table that contains it."""
    for length in range(len(key), 0, -1):
        name = names.get(ENV_PREFIX.lower() + _ENV_DELIMITER.join(map(str, key[:length])).lower())
        if name is not None:
            return f"environment {name}"
    return "environment"


def decode_param(raw: str) -> StrategyParam:
    """Give an integer or boolean parameter from the environment or the command line its
    type; anything else stays a string, a decimal number too, so a quantity keeps its
    exact digits."""
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    try:
        return int(raw)
    except ValueError:
        return raw


def _assign(
    tree: dict[str, Any], sources: dict[Key, str], key: Key, value: Any, source: str
) -> None:
    """Set ``value`` at ``key`` (replacing what was there) and remember who set it."""
    node = tree
    for depth, part in enumerate(key[:-1]):
        child = node.get(str(part))
        if not isinstance(child, dict):
            child = node[str(part)] = {}
            sources[key[: depth + 1]] = source
        node = child
    node[str(key[-1])] = value
    for known in [known for known in sources if known[: len(key)] == key]:
        del sources[known]
    _record_sources(sources, key, value, source)


def _record_sources(sources: dict[Key, str], key: Key, value: Any, source: str) -> None:
    sources[key] = source
    if isinstance(value, Mapping):
        for child, child_value in value.items():
            _record_sources(sources, (*key, child), child_value, source)


# --- errors -------------------------------------------------------------------------------


def _config_error(error: ValidationError, sources: Mapping[Key, str]) -> ConfigError:
    """One line for the first problem (pydantic reports in schema order), with a count
    of the others; union members' separate complaints about one value count once."""
    problems: dict[str, list[Any]] = {}
    for detail in error.errors():
        key, _ = _schema_path(detail["loc"])
        problems.setdefault(_dotted(key), []).append(detail)
    dotted, details = next(iter(problems.items()))
    key, annotation = _schema_path(details[0]["loc"])
    source = next((sources[key[:n]] for n in range(len(key), 0, -1) if key[:n] in sources), "")
    message = _describe(dotted, key, details, annotation)
    if source:
        message = f"{source}: {message}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more)"
    return ConfigError(message, key=dotted, source=source)


def _describe(dotted: str, key: Key, details: list[Any], annotation: Any) -> str:
    detail = details[0]
    if detail["type"] == "extra_forbidden":
        return f"unknown key {dotted!r}{_suggestion(key)}"
    if detail["type"] == "missing":
        return f"missing key {dotted!r}"
    members = [str(other["loc"][len(key)]) for other in details if len(other["loc"]) > len(key)]
    if len(members) > 1:
        reason = f"input should be one of: {', '.join(members)}"
    else:
        reason = str(detail["msg"]).removeprefix("Value error, ")
        reason = reason[:1].lower() + reason[1:]
    return f"{dotted} = {_show(detail['input'], annotation)}: {reason}"


def _show(value: Any, annotation: Any) -> str:
    if annotation in (SecretStr, SecretBytes) or isinstance(value, SecretStr | SecretBytes):
        return repr(_MASK)
    shown = str(value) if isinstance(value, date | Decimal | PurePath) else repr(value)
    if len(shown) > _MAX_SHOWN_VALUE:
        shown = shown[: _MAX_SHOWN_VALUE - 3] + "..."
    return shown


def _suggestion(key: Key) -> str:
    _, parent = _schema_path(key[:-1])
    close = difflib.get_close_matches(str(key[-1]), list(_model_fields(parent)), n=1)
    return f" (did you mean {_dotted((*key[:-1], close[0]))!r}?)" if close else ""


def _schema_path(loc: tuple[str | int, ...]) -> tuple[Key, Any]:
    """The config key that a pydantic error location points at, and its type.

    Walking the schema drops what pydantic appends below a value (the member
    names of a union), so every complaint about one value gets one key.
    """
    annotation: Any = Settings
    key: list[str | int] = []
    for part in loc:
        fields = _model_fields(annotation)
        if fields:
            key.append(part)
            annotation = fields.get(str(part))
            if annotation is None:
                break
        elif get_origin(annotation) in (dict, Mapping):
            key.append(part)
            annotation = _unwrap(get_args(annotation)[1])
        elif get_origin(annotation) in (list, tuple) and isinstance(part, int):
            key.append(part)
            annotation = _unwrap(get_args(annotation)[0])
        else:
            break
    return tuple(key), annotation


def _is_table_or_list(annotation: Any) -> bool:
    return bool(_model_fields(annotation)) or get_origin(annotation) in (dict, Mapping, list, tuple)


def _model_fields(annotation: Any) -> dict[str, Any]:
    """Field types of a model by the key a config uses (the alias, if any)."""
    if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return {}
    return {
        (info.alias or name): _unwrap(info.annotation)
        for name, info in annotation.model_fields.items()
    }


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, UnionType):
        members = [member for member in get_args(annotation) if member is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def _dotted(key: Key) -> str:
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.removeprefix(".")


# --- writing ------------------------------------------------------------------------------


def settings_to_toml(settings: BaseModel) -> str:
    """The resolved config as TOML, byte-identical for equal settings.

    Model fields come in schema order and free-form tables (instruments,
    strategy params) in sorted key order. Decimals are written as strings so
    they read back exactly, Paths as strings, secrets as ``"***"``; unset
    optional values (``None``) are left out, as TOML has no null.
    """
    return tomli_w.dumps(_toml_value(settings))


def _toml_value(value: Any) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return _MASK
    if isinstance(value, BaseModel):
        return {
            (info.alias or name): _toml_value(getattr(value, name))
            for name, info in type(value).model_fields.items()
            if getattr(value, name) is not None
        }
    if isinstance(value, Mapping):
        return {
            str(key): _toml_value(value[key]) for key in sorted(value) if value[key] is not None
        }
    if isinstance(value, list | tuple):
        return [_toml_value(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, Enum):
        return value.value
    return value
