"""Login throttling slows attackers without locking the owner out (PRODUCT §6;
README "Login throttling"): per username and address, per address, and per
username across addresses only for the addresses that failed on it."""

from __future__ import annotations

import asyncio

import asyncpg

from accounts_gql.core.settings import Settings
from tests.api.identity import PASSWORD, ApiFrom

ME = "{ me { username } }"


async def test_the_owner_signs_in_from_a_clean_address_while_another_hammers(
    api_from: ApiFrom, settings: Settings, unique: str
) -> None:
    username = f"owner{unique}"
    owner = await api_from("192.0.2.10", user_agent="owner's browser")
    attacker = await api_from("198.51.100.66")
    botnet = [await api_from(f"203.0.113.{i}") for i in range(1, 7)]
    assert (await owner.sign_up(username))["__typename"] == "AuthPayload"

    # Many addresses guess: the username passes its slowdown threshold.
    for bot in botnet:
        for guess in range(2):
            failed = await bot.login(username, f"guess {guess}")
            if failed["__typename"] != "InvalidCredentials":
                assert failed["__typename"] == "TooManyAttempts", failed
    assert settings.login_slowdown_after <= 2 * len(botnet)

    async def hammer() -> list[str]:
        outcomes = []
        for attempt in range(25):
            outcomes.append((await attacker.login(username, f"wrong {attempt}"))["__typename"])
        # Even the right password is refused from the hammering address.
        outcomes.append((await attacker.login(username, PASSWORD))["__typename"])
        return outcomes

    async def owner_signs_in() -> dict[str, object]:
        await asyncio.sleep(0.05)  # the attack is under way
        return await owner.login(username.upper())

    hammered, session = await asyncio.gather(hammer(), owner_signs_in())

    assert session["__typename"] == "AuthPayload", session
    assert (await owner.field(ME, token=str(session["accessToken"])))["username"] == username
    assert hammered.count("InvalidCredentials") <= settings.login_max_failures_per_pair
    assert hammered[-1] == "TooManyAttempts"
    assert set(hammered[settings.login_max_failures_per_pair :]) == {"TooManyAttempts"}
    # A bot that failed on the account is slowed (seconds, bounded), not locked.
    slowed = await botnet[0].login(username, "another guess")
    assert slowed["__typename"] == "TooManyAttempts", slowed
    assert 0 < int(str(slowed["retryAfterSeconds"])) <= settings.login_slowdown_max
    # Another clean address of the owner's (a phone) signs in too.
    phone = await api_from("192.0.2.11", user_agent="owner's phone")
    assert (await phone.login(username))["__typename"] == "AuthPayload"


async def test_an_address_is_throttled_across_usernames(
    api_from: ApiFrom, pool: asyncpg.Pool, settings: Settings, unique: str
) -> None:
    username = f"spray{unique}"
    sprayer_address = "198.51.100.77"
    sprayer = await api_from(sprayer_address)
    bystander = await api_from("192.0.2.77")
    assert (await bystander.sign_up(username))["__typename"] == "AuthPayload"
    # Earlier failures from the address, each at another username.
    await pool.executemany(
        "INSERT INTO accounts.login_attempts (scope, username, client_ip) VALUES ('login', $1, $2)",
        [(f"s{i}{unique}", sprayer_address) for i in range(settings.login_max_failures_per_client)],
    )

    refused = await sprayer.login(username)

    assert refused["__typename"] == "TooManyAttempts"
    assert 0 < int(refused["retryAfterSeconds"]) <= settings.login_client_window
    assert (await bystander.login(username))["__typename"] == "AuthPayload"


async def test_a_success_forgets_only_its_own_addresss_failures(
    api_from: ApiFrom, pool: asyncpg.Pool, settings: Settings, unique: str
) -> None:
    username = f"forget{unique}"
    owner = await api_from("192.0.2.20")
    attacker = await api_from("198.51.100.20")
    assert (await owner.sign_up(username))["__typename"] == "AuthPayload"
    for attempt in range(settings.login_max_failures_per_pair):
        assert (await attacker.login(username, f"no {attempt}"))["__typename"] == (
            "InvalidCredentials"
        )
    assert (await owner.login(username, "a typo"))["__typename"] == "InvalidCredentials"

    assert (await owner.login(username))["__typename"] == "AuthPayload"

    # The attacker's count is not reset by the owner's success.
    assert (await attacker.login(username))["__typename"] == "TooManyAttempts"
    left = await pool.fetch(
        "SELECT client_ip FROM accounts.login_attempts WHERE username = $1", username
    )
    assert {row["client_ip"] for row in left} == {"198.51.100.20"}
