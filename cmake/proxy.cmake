# Photo privacy proxy (issue 3): `imgsec proxy`, `imgsec ca`. Lives under apps/ because it links
# libevent, OpenSSL's libssl, http-parser and SQLite, none of which the core library may link.
# Included after the imgsec and imgsec_cli targets exist (also in the fuzz build).
find_package(PkgConfig REQUIRED)
pkg_check_modules(ISEC_LIBEVENT REQUIRED IMPORTED_TARGET libevent_core libevent_extra libevent_openssl
  libevent_pthreads)
find_package(Threads REQUIRED)
pkg_check_modules(ISEC_SQLITE REQUIRED IMPORTED_TARGET sqlite3)
find_path(ISEC_HTTP_PARSER_INCLUDE http_parser.h REQUIRED)
find_library(ISEC_HTTP_PARSER_LIB http_parser REQUIRED)

# The parts with no event loop: bodies, JPEG streams, multipart, HTTP heads, config. The fuzz
# targets link these alone.
add_library(isec_proxy_core STATIC
  apps/proxy/config.c
  apps/proxy/jstream.c
  apps/proxy/multipart.c
  apps/proxy/body.c
  apps/proxy/resumable.c
  apps/proxy/httpmsg.c
  apps/proxy/setup.c
  apps/proxy/auth.c
)
target_include_directories(isec_proxy_core PUBLIC apps/proxy ${ISEC_HTTP_PARSER_INCLUDE})
target_link_libraries(isec_proxy_core PUBLIC imgsec OpenSSL::Crypto ${ISEC_HTTP_PARSER_LIB})

target_sources(imgsec_ext PRIVATE
  apps/proxy/ca.c
  apps/proxy/index.c
  apps/proxy/conn.c
  apps/proxy/conn_rs.c
  apps/proxy/server.c
  apps/proxy/upsess.c
  apps/proxy/worker.c
  apps/imgsec/cmd_proxy.c
  apps/imgsec/cmd_ca.c
)
target_link_libraries(imgsec_ext PRIVATE isec_proxy_core PkgConfig::ISEC_LIBEVENT
  PkgConfig::ISEC_SQLITE OpenSSL::SSL OpenSSL::Crypto Threads::Threads)

# fuzz/fuzz_proxy_*.c are made into targets by fuzz/CMakeLists.txt, which links only imgsec and
# runs after this file: add the proxy's parsers to them once every directory is processed.
function(isec_proxy_link_fuzzers)
  foreach(t fuzz_proxy_http fuzz_proxy_multipart fuzz_proxy_config)
    if(TARGET ${t})
      target_link_libraries(${t} PRIVATE isec_proxy_core)
    endif()
  endforeach()
  # the config target checks each name server it takes against libevent's own address parser
  if(TARGET fuzz_proxy_config)
    target_link_libraries(fuzz_proxy_config PRIVATE PkgConfig::ISEC_LIBEVENT)
  endif()
endfunction()
if(ISEC_FUZZ)
  cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL isec_proxy_link_fuzzers)
endif()
