"""The overall deadline and size cap of every download: BEIR zips over ``urllib``, hub
models and datasets through ``huggingface_hub``.

A socket timeout bounds one read, not a download: a server that sends a byte every few
seconds keeps every read alive forever. Here a :class:`Budget` counts the seconds and the
bytes of one fetch (``HYPERRET_FETCH_DEADLINE`` seconds, default two hours;
``HYPERRET_FETCH_MAX_BYTES``, default 16 GiB), and a fetch that exceeds either stops with
:class:`FetchLimitError`:

- :func:`open_url` opens ``http://`` and ``https://`` URLs only (redirects too); at the
  deadline a timer shuts the connection's socket down, which ends a read blocked on it;
- :func:`hub_budget` holds a budget for the ``huggingface_hub`` calls made inside it: a
  transport installed once with ``huggingface_hub.set_client_factory`` gives each request a
  timeout of at most the time left and counts the bytes of each response as they arrive.
"""

from __future__ import annotations

import http.client
import math
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from hyperret_eval.core.errors import UserError

DEADLINE_ENV = "HYPERRET_FETCH_DEADLINE"
MAX_BYTES_ENV = "HYPERRET_FETCH_MAX_BYTES"
DEFAULT_DEADLINE_SECONDS = 2 * 3600.0  # MS MARCO's 1 GB zip at 1 MB/s takes 18 minutes
DEFAULT_MAX_BYTES = 16 * 1024 ** 3  # the largest BEIR zip is ~1 GB; a base-size model ~0.5 GB
URL_SCHEMES = ("https", "http")


class FetchLimitError(Exception):
    """A fetch that ran past its deadline or its size cap."""


@dataclass(frozen=True)
class FetchLimits:
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS
    max_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def from_env(cls) -> FetchLimits:
        """The limits ``HYPERRET_FETCH_DEADLINE`` and ``HYPERRET_FETCH_MAX_BYTES`` set (read now)."""
        return cls(_positive(DEADLINE_ENV, float, DEFAULT_DEADLINE_SECONDS), _positive(MAX_BYTES_ENV, int, DEFAULT_MAX_BYTES))


def _positive(name: str, kind: type, default):
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value) or value <= 0:
        raise UserError(f"{name}={text!r}: expected a positive {'number of seconds' if kind is float else 'number of bytes'}")
    return value


class Budget:
    """The time and bytes left to one fetch; :meth:`spend` and :meth:`check` raise
    :class:`FetchLimitError` once either is gone."""

    def __init__(self, limits: FetchLimits, what: str) -> None:
        self.limits, self.what = limits, what
        self.deadline = time.monotonic() + limits.deadline_seconds
        self.received = 0
        self._lock = threading.Lock()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def check(self) -> None:
        if self.remaining() <= 0:
            raise FetchLimitError(f"{self.what} did not finish within its {self.limits.deadline_seconds:g} s deadline "
                                  f"({DEADLINE_ENV})")

    def spend(self, size: int) -> None:
        with self._lock:
            self.received += size
            if self.received > self.limits.max_bytes:
                raise FetchLimitError(f"{self.what} is more than its {self.limits.max_bytes} byte cap ({MAX_BYTES_ENV})")
        self.check()


# ---------------------------------------------------------------------------- urllib


class _Watch:
    """The sockets one :func:`open_url` opened, shut down when its deadline passes."""

    def __init__(self, budget: Budget) -> None:
        self.sockets: list[socket.socket] = []
        self.timer = threading.Timer(max(budget.remaining(), 0), self.expire)
        self.timer.daemon = True
        self.timer.start()

    def add(self, sock: socket.socket) -> None:
        self.sockets.append(sock)

    def expire(self) -> None:
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _watched(connection: type[http.client.HTTPConnection], watch: _Watch):
    class Watched(connection):  # type: ignore[misc, valid-type]
        def connect(self) -> None:
            super().connect()
            watch.add(self.sock)

    return Watched


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watch: _Watch) -> None:
        super().__init__()
        self.connection = _watched(http.client.HTTPConnection, watch)

    def http_open(self, req):
        return self.do_open(self.connection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watch: _Watch) -> None:
        super().__init__()
        self.connection = _watched(http.client.HTTPSConnection, watch)

    def https_open(self, req):
        return self.do_open(self.connection, req, context=self._context)


