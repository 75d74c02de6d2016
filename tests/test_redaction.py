"""The log's last line of defence: secrets are masked in every rendered line,
and tracebacks never show local variables."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from loguru import logger

from accounts_gql.core.logging import configure_logging
from accounts_gql.core.redaction import MASK, Redactor
from accounts_gql.core.settings import Settings


def test_configured_secrets_are_masked_as_written_and_decoded() -> None:
    settings = Settings(
        database_url="postgresql://svc:p%40ss%2Fw0rd@db/accounts",
        rabbitmq_url="amqp://relay:br0ker-pass@mq/",
        jwt_secret="j" * 40,
        jwt_keys="k1:first-signing-key-0001,k2:second-signing-key-02",
    )
    redact = Redactor.from_settings(settings)
    text = redact(
        "dsn p%40ss%2Fw0rd, decoded p@ss/w0rd, br0ker-pass, "
        + "j" * 40
        + " first-signing-key-0001 second-signing-key-02"
    )
    for secret in ("p%40ss%2Fw0rd", "p@ss/w0rd", "br0ker-pass", "j" * 40, "signing-key"):
        assert secret not in text


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("connecting to postgresql://u:hunter2@h:5432/d", "hunter2"),
        ("header Authorization: Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJzdWIiOiIxIn0"),
        ("variables {'password': 'pl41n-text', 'username': 'ann'}", "pl41n-text"),
        ('{"refresh_token": "abc123"}', "abc123"),
        ("invalid input for query argument $2: 'opaque'", None),
    ],
)
def test_credential_shapes_are_masked(line: str, secret: str | None) -> None:
    redacted = Redactor()(line)
    if secret is None:
        assert redacted == line
    else:
        assert secret not in redacted
        assert MASK in redacted


def test_a_random_token_is_masked_and_a_long_name_is_not() -> None:
    token = secrets.token_urlsafe(32)
    assert Redactor()(f"refresh {token} used") == f"refresh {MASK} used"
    name = "test_a_database_outage_keeps_the_broker_connection"
    assert Redactor()(name) == name


@pytest.mark.parametrize("app_env", ["development", "production"])
def test_tracebacks_show_no_local_variables(
    app_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(Settings(app_env=app_env, log_dir=tmp_path, log_level="INFO"))  # type: ignore[arg-type]
    try:
        # Built at run time, so that only a local variable holds the value (a
        # traceback shows source lines; loguru's `diagnose` would show values).
        value = "-".join(["only", "in", "a", "local", "0001"])
        raise ValueError("failed with " + str(len(value)) + " characters")
    except ValueError:
        logger.exception("something failed")
    logger.complete()
    logger.remove()
    stderr = capsys.readouterr().err
    written = (tmp_path / "accounts.log").read_text()
    for text in (stderr, written):
        assert "something failed" in text
        assert "ValueError: failed with 20 characters" in text.replace("\\n", "\n")
        assert "only-in-a-local-0001" not in text
