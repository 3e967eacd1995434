"""The web interface: app factory, authentication, layout, i18n, static files.

Capabilities bring their own ``api.py`` (JSON under ``/api``), ``views.py``
(pages) and ``templates/<capability>/``; this package wires them together.
"""
