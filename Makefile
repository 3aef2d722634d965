# Entry points of the project. `make test` is what CI runs; `make demo` shows the whole path.
NPM ?= npm
NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: install build test lint proto check deploy-check chaos image demo demo-detect demo-segment demo-pose bench bench-engine bench-data bench-networks bench-search bench-serve bench-tasks soak clean

# Install the workspace exactly as locked (skipped when the lock has not changed).
install: $(NODE_MODULES_STAMP)
$(NODE_MODULES_STAMP): package-lock.json
	$(NPM) ci

# Compile every workspace package to dist/ (the rnas command runs from there).
build: install
	npx tsc -b

# The whole test suite: unit, parity and integration tests.
test: build
	@test -d /usr/share/datasets/fashion-mnist || { echo "make test: the Fashion-MNIST tests read Debian's files: sudo apt-get install dataset-fashion-mnist" >&2; exit 1; }
	npx jest --ci

# ESLint and Prettier over the whole tree.
lint: install
	npx eslint . && npx prettier --check .

# Regenerate the TypeScript for proto/ (options in proto/buf.gen.yaml) and the FileDescriptorSet that
# server reflection serves (libs/proto/src/gen/descriptor-set.ts, the files as protoc writes them).
proto: install
	cd proto && npx buf lint && npx buf generate
	node scripts/descriptor-set.js

# Generated code must be committed as generated: regenerate, type-check (tests too), lint, and fail on any diff.
check: proto lint
	npx tsc -b
	npx tsc -p tsconfig.tests.json
	git diff --exit-code -- libs/proto/src/gen || (echo "check: generated code is stale; run 'make proto' and commit" >&2; exit 1)
	@test -z "$$(git status --porcelain -- libs/proto/src/gen)" || (echo "check: untracked generated files; run 'make proto' and commit" >&2; exit 1)

# The Kubernetes manifests: every overlay of deploy/ rendered with `kubectl kustomize` and checked
# (probes, ports and flags against the services' own config, images, non-root, GPUs, policies).
# Only deploy/'s tests: a path pattern such as `deploy` would match every test of a checkout whose
# own path says deploy.
deploy-check: build
	npx jest --ci --roots '<rootDir>/deploy'

# Durability under kill -9 (issue 16): small searches and trainings run uninterrupted, then again
# while their service is killed with SIGKILL 20 times at seeded random moments and restarted on the
# same state directory; checks 0 jobs lost, results identical, no duplicate publication, and prints
# a table (about 5 minutes on 2 cores; bounded by --timeout-min, 15). Options via CHAOS_ARGS, e.g.
# `make chaos CHAOS_ARGS="--seed 7 --kills 10"` (`node bench/dist/chaos.js --help`).
chaos: build
	node bench/dist/chaos.js $(CHAOS_ARGS)

# The CPU image (deploy/Dockerfile), where a container builder with a running engine exists.
IMAGE ?= rnas:$(shell node -p "require('./package.json').version")
image:
	@if command -v podman >/dev/null 2>&1; then podman build -f deploy/Dockerfile -t $(IMAGE) .; \
	elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then docker build -f deploy/Dockerfile -t $(IMAGE) .; \
	else echo "make image: no container builder here (podman, or docker with a running engine); build deploy/Dockerfile where one is" >&2; exit 1; fi

# The whole path on real data (~5-10 min on 2 cores): starts the three services on free localhost
# ports (state, models and logs in runs/demo-<time>/), searches Fashion-MNIST with RelativeNAS,
# trains the best cell, publishes it, classifies the test set through Classify, stops the
# services. Needs Debian's dataset-fashion-mnist; flags via DEMO_ARGS (`rnas demo --help`).
# Last line: `demo: accuracy=<0..1> model=<name> version=<n>`.
demo: build
	node services/cli/bin/rnas.js demo $(DEMO_ARGS)

# Detection end to end (issue 11): writes synthetic shapes in Pascal VOC format, starts the
# training and inference services, trains SSDLite on a published genotype's backbone through
# TrainingService, sends the held-out images through Detect, scores them and draws a few
# (runs/demo-detect-<time>/detections/). Flags via DEMO_ARGS (`rnas demo --help`).
# Last line: `demo-detect: AP50=<0..1> model=<name> version=<n>`.
demo-detect: build
	node services/cli/bin/rnas.js demo --task detection $(DEMO_ARGS)

# Segmentation end to end (issue 12): synthetic shapes with palette PNG masks in Pascal VOC
# segmentation format, BiSeNet trained on a published genotype's backbone through TrainingService,
# the held-out images through Segment, scored by mIoU at their own size, overlays drawn
# (runs/demo-segment-<time>/overlays/). Last line: `demo-segment: mIoU=<0..1> model=<name> version=<n>`.
demo-segment: build
	node services/cli/bin/rnas.js demo --task segmentation $(DEMO_ARGS)

# Keypoints end to end (issue 12): synthetic stick figures as COCO person keypoints, SimpleBaseline
# trained on a published genotype's backbone through TrainingService, the held-out images and their
# person boxes through EstimatePose, scored by OKS AP and PCK, skeletons drawn
# (runs/demo-pose-<time>/poses/). Last line: `demo-pose: AP=<0..1> model=<name> version=<n>`.
demo-pose: build
	node services/cli/bin/rnas.js demo --task keypoints $(DEMO_ARGS)

# Engine kernel benchmark (forward and forward+backward, wasm and cpu); writes docs/benchmarks.md.
bench-engine: build
	node bench/dist/engine.js

# Data pipeline benchmark (Fashion-MNIST and CIFAR-format batches per second).
bench-data: build
	node bench/dist/data.js

# Network benchmark: forward and training-step images/s of the search and evaluation networks.
bench-networks: build
	node bench/dist/networks.js

# RelativeNAS vs random search at equal budget on Fashion-MNIST, both choices retrained over 3 paired
# seeds, 5 epochs of 10,000 images each, two at a time (60 min measured on 2 cores with two test runs
# beside it; sized for about half that on a quiet machine).
bench-search: build
	node bench/dist/search.js --write

# Classify load test: 1/4/16/64 clients, dynamic batching on and off, against in-process throughput.
bench-serve: build
	node bench/dist/serve.js

# Detection, segmentation and keypoints at their demos' sizes next to classification at its demo's:
# training images/s and Detect/Segment/EstimatePose/Classify images/s with 1 and 16 clients
# (about 6 minutes).
bench-tasks: build
	node bench/dist/tasks.js

# Soak: 64 Classify clients for 10 minutes while trainings publish new versions; memory sampled
# every 10 s, fails on growth over 10% or errors other than RESOURCE_EXHAUSTED.
# Shorter: make soak SOAK_ARGS="--duration-s 60 --warmup-s 20".
soak: build
	node bench/dist/soak.js $(SOAK_ARGS)

bench: bench-engine bench-data bench-networks bench-serve bench-tasks

clean:
	npx tsc -b --clean
