"""What `kubetune run --local` makes of manifest text that kubectl takes without a word,
pinned to what kubectl 1.36 sends: sigs.k8s.io/yaml v1.6.0's Unmarshal (go-yaml v2.4.3,
not strict) turns each document into JSON before kubectl validates or sends it, as
k8s.io/apimachinery's YAMLToJSONDecoder does for `kubectl apply -f`. The expected JSON
below is that program's output for the same text (docs/local-runs.md: the note on y and n)."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from kubetune.cli.kubectl_yaml import load_all

MANIFEST = """\
apiVersion: kubetune.io/v1alpha1
kind: TuningJob
metadata:
  name: job
spec:
  strategy: Random
  strategy: Grid
  staticHyperparameters:
    n: "4"
    y: "5"
    "no": a
"""
KUBECTL_SENDS = (
    '{"apiVersion":"kubetune.io/v1alpha1","kind":"TuningJob","metadata":{"name":"job"},'
    '"spec":{"staticHyperparameters":{"false":"4","no":"a","true":"5"},"strategy":"Grid"}}'
)


def test_a_repeated_key_keeps_its_last_value_and_a_bare_n_key_is_false_as_kubectl_sends() -> None:
    (document,) = load_all(MANIFEST, "job.yaml")
    assert document == json.loads(KUBECTL_SENDS)


def test_a_key_given_twice_keeps_its_last_value_also_when_the_first_is_a_mapping() -> None:
    (document,) = load_all("spec:\n  a: 1\n  a:\n    b: 2\n", "job.yaml")
    assert document == json.loads('{"spec":{"a":{"b":2}}}')


def _as_the_api_server_reads(sent: str) -> object:
    """kubectl's JSON as the API server reads it: an integer beyond int64 is a float."""
    return json.loads(sent, parse_int=lambda t: int(t) if -(2**63) <= int(t) < 2**63 else float(t))


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        # go-yaml v2 applies a merge key where it stands: after an explicit key, it wins
        ("b: &b {x: 1}\nm:\n  x: 2\n  <<: *b\n", '{"b":{"x":1},"m":{"x":1}}'),
        ("b: &b {x: 1}\nm:\n  <<: *b\n  x: 2\n", '{"b":{"x":1},"m":{"x":2}}'),
        # a list of maps: the first wins over the later ones and over the keys before it
        (
            "b: &b {x: 1}\nc: &c {x: 3, z: 4}\nm:\n  x: 2\n  <<: [*b, *c]\n  z: 5\n",
            '{"b":{"x":1},"c":{"x":3,"z":4},"m":{"x":1,"z":5}}',
        ),
        ("m:\n  <<: {a: {b: 1}}\n  a: {c: 2}\n", '{"m":{"a":{"c":2}}}'),
        ("a: <<\n", '{"a":"<<"}'),  # a merge key's text elsewhere is text
        ("a: [<<]\n", '{"a":["<<"]}'),
        ("a: !!timestamp 2026-01-02\n", '{"a":"2026-01-02"}'),  # kubectl sends the text
        ("a: !!timestamp 2001-12-14t21:59:43.10-05:00\n", '{"a":"2001-12-14t21:59:43.10-05:00"}'),
        ("a: !!binary aGVsbG8=\n", '{"a":"hello"}'),  # decoded
        ("a: !!binary |\n  aGVs\n  bG8=\n", '{"a":"hello"}'),
        ("a: !!binary /w==\n", '{"a":"\\ufffd"}'),  # a byte that is not UTF-8
        # Go's JSON writes a whole float's shortest digits, read back as an int64 if one
        # holds them: -2**63 - 1 is the float -2**63, sent as -9223372036854776000
        ("a: -9223372036854775809\n", '{"a":-9223372036854776000}'),
        ("a: 9.223372036854775e18\n", '{"a":9223372036854775000}'),
        ("a: -9223372036854775808\n", '{"a":-9223372036854775808}'),
    ],
)
def test_merge_keys_tags_and_large_floats_are_sent_as_kubectl_sends_them(
    text: str, sent: str
) -> None:
    (document,) = load_all(text, "job.yaml")
    expected = _as_the_api_server_reads(sent)
    assert document == expected
    assert json.dumps(document, sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a: !!timestamp foo\n", "cannot decode !!str `foo` as a !!timestamp"),
        ("a: !!timestamp 2026-01-02T10:00:00\n", "as a !!timestamp"),  # T needs a zone
        ("a: !!timestamp 2026-02-30\n", "as a !!timestamp"),
        ("a: !!binary zz\n", "!!binary value contains invalid base64 data"),
        ("m:\n  <<: 1\n", "map merge requires map or sequence of maps as the value"),
    ],
)
def test_what_kubectl_cannot_read_is_an_error(text: str, error: str) -> None:
    with pytest.raises(yaml.YAMLError, match=re.escape(error)):
        load_all(text, "job.yaml")
