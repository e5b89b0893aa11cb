#!/usr/bin/env python3
"""Validates the RSS and Atom feeds and the sitemap a running gateway serves.

Usage: validate.py BASE_URL (e.g. http://127.0.0.1:3000)

The feeds go through feedparser, the sitemap index and its files through the
official sitemaps.org schemas (vendored next to this file) with lxml, and their
counts are held against the content API. Prints `ok    NAME` or `FAIL  NAME: WHY`
per check, then `N passed, M failed`; exits non-zero if any failed.
"""

import json
import re
import socket
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

import feedparser
from lxml import etree

HERE = Path(__file__).resolve().parent
SITEMAP_NS = {"sm": "http://www.sitemaps.org/schemas/sitemap/0.9"}
FEED_SIZE = 20
KINDS = ("pages", "articles", "categories", "tags", "authors")
# W3C Datetime (https://www.w3.org/TR/NOTE-datetime): unlike xsd:dateTime, a time
# needs its zone.
W3C_DATETIME = re.compile(
    r"\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?)?)?"
)


class Failed(Exception):
    pass


def expect(condition, why):
    if not condition:
        raise Failed(why)


passed = 0
failed = 0


def check(name, run):
    """Runs one check and reports it; any exception is that check's failure, so a
    broken document or a dead route does not stop the others."""
    global passed, failed
    try:
        run()
    except Exception as error:  # noqa: BLE001 - every failure is reported, not raised
        failed += 1
        why = str(error) if isinstance(error, Failed) else f"{type(error).__name__}: {error}"
        print(f"FAIL  {name}: {why}", flush=True)
    else:
        passed += 1
        print(f"ok    {name}", flush=True)


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def media_type(self):
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()


def fetch(url, headers=None):
    """GET without following the error path: a 404 is an answer to check."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return Response(answer.status, answer.headers, answer.read())
    except urllib.error.HTTPError as answer:
        return Response(answer.code, answer.headers, answer.read())


def raw_get(url, headers):
    """The status and whatever follows the head, read off the socket: HTTP clients
    drop anything after a 304's head, and that is what has to be seen."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    sock = socket.create_connection((parts.hostname, port), timeout=30)
    if parts.scheme == "https":
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=parts.hostname)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    received = b""
    with sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        while chunk := sock.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    return Response(int(head.split(b" ", 2)[1]), {}, rest)


def expect_status(response, status, what):
    expect(response.status == status, f"{what} answered {response.status}, expected {status}")


