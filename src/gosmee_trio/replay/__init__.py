"""``gosmee-trio replay``: re-send a GitHub hook's past deliveries to a target.

- ``model``: GitHub's hook and delivery objects, and the ORG[/REPO] scope; pure.
- ``delivery``: a fetched delivery turned into an event for the forwarder; pure.
- ``ratelimit``: how long GitHub's rate-limit headers ask us to wait; pure.
- ``tables``: the ``--list-hooks`` and ``--list-deliveries`` output; pure.
- ``github``: the GitHub REST client (pagination, rate limits, errors).
- ``runner``: the replay loop.
"""
