"""Decoding the Kubernetes protobuf bodies that helm sends (its release records are Secrets), for the fake API
server: a TEST DOUBLE's reading of the wire format, for the few kinds and fields helm writes.

The body is the "k8s\\0" magic, then a runtime.Unknown message (typeMeta, raw, contentEncoding, contentType)
whose raw bytes are the object's own message. Field numbers are those of k8s.io/api's generated.proto.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

MAGIC = b"k8s\x00"


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs: an int for varints, bytes for length-delimited fields."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(data, position)
            yield number, value
        elif wire_type == 2:
            length, position = _varint(data, position)
            yield number, data[position : position + length]
            position += length
        else:
            raise ValueError(f"wire type {wire_type} is not used by the messages decoded here")


def _text(value: int | bytes) -> str:
    assert isinstance(value, bytes)
    return value.decode()


def _map_entry(value: int | bytes) -> tuple[str, bytes]:
    entry = dict(_fields(value)) if isinstance(value, bytes) else {}
    key, item = entry.get(1, b""), entry.get(2, b"")
    assert isinstance(key, bytes) and isinstance(item, bytes)
    return key.decode(), item


_META_STRINGS = {1: "name", 2: "generateName", 3: "namespace", 5: "uid", 6: "resourceVersion"}


def _object_meta(data: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for number, value in _fields(data):
        if number in _META_STRINGS:
            meta[_META_STRINGS[number]] = _text(value)
        elif number in (11, 12):
            key, item = _map_entry(value)
            meta.setdefault("labels" if number == 11 else "annotations", {})[key] = item.decode()
    return meta


def _secret(raw: bytes) -> dict[str, Any]:
    secret: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret"}
    for number, value in _fields(raw):
        if number == 1:
            assert isinstance(value, bytes)
            secret["metadata"] = _object_meta(value)
        elif number == 2:
            key, item = _map_entry(value)
            secret.setdefault("data", {})[key] = base64.b64encode(item).decode()
        elif number == 3:
            secret["type"] = _text(value)
    return secret


def _config_map(raw: bytes) -> dict[str, Any]:
    config_map: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap"}
    for number, value in _fields(raw):
        if number == 1:
            assert isinstance(value, bytes)
            config_map["metadata"] = _object_meta(value)
        elif number == 2:
            key, item = _map_entry(value)
            config_map.setdefault("data", {})[key] = item.decode()
    return config_map


_DECODERS = {"Secret": _secret, "ConfigMap": _config_map}


OPENAPI_V2_CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _length_delimited(number: int, value: bytes) -> bytes:
    assert len(value) < 128, "one-byte lengths are enough here"
    return bytes([number << 3 | 2, len(value)]) + value


def openapi_v2_document(version: str) -> bytes:
    """An OpenAPI v2 document (gnostic's Document: swagger = 1, info = 2 with title = 1 and version = 2) that
    defines no schema, as kubectl's client-side validation reads it: an object without a schema is not checked."""
    info = _length_delimited(1, b"Kubernetes") + _length_delimited(2, version.encode())
    return _length_delimited(1, b"2.0") + _length_delimited(2, info)


def decode(body: bytes) -> dict[str, Any]:
    """The object a protobuf body holds, as the JSON the API would have been sent; ValueError otherwise."""
    if not body.startswith(MAGIC):
        raise ValueError("the body does not start with the k8s protobuf magic")
    unknown = dict(_fields(body[len(MAGIC) :]))
    type_meta = dict(_fields(unknown.get(1, b""))) if isinstance(unknown.get(1), bytes) else {}
    kind = _text(type_meta.get(2, b""))
    raw = unknown.get(2, b"")
    if kind not in _DECODERS or not isinstance(raw, bytes):
        raise ValueError(f"decoding a {kind or 'kindless'} protobuf body is not supported by this fake")
    return _DECODERS[kind](raw)
