"""Composing each outbox message, by kind.

- ``mime.py``: the bytes of a message (headers made safe, parts, encodings, the per-person
  merge of a body rendered once);
- ``cache.py``: what one delivery run reads from the register and renders, each once;
- one module per kind of message, each giving its template and context and its attachments:
  ``review.py`` (review prompts), ``annual.py`` (the annual reminder and its chasers),
  ``updated.py`` (the policy updated notice and its chasers), ``pack.py`` (a meeting's review
  pack), ``digest.py`` (the office's weekly digest);
- ``templates/``: each kind's plain-text template, which holds its subject line, and its HTML
  template;
- ``composer.py``: the Composer, which puts a message together from those.
"""
