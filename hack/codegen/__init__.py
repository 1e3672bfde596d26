"""Code generators: the CRD and the reference page, from the models of
`kubetune.operator.api` (`make crds`; not shipped with the operator)."""
