"""Request bodies sent with a Content-Encoding (RFC 9110 §8.4.1): gzip is decompressed, identity is the body as is,
anything else is refused with 415 naming the header and what to send instead (the server would otherwise read
compressed bytes as JSON and answer that they are not).

A compressed body is decompressed at most up to the server's body limit, the same limit the bytes on the wire
have: a few kilobytes that inflate to gigabytes (a "zip bomb") are answered 413 after the limit's worth of output,
never held in memory whole. A body that is not gzip, or is cut short, is answered 400.
"""

from __future__ import annotations

import zlib

GZIP = ("gzip", "x-gzip")  # x-gzip: the old name, which RFC 9110 asks a recipient to treat as gzip
GZIP_WINDOW = 16 + zlib.MAX_WBITS  # zlib's wbits for the gzip format (header and CRC trailer), largest window
MAX_MEMBERS = 16  # gzip members one body may hold: a client compresses a body once; each member copies the rest


class Refused(Exception):
    """A body the server will not read: `status` (400, 413, 415) and the error to answer with."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def decoded(scope: dict, body: bytes, limit: int) -> tuple[dict, bytes]:
    """The ASGI `scope` and `body` a route should see: unchanged without a Content-Encoding (or with identity);
    for gzip the decompressed body, with the Content-Encoding header dropped and Content-Length set to its size.
    Raises Refused: 415 for any other coding (or several), 413 when the decompressed body passes `limit` bytes,
    400 when the body is not complete gzip."""
    codings = _codings(scope)
    if not codings or not body:
        return scope, body
    if len(codings) > 1 or codings[0] not in GZIP:
        said = ", ".join(codings)
        raise Refused(415, f"the request's Content-Encoding {said!r} is not accepted: send the body uncompressed "
                           "(without a Content-Encoding header) or gzip-compressed with 'Content-Encoding: gzip'")
    plain = gunzip(body, limit)
    headers = [(name, value) for name, value in scope["headers"] if name not in (b"content-encoding", b"content-length")]
    return {**scope, "headers": [*headers, (b"content-length", str(len(plain)).encode())]}, plain


def gunzip(data: bytes, limit: int) -> bytes:
    """`data` (one gzip member or several, one after another, as gzip allows, at most MAX_MEMBERS) decompressed;
    Refused 413 as soon as the output passes `limit` bytes or the members MAX_MEMBERS, 400 when it is not gzip or
    ends inside a member."""
    plain, rest, members = bytearray(), data, 0
    while rest:
        members += 1
        if members > MAX_MEMBERS:  # tens of thousands of empty members cost a second of the event loop, for nothing
            raise Refused(413, f"the gzip body holds more than {MAX_MEMBERS:,} members: compress it as one")
        stream = zlib.decompressobj(GZIP_WINDOW)
        try:
            # at most one byte past the limit is made (max_length ≥ 1 here, as 0 would mean "no limit")
            plain += stream.decompress(rest, limit + 1 - len(plain))
        except zlib.error as error:
            raise Refused(400, f"the body is not valid gzip, as its 'Content-Encoding: gzip' says ({error})") from None
        if len(plain) > limit:
            raise Refused(413, f"request body over {limit:,} bytes once decompressed (gzip)")
        if not stream.eof:
            raise Refused(400, "the gzip body ends before its compressed data does: send the whole of it")
        rest = stream.unused_data
    return bytes(plain)


def _codings(scope: dict) -> list[str]:
    """The content codings applied to the body, in the order applied, identity left out (every Content-Encoding
    header, each a comma-separated list)."""
    codings = []
    for name, value in scope.get("headers", ()):
        if name == b"content-encoding":
            codings += [part.strip().lower() for part in value.decode("latin-1").split(",")]
    return [coding for coding in codings if coding and coding != "identity"]
