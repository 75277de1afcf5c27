"""Capacity planning: which cells and links run out, when, and what to add.

- :mod:`twin.planning.erlang`: Erlang B and C and their inverses, the theory.
- :mod:`twin.planning.capacity`: the plan of a finished run, from what its store holds (the PM
  counters and the inventory, as a real OSS exports them), never from the simulator's truth.

Figures and the HTML page are made in :mod:`reports`, apart from the models. Why the models
live here: docs/planning.md.
"""
