"""Errors kubetune shows the user as they are: each message says what happened and what
to do about it. The CLI prints them and exits 1 (2 for a UsageError)."""

from __future__ import annotations


class KubetuneError(Exception):
    """An error to show the user as is."""


class NotFoundError(KubetuneError):
    """The TuningJob (or its trial, pod or best trial) does not exist."""


class ForbiddenError(KubetuneError):
    """The user may not perform a verb on a resource."""


class UnreachableError(KubetuneError):
    """No kubeconfig, or no API server answering at its address."""


class UsageError(KubetuneError):
    """A command-line option's value the TuningJob cannot take (e.g. `--sort` naming no
    column of its trials): the CLI exits 2, as for any usage error."""