class BoundedResponse:
    """An open download: :meth:`chunks` yields its body within the budget."""

    def __init__(self, response, budget: Budget) -> None:
        self.response, self.budget = response, budget
        self.length = int(response.headers.get("Content-Length") or 0) or None
        if self.length and self.length > budget.limits.max_bytes:
            raise FetchLimitError(f"{budget.what} is {self.length} bytes, more than its {budget.limits.max_bytes} "
                                  f"byte cap ({MAX_BYTES_ENV})")

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        while True:
            self.budget.check()
            try:
                chunk = self.response.read1(size)
            except OSError:
                self.budget.check()  # a read cut short by the deadline says so
                raise
            if not chunk:
                self.budget.check()
                return
            self.budget.spend(len(chunk))
            yield chunk


@contextmanager
def open_url(url: str, budget: Budget, read_timeout: float) -> Iterator[BoundedResponse]:
    """``url`` opened for reading within ``budget``: only ``http(s)://``, redirects included
    (no ``file:``, ``ftp:`` or ``data:`` handler is installed); each read waits at most
    ``read_timeout`` seconds, the whole exchange at most until the budget's deadline."""
    if url.split(":", 1)[0].lower() not in URL_SCHEMES:
        raise FetchLimitError(f"{url}: only http:// and https:// URLs are fetched")
    watch = _Watch(budget)
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), _HTTPHandler(watch), _HTTPSHandler(watch),
                    urllib.request.HTTPRedirectHandler(), urllib.request.HTTPDefaultErrorHandler(),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    try:
        response = opener.open(url, timeout=min(read_timeout, max(budget.remaining(), 0.001)))
    except BaseException:
        watch.timer.cancel()
        budget.check()
        raise
    try:
        yield BoundedResponse(response, budget)
    finally:
        watch.timer.cancel()
        response.close()


# ---------------------------------------------------------------------------- huggingface_hub

_current: Budget | None = None
_installed = False
_install_lock = threading.Lock()


@contextmanager
def hub_budget(budget: Budget) -> Iterator[Budget]:
    """Within the block, every request ``huggingface_hub`` makes (any thread) spends ``budget``."""
    global _current
    _install_transport()
    previous, _current = _current, budget
    try:
        yield budget
    finally:
        _current = previous


def _install_transport() -> None:
    global _installed
    with _install_lock:
        if _installed:
            return
        import httpx2
        import huggingface_hub
        from hyperret_eval.core.library_internals import hub_request_event_hook

        hub_hook = hub_request_event_hook()

        class BudgetTransport(httpx2.BaseTransport):
            def __init__(self) -> None:
                self.inner = httpx2.HTTPTransport()

            def handle_request(self, request):
                budget = _current
                if budget is None:
                    return self.inner.handle_request(request)
                budget.check()
                left = max(budget.remaining(), 0.001)
                timeout = dict(request.extensions.get("timeout") or {})
                for kind in ("connect", "read", "write", "pool"):
                    timeout[kind] = left if timeout.get(kind) is None else min(timeout[kind], left)
                request.extensions["timeout"] = timeout
                response = self.inner.handle_request(request)
                response.stream = BudgetStream(response.stream, budget)
                return response

            def close(self) -> None:
                self.inner.close()

        class BudgetStream(httpx2.SyncByteStream):
            def __init__(self, inner, budget: Budget) -> None:
                self.inner, self.budget = inner, budget

            def __iter__(self):
                for chunk in self.inner:
                    self.budget.spend(len(chunk))
                    yield chunk

            def close(self) -> None:
                self.inner.close()

        # The client huggingface_hub makes by default, with the transport above.
        huggingface_hub.set_client_factory(lambda: httpx2.Client(
            event_hooks={"request": [hub_hook]}, follow_redirects=True, timeout=None,
            transport=BudgetTransport()))
        _installed = True
