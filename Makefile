# The two commands people run (see README): `make demo` and `make test`.
# Both create .venv on first use and install the project with its extras into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test install ext clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Reinstall whenever the package sources change, so the C extension is rebuilt.
SOURCES := pyproject.toml setup.py $(shell find cmodule host device -name '*.[ch]' -o -name '*.py' 2>/dev/null)
$(STAMP): $(PY) $(SOURCES)
	$(PIP) install -q ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/microformer demo

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

# The demo's numbers in README.md: run the demo (about five minutes), record the run in
# benchmarks/demo_numbers.json and rewrite the marked numbers (benchmarks/readme_numbers.py).
.PHONY: readme-numbers
readme-numbers: $(STAMP)
	$(PY) benchmarks/readme_numbers.py --run

# In-place build of _uformer for quick C iteration (python -c 'import _uformer' from the repo root).
ext: $(PY)
	$(PY) setup.py -q build_ext --inplace

clean:
	rm -rf build *.egg-info _uformer*.so

# Toolchain for `microformer firmware build` and the emulated board (Debian/Ubuntu):
# arm-none-eabi-gcc with newlib, qemu-system-arm, cmake (rp2 boards); for the rv32imc and x64
# native modules (`microformer firmware natmod`) riscv64-unknown-elf-gcc with picolibc,
# qemu-system-riscv32 (VIRT_RV32 board) and musl's static libm. The firmware tests
# (pytest -m firmware) also need a MicroPython checkout in MICROPY_DIR.
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: firmware-deps
firmware-deps:
	$(SUDO) apt-get update
	$(SUDO) apt-get install -y build-essential cmake gcc-arm-none-eabi libnewlib-arm-none-eabi \
		libstdc++-arm-none-eabi-newlib qemu-system-arm \
		gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf qemu-system-misc musl-dev
