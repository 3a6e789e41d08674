"""What the REST API (``dagflow.api``) and the web UI (``dagflow.www``) share.

``context`` (the app's Settings and Database), ``auth`` (bearer tokens, Flask-Login
sessions, ``POST /auth/token``), ``permissions`` (roles and the one route -> permission
table, checked before every request), ``errors`` (DagflowError kinds -> HTTP status and a
problem-JSON body). May import ``dagflow.services`` and below; must not import
``dagflow.api``, ``dagflow.www``, ``dagflow.webapp`` or ``dagflow.cli``.
"""
