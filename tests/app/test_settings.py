from __future__ import annotations

import os
import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from app.settings import (
    ConfigError,
    InstrumentSettings,
    Settings,
    load_settings,
    settings_to_toml,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TICKDECK_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(config: Path | None = None, overrides: dict | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(config, overrides)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- defaults and the shipped configs --------------------------------------------------------


def test_defaults_match_the_schema_in_the_brief() -> None:
    settings = load_settings()
    assert settings.data.dir == Path("data")
    assert settings.backtest.symbols == ["BTCUSDT"]
    assert settings.backtest.interval == "1m"
    assert (settings.backtest.start, settings.backtest.end) == (date(2024, 1, 1), date(2024, 1, 31))
    assert settings.backtest.initial_cash == Decimal(100000)
    assert settings.backtest.quote_asset == "USDT"
    assert settings.backtest.seed == 0
    assert settings.backtest.journal is False
    assert settings.strategy.name == "sma_cross"
    assert settings.strategy.params == {"fast": 10, "slow": 30, "quantity": "0.01"}
    assert settings.exchange.taker_fee_bps == Decimal(10)
    assert settings.exchange.participation_cap == Decimal("0.1")
    assert settings.instruments["BTCUSDT"] == InstrumentSettings(
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.00001"),
        min_notional=Decimal(5),
    )
    assert settings.instruments["ETHUSDT"].lot_size == Decimal("0.0001")
    assert settings.risk.daily_loss_limit == Decimal(5000)
    assert settings.reconciler.interval_seconds == 3600
    assert settings.runtime.inbox_capacity == 1024
    assert settings.runtime.initial_backoff_seconds == 0.05
    assert (settings.log.level, settings.log.json, settings.log.file) == ("INFO", True, None)


def test_default_toml_is_exactly_the_built_in_defaults() -> None:
    assert load_settings(CONFIGS / "default.toml") == load_settings()


def test_backtest_toml_is_the_readme_example() -> None:
    settings = load_settings(CONFIGS / "backtest.toml")
    assert settings.backtest.symbols == ["BTCUSDT"]
    assert settings.backtest.interval == "1m"
    assert (settings.backtest.start, settings.backtest.end) == (date(2024, 1, 1), date(2024, 3, 1))
    assert settings.strategy.name == "sma_cross"
    assert settings.strategy.params["fast"] == 10
    assert settings.strategy.params["slow"] == 30


# --- values ----------------------------------------------------------------------------------


def test_toml_float_becomes_the_exact_decimal_written(tmp_path: Path) -> None:
    config = write(tmp_path, "[exchange]\nparticipation_cap = 0.1\nimpact_bps = 12.345\n")
    exchange = load_settings(config).exchange
    assert exchange.participation_cap == Decimal("0.1")
    assert str(exchange.impact_bps) == "12.345"


def test_decimals_are_accepted_from_strings_and_integers(tmp_path: Path) -> None:
    config = write(tmp_path, '[risk]\nmax_order_notional = "1000.10"\nmax_position_notional = 7\n')
    risk = load_settings(config).risk
    assert risk.max_order_notional == Decimal("1000.10")
    assert risk.max_position_notional == Decimal(7)


def test_file_instrument_is_laid_over_the_built_in_one(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "[instruments.BTCUSDT]\nmin_notional = 10\n"
        '[instruments.SOLUSDT]\nbase = "SOL"\nquote = "USDT"\ntick_size = 0.01\nlot_size = 0.001\n',
    )
    instruments = load_settings(config).instruments
    assert instruments["BTCUSDT"].min_notional == Decimal(10)
    assert instruments["BTCUSDT"].lot_size == Decimal("0.00001")
    assert instruments["SOLUSDT"].lot_size == Decimal("0.001")
    assert "ETHUSDT" in instruments


def test_instrument_without_an_entry_names_the_missing_table() -> None:
    with pytest.raises(ConfigError, match=r"^instruments\.DOGEUSDT: no instrument settings"):
        load_settings().instrument("DOGEUSDT")


def test_instrument_lookup_returns_the_entry() -> None:
    assert load_settings().instrument("ETHUSDT").base == "ETH"


def test_log_level_is_case_insensitive(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path, '[log]\nlevel = "debug"\n')).log.level == "DEBUG"


# --- precedence ------------------------------------------------------------------------------


def test_environment_overrides_a_nested_file_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, "[risk]\nmax_order_notional = 2000\nmax_position_notional = 3000\n")
    monkeypatch.setenv("TICKDECK_RISK__MAX_ORDER_NOTIONAL", "1000.5")
    risk = load_settings(config).risk
    assert risk.max_order_notional == Decimal("1000.5")
    assert risk.max_position_notional == Decimal(3000)


