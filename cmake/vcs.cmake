# Visual cryptography (issue 5): the scheme in libimgsec (src/vcs), the TIFF/PNG sheet files in
# isec_sheetio (apps/imageio, links libtiff and libpng), the `imgsec vcs` command, tests, bench.
# The verifier's own sources (src/vcs/report.c, attest_verify.c, apps/verifier) are added by
# cmake/verifier.cmake.
target_sources(imgsec PRIVATE
  src/vcs/share.c
  src/vcs/rng.c
  src/vcs/table.c
  src/vcs/halftone.c
  src/vcs/exact.c
  src/vcs/secure.c
  src/vcs/split.c
  src/vcs/stack.c
  src/vcs/watermark.c
)
target_link_libraries(imgsec PUBLIC m)
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
  set_property(SOURCE src/vcs/exact.c src/vcs/secure.c src/vcs/stack.c src/vcs/halftone.c
    APPEND PROPERTY COMPILE_OPTIONS "-O3")
endif()

find_package(TIFF REQUIRED)
find_package(PNG REQUIRED)
add_library(isec_sheetio STATIC apps/imageio/sheetio.c apps/imageio/sheetpng.c apps/imageio/sheetutil.c)
target_include_directories(isec_sheetio PUBLIC apps/imageio)
target_link_libraries(isec_sheetio PUBLIC imgsec PRIVATE TIFF::TIFF PNG::PNG)

target_sources(imgsec_ext PRIVATE apps/imgsec/cmd_vcs.c)
target_link_libraries(imgsec_ext PRIVATE isec_sheetio)

# fuzz/fuzz_vcs_tiff.c becomes a target in fuzz/CMakeLists.txt (links only imgsec), which runs
# after this file: add the sheet reader once every directory is processed.
function(isec_vcs_link_fuzzers)
  if(TARGET fuzz_vcs_tiff)
    target_link_libraries(fuzz_vcs_tiff PRIVATE isec_sheetio)
  endif()
endfunction()
if(ISEC_FUZZ)
  cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL isec_vcs_link_fuzzers)
endif()
