"""The local Kubernetes control plane for tests and the demo.

Real kube-apiserver, etcd, kube-controller-manager and kube-scheduler on 127.0.0.1 (the API
server also on the machine's address, for a real node's pods: components.py), plus
a node agent of ours that registers fake GPU nodes and runs pods as local processes.
Run it with the hack/ folder on PYTHONPATH (never the repository root, whose operator/
folder would shadow the standard library):

    PYTHONPATH=hack .venv/bin/python -m cluster up|down|status
"""