def test_environment_sets_lists_as_json_and_instruments_in_upper_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKDECK_BACKTEST__SYMBOLS", '["BTCUSDT", "ETHUSDT"]')
    monkeypatch.setenv("TICKDECK_INSTRUMENTS__BTCUSDT__MIN_NOTIONAL", "11")
    settings = load_settings()
    assert settings.backtest.symbols == ["BTCUSDT", "ETHUSDT"]
    assert settings.instruments["BTCUSDT"].min_notional == Decimal(11)


def test_environment_strategy_params_keep_their_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKDECK_STRATEGY__PARAMS__FAST", "5")
    monkeypatch.setenv("TICKDECK_STRATEGY__PARAMS__QUANTITY", "0.02")
    monkeypatch.setenv("TICKDECK_STRATEGY__PARAMS__LONG_ONLY", "true")
    params = load_settings().strategy.params
    assert params == {"fast": 5, "slow": 30, "quantity": "0.02", "long_only": True}


def test_cli_override_beats_environment_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, "[backtest]\nseed = 1\n")
    monkeypatch.setenv("TICKDECK_BACKTEST__SEED", "2")
    assert load_settings(config).backtest.seed == 2
    assert load_settings(config, {"backtest.seed": 3}).backtest.seed == 3


def test_cli_override_replaces_a_table_whole(tmp_path: Path) -> None:
    settings = load_settings(None, {"strategy.name": "breakout", "strategy.params": {"window": 20}})
    assert settings.strategy.name == "breakout"
    assert settings.strategy.params == {"window": 20}


def test_cli_float_override_is_an_exact_decimal() -> None:
    assert load_settings(None, {"risk.max_order_notional": 0.1}).risk.max_order_notional == Decimal(
        "0.1"
    )


# --- errors: one line naming the source, the key and the value -------------------------------


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert error_of(missing) == f"{missing}: config file not found"


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path, "[risk]\nmax_order_notional = = 3\n")
    message = error_of(config)
    assert message.startswith(f"{config}: invalid TOML:")
    assert "line 2" in message


def test_unknown_nested_key_names_file_and_key_path(tmp_path: Path) -> None:
    config = write(tmp_path, "[risk]\nmax_ordr_notional = 1000\n")
    assert error_of(config) == (
        f"{config}: unknown key 'risk.max_ordr_notional' (did you mean 'risk.max_order_notional'?)"
    )


def test_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, "[riskk]\nmax_order_notional = 1000\n")
    assert error_of(config) == f"{config}: unknown key 'riskk' (did you mean 'risk'?)"


def test_unknown_key_in_an_instrument_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, "[instruments.BTCUSDT]\nticksize = 0.1\n")
    assert error_of(config).startswith(f"{config}: unknown key 'instruments.BTCUSDT.ticksize'")


def test_bad_type_names_key_and_value(tmp_path: Path) -> None:
    config = write(tmp_path, '[risk]\nmax_order_notional = "lots"\n')
    assert error_of(config) == (
        f"{config}: risk.max_order_notional = 'lots': input should be a valid decimal"
    )


def test_negative_limit_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, "[risk]\ndaily_loss_limit = -1\n")
    assert error_of(config) == (
        f"{config}: risk.daily_loss_limit = -1: input should be greater than or equal to 0"
    )


