# Attested VCS verifier (issue 5): `imgsec verifier`, `imgsec vcs verify`, `imgsec vcs split
# --server`. The report record, envelope and client-side checks need only libcrypto and live in
# libimgsec; the service (libevent), its TPM backend (tpm2-tss) and sheet files (libtiff, via
# isec_sheetio from cmake/vcs.cmake) stay under apps/.
target_sources(imgsec PRIVATE src/vcs/report.c src/vcs/attest_verify.c)

pkg_check_modules(ISEC_TSS2 REQUIRED IMPORTED_TARGET tss2-esys tss2-tctildr tss2-mu tss2-rc)

# The parts with no event loop and no TPM: the fuzz target and unit tests link these alone.
add_library(isec_verifier_core STATIC
  apps/verifier/util.c
  apps/verifier/measure.c
  apps/verifier/seal.c
  apps/verifier/trust.c
  apps/verifier/multipart.c
  apps/verifier/httpc.c
)
target_include_directories(isec_verifier_core PUBLIC apps/verifier)
target_link_libraries(isec_verifier_core PUBLIC imgsec OpenSSL::Crypto)

# Service: handlers, sealed store, backends, HTTP server.
# `imgsec vcs` (split, stack, watermark, export-png, info, and the verifier client: verify,
# split --server) as a module that the front binary loads (apps/imgsec/main.c): it needs libtiff,
# libpng and libcrypto, not the ~25 libraries imgsec-ext loads (libevent, SQLite, tpm2-tss, ...),
# whose loading cost every vcs command ~7 ms of CPU. Defined here because the client half needs
# isec_verifier_core (this file) and the sheets isec_sheetio (vcs.cmake, included before it).
set_target_properties(isec_sheetio isec_verifier_core PROPERTIES POSITION_INDEPENDENT_CODE ON
  C_VISIBILITY_PRESET hidden)
isec_add_cli_module(imgsec_vcs_mod imgsec-vcs
  apps/imgsec/module_vcs.c apps/imgsec/cmd_vcs.c apps/imgsec/cmd_vcs_remote.c
  LIBS isec_verifier_core isec_sheetio imgsec)

add_library(isec_verifier STATIC
  apps/verifier/backend.c
  apps/verifier/backend_soft.c
  apps/verifier/backend_tpm2.c
  apps/verifier/store.c
  apps/verifier/service.c
  apps/verifier/server.c
)
target_link_libraries(isec_verifier PUBLIC isec_verifier_core isec_sheetio PkgConfig::ISEC_TSS2
  PkgConfig::ISEC_LIBEVENT)

target_sources(imgsec_ext PRIVATE apps/imgsec/cmd_verifier.c apps/imgsec/cmd_vcs_remote.c)
target_link_libraries(imgsec_ext PRIVATE isec_verifier)

function(isec_verifier_link_extras)
  if(TARGET fuzz_verifier_req)
    target_link_libraries(fuzz_verifier_req PRIVATE isec_verifier)
  endif()
  if(TARGET bench_verifier)
    target_link_libraries(bench_verifier PRIVATE isec_verifier)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL isec_verifier_link_extras)
