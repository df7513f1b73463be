# The JPEG cipher against the real-file corpus (scripts/make-jpeg-corpus), one CTest entry per
# group. The corpus directory comes from $ISEC_CORPUS (the Makefile sets it): unset, the tests
# fail under CI and are skipped (exit 77) elsewhere.
add_executable(test_jpeg_corpus ${CMAKE_CURRENT_LIST_DIR}/corpus_check.c)
target_link_libraries(test_jpeg_corpus PRIVATE imgsec isec_testutil JPEG::JPEG m)
foreach(group debian made unsupported bad)
  add_test(NAME jpeg.corpus_${group} COMMAND test_jpeg_corpus --known-leaks ${CMAKE_CURRENT_LIST_DIR}/known-leaks.txt --group ${group})
  set_tests_properties(jpeg.corpus_${group} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS corpus)
endforeach()
# the portable select of AC refinement scans (where the CPU's PDEP would be used otherwise)
add_test(NAME jpeg.corpus_made_select64 COMMAND test_jpeg_corpus --known-leaks ${CMAKE_CURRENT_LIST_DIR}/known-leaks.txt --group made)
set_tests_properties(jpeg.corpus_made_select64 PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 LABELS corpus ENVIRONMENT IMGSEC_NO_PDEP=1)
