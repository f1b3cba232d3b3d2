"""Issue 17 findings 1, 2, 7 and 11 (config side): environment values are data, YAML bombs and
oversized files are refused in one line, secrets are checked for shape and masked in every form."""
from __future__ import annotations

import string
import time
from urllib.parse import quote_plus
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from momentum.core.config import DEFAULT_CONFIG_PATH, display_url, load_config
from momentum.core.domain import validate_ticker
from momentum.core.errors import ConfigError, TickerError
from momentum.core.safeload import clip, safe_json, substitute_values
from momentum.notify.alerts import mask_secrets, secret_variants

KEY = "0123456789abcdef0123456789abcdef01234567"
PRINTABLE = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=60)
SECRET_TEXT = st.text(st.sampled_from(sorted(set(string.printable) - set(string.whitespace))),
                      min_size=1, max_size=60)


def config_error(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=env or {})
    return str(caught.value)


# ---------------------------------------------------------------- finding 2: ${VAR} is data
@pytest.mark.parametrize("value", ["*abc", "!abc", "abc#def", "&abc", "a:b", "[x]", "{y}",
                                   "'q'", '"q"', "%TAG", "${OTHER}", "|-"])
def test_env_value_with_yaml_syntax_loads_exactly(value):
    cfg = load_config(DEFAULT_CONFIG_PATH, environ={"SMTP_PASSWORD": value, "SMTP_USER": value})
    assert cfg.alerts.smtp_password.get_secret_value() == value
    assert cfg.alerts.smtp_user == value


@pytest.mark.parametrize("value", ["abc #def", "a: b", "- x", "? y"])
def test_env_value_with_spaces_loads_exactly_in_plain_fields(value):
    cfg = load_config(DEFAULT_CONFIG_PATH, environ={"SMTP_USER": value})
    assert cfg.alerts.smtp_user == value


@settings(max_examples=150, deadline=None)
@given(PRINTABLE)
def test_any_printable_string_round_trips_through_substitution(value):
    assert substitute_values({"a": ["${X}"]}, {"X": value}) == {"a": [value]}
    assert substitute_values("pre-${X}-post", {"X": value}) == f"pre-{value}-post"
    cfg = load_config(DEFAULT_CONFIG_PATH, environ={"SMTP_USER": value})
    assert cfg.alerts.smtp_user == value


@settings(max_examples=100, deadline=None)
@given(SECRET_TEXT)
def test_any_secret_shaped_string_round_trips_as_a_secret(value):
    cfg = load_config(DEFAULT_CONFIG_PATH, environ={"SMTP_PASSWORD": value})
    assert cfg.alerts.smtp_password.get_secret_value() == value


def test_unset_var_is_null_and_default_applies():
    cfg = load_config(DEFAULT_CONFIG_PATH, environ={})
    assert cfg.alerts.smtp_password is None and cfg.alerts.smtp_host == "localhost"


# ---------------------------------------------------------------- finding 1: secrets' shape
@pytest.mark.parametrize("bad, words", [(KEY + "\n", "whitespace"), (KEY[:-1] + "é", "ASCII"),
                                        ("abc123", "40 hex digits"), (KEY[:-1] + "g", "40 hex")])
def test_malformed_tiingo_key_is_refused_without_printing_it(bad, words):
    message = config_error(DEFAULT_CONFIG_PATH, {"TIINGO_API_KEY": bad})
    assert words in message and "api.tiingo_api_key" in message
    assert bad.strip() not in message and KEY[:12] not in message
    assert len(message.splitlines()) == 1


def test_password_with_trailing_newline_is_refused_without_printing_it():
    message = config_error(DEFAULT_CONFIG_PATH, {"SMTP_PASSWORD": "hunter2hunter2\n"})
    assert "alerts.smtp_password" in message and "whitespace" in message
    assert "hunter2" not in message


def test_secret_variants_cover_every_form_a_message_gives():
    secret = "https://hooks.example/T0/B1/Xy Z+é"
    variants = secret_variants([secret])
    encoded = "https%3A%2F%2Fhooks.example%2FT0%2FB1%2FXy%20Z%2B%C3%A9"
    for form in (secret, repr(secret)[1:-1], encoded,
                 quote_plus(secret), secret.lower(), secret.upper(), "/T0/B1/Xy Z+é",
                 ascii(secret)[1:-1]):
        assert mask_secrets(f"error: {form}!", variants) == "error: ***!", form
    key_line = f"Invalid header value b'Token {KEY}\\n'"
    assert KEY not in mask_secrets(key_line, secret_variants([KEY + "\n"]))


def test_too_short_secret_masks_nothing():
    assert secret_variants(["a", "xyz"]) == ()
    assert mask_secrets("a plain sentence", secret_variants(["a"])) == "a plain sentence"


def test_user_info_of_a_url_is_dropped_and_masked():
    cfg = load_config(DEFAULT_CONFIG_PATH,
                      environ={"TIINGO_BASE_URL": "http://alice:s3cretpw@127.0.0.1:9/"})
    assert display_url(cfg.api.tiingo_base_url) == "http://***@127.0.0.1:9"
    assert "s3cretpw" in cfg.secrets()
    assert "s3cretpw" not in mask_secrets("GET http://alice:s3cretpw@127.0.0.1:9/x",
                                          secret_variants(cfg.secrets()))


# ---------------------------------------------------------------- finding 7: bombs
BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, "
    f"*a{i-1}, *a{i-1}]\n" for i in range(1, 10))


@pytest.mark.parametrize("tail", ["scanner:\n  max_candidates: *a9\n",
                                  "data:\n  universe:\n    stocks: *a9\n"])
def test_alias_bomb_is_refused_at_once(tmp_path, tail):
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB + tail)
    started = time.process_time()
    message = config_error(path)
    assert time.process_time() - started < 5
    assert "aliases may only repeat plain values" in message and "line 2" in message
    assert len(message) < 400


def test_scalar_alias_still_works(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("scanner:\n  max_candidates: &n 7\n  crypto_top_n: *n\n")
    assert load_config(path, environ={}).scanner.crypto_top_n == 7


def test_dev_zero_and_huge_files_are_refused_before_parsing(tmp_path):
    assert "larger than" in config_error(Path("/dev/zero"))
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (2 << 20) + "\n")
    assert "larger than 1,048,576 bytes" in config_error(big)


def test_deep_nesting_is_refused_in_one_line(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    message = config_error(path)
    assert "nested more than 32 levels" in message and len(message.splitlines()) == 1
    with pytest.raises(ValueError, match="nested too deeply"):
        safe_json("[" * 100_000 + "]" * 100_000)


def test_messages_clip_long_values(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("trading:\n  mode: " + "z" * 100_000 + "\n")
    message = config_error(path)
    assert "z" * 80 in message and "z" * 81 not in message and len(message) < 500
    assert clip(list(range(10_000))).endswith("...]")


# ---------------------------------------------------------------- finding 11: tickers
@pytest.mark.parametrize("bad", ["AAPL\n", "AAPL\r\n", "\nAAPL", "AAPL\x00"])
def test_ticker_with_a_newline_is_refused(bad):
    with pytest.raises(TickerError):
        validate_ticker(bad)
