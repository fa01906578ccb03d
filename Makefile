# fnguard — build, test, demo.
#
#   make            build build/fnguard.so (the SQLite extension) and build/libfgcore.a
#   make test       install missing packages, build, run unit tests (cmocka) and SQL tests
#   make sanitize   the whole test suite again under ASan+UBSan (build-asan/)
#   make demo       the main job: build, generate a testbed, import, train, score, print alerts
#   make notebooks  run notebooks/*.ipynb headless against a small case
#   make eval       the testbed evaluation (build/eval.json)
#   make bench      benchmarks against PyTorch / pure SQL, printed as ratios (needs python3-torch)
#   make deps       install missing Debian packages (apt-get as root, else print the command)
#   make format     clang-format every C file;  make lint: clang-tidy + cppcheck
#
# Source files are found by wildcard: core/*.c is the plain C library (no SQLite), ext/*.c the
# SQLite glue, tests/unit/test_*.c one cmocka binary each, tests/sql/*.sql golden-output SQL tests.

BUILD    ?= build
CC       ?= cc
OPT      ?= -O2
SAN      ?=
PKGS      = sqlite3 jansson zlib openblas
# -ffp-contract=off: no fused multiply-add where the source has none, so the model is the same
# bytes whatever the compiler decides (determinism is a promise of the README).
CFLAGS_ALL := -std=c11 -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 $(OPT) -g -fPIC -ffp-contract=off \
             -Wall -Wextra -Werror -Wno-unused-parameter $(SAN) \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null) -Icore -Iext $(CFLAGS)
BLAS_LIBDIR := $(shell pkg-config --variable=libdir openblas 2>/dev/null)
LIBS      := $(shell pkg-config --libs jansson zlib openblas 2>/dev/null) -Wl,-rpath,$(BLAS_LIBDIR) -lm -lpthread
LDFLAGS_ALL = $(SAN) $(LDFLAGS)

CORE_SRC  = $(sort $(wildcard core/*.c))
EXT_SRC   = $(sort $(wildcard ext/*.c))
CORE_OBJ  = $(CORE_SRC:%.c=$(BUILD)/%.o)
EXT_OBJ   = $(EXT_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC  = $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HDRS      = $(wildcard core/*.h ext/*.h tests/unit/*.h)

.PHONY: notebooks all build-all test unit sqltest sanitize demo bench deps deps-py deps-bench format lint clean eval

# The public targets first make sure the packages are there, then build in a sub-make, whose
# pkg-config calls see the freshly installed packages.
all: deps
	@$(MAKE) --no-print-directory build-all
build-all: $(BUILD)/fnguard.so $(BUILD)/libfgcore.a $(UNIT_BIN)

# --- dependencies -------------------------------------------------------------------------------
# Debian package names; `make deps` checks them with dpkg and installs what is missing.
APT_BUILD = gcc make pkg-config sqlite3 libsqlite3-dev libopenblas-dev libjansson-dev libcmocka-dev zlib1g-dev python3
APT_PY    = python3-pandas python3-matplotlib python3-nbconvert python3-nbclient python3-ipykernel jupyter-notebook
APT_BENCH = python3-torch python3-sklearn hyperfine

deps:
	@sh tests/install-deps.sh $(APT_BUILD)
deps-py:
	@sh tests/install-deps.sh $(APT_BUILD) $(APT_PY)
deps-bench:
	@sh tests/install-deps.sh $(APT_BUILD) $(APT_BENCH)

# --- build --------------------------------------------------------------------------------------
$(BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libfgcore.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fnguard.so: $(EXT_OBJ) $(BUILD)/libfgcore.a
	$(CC) -shared -Wl,-z,defs -o $@ $(EXT_OBJ) $(BUILD)/libfgcore.a $(LDFLAGS_ALL) $(LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libfgcore.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Itests/unit $< -o $@ $(BUILD)/libfgcore.a $(LDFLAGS_ALL) $(LIBS) -lcmocka

# --- tests --------------------------------------------------------------------------------------
# make test also runs the notebooks (tests/py/test_notebooks.py skips with 77 without Jupyter),
# so it installs the Jupyter/pandas/matplotlib packages too.
test: all deps-py
	@BUILD=$(BUILD) sh tests/run-tests.sh

# Run only the notebooks, headless, against the small testbed case.
notebooks: all deps-py
	@FNGUARD_BUILD=$(BUILD) /usr/bin/python3 tests/py/test_notebooks.py

# Same suite, instrumented. The sqlite3 CLI is not built with ASan, so the SQL tests preload the
# runtime (tests/run-tests.sh does that when SANITIZE=1).
sanitize:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
	@BUILD=build-asan SANITIZE=1 sh tests/run-tests.sh

bench: all deps-bench
	@BUILD=$(BUILD) sh tests/bench/run.sh

demo: all
	@BUILD=$(BUILD) sh sql/demo.sh

# The testbed evaluation: generate, import, train on the clean days, score the attack days, and
# print detection per scenario and false alarms (also build/eval.json). EVAL_ARGS passes options.
eval: all
	@FNGUARD_BUILD=$(BUILD) /usr/bin/python3 fixtures/testbed/eval.py $(EVAL_ARGS)

format:
	clang-format -i core/*.c core/*.h ext/*.c ext/*.h tests/unit/*.c tests/bench/*.c

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability --inline-suppr \
	  --suppress=missingIncludeSystem -Icore -Iext core ext
	clang-tidy --quiet core/*.c ext/*.c -- $(CFLAGS_ALL)

clean:
	rm -rf build build-asan
