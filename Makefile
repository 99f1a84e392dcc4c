# The README's commands. CMake does the building; this file only carries
# the commands a user types. Both first install what is missing.
BUILD ?= build
JOBS  ?= $(shell nproc)
SEARCH ?= 0

.PHONY: all deps build test test-sanitize demo bench clean

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Prints how many tests skipped (data or tool missing); REEF_FORBID_SKIPS=1
# makes a skip fail the run (.ci/run sets it when CI=true).
test: build
	@scripts/run-tests.sh $(BUILD) $(JOBS)

# The same suite under AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: deps
	@cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DREEF_SANITIZE=ON >/dev/null
	@cmake --build build-sanitize -j $(JOBS)
	@REEF_SANITIZE_RUN=1 scripts/run-tests.sh build-sanitize $(JOBS)

demo: build
	@examples/deepfish/run.sh $(BUILD) $(SEARCH) $(if $(filter 1,$(SITE)),--site) $(if $(filter 1,$(GRAY)),--gray)

bench: build
	@bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) build-sanitize
