# Fuzz targets for the I/O readers (tests/fuzz/fuzz_<target>.cpp, each an LLVMFuzzerTestOneInput).
#
# Always: replay_<target> = the target + tests/fuzz/replay_main.cpp, which runs built-in seeds and
# 200000 deterministic mutations (capped at 10 s) with any compiler; ctest label "fuzz".
# With SEQNN_FUZZ=ON and Clang: fuzz_<target> = a real libFuzzer binary over an instrumented copy
# of the readers (-fsanitize=fuzzer,address,undefined), run by ctest for 20 s from the seeds; the
# replay_<target> programs then link that same instrumented copy.
set(SEQNN_FUZZ_TARGETS safetensors npy idx mo wav)

set(_seqnn_fuzz_clang OFF)
if(SEQNN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(WARNING "SEQNN_FUZZ needs Clang (libFuzzer); only the replay_* smoke runs are built. "
                    "Configure with CC=clang CXX=clang++.")
  else()
    set(_seqnn_fuzz_clang ON)
    set(SEQNN_FUZZ_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g1)
    # The readers and everything they call, instrumented for coverage and the sanitizers, with the
    # library's own settings (seqnn_configure_objects). Only these sources: the readers reach
    # nothing else (a link map of the five replay programs against the whole libseqnn.a pulls in
    # exactly these files), and compiling the whole library a second time with Clang's sanitizers
    # cost CI more than ten minutes. A reader that starts calling into another part of the
    # library fails to link here, with the missing symbol named: add its source to this list.
    set(SEQNN_FUZZ_SOURCES src/io/file_io.cpp src/io/idx.cpp src/io/mo.cpp src/io/npy.cpp src/io/safetensors.cpp
      src/data/audio.cpp src/tensor/allocator.cpp src/tensor/tensor.cpp src/autograd/engine.cpp
      src/runtime/debug.cpp src/runtime/threads.cpp src/ops/elementwise.cpp src/ops/index.cpp
      src/kernels/cpu/elementwise.cpp src/kernels/cpu/index.cpp src/kernels/cpu/team.cpp src/kernels/cpu/vecmath.cpp
      src/kernels/ref/elementwise.cpp src/kernels/ref/index.cpp)
    list(TRANSFORM SEQNN_FUZZ_SOURCES PREPEND ${PROJECT_SOURCE_DIR}/)
    add_library(seqnn_fuzzlib STATIC ${SEQNN_FUZZ_SOURCES})
    seqnn_configure_objects(seqnn_fuzzlib)
    seqnn_configure_lib(seqnn_fuzzlib)
    set_target_properties(seqnn_fuzzlib PROPERTIES OUTPUT_NAME seqnn_fuzz)
    target_compile_options(seqnn_fuzzlib PRIVATE -fsanitize=fuzzer-no-link ${SEQNN_FUZZ_FLAGS})
  endif()
endif()

foreach(t ${SEQNN_FUZZ_TARGETS})
  add_executable(replay_${t} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay_main.cpp
                             ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${t}.cpp)
  if(_seqnn_fuzz_clang)
    target_link_libraries(replay_${t} PRIVATE seqnn_fuzzlib)
    target_compile_options(replay_${t} PRIVATE ${SEQNN_FUZZ_FLAGS})
    target_link_options(replay_${t} PRIVATE ${SEQNN_FUZZ_FLAGS})
  else()
    target_link_libraries(replay_${t} PRIVATE seqnn_static)
  endif()
  target_compile_definitions(replay_${t} PRIVATE SEQNN_FUZZ_FORMAT="${t}")
  add_test(NAME fuzz_replay_${t} COMMAND replay_${t} --iterations 200000 --seconds 10)
  set_tests_properties(fuzz_replay_${t} PROPERTIES LABELS "fuzz" TIMEOUT 300)
endforeach()

if(_seqnn_fuzz_clang)
  foreach(t ${SEQNN_FUZZ_TARGETS})
    add_executable(fuzz_${t} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${t}.cpp)
    target_link_libraries(fuzz_${t} PRIVATE seqnn_fuzzlib)
    target_compile_options(fuzz_${t} PRIVATE -fsanitize=fuzzer ${SEQNN_FUZZ_FLAGS})
    target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer ${SEQNN_FUZZ_FLAGS})
    set(corpus ${CMAKE_CURRENT_BINARY_DIR}/fuzz_corpus/${t})
    add_test(NAME fuzz_seeds_${t} COMMAND replay_${t} --write-seeds ${corpus})
    set_tests_properties(fuzz_seeds_${t} PROPERTIES LABELS "fuzz" FIXTURES_SETUP fuzz_corpus_${t})
    add_test(NAME fuzz_libfuzzer_${t}
             COMMAND fuzz_${t} -max_total_time=20 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1
                     -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/fuzz_crash_${t}_ ${corpus})
    set_tests_properties(fuzz_libfuzzer_${t} PROPERTIES LABELS "fuzz" TIMEOUT 120
                         FIXTURES_REQUIRED fuzz_corpus_${t})
  endforeach()
endif()
