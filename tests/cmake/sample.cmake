# The sampler benchmark. CMakeLists.txt's bench/*.c loop tests EXISTS on
# ${CMAKE_SOURCE_DIR}/<absolute path> and so skips globbed files; register it here until
# that is fixed (the guard keeps this harmless afterwards).
if(NOT TARGET bench_sample AND EXISTS ${CMAKE_SOURCE_DIR}/bench/bench_sample.c)
  add_executable(bench_sample ${CMAKE_SOURCE_DIR}/bench/bench_sample.c)
  target_include_directories(bench_sample PRIVATE ${CMAKE_SOURCE_DIR}/src)
  target_compile_definitions(bench_sample PRIVATE G4_COMMIT="${G4_COMMIT}")
  target_link_libraries(bench_sample gemma4c)
endif()

# The sampler test cross-built for aarch64 and run under qemu-user: the portable kernels
# vectorized for NEON (and char being unsigned there). Skipped without the tools.
find_program(G4_SAMPLE_ARM_CC aarch64-linux-gnu-gcc)
find_program(G4_SAMPLE_QEMU qemu-aarch64)
if(G4_SAMPLE_ARM_CC AND G4_SAMPLE_QEMU)
  set(_s ${CMAKE_SOURCE_DIR})
  add_test(NAME sample_qemu COMMAND sh -c "set -eu; t=$(mktemp -d); trap 'rm -rf $t' EXIT; \
cc='${G4_SAMPLE_ARM_CC} -std=c11 -O2 -D_GNU_SOURCE -I${_s}/include -I${_s}/src'; \
for f in ${_s}/src/core/*.c ${_s}/src/kernels/ref.c ${_s}/src/kernels/dispatch.c ${_s}/src/sample/*.c; do \
$cc -c $f -o $t/$(basename $f).o; done; \
$cc -march=armv8.2-a+dotprod+fp16 -c ${_s}/src/kernels/arm_neon.c -o $t/neon.o; \
$cc -I${_s}/tests ${_s}/tests/test_sample.c $t/*.o -static -lm -lpthread -o $t/test_sample; \
${G4_SAMPLE_QEMU} -cpu max $t/test_sample")
  set_tests_properties(sample_qemu PROPERTIES TIMEOUT 900)
endif()