def test_bad_interval_lists_the_known_ones(tmp_path: Path) -> None:
    config = write(tmp_path, '[backtest]\ninterval = "7m"\n')
    message = error_of(config)
    assert message.startswith(
        f"{config}: backtest.interval = '7m': unknown interval '7m'; known: 1m"
    )


def test_end_not_after_start_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, "[backtest]\nstart = 2024-02-01\nend = 2024-02-01\n")
    assert error_of(config) == (
        f"{config}: backtest.end = 2024-02-01: must be after backtest.start (2024-02-01); "
        "the end is exclusive"
    )


def test_start_after_the_default_end_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, "[backtest]\nstart = 2024-03-01\n")
    assert error_of(config).startswith(
        f"{config}: backtest.end = 2024-01-31: must be after backtest.start (2024-03-01)"
    )


def test_max_backoff_below_initial_backoff_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, "[runtime]\ninitial_backoff_seconds = 10\n")
    assert error_of(config) == (
        f"{config}: runtime.max_backoff_seconds = 5.0: "
        "must be >= runtime.initial_backoff_seconds (10.0)"
    )


def test_bad_strategy_param_is_reported_once_with_the_allowed_types(tmp_path: Path) -> None:
    config = write(tmp_path, "[strategy.params]\nfast = [1, 2]\n")
    assert error_of(config) == (
        f"{config}: strategy.params.fast = [1, 2]: input should be one of: int, float, str, bool"
    )


def test_underscore_key_cannot_reach_pydantic_settings_options(tmp_path: Path) -> None:
    config = write(tmp_path, '_env_prefix = "OTHER_"\n')
    assert error_of(config) == f"{config}: unknown key '_env_prefix'"


def test_missing_instrument_field_is_named(tmp_path: Path) -> None:
    config = write(tmp_path, '[instruments.SOLUSDT]\nbase = "SOL"\nquote = "USDT"\ntick_size = 1\n')
    assert error_of(config) == f"{config}: missing key 'instruments.SOLUSDT.lot_size'"


def test_several_problems_are_counted_on_the_one_line(tmp_path: Path) -> None:
    config = write(tmp_path, '[risk]\nmax_order_notional = "x"\nmax_position_notional = "y"\n')
    assert error_of(config).endswith("(and 1 more)")


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKDECK_RISK__MAX_ORDER_NOTIONAL", "abc")
    assert error_of() == (
        "environment TICKDECK_RISK__MAX_ORDER_NOTIONAL: risk.max_order_notional = 'abc': "
        "input should be a valid decimal"
    )


def test_unknown_nested_environment_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKDECK_RISK__MAX_ORDR_NOTIONAL", "1")
    assert error_of().startswith(
        "environment TICKDECK_RISK__MAX_ORDR_NOTIONAL: unknown key 'risk.max_ordr_notional'"
    )


def test_unknown_environment_section_is_refused_not_ignored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKDECK_RISKK__MAX_ORDER_NOTIONAL", "1")
    assert error_of().startswith(
        "environment TICKDECK_RISKK__MAX_ORDER_NOTIONAL: unknown key 'riskk'"
    )


def test_environment_list_that_is_not_json_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TICKDECK_BACKTEST__SYMBOLS", "BTCUSDT")
    assert error_of() == (
        "environment TICKDECK_BACKTEST__SYMBOLS: backtest.symbols = 'BTCUSDT': "
        """a list or table from the environment must be JSON, e.g. '["BTCUSDT"]'"""
    )


def test_validation_alone_never_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKDECK_BACKTEST__SEED", "9")
    assert Settings.model_validate({}).backtest.seed == 0
    assert load_settings().backtest.seed == 9


def test_environment_value_beats_a_bad_file_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, '[risk]\nmax_order_notional = "lots"\n')
    monkeypatch.setenv("TICKDECK_RISK__MAX_ORDER_NOTIONAL", "10")
    assert load_settings(config).risk.max_order_notional == Decimal(10)


