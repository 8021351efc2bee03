"""The Binance spot adapter: REST over httpx, WebSocket streams over aiohttp.

- ``errors``: Binance's error codes and HTTP statuses as typed errors;
- ``filters``: exchangeInfo symbol filters, instruments, orders rounded and checked
  before they leave;
- ``signing``: HMAC-SHA256 and Ed25519 request signatures, credentials from the env;
- ``weights``: the request-weight budget every caller in the process shares;
- ``rest``: ``BinanceRest``, the REST client, and conversions into catalog messages;
- ``backfill``: klines into the lake, resumable (``tickdeck backfill``);
- ``stream``: the market-data and user-data WebSocket streams.

Modules are imported by name (``from venues.binance.rest import BinanceRest``): this
package imports nothing itself, so a stream user does not load the REST stack.
"""
