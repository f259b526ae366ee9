"""Credentials: minted JWT claims, ready tokens, sources and their precedence, secrecy."""

from __future__ import annotations

import logging
import os
import pickle
import threading
import time
from pathlib import Path

import jwt
import pytest

from bulkprov.errors import InputError, NoCredentials
from bulkprov.kore.auth import Credentials, parse_env_text

CLIENT_ID = "cs-7c2f8d1e-1a2b-5c3d-9e8f-0a1b2c3d4e5f"
SECRET = "Zq8sV0n3Kx9yP2mQ7rT5uW1aB4cD6eF8gH0jL2nP4rS="


def decode(token: str, secret: str = SECRET) -> dict:
    return jwt.decode(token, secret, algorithms=["HS256"])


def test_minted_token_claims() -> None:
    creds = Credentials(client_id=CLIENT_ID, client_secret=SECRET, subject="hr-import")
    before = int(time.time())
    claims = decode(creds.token())
    after = int(time.time())
    assert claims["appId"] == CLIENT_ID
    assert claims["sub"] == "hr-import"
    assert before <= claims["iat"] <= after
    assert claims["exp"] == claims["iat"] + 60
    assert len(claims["jti"]) == 32 and int(claims["jti"], 16) >= 0
    assert jwt.get_unverified_header(creds.token())["alg"] == "HS256"


def test_default_subject_and_fresh_jti_per_call() -> None:
    creds = Credentials(client_id=CLIENT_ID, client_secret=SECRET)
    tokens = [creds.token() for _ in range(50)]
    claims = [decode(t) for t in tokens]
    assert {c["sub"] for c in claims} == {"bulkprov"}
    assert len({c["jti"] for c in claims}) == 50
    assert len(set(tokens)) == 50


def test_wrong_secret_does_not_verify() -> None:
    token = Credentials(client_id=CLIENT_ID, client_secret=SECRET).token()
    with pytest.raises(jwt.InvalidSignatureError):
        decode(token, "another-secret-another-secret-another-secret")


def test_short_secret_signs_without_warning(recwarn: pytest.WarningsRecorder) -> None:
    token = Credentials(client_id=CLIENT_ID, client_secret="short").token()
    assert [w for w in recwarn if "HMAC" in str(w.message)] == []
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert decode(token, "short")["appId"] == CLIENT_ID


def test_ready_jwt_passthrough() -> None:
    ready = jwt.encode({"appId": CLIENT_ID, "sub": "x"}, SECRET, algorithm="HS256")
    creds = Credentials(jwt=ready)
    assert creds.token() == ready and creds.token() == ready
    assert creds.client_id is None
    assert creds.uses_ready_token
    assert Credentials(jwt=f"  Bearer {ready}\n").token() == ready


def test_client_credentials_win_over_ready_jwt() -> None:
    ready = jwt.encode({"appId": "other"}, SECRET, algorithm="HS256")
    creds = Credentials(client_id=CLIENT_ID, client_secret=SECRET, jwt=ready)
    assert creds.token() != ready
    assert decode(creds.token())["appId"] == CLIENT_ID


def test_malformed_ready_jwt_is_refused_without_echo() -> None:
    with pytest.raises(InputError) as err:
        Credentials(jwt="not-a-token-s3cr3t")
    assert err.value.code == "no-credentials"
    assert "s3cr3t" not in str(err.value)


def test_fingerprint_is_non_secret() -> None:
    assert Credentials(client_id=CLIENT_ID, client_secret=SECRET).fingerprint() == CLIENT_ID
    ready = jwt.encode({"appId": CLIENT_ID, "sub": "x"}, SECRET, algorithm="HS256")
    fp = Credentials(jwt=ready).fingerprint()
    assert fp.startswith("jwt:") and len(fp) == 12
    assert CLIENT_ID not in fp and ready not in fp
    # Same app, another token: same fingerprint (it is the app that identifies the account).
    other = jwt.encode({"appId": CLIENT_ID, "sub": "y", "jti": "1"}, SECRET, algorithm="HS256")
    assert Credentials(jwt=other).fingerprint() == fp


def test_repr_hides_secrets() -> None:
    creds = Credentials(client_id=CLIENT_ID, client_secret=SECRET)
    for text in (repr(creds), str(creds), f"{creds}"):
        assert SECRET not in text
        assert CLIENT_ID in text and "***" in text
    ready = jwt.encode({"appId": CLIENT_ID}, SECRET, algorithm="HS256")
    jcreds = Credentials(jwt=ready)
    assert ready not in repr(jcreds) and "***" in repr(jcreds)
    assert not hasattr(creds, "__dict__")  # no vars() leak
    with pytest.raises(TypeError):
        pickle.dumps(creds)


