# test_specpair (tests/test_specpair.c) runs ${G4_BUILD_DIR}/mkgguf to write its
# speculative-decoding target / drafter pairs: build mkgguf whenever the test is built.
if(TARGET test_specpair AND TARGET mkgguf)
  add_dependencies(test_specpair mkgguf)
endif()
