# Real-size tokenizer test data: the committed vocab-only GGUF (262144 tokens, 514906
# merges; see docs/TOKENIZER.md) is gzip'd in tests/data/vocab; this fixture unpacks it
# into the build directory before test_tokenizer_real runs (gzip is Essential on Debian).
set(G4_REAL_VOCAB_GZ ${CMAKE_SOURCE_DIR}/tests/data/vocab/gemma4-vocab.gguf.gz)
set(G4_REAL_VOCAB ${CMAKE_BINARY_DIR}/gemma4-vocab.gguf)

add_test(NAME tokenizer_real_vocab_unpack
         COMMAND sh -c "gzip -dc '${G4_REAL_VOCAB_GZ}' > '${G4_REAL_VOCAB}.tmp' && mv '${G4_REAL_VOCAB}.tmp' '${G4_REAL_VOCAB}'")
set_tests_properties(tokenizer_real_vocab_unpack PROPERTIES FIXTURES_SETUP g4_real_vocab)

if(TEST test_tokenizer_real)
  set_tests_properties(test_tokenizer_real PROPERTIES FIXTURES_REQUIRED g4_real_vocab)
endif()

# The benchmark finds the vocabulary without arguments: the unpacked file in the build
# directory, else it unpacks the committed one itself. (Defined here too in case the
# top-level bench/*.c loop did not create it.)
if(NOT TARGET bench_tokenize)
  add_executable(bench_tokenize ${CMAKE_SOURCE_DIR}/bench/bench_tokenize.c)
  target_include_directories(bench_tokenize PRIVATE ${CMAKE_SOURCE_DIR}/src)
  target_compile_definitions(bench_tokenize PRIVATE G4_COMMIT="${G4_COMMIT}")
  target_link_libraries(bench_tokenize gemma4c)
endif()
if(TARGET bench_tokenize)
  target_compile_definitions(bench_tokenize PRIVATE
                             G4_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data"
                             G4_BUILD_DIR="${CMAKE_BINARY_DIR}")
endif()

# `make test-asan` builds only the targets it names (test_tokenizer among them) and then
# runs every test matching 'test_tokenizer': build the real-size test with it.
if(TARGET test_tokenizer AND TARGET test_tokenizer_real)
  add_dependencies(test_tokenizer test_tokenizer_real)
endif()