# -- sources ---------------------------------------------------------------------------------


def test_from_env() -> None:
    creds = Credentials.from_sources(env={"KORE_CLIENT_ID": CLIENT_ID, "KORE_CLIENT_SECRET": SECRET})
    assert decode(creds.token())["appId"] == CLIENT_ID


def test_from_env_jwt_only() -> None:
    ready = jwt.encode({"appId": CLIENT_ID}, SECRET, algorithm="HS256")
    assert Credentials.from_sources(env={"KORE_JWT": ready}).token() == ready


def test_missing_credentials() -> None:
    with pytest.raises(InputError) as err:
        Credentials.from_sources(env={})
    assert err.value.code == "no-credentials"
    assert err.value.message == NoCredentials().message
    assert err.value.message == (
        "no Kore.ai credentials: set KORE_CLIENT_ID and KORE_CLIENT_SECRET (or KORE_JWT) "
        "in the environment or a .env file"
    )
    with pytest.raises(InputError, match="no Kore.ai credentials"):
        Credentials()


def test_partial_credentials_say_what_is_missing() -> None:
    with pytest.raises(InputError) as err:
        Credentials.from_sources(env={"KORE_CLIENT_ID": CLIENT_ID})
    assert err.value.message.startswith("no Kore.ai credentials")
    assert "KORE_CLIENT_SECRET is not" in err.value.message
    with pytest.raises(InputError) as err:
        Credentials.from_sources(env={"KORE_CLIENT_SECRET": SECRET})
    assert "KORE_CLIENT_ID is not" in err.value.message
    assert SECRET not in str(err.value)


def test_env_file_parsing(tmp_path) -> None:
    text = (
        "# Kore.ai app\n"
        "\n"
        "export KORE_CLIENT_ID=cs-abc   # the app\n"
        "KORE_CLIENT_SECRET=\"se#cr\\\"et \"\n"
        "KORE_JWT='a.b.c # not a comment'\n"
        "not an assignment\n"
        "EMPTY=\n"
    )
    values = parse_env_text(text)
    assert values == {
        "KORE_CLIENT_ID": "cs-abc",
        "KORE_CLIENT_SECRET": 'se#cr"et ',
        "KORE_JWT": "a.b.c # not a comment",
        "EMPTY": "",
    }


def test_from_env_file(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"KORE_CLIENT_ID={CLIENT_ID}\nKORE_CLIENT_SECRET='{SECRET}'\n")
    creds = Credentials.from_sources(env={}, env_file=env_file)
    assert decode(creds.token())["appId"] == CLIENT_ID


