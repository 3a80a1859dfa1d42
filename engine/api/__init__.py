"""The Docker Engine API's swarm objects as frozen values: no I/O, no asyncio, no state.

Field names are Pythonic; their JSON names are the API's (``node_id`` is ``NodeID``), so objects
convert to and from the API's JSON without loss (see ``codec``). Enums that are ordered, like
``TaskState``, compare by SwarmKit's order. What the engine does with these values lives elsewhere.
"""
