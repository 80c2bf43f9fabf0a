# test_pipeline runs the seqnn binary as a subprocess (resume after SIGKILL, exit codes, --help).
if(TARGET test_pipeline AND TARGET seqnn)
  add_dependencies(test_pipeline seqnn)
  target_compile_definitions(test_pipeline PRIVATE SEQNN_CLI="$<TARGET_FILE:seqnn>")
endif()
