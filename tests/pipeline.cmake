# test_pipeline and test_pipeline_attention run the seqnn binary as a subprocess (resume after
# SIGKILL, exit codes, --help, seqnn attention, predict --beam).
foreach(t test_pipeline test_pipeline_attention test_pipeline_seq2seq test_pipeline_speech)
  if(TARGET ${t} AND TARGET seqnn)
    add_dependencies(${t} seqnn)
    target_compile_definitions(${t} PRIVATE SEQNN_CLI="$<TARGET_FILE:seqnn>")
  endif()
endforeach()
