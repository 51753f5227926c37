"""Celery's broker transport for Redis: kombu's own, sharing one Redis client per channel.

kombu's Redis channel builds a new ``redis.Redis`` for every message it publishes, and
redis-py's constructor (its table of some 170 reply parsers) costs a web process more than
the LPUSH it then sends: a third of the publish that every /message/send makes
(``bench/client_calls`` shows the two side by side). A client is a handle on the channel's
connection pool, which it shares with every client kombu would build: one is kept per channel
and handed out wherever kombu would build one. Nothing else of kombu's is changed.
"""

from functools import cached_property

from kombu.transport import redis


class Channel(redis.Channel):
    @cached_property
    def _shared_client(self):
        return super()._create_client()

    def _create_client(self, asynchronous=False):
        if asynchronous:  # the consumer's client, which kombu keeps already
            return super()._create_client(asynchronous=True)
        return self._shared_client


class Transport(redis.Transport):
    Channel = Channel
