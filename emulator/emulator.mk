# The local AWS emulator (moto server + the project's extensions), in a project-local virtualenv.
VENV ?= .venv
PYTHON ?= python3
EMULATOR_PORT ?= 4566

$(VENV)/.installed: emulator/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r emulator/requirements.txt
	touch $@

.PHONY: emulator emulator-test

emulator: $(VENV)/.installed
	$(VENV)/bin/python emulator/run.py --port $(EMULATOR_PORT) --cluster eksdemo1 --seed-aws-auth

emulator-test: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q emulator/tests
