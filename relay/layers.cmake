# The relay's dependency order, checked on every #include "..." under relay/src (ctest
# relay.layers; docs/architecture-relay.md):
#
#   common (0) <- cli (1) <- config (1) <- dataplane (2) <- control (3) <- ops (4) <- the mains (5)
#
# A library file may include headers of its own level or below, never above; testing/ is for
# tests only. Tests (*_test.cc) may use any level: a data-plane test builds its plan with the
# control plane's builder, as the relay does. Inside dataplane/, egress/ and ingress/ never
# include each other, and egress/ takes nothing from dataplane/ but the buffer pool (the
# packet path runs ingress/ -> forwarder -> egress/). Public headers (mrelay/...) count at the
# level of the folder that implements them.
#
#   cmake -DSRC=relay/src -P relay/layers.cmake      # prints each offence, fails if any
cmake_minimum_required(VERSION 3.25)
if(NOT SRC)
  message(FATAL_ERROR "usage: cmake -DSRC=relay/src -P layers.cmake")
endif()
get_filename_component(SRC "${SRC}" ABSOLUTE)

set(LEVEL_common 0)
set(LEVEL_cli 1)
set(LEVEL_config 1)
set(LEVEL_dataplane 2)
set(LEVEL_control 3)
set(LEVEL_ops 4)
set(LEVEL_main 5)
# Public headers by the folder that implements them.
set(PUBLIC_error.h common)
set(PUBLIC_counters.h common)
set(PUBLIC_cli.h cli)
set(PUBLIC_config.h config)
set(PUBLIC_command_line.h config)
set(PUBLIC_packet.h dataplane)
set(PUBLIC_payload.h dataplane)
set(PUBLIC_rule_table.h dataplane)
set(PUBLIC_kernel_probe.h dataplane)

# The folder (level name) of a path relative to relay/src, or of an included header.
function(folder_of path out)
  if(path MATCHES "^mrelay/(.+)$")
    set(name "${CMAKE_MATCH_1}")
    if(NOT DEFINED PUBLIC_${name})
      set(${out} "unknown" PARENT_SCOPE)
      return()
    endif()
    set(${out} "${PUBLIC_${name}}" PARENT_SCOPE)
  elseif(path MATCHES "^([a-z_]+)/")
    set(${out} "${CMAKE_MATCH_1}" PARENT_SCOPE)
  else()
    set(${out} "main" PARENT_SCOPE)
  endif()
endfunction()

file(GLOB_RECURSE files RELATIVE "${SRC}" "${SRC}/*.h" "${SRC}/*.cc")
set(offences 0)
foreach(file IN LISTS files)
  folder_of("${file}" from)
  if(from STREQUAL "testing")
    continue()
  endif()
  file(STRINGS "${SRC}/${file}" lines REGEX "^#include \"")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^#include \"([^\"]+)\".*$" "\\1" header "${line}")
    folder_of("${header}" to)
    set(why "")
    if(to STREQUAL "unknown" OR (to STREQUAL "main"))
      set(why "not a path from relay/src or a known public header")
    elseif(to STREQUAL "testing")
      if(NOT file MATCHES "_test\\.cc$")
        set(why "testing/ is for tests only")
      endif()
    elseif(NOT file MATCHES "_test\\.cc$" AND LEVEL_${to} GREATER LEVEL_${from})
      set(why "${from} may not depend on ${to} (${from} <- ${to} is the order)")
    elseif(file MATCHES "^dataplane/egress/" AND header MATCHES "^dataplane/"
           AND NOT header MATCHES "^dataplane/(egress/|buffer_pool\\.h$)")
      set(why "egress/ takes nothing from dataplane/ but the buffer pool")
    elseif(file MATCHES "^dataplane/ingress/" AND header MATCHES "^dataplane/egress/")
      set(why "ingress/ and egress/ never include each other")
    endif()
    if(why)
      message("relay/src/${file}: #include \"${header}\": ${why}")
      math(EXPR offences "${offences} + 1")
    endif()
  endforeach()
endforeach()
list(LENGTH files count)
if(offences GREATER 0)
  message(FATAL_ERROR "relay.layers: ${offences} include(s) against the dependency order")
endif()
message("relay.layers: ${count} files, every include in order")
