"""Manifests read as kubectl reads them (sigs.k8s.io/yaml: go-yaml v2, then JSON), not as
PyYAML's YAML 1.1 does, so that `kubetune run --local` gives a manifest the meaning it has
for the API server: a bare `n` is a boolean there as here, `1e-3` a number, `1:30` text.
Checked against sigs.k8s.io/yaml v1.6.0 on a table of plain scalars
(tests/unit/cli/test_read_manifest.py)."""

from __future__ import annotations

import base64
import datetime
import decimal
import io
import math
import re
import struct
from collections.abc import Hashable
from typing import Any

import yaml
from kubetune.analytics.errors import KubetuneError


def load_all(text: str, name: str) -> list[Any]:
    """The documents of `text` (YAML, from the file `name`, which its errors name) as the
    JSON kubectl would send, less the empty ones (a `---` at the end, as kubectl skips
    it); yaml.YAMLError where kubectl cannot read it, KubetuneError (naming the field)
    where it has no JSON form."""
    stream = io.StringIO(text)
    stream.name = name  # what PyYAML's error marks show
    documents = yaml.load_all(stream, Loader=_KubectlLoader)
    return [_as_kubectl_sends(d) for d in documents if d is not None]


class _KubectlLoader(yaml.SafeLoader):
    """YAML read as kubectl reads a manifest (sigs.k8s.io/yaml: go-yaml v2, then JSON),
    not as PyYAML's YAML 1.1 does, so that a manifest means here what it means to the API
    server. Plain (unquoted) scalars are resolved as go-yaml v2's `resolve()` does:
    booleans are also y, Y, n and N; an integer is Go's (underscores dropped; 0x, 0o, 0b
    and a leading 0 for octal); a float has digits, an optional point and exponent (1e-3
    too); there are no base-60 numbers (1:30) and no timestamps (2026-01-02 is text, as
    go-yaml gives text for a timestamp read into an untyped value). Map keys are text,
    as sigs.k8s.io/yaml writes them (`_key_text`); a key given twice keeps its last value
    without a word, as go-yaml v2's Unmarshal (not UnmarshalStrict) keeps it for kubectl,
    whose --validate=strict sees the JSON made of it, where the key is once. A merge key
    (a plain `<<`) is applied where it stands, as go-yaml v2's decoder applies it: its
    keys replace those written before it, and those written after it replace its own (a
    list of maps merges its first map last, so that the first wins); `<<` elsewhere is
    text. Explicit !!timestamp and !!binary give text, as kubectl sends them: the
    timestamp as written, the binary decoded."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        mapping: dict[Hashable, Any] = {}
        for key, value in node.value:
            if key.tag == _MERGE_TAG and key.value == "<<":  # go-yaml v2's isMerge
                for merged in self._merged(value):
                    mapping.update(merged)
            else:
                text = _key_text(self.construct_object(key, deep=True), key)
                mapping[text] = self.construct_object(value, deep=deep)
        return mapping

    def _merged(self, node: yaml.Node) -> list[dict[Hashable, Any]]:
        """The maps a merge key's value merges, in the order go-yaml v2 applies them."""
        maps = node.value[::-1] if isinstance(node, yaml.SequenceNode) else [node]
        if not all(isinstance(m, yaml.MappingNode) for m in maps):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "map merge requires map or sequence of maps as the value",
                node.start_mark,
            )
        return [self.construct_object(m, deep=True) for m in maps]


_KubectlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag.endswith((":null", ":merge"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_GO_TRUE = ("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")
_GO_FALSE = ("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")
_GO_BOOLEANS = {**dict.fromkeys(_GO_TRUE, True), **dict.fromkeys(_GO_FALSE, False)}
_GO_SPECIAL_FLOATS = {
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys(("+.inf", "+.Inf", "+.INF", ".inf", ".Inf", ".INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_GO_INT = re.compile(r"([-+]?)(0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_INT64 = (-(2**63), 2**63 - 1)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NUMBER_TAG = "tag:kubetune.io,2026:go-yaml-number"


def _go_number(text: str) -> int | float | str:
    """A plain scalar starting with a digit, a sign or a point, as go-yaml v2 reads it."""
    if text in _GO_SPECIAL_FLOATS:
        return _GO_SPECIAL_FLOATS[text]
    plain = text.replace("_", "")
    if match := _GO_INT.fullmatch(plain):  # strconv.ParseInt(plain, 0, 64), then ParseUint
        sign, digits = match.groups()
        octal = digits[0] == "0" and digits[1:2].isdigit()
        number = int(digits, 8) if octal else int(digits, 0)
        number = -number if sign == "-" else number
        if _INT64[0] <= number <= _INT64[1] or (not sign and number < 2**64):
            return number  # an int64, else a uint64 (a map key refused, as kubectl does)
    if _GO_FLOAT.fullmatch(plain) and math.isfinite(fraction := float(plain)):
        return fraction  # strconv.ParseFloat refuses what overflows: text then
    return text


def _go_boolean(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> bool:
    text = loader.construct_scalar(node)
    if text not in _GO_BOOLEANS:  # only with an explicit !!bool
        raise yaml.constructor.ConstructorError(
            None, None, f"{text!r} is not a boolean", node.start_mark
        )
    return _GO_BOOLEANS[text]


def _go_plain_number(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int | float | str:
    return _go_number(loader.construct_scalar(node))


_KubectlLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile("^(?:" + "|".join(_GO_BOOLEANS) + ")$"), list("yYnNtTfFoO")
)
_KubectlLoader.add_implicit_resolver(_NUMBER_TAG, re.compile(r"^[-+.0-9]"), list("-+.0123456789"))


def _text(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


_GO_TIMESTAMP = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{1,2}-[0-9]{1,2})"
    r"(?:(?P<t>[Tt ])(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{1,2}):(?P<second>[0-9]{1,2})"
    r"(?:[.,][0-9]+)?(?P<zone>Z|[-+][0-9]{2}:[0-9]{2})?)?"
)


def _go_timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    """An explicit !!timestamp: its text, as kubectl sends it, where it is one of
    go-yaml v2's allowedTimestampFormats (a date; a date and time with a T and a zone, or
    with a space and none); an error otherwise, as there."""
    text = _text(loader, node)
    match = _GO_TIMESTAMP.fullmatch(text)
    try:
        if match is None or (match["t"] and (match["t"] == " ") == bool(match["zone"])):
            raise ValueError(text)
        if match["zone"] and match["zone"] != "Z" and int(match["zone"][1:3]) > 23:
            raise ValueError(text)
        year, month, day = (int(part) for part in match["date"].split("-"))
        hour, minute, second = (int(match[part] or 0) for part in ("hour", "minute", "second"))
        datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise yaml.constructor.ConstructorError(
            None, None, f"cannot decode !!str `{text}` as a !!timestamp", node.start_mark
        ) from None
    return text


def _go_binary(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    """An explicit !!binary: the text of its decoded bytes, as kubectl sends it (Go's
    JSON writes each byte that is not UTF-8 as U+FFFD)."""
    encoded = _text(loader, node).replace("\r", "").replace("\n", "")
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise yaml.constructor.ConstructorError(
            None, None, "!!binary value contains invalid base64 data", node.start_mark
        ) from None
    return re.sub("[\udc80-\udcff]", "\ufffd", decoded.decode("utf-8", "surrogateescape"))


_KubectlLoader.add_constructor(_BOOL_TAG, _go_boolean)
_KubectlLoader.add_constructor(_NUMBER_TAG, _go_plain_number)
_KubectlLoader.add_constructor(_MERGE_TAG, _text)  # a `<<` that is not a key: text
_KubectlLoader.add_constructor("tag:yaml.org,2002:timestamp", _go_timestamp)
_KubectlLoader.add_constructor("tag:yaml.org,2002:binary", _go_binary)


def _key_text(key: object, node: yaml.Node) -> str:
    """A map key as sigs.k8s.io/yaml writes it into JSON (true, 1, 0.5, 1e+06); a key of
    another kind (null, a list, a number beyond 64 bits) refused as kubectl refuses it."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int) and _INT64[0] <= key <= _INT64[1]:
        return str(key)
    if isinstance(key, float):
        return _go_float_text(key)
    problem = f"the key {key!r} is not text, a boolean or a number (kubectl refuses it); quote it"
    raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


def _go_float_text(number: float) -> str:
    """strconv.FormatFloat(number, 'g', -1, 32), as sigs.k8s.io/yaml writes a float key:
    the shortest digits of the float32, in %e form below 1e-4 and from 1e+06."""
    if not math.isfinite(number):
        return ".nan" if math.isnan(number) else ".inf" if number > 0 else "-.inf"
    single = struct.unpack("f", struct.pack("f", number))[0]
    for precision in range(9):  # the shortest digits that give the float32 back
        shown = f"{single:.{precision}e}"
        if struct.unpack("f", struct.pack("f", float(shown)))[0] == single:
            break
    mantissa, exponent = shown.split("e")
    digits = mantissa.replace(".", "").replace("-", "").rstrip("0") or "0"
    power = int(exponent)
    sign = "-" if mantissa.startswith("-") else ""
    if power < -4 or power >= 6:
        fraction = f".{digits[1:]}" if len(digits) > 1 else ""
        return f"{sign}{digits[0]}{fraction}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if power < 0:
        return f"{sign}0.{'0' * (-power - 1)}{digits}"
    whole, fraction = digits[: power + 1].ljust(power + 1, "0"), digits[power + 1 :]
    return f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}"


def _as_kubectl_sends(value: Any, where: str = "") -> Any:
    """`value` as the JSON kubectl sends it: a whole float as the integer the API server
    reads (10.0 is sent as 10); a NaN or an infinity refused, as kubectl refuses it."""
    if isinstance(value, dict):
        return {k: _as_kubectl_sends(v, f"{where}.{k}" if where else k) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_kubectl_sends(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, float):
        if not math.isfinite(value):
            raise KubetuneError(
                f"{where}: {_go_float_text(value)} has no JSON form (kubectl refuses it); "
                "write a number, or quote it to make it text"
            )
        # Go's JSON writes a whole float as its shortest digits (10.0 as 10,
        # 9.223372036854775e18 as 9223372036854775000), which the API server reads as an
        # integer where an int64 holds them, else as a float (-2**63 is -9223372036854776000).
        whole = int(decimal.Decimal(repr(value))) if value.is_integer() else None
        if whole is not None and _INT64[0] <= whole <= _INT64[1]:
            return whole
    return value
