# CCSDS 122.0 image codec (issue 4): library sources, the `imgsec ccsds` command, image I/O,
# tests and benchmark. Included after the imgsec, imgsec_cli and imgsec_ext targets exist.
target_sources(imgsec PRIVATE
  src/ccsds/common.c
  src/ccsds/header.c
  src/ccsds/dwt_int.c
  src/ccsds/dwt_float.c
  src/ccsds/dwt_float_inv.c
  src/ccsds/blocks.c
  src/ccsds/bpe_tables.c
  src/ccsds/bpe_dc.c
  src/ccsds/bpe_enc.c
  src/ccsds/bpe_dec.c
  src/ccsds/bpe_recon.c
  src/ccsds/enc.c
  src/ccsds/dec.c
)
# The float DWT must round exactly like the reference: no fused multiply-add, no reassociation.
set_source_files_properties(src/ccsds/dwt_float.c src/ccsds/dwt_float_inv.c src/ccsds/bpe_recon.c
  PROPERTIES COMPILE_OPTIONS "-ffp-contract=off")
if(NOT CMAKE_BUILD_TYPE STREQUAL "Debug")
  set_property(SOURCE src/ccsds/bpe_enc.c src/ccsds/bpe_dec.c src/ccsds/bpe_recon.c src/ccsds/dec.c
    src/ccsds/enc.c
    src/ccsds/dwt_int.c src/ccsds/dwt_float.c src/ccsds/dwt_float_inv.c src/ccsds/blocks.c
    APPEND PROPERTY COMPILE_OPTIONS "-O3")
endif()

# Image files (PGM/PPM, PNG via libpng, raw) for the command line; never linked into libimgsec.
find_package(PNG)
add_library(isec_imageio STATIC apps/imageio/imageio.c)
target_include_directories(isec_imageio PUBLIC apps/imageio)
if(PNG_FOUND)
  target_compile_definitions(isec_imageio PRIVATE ISEC_HAVE_PNG=1)
  target_link_libraries(isec_imageio PRIVATE PNG::PNG)
endif()

target_sources(imgsec_cli PRIVATE apps/imgsec/cmd_ccsds.c)
target_link_libraries(imgsec_cli PRIVATE isec_imageio)
target_sources(imgsec_ext PRIVATE apps/imgsec/cmd_ccsds.c)
target_link_libraries(imgsec_ext PRIVATE isec_imageio)
