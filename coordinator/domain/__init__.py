"""The coordinator's functional core: commands, events, state, ``decide`` and ``evolve``.

Nothing in this package imports anything but the standard library and pydantic: no Kafka, no
faust, no asyncio, no logging, no clock and no uuid. Time and limits arrive as arguments.

Import from the modules themselves (``coordinator.domain.commands``, ``...decider``, ...).
"""
