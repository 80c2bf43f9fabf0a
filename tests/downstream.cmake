# The downstream find_package(seqnn) check (see tests/downstream/).
set(_seqnn_ds_flags "")
if(SEQNN_SANITIZE)
  set(_seqnn_ds_flags "-fsanitize=address,undefined")
endif()
add_test(NAME downstream_find_package
  COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${PROJECT_BINARY_DIR} -DSRC_DIR=${CMAKE_CURRENT_SOURCE_DIR}/downstream
          -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/downstream-work -DFLAGS=${_seqnn_ds_flags}
          -P ${CMAKE_CURRENT_SOURCE_DIR}/downstream/run.cmake)
set_tests_properties(downstream_find_package PROPERTIES LABELS "unit" TIMEOUT 600)