def absolute(url):
    parts = urllib.parse.urlsplit(url or "")
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def w3c_datetime(text):
    """Whether `text` is a W3C datetime that names a real moment."""
    if not W3C_DATETIME.fullmatch(text or ""):
        return False
    if len(text) <= 7:  # YYYY or YYYY-MM: the pattern is all there is to them
        return True
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class Suite:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.origin = urllib.parse.urlsplit(self.base)
        self.total_articles = None
        self.index_valid = False
        self.sitemap_files = []  # on the gateway under test, as the index names them
        self.article_locs = []  # every <loc> of the valid articles files
        self.invalid_article_files = []

    def url(self, path):
        return self.base + path

    def local(self, url):
        """The same path on the gateway under test: API_URL may name another host."""
        parts = urllib.parse.urlsplit(url)
        if parts.netloc == self.origin.netloc:
            return url
        return urllib.parse.urlunsplit(
            (self.origin.scheme, self.origin.netloc, parts.path, parts.query, parts.fragment)
        )

    def api(self, path):
        response = fetch(self.url(path))
        expect_status(response, 200, path)
        return json.loads(response.body)

    # Feeds

    def feed(self, path, fmt, scoped):
        """Every check of one feed; `fmt` is "rss" or "atom"."""
        expected_version, media_type = {
            "rss": ("rss20", "application/rss+xml"),
            "atom": ("atom10", "application/atom+xml"),
        }[fmt]
        state = {}

        def loaded(key):
            # A check that needs the document says so, rather than failing obscurely.
            expect(key in state, f"not checked: {path} did not load and parse")
            return state[key]

        def parses():
            response = fetch(self.url(path))
            expect_status(response, 200, path)
            state["response"] = response
            # With its headers, so a charset that disagrees with the document shows too.
            parsed = feedparser.parse(response.body, response_headers=dict(response.headers))
            expect(not parsed.bozo, f"not well-formed: {parsed.get('bozo_exception')!r}")
            expect(
                parsed.version == expected_version,
                f"feedparser reads it as {parsed.version or 'nothing'!r}, not {expected_version}",
            )
            state["parsed"] = parsed

        check(f"{path} parses as {expected_version} (bozo 0)", parses)

        def channel():
            feed = loaded("parsed").feed
            expect(feed.get("title"), "the feed has no title")
            # Readers resubscribe to the self link, so it must be this very feed.
            selves = [l.get("href") for l in feed.get("links", []) if l.get("rel") == "self"]
            expect(selves, "no self link (atom:link rel=self)")
            expect(
                absolute(selves[0]) and urllib.parse.urlsplit(selves[0]).path == path,
                f"self link is {selves[0]!r}, not this feed",
            )
            if fmt == "atom":
                # `in`, not get(): feedparser would answer a missing updated with published.
                expect("updated_parsed" in feed, "the feed has no parseable <updated>")

        check(f"{path} channel: title, self link" + (", updated" if fmt == "atom" else ""), channel)

        def entries():
            entries = loaded("parsed").entries
            if scoped:
                expect(len(entries) <= FEED_SIZE, f"{len(entries)} entries, more than {FEED_SIZE}")
            else:
                expect(self.total_articles is not None, "not checked: no article count from the content API")
                expected = min(FEED_SIZE, self.total_articles)
                expect(
                    len(entries) == expected,
                    f"{len(entries)} entries, expected {expected} "
                    f"({self.total_articles} published articles)",
                )
            for n, entry in enumerate(entries, 1):
                where = f"entry {n} ({entry.get('title') or entry.get('id') or '?'})"
                expect(entry.get("title"), f"{where}: no title")
                link = entry.get("link")
                expect(absolute(link), f"{where}: link {link!r} is not absolute http(s)")
                expect(entry.get("id"), f"{where}: no {'guid' if fmt == 'rss' else 'id'}")
                expect(entry.get("published_parsed"), f"{where}: no parseable publication date")
                if fmt == "rss":
                    content = entry.get("content") or [{}]
                    expect(content[0].get("value"), f"{where}: no content:encoded")
                    expect(entry.get("author"), f"{where}: no dc:creator")
                else:
                    expect("updated_parsed" in entry, f"{where}: no parseable <updated>")
            # The latest articles, so newest first.
            dates = [entry.published_parsed for entry in entries]
            expect(dates == sorted(dates, reverse=True), "entries are not newest first")
            ids = [entry.id for entry in entries]
            expect(len(ids) == len(set(ids)), "an entry id repeats")

        extras = ", content:encoded, dc:creator" if fmt == "rss" else ", updated"
        check(f"{path} entries: title, absolute link, id, published{extras}", entries)

        def headers():
            response = loaded("response")
            expect(
                response.media_type() == media_type,
                f"Content-Type {response.headers.get('Content-Type')!r}, expected {media_type}",
            )
            expect(response.headers.get("ETag"), "no ETag")
            expect(response.headers.get("Last-Modified"), "no Last-Modified")

        check(f"{path} Content-Type {media_type}, ETag, Last-Modified", headers)

        def not_modified():
            sent = loaded("response").headers
            expect(sent.get("ETag") and sent.get("Last-Modified"), "not checked: no validators sent")
            by_etag = raw_get(self.url(path), {"If-None-Match": sent["ETag"]})
            expect_status(by_etag, 304, "If-None-Match with its ETag")
            expect(by_etag.body == b"", f"the 304 has a {len(by_etag.body)}-byte body")
            by_date = raw_get(self.url(path), {"If-Modified-Since": sent["Last-Modified"]})
            expect_status(by_date, 304, "If-Modified-Since its Last-Modified")

        check(f"{path} revalidates: If-None-Match and If-Modified-Since are 304", not_modified)

    # Sitemap

    def parse_xml(self, response, what):
        expect_status(response, 200, what)
        expect(
            response.media_type() in ("application/xml", "text/xml"),
            f"{what}: Content-Type {response.headers.get('Content-Type')!r} is not XML",
        )
        return etree.fromstring(response.body)

    def expect_valid(self, document, schema_file, what):
        schema = etree.XMLSchema(etree.parse(str(HERE / schema_file)))
        if not schema.validate(document):
            raise Failed(f"{what}: {schema.error_log.last_error}")
        for lastmod in document.iterfind(".//sm:lastmod", SITEMAP_NS):
            expect(w3c_datetime(lastmod.text), f"{what}: lastmod {lastmod.text!r} is not a W3C datetime")

    def sitemap_index(self):
        document = self.parse_xml(fetch(self.url("/sitemap.xml")), "/sitemap.xml")
        locs = [loc.text or "" for loc in document.iterfind("sm:sitemap/sm:loc", SITEMAP_NS)]
        # Its files are checked even if it fails below: each tells more.
        self.sitemap_files = [self.local(loc) for loc in locs]
        self.expect_valid(document, "siteindex.xsd", "/sitemap.xml")
        named = re.compile(r"/sitemaps/(%s)-[1-9][0-9]*\.xml" % "|".join(KINDS))
        for loc in locs:
            expect(absolute(loc), f"loc {loc!r} is not absolute")
            path = urllib.parse.urlsplit(loc).path
            expect(named.fullmatch(path), f"loc {loc!r} is not sitemaps/KIND-N.xml")
        missing = [kind for kind in KINDS if not any(f"/sitemaps/{kind}-1.xml" in loc for loc in locs)]
        expect(not missing, f"no file for {', '.join(missing)}")
        self.index_valid = True

    def sitemap_file(self, url):
        path = urllib.parse.urlsplit(url).path
        articles = path.startswith("/sitemaps/articles-")
        if articles:
            self.invalid_article_files.append(path)  # until it proves valid
        document = self.parse_xml(fetch(url), path)
        self.expect_valid(document, "sitemap.xsd", path)
        locs = [loc.text for loc in document.iterfind("sm:url/sm:loc", SITEMAP_NS)]
        for loc in locs:
            expect(absolute(loc), f"loc {loc!r} is not absolute")
        if articles:
            self.invalid_article_files.remove(path)
            self.article_locs.extend(locs)

    def article_count(self):
        # Counting a partial set would only repeat a failure already reported.
        expect(self.index_valid, "not checked: /sitemap.xml is not valid")
        invalid = ", ".join(self.invalid_article_files)
        expect(not invalid, f"not checked: {invalid} not valid")
        expect(self.total_articles is not None, "not checked: no article count from the content API")
        # Together, the articles files are every published article, each once.
        locs = self.article_locs
        expect(
            len(locs) == self.total_articles,
            f"{len(locs)} article URLs, the content API has {self.total_articles} published",
        )
        repeated = sorted({loc for loc in locs if locs.count(loc) > 1})
        expect(not repeated, f"repeated loc: {', '.join(repeated[:3])}")

    def expect_404(self, path):
        expect_status(fetch(self.url(path)), 404, path)

    # The run

    def run(self):
        def published():
            meta = self.api("/api/articles?pagination%5BpageSize%5D=1")["meta"]["pagination"]
            self.total_articles = meta["total"]
            expect(self.total_articles > 0, "no published articles: nothing for the feeds to hold")

        check("content API counts the published articles", published)

        self.feed("/rss.xml", "rss", scoped=False)
        self.feed("/atom.xml", "atom", scoped=False)

        for listing in ("categories", "tags", "authors"):
            slugs = []

            def listed(listing=listing, slugs=slugs):
                slugs.extend(item["slug"] for item in self.api(f"/api/{listing}")["data"])
                expect(slugs, f"/api/{listing} is empty")

            check(f"content API lists {listing}", listed)
            # Without a slug the feed checks still run, and fail on its 404.
            slug = slugs[0] if slugs else "none-listed"
            self.feed(f"/{listing}/{slug}/rss.xml", "rss", scoped=True)
            self.feed(f"/{listing}/{slug}/atom.xml", "atom", scoped=True)

        check("unknown tag's feed is 404", lambda: self.expect_404("/tags/no-such-tag-0000/rss.xml"))

        check("/sitemap.xml is valid per siteindex.xsd, names every kind", self.sitemap_index)
        for url in self.sitemap_files:
            path = urllib.parse.urlsplit(url).path
            check(f"{path} is valid per sitemap.xsd", lambda url=url: self.sitemap_file(url))
        check("articles sitemaps hold every published article once", self.article_count)
        check("sitemap file past the last page is 404", lambda: self.expect_404("/sitemaps/articles-999.xml"))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    Suite(sys.argv[1]).run()
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
