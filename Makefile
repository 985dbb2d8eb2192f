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

bench: build venv
	# The dev profile: the cost measured is AWS round trips, not CPU; no release rebuild needed.
	$(CARGO) bench --profile dev --bench apply

clean:
	rm -rf target $(VENV) .provision
