# vidlm: the two commands README.md starts with, plus helpers.
SWIFT ?= swift
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: deps demo test build release bench fixtures clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# The main job: the embedded model (models/vidlm-shapes) answers a question about a sample clip
# (true caption: "the blue square appears, then the triangle changes colour from red to yellow.",
# samples/world/README.md).
demo: release
	.build/release/vidlm ask samples/world/sequence.mp4 "what happens"

# CLI contract checks first, then the XCTest suites (their summary line ends the output).
test: deps
	$(SWIFT) build --product vidlm
	Tests/cli/bad_inputs.sh .build/debug/vidlm
	$(SWIFT) test

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

bench: release $(PY)
	scripts/install-deps.sh ffmpeg
	benchmarks/media/run.sh
	benchmarks/vision/run.sh
	benchmarks/chat_template/run.sh
	benchmarks/vlm/run.sh

clean:
	rm -rf .build
