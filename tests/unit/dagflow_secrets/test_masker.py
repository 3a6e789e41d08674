"""The secrets masker: which values it hides, and how it finds them in text and structures."""

from __future__ import annotations

from dagflow.secrets.masker import MASK, SecretsMasker


def test_registered_values_are_masked_wherever_they_appear() -> None:
    masker = SecretsMasker()
    masker.add("hunter22-secret")
    assert masker.mask("pw=hunter22-secret; again hunter22-secret.") == "pw=***; again ***."
    assert masker.mask("nothing here") == "nothing here"


def test_short_values_are_not_masked() -> None:
    masker = SecretsMasker()
    masker.add("abcd")
    assert len(masker) == 0 and masker.mask("abcd") == "abcd"


def test_url_quoted_forms_are_masked_too() -> None:
    masker = SecretsMasker()
    masker.add("p@ss/w:rd")
    assert masker.mask("postgres://u:p%40ss%2Fw%3Ard@h/db") == "postgres://u:***@h/db"


def test_overlapping_secrets_mask_the_longest() -> None:
    masker = SecretsMasker()
    masker.add(["secret-one", "secret-one-and-more"])
    assert masker.mask("x secret-one-and-more y") == "x *** y"


def test_multi_line_secrets_are_masked_line_by_line_too() -> None:
    masker = SecretsMasker()
    masker.add("-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----")
    assert "AAAABBBBCCCC" not in masker.mask("line: AAAABBBBCCCC\n")


def test_named_values_only_when_the_name_looks_sensitive() -> None:
    masker = SecretsMasker()
    masker.add("plain-value-1", "hostname")
    masker.add("token-value-1", "API_TOKEN")
    masker.add({"sslmode": "require", "nested": {"client_secret": "nested-secret"}, "apikey": 123456})
    assert (
        masker.mask("plain-value-1 token-value-1 nested-secret 123456 require") == "plain-value-1 *** *** *** require"
    )


def test_extra_sensitive_names_come_from_the_config_value() -> None:
    masker = SecretsMasker("dsn, Signing_Salt")
    assert masker.should_hide_value_for_key("my_DSN") and masker.should_hide_value_for_key("signing_salt")
    assert not SecretsMasker().should_hide_value_for_key("my_dsn")
    for name in ("password", "passwd", "api_key", "apikey", "access_token", "private_key", "keyfile_dict"):
        assert SecretsMasker().should_hide_value_for_key(f"x_{name.upper()}_y"), name


def test_everything_below_a_sensitive_key_is_registered() -> None:
    masker = SecretsMasker()
    masker.add({"keyfile_dict": {"client_email": "robot@example.com", "ids": ["id-number-1"]}})
    assert masker.mask("robot@example.com id-number-1") == "*** ***"


def test_redact_hides_sensitive_keys_and_known_values() -> None:
    masker = SecretsMasker()
    masker.add("known-secret-9")
    value = {"token": "never-registered", "url": "http://x?p=known-secret-9", "n": 3, "list": ["known-secret-9"]}
    assert masker.redact(value) == {"token": MASK, "url": "http://x?p=***", "n": 3, "list": [MASK]}
    assert masker.redact({"password": None, "verify": False}) == {"password": None, "verify": False}


def test_merge() -> None:
    first, second = SecretsMasker(), SecretsMasker()
    first.add("first-secret")
    second.merge(first)
    assert second.mask("first-secret") == MASK
