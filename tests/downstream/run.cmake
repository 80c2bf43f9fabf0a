# ctest driver: install the built tree into a scratch prefix, configure + build the downstream
# project against it, run both executables. Variables: BUILD_DIR, SRC_DIR, WORK_DIR, FLAGS.
file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(COMMAND ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "install failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S "${SRC_DIR}" -B "${WORK_DIR}/build"
                "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix" "-DCMAKE_CXX_FLAGS=${FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${FLAGS}"
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configure against the installed seqnn failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build "${WORK_DIR}/build" -j 2 RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "build against the installed seqnn failed: ${rc}")
endif()
foreach(exe downstream downstream_static)
  execute_process(COMMAND "${WORK_DIR}/build/${exe}" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
  message(STATUS "${exe}: ${out}")
  if(rc)
    message(FATAL_ERROR "${exe} failed: ${rc}")
  endif()
  # downstream links seqnn::omp_wait_policy: a short spin unless the environment chose a policy
  if(exe STREQUAL "downstream" AND "$ENV{OMP_WAIT_POLICY}" STREQUAL "" AND "$ENV{GOMP_SPINCOUNT}" STREQUAL ""
     AND NOT out MATCHES "wait policy GOMP_SPINCOUNT=10000")
    message(FATAL_ERROR "downstream: seqnn::omp_wait_policy did not set GOMP_SPINCOUNT=10000: ${out}")
  endif()
endforeach()
