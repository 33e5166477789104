# Thin wrapper over CMake so that the README's two commands stay short.
#   make run    install missing packages, build, run the demo on a model shipped in the repo
#   make test   build and run every test (plus ASan/UBSan for the parsers and kernels)
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
MODEL ?= tests/data/dense-f32.gguf
# the fixtures' chat prompt p3: <bos><|turn>user\n...<turn|>\n<|turn>model\n
PROMPT ?= 2,6,461,394,283,318,336,403,323,395,391,326,333,336,338,391,338,333,336,343,395,320,333,339,338,388,477,292,7,283,6,331,412,283

.PHONY: all setup build test test-asan run bench clean

all: build

setup:
	@sh scripts/setup.sh

build: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: build test-asan
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Parsers, kernels, model loading and the golden forward pass under ASan + UBSan.
test-asan: setup
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DG4_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target test_gguf test_kernels test_model_load test_golden test_tokenizer
	@cd $(ASAN_BUILD) && ctest --output-on-failure -R 'test_gguf|test_kernels|test_model_load|test_golden|test_tokenizer'

run: build
	@$(BUILD)/gemma4c info $(MODEL)
	@echo
	@echo "greedy continuation of the chat prompt (random-weight test model: gibberish by design):"
	@$(BUILD)/gemma4c logits -m $(MODEL) --tokens $(PROMPT) --gen 16

bench: build
	@sh bench/roofline.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
