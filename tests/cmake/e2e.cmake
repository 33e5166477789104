# End-to-end tests of `gemma4c serve` with real clients (tests/e2e, node:test). They need
# node >= 20 and npm; tests/e2e/run.sh installs the pinned npm packages with `npm ci`
# when node_modules is missing and exits 77 (skipped) without node, without network for
# the install, or when the binary has no `serve` command (built without libmicrohttpd).
#   e2e_server   openai SDK, Vercel AI SDK, server options, raw/malformed HTTP  (~3 min)
#   e2e_replay   captured OpenCode / Continue requests replayed byte for byte (long
#                prompts: ~20K tokens with the fixtures' small vocabulary)
#   e2e_clients  the real `opencode run` and `cn -p` CLIs (tests/e2e/clients, ~430 MB
#                of npm packages)
# RUN_SERIAL: the machines have 2 cores and some tests measure latencies.
add_test(NAME e2e_server
         COMMAND sh ${CMAKE_SOURCE_DIR}/tests/e2e/run.sh $<TARGET_FILE:gemma4c-cli> sdk)
set_tests_properties(e2e_server PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE LABELS e2e)

add_test(NAME e2e_replay
         COMMAND sh ${CMAKE_SOURCE_DIR}/tests/e2e/run.sh $<TARGET_FILE:gemma4c-cli> replay)
set_tests_properties(e2e_replay PROPERTIES TIMEOUT 1200 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE LABELS e2e)

add_test(NAME e2e_clients
         COMMAND sh ${CMAKE_SOURCE_DIR}/tests/e2e/run.sh $<TARGET_FILE:gemma4c-cli> clients)
set_tests_properties(e2e_clients PROPERTIES TIMEOUT 1500 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE LABELS "e2e;slow")
