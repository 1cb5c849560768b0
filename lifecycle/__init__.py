"""The domain, in four groups, each importing only from the groups before it (a test says so):

- ``values/``: policies, versions, people, messages, dates and half terms, the settings, a
  policy's file, the statutory catalogue, the errors;
- ``rules/``: the pure rules (what is due when, the stages of a review, a meeting's agenda,
  where a policy stands), over values and ``now``, never the register;
- ``register/``: the SQLite store that owns all SQL, the outbox, the migrations, the instance
  directory;
- ``actions/``: what a person does, each in one transaction (``operations`` is the entry
  point the commands and the web call).

It knows nothing of rendering, mail or HTTP."""
