"""Secrets: fernet encryption at rest, the secrets masker, and ``conf`` without secrets.

- ``fernet``: the keys (``core.fernet_key`` or ``$DAGFLOW_HOME/fernet.key``) and ``FernetCipher``.
- ``masker``: ``SecretsMasker``, known secret values replaced by ``***`` in text.
- ``stored``: which stored values are secrets (for the masker) and key rotation.
- ``settings_view``: the read-only ``conf`` of task contexts.

Imports config, models and db; must not import execution, services or anything above.
"""
