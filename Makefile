# microtask - build, local services, tests, demo.
#
#   make            build bin/mt-producer bin/mt-consumer bin/mt-aggregator bin/mtctl
#   make demo       install what is missing, start Kafka and Redis, run a real job
#   make test       install what is missing, start services, run every test
#   make up / down  start / stop the local Kafka broker and Redis server
#   make bench      microtask against PySpark, Celery and Kafka alone: docs/BENCHMARKS.md
#   make install    install the programs (PREFIX=/usr/local, DESTDIR)

CC      ?= cc
PKGS    := rdkafka hiredis jansson libmicrohttpd
CFLAGS  ?= -O2 -g
override CFLAGS += -std=c11 -Wall -Wextra -Werror -MMD -MP -Ilib \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm -ldl
PREFIX  ?= /usr/local
BUILD   ?= build
BIN     ?= bin

LIB_SRC := lib/mt_buf.c lib/mt_config.c lib/mt_delta.c lib/mt_exec.c \
           lib/mt_kafka.c lib/mt_log.c lib/mt_metrics.c lib/mt_op.c lib/mt_op_accesslog.c lib/mt_op_exec.c \
           lib/mt_op_grep.c lib/mt_op_sleep.c lib/mt_op_stats.c \
           lib/mt_op_wordcount.c lib/mt_plugins.c lib/mt_redis.c lib/mt_signal.c lib/mt_source.c \
           lib/mt_split.c lib/mt_store.c lib/mt_task.c lib/mt_utf8.c
PROGS   := $(BIN)/mt-producer $(BIN)/mt-consumer $(BIN)/mt-aggregator $(BIN)/mtctl
PLUGINS := $(BIN)/plugins/longest.so
UNIT_SRC := tests/unit/main.c tests/unit/test_buf.c tests/unit/test_config.c \
           tests/unit/test_delta.c tests/unit/test_exec.c \
           tests/unit/test_ops.c tests/unit/test_source.c tests/unit/test_split.c \
           tests/unit/test_task.c tests/unit/test_wordcount.c

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
LIBMT    := $(BUILD)/libmt.a

.PHONY: all plugins deps up down demo test unit integration asan valgrind fuzz \
        check-compose bench bench-smoke install uninstall clean
all: $(PROGS) $(PLUGINS)
plugins: $(PLUGINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIBMT): $(LIB_OBJ)
	$(AR) rcs $@ $^

$(BIN)/mt-producer: $(BUILD)/producer/main.o $(LIBMT)
$(BIN)/mt-consumer: $(BUILD)/consumer/main.o $(BUILD)/consumer/worker.o \
                   $(BUILD)/consumer/heartbeat.o $(LIBMT)
$(BIN)/mt-aggregator: $(BUILD)/aggregator/main.o $(LIBMT)
$(BIN)/mtctl: $(BUILD)/mtctl/main.o $(LIBMT)
$(PROGS):
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

# Example plugins: built as a user would, from mt_plugin.h alone.
$(BIN)/plugins/%.so: plugins/%.c lib/mt_plugin.h
	@mkdir -p $(dir $@)
	@mkdir -p $(BUILD)/plugins
	$(CC) $(CFLAGS) -MF $(BUILD)/plugins/$*.d -fPIC -shared -o $@ $<

# the ops suite loads the example plugin from where this build put it
$(BUILD)/tests/unit/test_ops.o: CFLAGS += -DMT_TEST_PLUGIN_DIR='"$(BIN)/plugins"'
$(BIN)/unit-tests: $(UNIT_OBJ) $(LIBMT) $(PLUGINS)
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $(UNIT_OBJ) $(LIBMT) $(LDFLAGS) $(LDLIBS) $(shell pkg-config --libs cunit 2>/dev/null)

# ---- set-up: packages and local services ----
deps:
	@scripts/deps.sh

up: deps
	@scripts/services.sh up

down:
	@scripts/services.sh down

