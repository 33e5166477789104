# Chat format: the chat_render driver (tools/chat_render.c) and the live differential
# test against the reference Jinja engine. chat_jinja_live re-renders every conversation
# of tests/chat/conversations/ with @huggingface/jinja and compares, byte for byte, with
# the C renderer and with the committed goldens (tests/data/chat/goldens/). It needs node
# and `npm ci --prefix tests/chat`; without the npm package it reports "skipped".
add_executable(chat_render tools/chat_render.c)
target_include_directories(chat_render PRIVATE src)
target_link_libraries(chat_render gemma4c)

find_program(G4_NODE node)
if(G4_NODE)
  add_test(NAME chat_jinja_live
           COMMAND ${G4_NODE} ${CMAKE_SOURCE_DIR}/tests/chat/render_ref.mjs check $<TARGET_FILE:chat_render>)
  set_tests_properties(chat_jinja_live PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
