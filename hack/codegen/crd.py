"""Build the TuningJob CustomResourceDefinition from the pydantic models.

`PYTHONPATH=hack python -m codegen.crd` prints it as YAML (`make crds` writes it to
`crds/kubetune.io_tuningjobs.yaml`). The schemas of spec and status come from
`kubetune.operator.api.schema` (where `kubetune run --local` reads its CEL rules too).
"""

from __future__ import annotations

import copy
import sys
from typing import Any

import yaml
from kubetune.operator import api as models
from kubetune.operator.api.schema import description, spec_schema, status_schema

CRD_NAME = f"{models.PLURAL}.{models.GROUP}"

PRINTER_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Strategy",
        "type": "string",
        "jsonPath": ".spec.strategy",
        "description": "Search strategy.",
    },
    {
        "name": "Phase",
        "type": "string",
        "jsonPath": ".status.phase",
        "description": "Lifecycle phase of the tuning job.",
    },
    {
        "name": "Best",
        # The operator's text of the value: a number column prints the JSON's number as it
        # is, all 17 digits of 0.9888888888888889.
        "type": "string",
        "jsonPath": ".status.bestObjectiveText",
        "description": "Best objective value so far (6 significant digits; a Hyperband "
        "rung's value is marked with its rung).",
    },
    {
        "name": "Trials",
        "type": "string",
        "jsonPath": ".status.trialsDone",
        "description": "Finished trials over maxTrials.",
    },
    {
        "name": "Running",
        "type": "integer",
        "jsonPath": ".status.counters.running",
        "description": "Trials running now.",
    },
    {
        "name": "Epochs",
        "type": "integer",
        "jsonPath": ".status.epochsConsumed",
        "description": "Hyperband: epochs consumed by all trials.",
    },
    {
        "name": "Age",
        "type": "date",
        "jsonPath": ".metadata.creationTimestamp",
    },
    {
        "name": "Message",
        "type": "string",
        "jsonPath": ".status.message",
        "priority": 1,
        "description": "What the job does or waits for, or why it ended (kubectl get -o wide).",
    },
]


def build_crd() -> dict[str, Any]:
    """The TuningJob CustomResourceDefinition as a dict (apiextensions.k8s.io/v1)."""
    top_description = description(models.TuningJob.__doc__ or "")
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": CRD_NAME,
            "labels": {"app.kubernetes.io/part-of": "kubetune"},
        },
        "spec": {
            "group": models.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": models.KIND,
                "listKind": f"{models.KIND}List",
                "plural": models.PLURAL,
                "singular": models.SINGULAR,
                "shortNames": list(models.SHORT_NAMES),
                "categories": list(models.CATEGORIES),
            },
            "versions": [
                {
                    "name": models.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": copy.deepcopy(PRINTER_COLUMNS),
                    "schema": {
                        "openAPIV3Schema": {
                            "description": top_description,
                            "type": "object",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {
                                    "description": f"APIVersion: {models.API_VERSION}.",
                                    "type": "string",
                                },
                                "kind": {
                                    "description": f"Kind: {models.KIND}.",
                                    "type": "string",
                                },
                                "metadata": {"type": "object"},
                                "spec": spec_schema(),
                                "status": status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings as literal blocks."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)

HEADER = (
    "# Generated from operator/api/ by `make crds` (hack/codegen/crd.py).\n"
    "# Do not edit by hand: change the models and regenerate.\n"
)


def render_crd_yaml() -> str:
    """The CRD as the YAML text committed under crds/."""
    body = yaml.dump(
        build_crd(), Dumper=_Dumper, sort_keys=False, width=100, default_flow_style=False
    )
    return HEADER + body


def main() -> None:
    """Print the CRD YAML on stdout."""
    sys.stdout.write(render_crd_yaml())


if __name__ == "__main__":
    main()
