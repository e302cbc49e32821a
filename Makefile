# vidlm: the two commands README.md starts with, plus helpers.
SWIFT ?= swift
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: deps demo test build release server server-release bench fixtures clean install install-files uninstall

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build --product vidlm

# The CLI alone: the HTTP server (Hummingbird + SwiftNIO, minutes to compile on 2 cores) is its
# own product, so `make demo` never builds it.
release: deps
	$(SWIFT) build -c release --product vidlm

# `vidlm serve` runs vidlm-server from the same folder as vidlm (docs/server.md).
server: deps
	$(SWIFT) build --product vidlm
	$(SWIFT) build --product vidlm-server

server-release: deps
	$(SWIFT) build -c release --product vidlm
	$(SWIFT) build -c release --product vidlm-server

# The main job: the embedded model (models/vidlm-shapes) answers a question about a sample clip
# (true caption: "the blue square appears, then the triangle changes colour from red to yellow.",
# samples/world/README.md).
demo: release
	.build/release/vidlm ask samples/world/sequence.mp4 "what happens"

# CLI contract checks first, then the XCTest suites (their summary line ends the output).
test: deps
	$(SWIFT) build --product vidlm
	Tests/cli/bad_inputs.sh .build/debug/vidlm
	Tests/cli/install.sh .build/debug/vidlm
	Tests/cli/chat_batch.sh .build/debug/vidlm
	$(SWIFT) test

# make install [PREFIX=/usr/local] [DESTDIR=]: a release build, then the binary into $(PREFIX)/bin
# and the built-in model into $(PREFIX)/share/vidlm/models/vidlm-shapes, where the binary looks for
# it (../share/vidlm/models beside its real path; docs/cli.md lists every place it looks).
# install-files does the copying alone (VIDLM_BIN picks the binary; Tests/cli/install.sh uses it).
PREFIX ?= /usr/local
DESTDIR ?=
VIDLM_BIN ?= .build/release/vidlm
MODEL_FILES := $(wildcard models/vidlm-shapes/*.json) models/vidlm-shapes/model.safetensors models/vidlm-shapes/MODEL_CARD.md
INSTALL_MODEL_DIR = $(DESTDIR)$(PREFIX)/share/vidlm/models/vidlm-shapes

install: release
	@$(MAKE) --no-print-directory install-files

install-files:
	install -d "$(DESTDIR)$(PREFIX)/bin" "$(INSTALL_MODEL_DIR)"
	install -m 755 "$(VIDLM_BIN)" "$(DESTDIR)$(PREFIX)/bin/vidlm"
	install -m 644 $(MODEL_FILES) "$(INSTALL_MODEL_DIR)/"

uninstall:
	rm -f "$(DESTDIR)$(PREFIX)/bin/vidlm"
	rm -rf "$(INSTALL_MODEL_DIR)"
	rmdir "$(DESTDIR)$(PREFIX)/share/vidlm/models" "$(DESTDIR)$(PREFIX)/share/vidlm" 2>/dev/null || true

# Regenerates every committed fixture (Python tools + ffmpeg; never needed by CI).
PY := tools/.venv/bin/python
$(PY): tools/requirements.txt
	python3 -m venv tools/.venv
	$(PY) -m pip install -q -r tools/requirements.txt
	touch $(PY)

fixtures: $(PY)
	scripts/install-deps.sh ffmpeg
	python3 tools/media/make_test_clips.py
	python3 samples/make_samples.py
	$(PY) tools/parity/make_fixtures.py
	$(PY) tools/parity/make_safetensors_fixtures.py
	$(PY) tools/parity/make_preprocess_fixtures.py
	$(PY) tools/parity/make_tokenizer_fixtures.py
	$(PY) tools/parity/make_chat_template_fixtures.py
	$(PY) tools/parity/make_smolvlm_fixtures.py
	$(PY) tools/parity/make_still_fixtures.py
	$(PY) tools/parity/make_video_timing_fixtures.py
	$(PY) tools/parity/make_torchvision_resize_fixtures.py
	$(PY) tools/parity/make_decoder_family_fixtures.py
	$(PY) tools/parity/make_llava_fixtures.py
	$(PY) tools/parity/make_llava_next_fixtures.py
	$(PY) tools/parity/make_llava_next_video_fixtures.py
	$(PY) tools/parity/make_llava_onevision_fixtures.py
	$(PY) tools/parity/make_video_llava_fixtures.py
	$(PY) tools/parity/make_qwen_vl_fixtures.py
	$(PY) tools/parity/make_qwen3_vl_fixtures.py
	$(PY) tools/parity/make_clip_fixtures.py
	$(PY) tools/parity/make_siglip_fixtures.py
	$(PY) tools/parity/make_siglip2_fixtures.py
	$(PY) tools/parity/make_quant_fixtures.py
	$(PY) tools/parity/make_q4k_fixtures.py
	$(PY) tools/parity/make_quant_family_fixtures.py
	$(PY) tools/parity/make_conversation_fixtures.py
	@echo "(tools/parity/make_sentencepiece_fixtures.py needs the sentencepiece package on PYTHONPATH; run it by hand)"

bench: release $(PY)
	scripts/install-deps.sh ffmpeg
	benchmarks/media/run.sh
	benchmarks/vision/run.sh
	benchmarks/chat_template/run.sh
	benchmarks/vlm/run.sh

clean:
	rm -rf .build

# Coverage-guided fuzzing (docs/fuzzing.md): builds the libFuzzer + ASan targets of Fuzz/ and runs
# each for FUZZ_SECONDS (libFuzzer -max_total_time), FUZZ_JOBS at a time, then prints execs,
# coverage and crashes per target; exits non-zero if any target crashed, leaked or hung.
# FUZZ_TARGETS picks some (safetensors shard-index config tokenizer-json tokenizer-text manifest media).
FUZZ_SECONDS ?= 600
FUZZ_JOBS ?= 1
FUZZ_TARGETS ?=
.PHONY: fuzz
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) Fuzz/run.sh $(FUZZ_TARGETS)
