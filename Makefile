# Thin wrapper over CMake so that the README's two commands stay short.
#   make run    install missing packages, build, run the demo on a model shipped in the repo
#   make test   build and run every test (plus ASan/UBSan for the parsers and kernels)
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
MODEL ?= tests/data/dense-f32.gguf

.PHONY: all setup build test test-asan run serve bench clean

all: build

setup:
	@sh scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build test-asan
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Parsers (GGUF, JSON, chat, tool calls), kernels, model loading, tokenizer, sampler and
# the golden forward pass under ASan + UBSan.
test-asan: setup
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DG4_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target test_gguf test_kernels test_model_load test_golden test_tokenizer test_tokenizer_real \
	    test_json test_chat_render test_chat_parse test_sample test_generate test_resolve \
	    test_grammar test_oai test_sched test_utf8 test_mm test_image test_audio test_mtp test_spec test_specpair mkgguf
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) \
	    -R 'test_(gguf|kernels|model_load|golden|tokenizer|tokenizer_real|json|chat_render|chat_parse|sample|generate|resolve|grammar|oai|sched|utf8|mm|image|audio|mtp|spec|specpair)$$'

# A chat on a terminal, else one answer. The shipped model is tiny and random (its text is
# gibberish by design); run a real Gemma 4 with e.g. `make run MODEL=gemma4:e2b`.
run: build
	@$(BUILD)/gemma4c info $(MODEL) | head -4
	@echo "(tiny random-weight test model: its answers are gibberish by design; see README for real models)"
	@if [ -t 0 ]; then $(BUILD)/gemma4c chat -m $(MODEL); \
	 else $(BUILD)/gemma4c run -m $(MODEL) -n 32 --seed 1 -v "Hello! Who are you?"; fi

# The OpenAI-compatible server on the same model (Ctrl-C stops it).
serve: build
	@$(BUILD)/gemma4c serve -m $(MODEL) --parallel 2 --alias gemma4

bench: build
	@sh bench/roofline.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
