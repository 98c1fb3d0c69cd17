"""Who is asking (serving.clients): a reverse proxy's X-Forwarded-For and X-Forwarded-Proto
count only when the peer is in TRUSTED_PROXIES, and then only as far as a client cannot forge.

The address decides whose throttle budget a request spends and what the log says; the scheme
decides whether an answer carries HSTS and whether Django redirects to HTTPS."""

from __future__ import annotations

from metrics_cache.serving import clients
from tests.support.asgi import scope

PROXY = "10.0.0.2"


def resolved(headers=None, *, client=PROXY, raw_headers=None):
    request = scope("GET", "/api/visitors/today", headers, client=client)
    if raw_headers is not None:
        request["headers"] = raw_headers
    return clients.resolve(request)


def test_without_trusted_proxies_the_headers_are_ignored(settings):
    settings.TRUSTED_PROXIES = []
    answer = resolved({"X-Forwarded-For": "192.0.2.1", "X-Forwarded-Proto": "https"})
    assert (clients.address(answer), answer["scheme"]) == (PROXY, "http")


def test_a_trusted_proxy_names_the_client_and_the_scheme(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    answer = resolved({"X-Forwarded-For": "192.0.2.1", "X-Forwarded-Proto": "https"})
    assert answer["client"] == ("192.0.2.1", 0)
    assert answer["scheme"] == "https"


def test_the_request_is_not_changed_in_place(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = scope("GET", "/", {"X-Forwarded-For": "192.0.2.1", "X-Forwarded-Proto": "https"},
                    client=PROXY)  # fmt: skip
    clients.resolve(request)
    assert (request["client"][0], request["scheme"]) == (PROXY, "http")


def test_a_proxy_listed_by_address_or_by_a_loose_network(settings):
    # ip_network(strict=False): "10.9.9.9/8" is read as 10.0.0.0/8, as an operator means it.
    for listed in (["10.0.0.2"], ["10.9.9.9/8"], ["192.0.2.0/24", "10.0.0.0/30"]):
        settings.TRUSTED_PROXIES = listed
        assert clients.address(resolved({"X-Forwarded-For": "198.51.100.7"})) == "198.51.100.7"


def test_an_untrusted_peer_keeps_its_own_address_and_scheme(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for peer in ("198.51.100.20", "11.0.0.2", "not-an-address", ""):
        answer = resolved({"X-Forwarded-For": "192.0.2.1", "X-Forwarded-Proto": "https"},
                          client=peer)  # fmt: skip
        assert answer["client"] == (peer, 50000), peer
        assert answer["scheme"] == "http", peer


def test_a_request_without_a_peer_is_left_alone(settings):
    # A UNIX socket: the ASGI server gives no client.
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = scope("GET", "/", {"X-Forwarded-For": "192.0.2.1"})
    request["client"] = None
    assert clients.resolve(request) is request
    assert clients.address(request) == "-"
    del request["client"]
    assert clients.address(clients.resolve(request)) == "-"


def test_the_rightmost_address_no_trusted_proxy_added_is_the_client(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "2001:db8::/32"]
    cases = {
        # The client's own claims (left) prove nothing; the proxies' own hops are skipped.
        "192.0.2.1, 198.51.100.7, 10.1.2.3": "198.51.100.7",
        "192.0.2.1,198.51.100.7": "198.51.100.7",
        " , 198.51.100.7 ,, 10.4.4.4 , ": "198.51.100.7",
        "2001:db8::9, 2001:db9::1": "2001:db9::1",
        # Every hop a proxy: the farthest one is the client (a request from inside).
        "10.7.7.7, 10.8.8.8": "10.7.7.7",
        # Garbage is an untrusted hop, kept as the client's address: it is what was said.
        "192.0.2.1, garbage": "garbage",
    }
    for forwarded_for, client in cases.items():
        assert clients.address(resolved({"X-Forwarded-For": forwarded_for})) == client, (
            forwarded_for
        )


def test_no_forwarded_for_keeps_the_proxys_address(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for headers in ({}, {"X-Forwarded-For": ""}, {"X-Forwarded-For": " , "}):
        answer = resolved(headers)
        assert answer["client"][0] == PROXY, headers


def test_several_forwarded_for_headers_are_read_as_one_list(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    raw = [
        (b"host", b"127.0.0.1"),
        (b"x-forwarded-for", b"192.0.2.1"),
        (b"X-Forwarded-For", b"198.51.100.7"),  # names are matched in any case
        (b"x-forwarded-for", b"10.3.3.3"),
    ]
    assert clients.address(resolved(raw_headers=raw)) == "198.51.100.7"


def test_the_scheme_is_the_last_proxys_and_only_http_or_https(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    cases = {
        "https": "https",
        "HTTPS ": "https",
        "http": "http",
        "https, http": "http",
        "http,https": "https",
        "ftp": "http",
        "wss": "http",
        "": "http",
    }
    for proto, scheme in cases.items():
        answer = resolved({"X-Forwarded-Proto": proto})
        assert answer["scheme"] == scheme, proto
        assert answer["client"][0] == PROXY, "no X-Forwarded-For: the proxy's own address"


def test_the_proxys_word_on_the_scheme_wins_when_it_is_http_or_https(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    for proto, scheme in (("gopher", "https"), ("http", "http"), ("HTTP", "http")):
        request = scope("GET", "/", {"X-Forwarded-Proto": proto}, client=PROXY, scheme="https")
        assert clients.resolve(request)["scheme"] == scheme, proto


def test_a_request_without_headers_is_left_as_it_is(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = scope("GET", "/", client=PROXY)
    del request["headers"]
    answer = clients.resolve(request)
    assert (answer["client"], answer["scheme"]) == ((PROXY, 50000), "http")
