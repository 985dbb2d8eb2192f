# Two commands set everything up on a fresh machine:
#   make demo   build, start the local AWS emulator, plan -> apply -> plan -> destroy the seed stack
#   make test   unit + integration tests (the emulator is installed into .venv on first use)

CARGO ?= cargo
STACK ?= stacks/eks-devops.yaml

include emulator/emulator.mk

.PHONY: build test demo venv bench clean

build:
	$(CARGO) build

venv: $(VENV)/.installed

test: venv
	$(CARGO) test --no-fail-fast
	$(MAKE) --no-print-directory emulator-test

demo: build venv
	@STACK=$(STACK) scripts/demo.sh

bench: venv
	# The release build, as users run it: at 1,300 resources provision's own CPU (the YAML, two
	# resolution passes, the check) is part of the wall time, and a debug build spends ~10x of it.
	# The first run builds it (about 10 minutes on 2 cores).
	$(CARGO) bench --bench apply

clean:
	rm -rf target $(VENV) .provision
