"""What `kubetune run --local` makes of manifest text that kubectl takes without a word,
pinned to what kubectl 1.36 sends: sigs.k8s.io/yaml v1.6.0's Unmarshal (go-yaml v2.4.3,
not strict) turns each document into JSON before kubectl validates or sends it, as
k8s.io/apimachinery's YAMLToJSONDecoder does for `kubectl apply -f`. The expected JSON
below is that program's output for the same text (README: the note on y and n)."""

from __future__ import annotations

import json

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
