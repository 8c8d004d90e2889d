"""Mail, the outbox's first kind: rendering queued messages (``render``), the ways to deliver
them (``transport``), and the mail sender with the worker that runs the outbox (``sender``).
Claiming, retries and back-off are the outbox's (``idp.services.outbox``)."""