# ---- tests ----
# make test: unit tests, the same under valgrind and under ASan/UBSan, a
# short fuzzing run of the decoders, the compose files checked, the
# integration tests against the real broker and Redis, then the benchmark
# on small inputs (its results checked, not its speeds). SUITE=name runs
# one unit suite.
test: deps
	@$(MAKE) --no-print-directory all $(BIN)/unit-tests
	@scripts/services.sh up
	$(BIN)/unit-tests $(SUITE)
	@$(MAKE) --no-print-directory valgrind asan fuzz check-compose
	python3 -m pytest -q tests/integration
	@$(MAKE) --no-print-directory bench-smoke

unit: $(BIN)/unit-tests
	$(BIN)/unit-tests $(SUITE)

integration: all
	python3 -m pytest -q tests/integration

# An AddressSanitizer + UndefinedBehaviorSanitizer build of the unit tests,
# in its own directories so it never mixes with the normal build.
asan:
	@$(MAKE) --no-print-directory BUILD=build/asan BIN=build/asan/bin \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" build/asan/bin/unit-tests
	ASAN_OPTIONS=detect_leaks=1 build/asan/bin/unit-tests $(SUITE)

valgrind: $(BIN)/unit-tests
	valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
	    --error-exitcode=99 $(BIN)/unit-tests $(SUITE) >/dev/null

# libFuzzer on the message decoders (partial results and task headers).
FUZZ_TIME ?= 20
FUZZ_SRC := lib/mt_delta.c lib/mt_buf.c lib/mt_task.c
build/fuzz/fuzz_decode: tests/fuzz/fuzz_decode.c $(FUZZ_SRC)
	@mkdir -p build/fuzz/corpus
	clang -g -O1 -std=c11 -Wall -Wextra -Werror -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -Ilib $(shell pkg-config --cflags rdkafka) \
	    $^ $(shell pkg-config --libs rdkafka) -o $@
fuzz: build/fuzz/fuzz_decode
	@build/fuzz/fuzz_decode -max_total_time=$(FUZZ_TIME) -dict=tests/fuzz/fuzz_decode.dict \
	    build/fuzz/corpus >build/fuzz/last.log 2>&1 || { tail -n 40 build/fuzz/last.log; exit 1; }
	@echo "fuzz: $$(tail -n 1 build/fuzz/last.log)"

# compose/ without a Docker engine: docker-compose config, a scalable
# consumer, only MT_* variables the programs read, the image's sources build.
check-compose:
	@scripts/check_compose.py

# ---- the demo: a real job over the machine's own documentation ----
demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/services.sh up
	@scripts/demo.sh

# ---- benchmarks: microtask against PySpark, Celery and Kafka alone ----
# make bench writes docs/BENCHMARKS.md and docs/benchmarks.png (a long run);
# make bench-smoke is the same on small inputs, checking results, for CI.
BENCH_VENV := .run/bench-venv
$(BUILD)/bench/wc_single: $(BUILD)/tests/bench/wc_single.o $(LIBMT)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)
$(BENCH_VENV)/ok: tests/bench/requirements.txt
	@scripts/deps.sh
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r $<
	@touch $@
bench: deps all $(BUILD)/bench/wc_single $(BENCH_VENV)/ok
	@scripts/services.sh up
	$(BENCH_VENV)/bin/python tests/bench/bench.py
bench-smoke: deps all $(BUILD)/bench/wc_single $(BENCH_VENV)/ok
	@scripts/services.sh up
	$(BENCH_VENV)/bin/python tests/bench/bench.py --smoke --out build/bench-smoke

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/microtask/plugins \
	    $(DESTDIR)$(PREFIX)/include/microtask
	install -m 0755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0755 $(PLUGINS) $(DESTDIR)$(PREFIX)/lib/microtask/plugins/
	install -m 0644 lib/mt_plugin.h $(DESTDIR)$(PREFIX)/include/microtask/

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(notdir $(PROGS)))
	rm -rf $(DESTDIR)$(PREFIX)/lib/microtask $(DESTDIR)$(PREFIX)/include/microtask

clean:
	rm -rf build bin

-include $(LIB_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(wildcard $(BUILD)/*/*.d)
