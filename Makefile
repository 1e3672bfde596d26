# kubetune — `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help

KUBE_VERSION ?= v1.36.3
CACHE_DIR    ?= $(HOME)/.cache/kubetune
KUBE_BIN     := $(CACHE_DIR)/kube-$(KUBE_VERSION)
PYTHON       ?= python3
VENV         := .venv
PY           := $(VENV)/bin/python
export KUBETUNE_KUBE_BIN := $(KUBE_BIN)
HELM_VERSION ?= v4.3.1
HELM_DIR     := $(CACHE_DIR)/helm-$(HELM_VERSION)
HELM         := $(HELM_DIR)/helm
CHART        := charts/kubetune
export KUBETUNE_HELM := $(HELM)
# The folder operator/ would shadow the standard library's `operator` for `python -m` and
# `python -c` run from the repository root; Python 3.11's safe-path mode keeps the
# current directory off sys.path.
export PYTHONSAFEPATH := 1

##@ General

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-zA-Z0-9_.-]+:.*##/ {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Setup

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

.PHONY: install
install: $(VENV)/.installed ## Create .venv and install kubetune with its development dependencies, at the versions of constraints.txt

LOCK_VENV := .venv-lock

.PHONY: lock
lock: ## Rewrite constraints.txt with the newest versions pyproject.toml allows, from a fresh virtual environment (then run make test)
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install -q --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install -q '.[dev]'
	{ grep '^#' constraints.txt; $(LOCK_VENV)/bin/python -m pip freeze --exclude kubetune; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(LOCK_VENV) build  # setuptools builds the wheel in build/

# The trainer's own virtual environment: MXNet 1.9.1 needs numpy<1.24, which the operator's
# dependencies do not allow. Rebuilt from scratch when a trainer requirements file changes.
TRAINER_VENV := .venv-trainer

$(TRAINER_VENV)/.installed: $(wildcard trainer-image/requirements*.txt)
	rm -rf $(TRAINER_VENV)
	$(PYTHON) -m venv $(TRAINER_VENV)
	$(TRAINER_VENV)/bin/python -m pip install -q -r trainer-image/requirements.txt
	touch $@

.PHONY: trainer-venv
trainer-venv: $(TRAINER_VENV)/.installed ## Create .venv-trainer (MXNet 1.9.1 on the CPU) for the trainer, its tests and the local cluster

.PHONY: kube-binaries
kube-binaries: ## Build (or reuse) kube-apiserver, controller-manager, scheduler and kubectl at KUBE_VERSION
	hack/build-kube.sh $(KUBE_VERSION) $(KUBE_BIN)

.PHONY: helm
helm: ## Build (or reuse) helm at HELM_VERSION from the Go module proxy
	hack/build-helm.sh $(HELM_VERSION) $(HELM_DIR)

.PHONY: real-node-prereqs
real-node-prereqs: ## Where the machine can run a real node (root, cgroups; hack/real-node.sh check): containerd, runc, CNI plugins (apt-get) and the kubelet + kube-proxy at KUBE_VERSION (cached); otherwise say why and go on
	KUBETUNE_CACHE_DIR=$(CACHE_DIR) hack/real-node.sh prepare

.PHONY: lua
lua: ## Lua 5.4 for the test that runs docs/helm.md's Argo CD health script (apt-get, where missing and root); otherwise say so and go on (that test is skipped)
	@command -v lua5.4 >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends lua5.4 >/dev/null; } \
		|| echo "lua: lua5.4 missing and not installable here (root and apt-get needed); the Argo CD health script's test is skipped"

##@ Images

.PHONY: images
images: ## Build the operator image and the CPU trainer image with podman (hack/images.sh; base image made from Debian's archive when absent; cached)
	hack/images.sh

##@ Helm chart

