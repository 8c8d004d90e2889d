"""Sending mail: rendering queued messages (``render``), the ways to deliver them
(``transport``), and the sender that claims and delivers the outbox (``sender``)."""
