# Thin wrapper over meson/ninja so users type `make`, `make check`, ...
# The real build description is meson.build.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
PREFIX     ?= /usr/local
FUZZ_TIME  ?= 300

.PHONY: all deps check demo bench bench-packet-core bench-classify bench-packet \
	bench-inject bench-proxy fuzz install clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX)

deps:
	@bash scripts/deps.sh

# Unit, oracle and fuzz-smoke tests, plus the unit tests under ASan+UBSan.
check: deps
	@BUILD=$(BUILD) ASAN_BUILD=$(ASAN_BUILD) FUZZ_BUILD=$(FUZZ_BUILD) \
		bash scripts/check.sh

demo: deps all
	@BUILD=$(BUILD) bash scripts/demo.sh

bench: bench-packet-core bench-classify bench-packet bench-inject bench-proxy

bench-packet-core: all
	@$(BUILD)/bench/packet_core/bench_packet_core

bench-classify: all
	@$(BUILD)/bench/classify/bench_classify

# Needs root: network namespaces, veth, iptables (bench/packet/README.md).
bench-packet: all
	@BUILD=$(BUILD) bash bench/packet/run.sh

# Needs root: network namespaces, veth, raw sockets (bench/inject/README.md).
bench-inject: all
	@BUILD=$(BUILD) bash bench/inject/run.sh

# Needs root: network namespaces, veth; installs haproxy, nginx-light and
# wrk when missing, with no service started (bench/proxy/README.md).
bench-proxy: all
	@BUILD=$(BUILD) bash bench/proxy/run.sh

# Runs the libFuzzer harnesses for FUZZ_TIME seconds each.
fuzz:
	@FUZZ_BUILD=$(FUZZ_BUILD) bash scripts/fuzz.sh $(FUZZ_TIME)

install: all
	meson install -C $(BUILD) --destdir "$(DESTDIR)"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