.PHONY: chart-crds
chart-crds: ## Copy crds/*.yaml into charts/kubetune/crds (a unit test fails when the copy drifts)
	rm -f $(CHART)/crds/*.yaml
	cp crds/*.yaml $(CHART)/crds/

.PHONY: chart-docs
chart-docs: install ## Regenerate the README's chart values table from values.yaml comments
	$(PY) hack/chart_values_table.py --write

.PHONY: helm-lint
helm-lint: helm ## helm lint --strict the chart, cluster-wide and namespaced
	$(HELM) lint --strict $(CHART)
	$(HELM) lint --strict $(CHART) --set 'watchNamespaces={team-a,team-b}'

##@ Generate

.PHONY: crds
crds: install ## Generate crds/kubetune.io_tuningjobs.yaml and docs/tuningjob-reference.md from operator/api/, and copy the CRDs into the chart
	PYTHONPATH=hack $(PY) -m codegen.crd > crds/kubetune.io_tuningjobs.yaml
	@mkdir -p docs
	PYTHONPATH=hack $(PY) -m codegen.reference > docs/tuningjob-reference.md
	rm -f $(CHART)/crds/*.yaml
	cp crds/*.yaml $(CHART)/crds/

##@ Checks

# mypy and import-linter cannot follow setuptools' editable-install import hook: both read
# .typecheck/, a symlink tree that mirrors the installed layout (kubetune/operator -> operator/).
.PHONY: .typecheck
.typecheck:
	@mkdir -p .typecheck/kubetune
	@ln -sfn ../../optimizer .typecheck/kubetune/optimizer
	@ln -sfn ../../operator .typecheck/kubetune/operator
	@ln -sfn ../../analytics .typecheck/kubetune/analytics
	@ln -sfn ../../cli .typecheck/kubetune/cli

.PHONY: lint
lint: install .typecheck ## Ruff lint and format check; import-linter's layer contracts (pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	PYTHONPATH=.typecheck $(VENV)/bin/lint-imports

.PHONY: hadolint
hadolint: install ## Lint every Dockerfile in the repository with hadolint
	@files=$$(find . -path './.*' -prune -o -type f \( -name Dockerfile -o -name '*.Dockerfile' \) -print | sort); \
	test -n "$$files" || { echo "hadolint: no Dockerfile found" >&2; exit 1; }; \
	echo $(VENV)/bin/hadolint $$files; \
	$(VENV)/bin/hadolint $$files

.PHONY: typecheck
typecheck: install .typecheck ## mypy --strict over kubetune.optimizer, .operator, .analytics, .cli, the local cluster (hack/cluster), the code generators and the demo
	MYPYPATH=.typecheck $(VENV)/bin/mypy -p kubetune.optimizer -p kubetune.operator -p kubetune.analytics -p kubetune.cli
	MYPYPATH=hack:.typecheck $(VENV)/bin/mypy -p cluster -p codegen -p demo

##@ Tests

.PHONY: unit
unit: install ## Unit tests: no cluster, no helm, no MXNet, no images, no slow quality tests (well under a minute)
	$(VENV)/bin/pytest -m 'not cluster and not helm and not trainer and not slow and not containers' -q

.PHONY: test-chart
test-chart: install helm ## The chart's unit tests (helm template)
	$(VENV)/bin/pytest -m 'helm and not cluster' -q

.PHONY: test-trainer
test-trainer: install trainer-venv ## The MXNet trainer, run for real on small data
	$(VENV)/bin/pytest -m trainer -q

.PHONY: test-containers
test-containers: install kube-binaries helm images ## The container images run under podman (tests/containers)
	$(VENV)/bin/pytest -m containers -q

.PHONY: test-integration
test-integration: install kube-binaries helm ## Integration tests against the local API server (tests/integration)
	$(VENV)/bin/pytest tests/integration -q

.PHONY: test-e2e
test-e2e: install trainer-venv kube-binaries helm ## End-to-end tests: the real operator on the local cluster (tests/e2e)
	$(VENV)/bin/pytest tests/e2e -q

.PHONY: test-real-node
test-real-node: install kube-binaries helm images real-node-prereqs ## Trials and the chart's operator as real containers on a real kubelet node (tests/e2e/test_real_node.py; skips, saying why, where the machine cannot)
	$(VENV)/bin/pytest tests/e2e/test_real_node.py -q -rs

.PHONY: test
test: install trainer-venv kube-binaries helm images real-node-prereqs lua lint hadolint helm-lint typecheck ## Everything (the CI entry): lint, types, every test tier (the real-node tests where the machine can run them)
	$(VENV)/bin/pytest -q -rs

##@ Local cluster

# hack/ (never the repository root, whose operator/ shadows the stdlib) is the import root.
CLUSTER := PYTHONPATH=hack $(PY) -m cluster

.PHONY: cluster-up
cluster-up: install kube-binaries ## Start the local control plane + GPU node agent (kubeconfig: .cluster/kubeconfig; KUBETUNE_NODES, KUBETUNE_GPUS_PER_NODE; KUBETUNE_REAL_NODE=1 adds a real kubelet node)
	@$(CLUSTER) up
	@if [ "$$KUBETUNE_REAL_NODE" = 1 ]; then KUBETUNE_CACHE_DIR=$(CACHE_DIR) hack/real-node.sh up; fi

.PHONY: cluster-down
cluster-down: ## Stop every process of the local cluster (logs stay in .cluster/) and the real node if any (its mounts, bridge, iptables rules and sysctls too)
	@hack/real-node.sh down
	@test ! -x $(PY) || $(CLUSTER) down

.PHONY: cluster-status
cluster-status: ## Say whether the local cluster answers, and list its processes
	@$(CLUSTER) status

##@ Operator

# The local cluster's kubeconfig, where `make cluster-up` writes it (hack/cluster: in
# $KUBETUNE_CLUSTER_DIR, else .cluster).
CLUSTER_KUBECONFIG = $(or $(KUBETUNE_CLUSTER_DIR),.cluster)/kubeconfig

.PHONY: run-operator
run-operator: install kube-binaries ## Run the operator in the foreground against the local cluster (its kubeconfig in $KUBETUNE_CLUSTER_DIR, else .cluster; start it with `make cluster-up`; OPERATOR_ARGS=...)
	$(KUBE_BIN)/kubectl --kubeconfig $(CLUSTER_KUBECONFIG) apply --server-side -f crds/
	KUBECONFIG=$(CLUSTER_KUBECONFIG) $(VENV)/bin/kubetune-operator --standalone --verbose $(OPERATOR_ARGS)

##@ Demo

.PHONY: demo
demo: install trainer-venv kube-binaries ## A real tuning job end to end on a local cluster, on the CPU (KEEP_CLUSTER=1 leaves the cluster up)
	@KEEP_CLUSTER=$(KEEP_CLUSTER) hack/with-cluster.sh $(PY) hack/demo.py

REPRODUCE_ARGS ?=

.PHONY: reproduce
reproduce: install trainer-venv kube-binaries ## The seed's headline at CPU scale: Bayesian 30 trials x 2 vs Random 120 x 8, 3 seeds, on the local cluster; table + out/reproduce/best-so-far.png (REPRODUCE_ARGS=--local: no cluster)
	@if [[ " $(REPRODUCE_ARGS) " == *" --local "* ]]; then \
		$(PY) hack/reproduce.py $(REPRODUCE_ARGS); \
	else \
		KEEP_CLUSTER=$(KEEP_CLUSTER) hack/with-cluster.sh $(PY) hack/reproduce.py $(REPRODUCE_ARGS); \
	fi

##@ Benchmarks

BENCH_ARGS ?=

.PHONY: bench-operator
bench-operator: install kube-binaries ## Operator latency: K=1 and K=20 TuningJobs x 2 parallel instant trials; completion->next Job delay, trials/min, peak RSS
	@KEEP_CLUSTER=$(KEEP_CLUSTER) hack/with-cluster.sh $(PY) hack/bench_operator.py $(BENCH_ARGS)

.PHONY: bench-log-reading
bench-log-reading: install kube-binaries ## Judging running trials: 25 TuningJobs x 4 trials, logs followed vs read again every 2.5 s; operator RSS, threads, CPU, API server CPU, reads/s
	@KEEP_CLUSTER=$(KEEP_CLUSTER) hack/with-cluster.sh $(PY) hack/bench_log_reading.py $(BENCH_ARGS)

.PHONY: bench-cli
bench-cli: install kube-binaries ## `kubetune trials` on a 1000-trial TuningJob, wall time beside the 2 s target (BENCH_ARGS="--runs 9")
	@KEEP_CLUSTER=$(KEEP_CLUSTER) hack/with-cluster.sh $(PY) hack/bench_cli.py $(BENCH_ARGS)

.PHONY: bench-optimizer
bench-optimizer: install ## Optimizer vs Optuna TPE/GP, scikit-optimize and BoTorch on 25 problems (dev/held-out halves): scores, parallel, latency (BENCH_ARGS="--quick", "--seeds 2", "--half held-out", "--latency-only")
	@$(PY) -c "import optuna, skopt, sklearn, torch, greenlet, botorch" 2>/dev/null || $(PY) -m pip install -q -c constraints.txt -e '.[bench]'
	OMP_NUM_THREADS=1 $(PY) hack/bench_optimizer.py $(BENCH_ARGS)

.PHONY: bench-hyperband
bench-hyperband: install ## Hyperband vs Random, Bayesian (+ median rule) and Optuna TPE + SHA/Hyperband pruners on recorded and synthetic learning curves, 4 simulated workers (BENCH_ARGS="--seeds 5", "--dev")
	@$(PY) -c "import optuna" 2>/dev/null || $(PY) -m pip install -q -c constraints.txt -e '.[bench]'
	OMP_NUM_THREADS=1 $(PY) hack/bench_hyperband.py $(BENCH_ARGS)

.PHONY: record-learning-curves
record-learning-curves: trainer-venv ## Record bench-hyperband's three digits learning-curve tables from the real MXNet trainer (delete hack/bench/data/digits*-curves.jsonl.gz first to re-record; ~15 + ~20 + ~15 min of one core; resumes a partial table)
	OMP_NUM_THREADS=1 MXNET_CPU_WORKER_NTHREADS=1 nice -n 15 $(TRAINER_VENV)/bin/python hack/record_learning_curves.py --configs 317 --epochs 27
	OMP_NUM_THREADS=1 MXNET_CPU_WORKER_NTHREADS=1 nice -n 15 $(TRAINER_VENV)/bin/python hack/record_learning_curves.py --task digits200-mxnet --configs 1000 --epochs 27
	OMP_NUM_THREADS=1 MXNET_CPU_WORKER_NTHREADS=1 nice -n 15 $(TRAINER_VENV)/bin/python hack/record_learning_curves.py --task digits1000-mxnet --configs 600 --epochs 27
