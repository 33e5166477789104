# Constrained decoding (src/sample/grammar.c): test_grammar walks the real 262144-token
# vocabulary too, which the g4_real_vocab fixture (tests/cmake/tokenizer.cmake) unpacks.
if(TEST test_grammar)
  set_tests_properties(test_grammar PROPERTIES FIXTURES_REQUIRED g4_real_vocab)
endif()
