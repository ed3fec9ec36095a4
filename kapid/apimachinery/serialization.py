"""
Bodies in and out: JSON (orjson) and YAML, JSON decoding that reports duplicate fields for
C{fieldValidation}, and content negotiation of the C{Accept} header (plain objects, C{Table},
C{PartialObjectMetadata}/C{PartialObjectMetadataList}), as kube-apiserver does it.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import attr
import orjson
import yaml

from kapid.apimachinery.status import bad_request, not_acceptable

JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"

#: Media types a body may come in (415 otherwise), in kube's order.
ACCEPTED_BODY_TYPES = (JSON, YAML, PROTOBUF)
#: Media types kube lists in a 406.
ACCEPTED_OUTPUT_TYPES = (JSON, YAML, PROTOBUF)


#: The deepest nesting of arrays and objects a body may have (400 beyond): deeper bodies would
#: exhaust Python's recursion limit in the code that walks them.
MAX_DEPTH = 200
#: The most nodes a YAML body may stand for once its aliases are expanded (400 beyond: a
#: "billion laughs" body is a few hundred bytes that expand to billions of nodes).
MAX_YAML_NODES = 1_000_000


def _too_deep() -> Any:
    return bad_request(f"the object provided is unrecognized: exceeded max depth of {MAX_DEPTH}")


def _check_depth(body: bytes, obj: Any) -> None:
    """
    Raise 400 when C{obj} nests arrays and objects more than L{MAX_DEPTH} deep (walked only when
    the text has that many brackets at all).
    """
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))


class _DuplicateCollector:
    """
    An C{object_pairs_hook} that builds dicts and records duplicate keys (with their paths unknown:
    kube reports the key).
    """

    def __init__(self) -> None:
        self.duplicates: list[str] = []

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                self.duplicates.append(k)
            out[k] = v
        return out


def decode_json(body: bytes, detect_duplicates: bool = False) -> tuple[Any, list[str]]:
    """
    Decode a JSON body: C{(object, duplicate field names)}. Raises 400 for malformed JSON.
    """
    if not detect_duplicates:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise bad_request(_json_error(body, e))
        _check_depth(body, obj)
        return obj, []
    collector = _DuplicateCollector()
    try:
        obj = json.loads(body, object_pairs_hook=collector)
    except (ValueError, UnicodeDecodeError) as e:
        raise bad_request(_json_error(body, e))
    except RecursionError:
        raise _too_deep() from None
    _check_depth(body, obj)
    return obj, collector.duplicates


def _json_error(body: bytes, e: Exception) -> str:
    snippet = body[:30].decode("utf-8", "replace")
    return f"the object provided is unrecognized: json: {e} ({snippet})"


class _Loader(yaml.SafeLoader):
    """
    A YAML loader that keeps timestamps as strings (Kubernetes' YAML-to-JSON does).
    """


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_set(loader: _Loader, node: Any) -> Any:
    # a set is a mapping whose values are null, as go-yaml (and so kube) reads it
    return loader.construct_mapping(node)


def _construct_binary(loader: _Loader, node: Any) -> Any:
    # the decoded bytes as a string (go-yaml), never Python bytes, which JSON cannot hold
    data = loader.construct_yaml_binary(node)
    return data.decode("utf-8", "replace")


def _construct_int(loader: _Loader, node: Any) -> Any:
    # beyond int64 and uint64, go-yaml reads an integer as a float (JSON cannot carry it as one)
    value = loader.construct_yaml_int(node)
    if -(2**63) <= value < 2**64:
        return value
    try:
        return float(value)
    except OverflowError:
        raise yaml.constructor.ConstructorError(None, None, "a number is too large", node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:set", _construct_set)
_Loader.add_constructor("tag:yaml.org,2002:binary", _construct_binary)


def decode_yaml(body: bytes) -> Any:
    """
    Decode a YAML body (one document). Raises 400 when it cannot, when it nests deeper than
    L{MAX_DEPTH}, refers to itself, or its aliases expand to more than L{MAX_YAML_NODES} nodes.
    """
    try:
        loader = _Loader(body)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_yaml_node(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        raise bad_request(f"the object provided is unrecognized: yaml: {e}")
    except RecursionError:
        raise _too_deep() from None
    except ValueError:  # an integer of more digits than Python converts
        raise bad_request("the object provided is unrecognized: yaml: a number is too large") from None


def _check_yaml_node(root: Any) -> None:
    """
    Walk the composed node graph once (each shared node once): how deep and how many nodes it is
    with every alias expanded, and whether an alias refers to a node that contains it.
    """
    seen: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, expanded height)
    open_: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if isinstance(node, yaml.ScalarNode):
            seen[key] = (1, 1)
            continue
        children = (
            [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else list(node.value)
        )
        if done:
            open_.discard(key)
            size = 1 + sum(seen[id(c)][0] for c in children)
            height = 1 + max((seen[id(c)][1] for c in children), default=0)
            if height > MAX_DEPTH:
                raise _too_deep()
            if size > MAX_YAML_NODES:
                raise bad_request(
                    "the object provided is unrecognized: yaml: document contains excessive aliasing"
                )
            seen[key] = (size, height)
            continue
        if key in seen:
            continue
        open_.add(key)
        stack.append((node, True))
        for c in children:
            if id(c) in open_:
                raise bad_request(
                    "the object provided is unrecognized: yaml: an alias refers to a node that contains it"
                )
            if id(c) not in seen:
                stack.append((c, False))


def encode_json(obj: Any, pretty: bool = False) -> bytes:
    """
    Compact (or 2-space indented) JSON with a trailing newline, as Go's encoder writes it.
    """
    if isinstance(obj, EncodedList):
        if not pretty:
            return obj.to_json()
        obj = obj.to_object()
    if pretty:
        return orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n"
    return orjson.dumps(obj) + b"\n"


@attr.s(frozen=True, slots=True, auto_attribs=True)
class EncodedList:
    """
    A list body whose items are already JSON: C{head} holds the other top-level fields (C{kind},
    C{apiVersion}, C{metadata}, in order) and C{items} each item's compact JSON. Encoded as JSON it
    is the same bytes as the list object would be (the items joined, not re-encoded); other forms
    decode the items first.
    """

    head: dict
    items: list

    def to_object(self) -> dict:
        """
        The list as a plain object (items decoded).
        """
        return {**self.head, "items": [orjson.loads(b) for b in self.items]}

    def to_json(self) -> bytes:
        """
        Compact JSON with a trailing newline, as L{encode_json} writes the plain object.
        """
        head = orjson.dumps(self.head)[:-1]
        sep = b"," if len(head) > 1 else b""
        return b"".join((head, sep, b'"items":[', b",".join(self.items), b"]}\n"))


class _Dumper(yaml.SafeDumper):
    """
    A YAML dumper for Kubernetes objects (block style, sorted keys like sigs.k8s.io/yaml).
    """

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, True)


def encode_yaml(obj: Any) -> bytes:
    """
    YAML as kube-apiserver writes it (keys sorted, lists not indented under their key).
    """
    return yaml.dump(
        obj, Dumper=_Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True
    ).encode("utf-8")


# ---------------------------------------------------------------------------------------------------
# Content negotiation


@attr.s(frozen=True, slots=True, auto_attribs=True)
class Output:
    """
    What a response is written as.

    @ivar media: C{application/json} or C{application/yaml}.
    @ivar as_kind: C{""}, C{"Table"}, C{"PartialObjectMetadata"} or C{"PartialObjectMetadataList"}.
    @ivar as_version: C{v1} or C{v1beta1} when C{as_kind} is set.
    """

    media: str = JSON
    as_kind: str = ""
    as_version: str = ""

    @property
    def content_type(self) -> str:
        """
        The response's Content-Type.
        """
        if self.as_kind:
            return f"{self.media};as={self.as_kind};g=meta.k8s.io;v={self.as_version}"
        return self.media

    def encode(self, obj: Any, pretty: bool = False) -> bytes:
        """
        Encode an object in this media type.
        """
        if self.media == YAML:
            return encode_yaml(obj.to_object() if isinstance(obj, EncodedList) else obj)
        return encode_json(obj, pretty)


DEFAULT_OUTPUT = Output()


def _parse_media_range(text: str) -> tuple[str, dict[str, str], float]:
    parts = [p.strip() for p in text.split(";")]
    media = parts[0].lower()
    params: dict[str, str] = {}
    q = 1.0
    for p in parts[1:]:
        if "=" not in p:
            continue
        k, v = p.split("=", 1)
        k, v = k.strip().lower(), v.strip().strip('"')
        if k == "q":
            try:
                q = float(v)
            except ValueError:
                q = 0.0
        else:
            params[k] = v
    return media, params, q


_AS_KINDS = {"Table", "PartialObjectMetadata", "PartialObjectMetadataList"}


def negotiate(accept: Optional[str], allow_as: bool = True, stream: bool = False) -> Output:
    """
    Pick the response form from an C{Accept} header, kube-style: the first acceptable range (by q),
    C{as=Table|PartialObjectMetadata[List];g=meta.k8s.io;v=v1|v1beta1} honoured when C{allow_as};
    protobuf is not produced (JSON is answered instead when the client also accepts it); 406 when
    nothing fits.
    """
    if not accept:
        return DEFAULT_OUTPUT
    ranges = []
    for i, item in enumerate(accept.split(",")):
        if not item.strip():
            continue
        media, params, q = _parse_media_range(item)
        if q <= 0:
            continue
        ranges.append((-q, i, media, params))
    ranges.sort()
    for _, _, media, params in ranges:
        if media in ("application/json", "application/*", "*/*", "application/yaml"):
            if media == "application/yaml" and stream:
                continue
            out_media = YAML if media == "application/yaml" else JSON
            as_kind = params.get("as", "")
            if as_kind:
                if not allow_as or as_kind not in _AS_KINDS:
                    continue
                if params.get("g") != "meta.k8s.io" or params.get("v") not in ("v1", "v1beta1"):
                    continue
                return Output(out_media, as_kind, params["v"])
            return Output(out_media)
    if not ranges:
        return DEFAULT_OUTPUT
    if stream:
        raise not_acceptable(
            ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
             "application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")
        )
    raise not_acceptable(ACCEPTED_OUTPUT_TYPES)