def test_environment_wins_over_env_file(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("KORE_CLIENT_ID=cs-from-file\nKORE_CLIENT_SECRET=file-secret-file-secret-file-secret!!\n")
    creds = Credentials.from_sources(
        env={"KORE_CLIENT_ID": CLIENT_ID, "KORE_CLIENT_SECRET": SECRET}, env_file=env_file
    )
    assert decode(creds.token())["appId"] == CLIENT_ID
    # Per key: the id from the environment, the secret from the file.
    creds = Credentials.from_sources(env={"KORE_CLIENT_ID": CLIENT_ID}, env_file=env_file)
    assert decode(creds.token(), "file-secret-file-secret-file-secret!!")["appId"] == CLIENT_ID
    # An empty environment variable does not hide the file's value.
    creds = Credentials.from_sources(env={"KORE_CLIENT_ID": ""}, env_file=env_file)
    assert creds.client_id == "cs-from-file"


def test_missing_env_file_is_a_usage_error(tmp_path) -> None:
    with pytest.raises(InputError) as err:
        Credentials.from_sources(env={}, env_file=tmp_path / "nope.env")
    assert err.value.code == "no-credentials"


def test_secret_file_argument(tmp_path) -> None:
    secret_file = tmp_path / "kore_secret"
    secret_file.write_text(SECRET + "\n")
    creds = Credentials.from_sources(env={"KORE_CLIENT_ID": CLIENT_ID, "KORE_CLIENT_SECRET": "ignored-value"},
                                     secret_file=secret_file)
    assert decode(creds.token())["appId"] == CLIENT_ID  # the explicit file wins


def test_secret_file_env_var(tmp_path) -> None:
    secret_file = tmp_path / "kore_secret"
    secret_file.write_text(f"  {SECRET}  \n")
    creds = Credentials.from_sources(env={"KORE_CLIENT_ID": CLIENT_ID, "KORE_CLIENT_SECRET_FILE": str(secret_file)})
    assert decode(creds.token())["appId"] == CLIENT_ID
    # A direct secret in the environment wins over a secret file named in the environment.
    creds = Credentials.from_sources(env={"KORE_CLIENT_ID": CLIENT_ID, "KORE_CLIENT_SECRET": SECRET,
                                          "KORE_CLIENT_SECRET_FILE": str(tmp_path / "absent")})
    assert decode(creds.token())["appId"] == CLIENT_ID


def test_secret_file_named_in_env_file_is_relative_to_it(tmp_path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "kore").write_text(SECRET)
    env_file = tmp_path / ".env"
    env_file.write_text(f"KORE_CLIENT_ID={CLIENT_ID}\nKORE_CLIENT_SECRET_FILE=secrets/kore\n")
    creds = Credentials.from_sources(env={}, env_file=env_file)
    assert decode(creds.token())["appId"] == CLIENT_ID


def test_environment_secret_wins_over_file_secret_file(tmp_path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("KORE_CLIENT_SECRET_FILE=/nonexistent/secret\n")
    creds = Credentials.from_sources(env={"KORE_CLIENT_ID": CLIENT_ID, "KORE_CLIENT_SECRET": SECRET},
                                     env_file=env_file)
    assert decode(creds.token())["appId"] == CLIENT_ID


def test_secret_file_errors_never_echo_content(tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("  \n")
    with pytest.raises(InputError, match="empty"):
        Credentials.from_sources(env={"KORE_CLIENT_ID": CLIENT_ID}, secret_file=empty)
    with pytest.raises(InputError, match="does not exist") as err:
        Credentials.from_sources(env={"KORE_CLIENT_ID": CLIENT_ID, "KORE_CLIENT_SECRET_FILE": str(tmp_path / "x")})
    assert "KORE_CLIENT_SECRET_FILE" in str(err.value)


def test_world_readable_env_file_warns(tmp_path, caplog) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"KORE_CLIENT_ID={CLIENT_ID}\nKORE_CLIENT_SECRET={SECRET}\n")
    env_file.chmod(0o644)
    with caplog.at_level(logging.DEBUG, logger="bulkprov.kore.auth"):
        Credentials.from_sources(env={}, env_file=env_file)
    assert "readable by other users" in caplog.text
    assert SECRET not in caplog.text


def test_a_secret_file_that_is_a_pipe_nobody_writes_does_not_hang(tmp_path) -> None:
    """A FIFO with no writer reads as empty at once (the run must not wait forever)."""
    fifo = tmp_path / "secret.fifo"
    os.mkfifo(fifo)
    with pytest.raises(NoCredentials) as info:
        Credentials.from_sources(env={"KORE_CLIENT_ID": CLIENT_ID}, secret_file=fifo)
    assert info.value.variant == "secret-empty"


def test_a_secret_handed_over_a_pipe_is_read(tmp_path) -> None:
    """`KORE_CLIENT_SECRET_FILE=<(vault read ...)` names /dev/fd/N, a pipe whose writer may be slow:
    the secret is waited for and read."""
    read_end, write_end = os.pipe()

    def vault() -> None:
        time.sleep(0.3)
        os.write(write_end, (SECRET + "\n").encode())
        os.close(write_end)

    writer = threading.Thread(target=vault)
    writer.start()
    try:
        creds = Credentials.from_sources(env={"KORE_CLIENT_ID": CLIENT_ID,
                                              "KORE_CLIENT_SECRET_FILE": f"/dev/fd/{read_end}"})
    finally:
        writer.join(timeout=10)
        os.close(read_end)
    assert decode(creds.token())["appId"] == CLIENT_ID


@pytest.mark.parametrize("where", ["/dev/zero", "dir"])
def test_a_device_or_directory_is_no_secret_or_env_file(tmp_path, where) -> None:
    path = tmp_path if where == "dir" else Path(where)
    with pytest.raises(NoCredentials) as secret:
        Credentials.from_sources(env={"KORE_CLIENT_ID": CLIENT_ID}, secret_file=path)
    with pytest.raises(NoCredentials) as env_file:
        Credentials.from_sources(env={}, env_file=path)
    assert secret.value.variant == "secret-unreadable" and "not a regular file" in secret.value.message
    assert env_file.value.variant == "env-unreadable" and "not a regular file" in env_file.value.message


def test_a_huge_secret_file_is_refused_without_echo(tmp_path) -> None:
    big = tmp_path / "secret"
    big.write_text("s3cr3t" * 20_000)
    with pytest.raises(NoCredentials) as info:
        Credentials.from_sources(env={"KORE_CLIENT_ID": CLIENT_ID}, secret_file=big)
    assert "over 64 KB" in info.value.message and "s3cr3t" not in info.value.message