def test_bad_override_is_attributed_to_the_override(tmp_path: Path) -> None:
    config = write(tmp_path, "[backtest]\nseed = 1\n")
    assert error_of(config, {"backtest.seed": "x"}).startswith(
        "override: backtest.seed = 'x': input should be a valid integer"
    )


def test_unknown_override_key_is_refused() -> None:
    assert error_of(None, {"backtest.sede": 1}) == (
        "override: unknown key 'backtest.sede' (did you mean 'backtest.seed'?)"
    )


def test_error_carries_key_and_source(tmp_path: Path) -> None:
    config = write(tmp_path, '[log]\nlevel = "LOUD"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert (caught.value.key, caught.value.source) == ("log.level", str(config))


# --- writing the resolved config -------------------------------------------------------------


def test_resolved_toml_reads_back_to_equal_settings(tmp_path: Path) -> None:
    settings = load_settings(
        CONFIGS / "backtest.toml",
        {"log.file": Path("run/log.jsonl"), "exchange.impact_bps": "12.5"},
    )
    text = settings_to_toml(settings)
    assert load_settings(write(tmp_path, text, "resolved.toml")) == settings


def test_resolved_toml_is_deterministic_and_typed() -> None:
    settings = load_settings(None, {"strategy.params": {"slow": 30, "fast": 10}})
    text = settings_to_toml(settings)
    assert text == settings_to_toml(
        load_settings(None, {"strategy.params": {"fast": 10, "slow": 30}})
    )
    tree = tomllib.loads(text)
    assert list(tree) == list(Settings.model_fields)
    assert list(tree["strategy"]["params"]) == ["fast", "slow"]
    assert tree["backtest"]["start"] == date(2024, 1, 1)
    assert tree["risk"]["max_order_notional"] == "50000"
    assert tree["data"]["dir"] == "data"
    assert tree["log"]["json"] is True
    assert load_settings(None, {"log.json": False}).log.json is False
    assert "file" not in tree["log"]


def test_secrets_are_written_masked() -> None:
    class VenueKeys(BaseModel):
        api_key: SecretStr
        label: str = "binance"

    class WithSecrets(BaseModel):
        venue: VenueKeys

    text = settings_to_toml(WithSecrets(venue=VenueKeys(api_key=SecretStr("hunter2-key"))))
    assert "hunter2-key" not in text
    assert tomllib.loads(text) == {"venue": {"api_key": "***", "label": "binance"}}


def test_binance_keys_come_from_the_environment_and_are_never_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKDECK_BINANCE__API_KEY", "key-from-env")
    monkeypatch.setenv("TICKDECK_BINANCE__API_SECRET", "secret-from-env")
    settings = load_settings(None)
    assert settings.binance.api_key is not None
    assert settings.binance.api_key.get_secret_value() == "key-from-env"
    saved = settings_to_toml(settings)
    assert "key-from-env" not in saved and "secret-from-env" not in saved
    config = tmp_path / "saved.toml"
    config.write_text(saved, encoding="utf-8")
    monkeypatch.delenv("TICKDECK_BINANCE__API_KEY")
    monkeypatch.delenv("TICKDECK_BINANCE__API_SECRET")
    reloaded = load_settings(config)  # the saved placeholder is no key, and no error
    assert reloaded.binance.api_key is None and reloaded.binance.api_secret is None


@pytest.mark.parametrize("key", ["api_key", "api_secret"])
def test_a_binance_secret_in_a_config_file_is_refused(tmp_path: Path, key: str) -> None:
    config = tmp_path / "live.toml"
    config.write_text(f'[binance]\n{key} = "abc123"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=f"binance.{key} is a secret") as info:
        load_settings(config)
    assert str(config) in str(info.value)
    assert f"TICKDECK_BINANCE__{key.upper()}" in str(info.value)
    assert "abc123" not in str(info.value)


def test_a_binance_secret_on_the_command_line_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"override: binance\.api_secret is a secret"):
        load_settings(None, {"binance.api_secret": "abc123"})
