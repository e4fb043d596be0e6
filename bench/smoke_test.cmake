# Smoke test for mrelay-microbench (run by CTest as `bench.smoke`): runs the cases matching FILTER
# briefly with JSON output and fails unless the JSON parses, holds at least MIN_CASES
# benchmarks, and every case either ran with items_per_second > 0 or was skipped with a reason
# starting "SKIP:" (e.g. io_uring disabled on this kernel).
#
#   cmake -DBENCH=build/bin/mrelay-microbench -DFILTER='^BM_ParseFrame' -DMIN_CASES=1 \
#         -P bench/smoke_test.cmake
foreach(required BENCH FILTER MIN_CASES)
  if(NOT DEFINED ${required})
    message(FATAL_ERROR "smoke_test.cmake: -D${required}=... is required")
  endif()
endforeach()

# 0.01 s per case: enough to prove each case runs, short enough for every CI run.
execute_process(
  COMMAND "${BENCH}" "--benchmark_filter=${FILTER}" --benchmark_min_time=0.01
          --benchmark_format=json
  RESULT_VARIABLE exit_code
  OUTPUT_VARIABLE json
  ERROR_VARIABLE stderr_text
  TIMEOUT 50)
if(NOT exit_code EQUAL 0)
  message(FATAL_ERROR "${BENCH} exited with '${exit_code}':\n${stderr_text}")
endif()

string(JSON case_count ERROR_VARIABLE json_error LENGTH "${json}" benchmarks)
if(json_error)
  message(FATAL_ERROR "output is not benchmark JSON (${json_error}):\n${json}")
endif()
if(case_count LESS MIN_CASES)
  message(FATAL_ERROR "${case_count} benchmarks ran, expected at least ${MIN_CASES}")
endif()

math(EXPR last "${case_count} - 1")
set(ran 0)
foreach(index RANGE ${last})
  string(JSON name GET "${json}" benchmarks ${index} name)
  string(JSON failed ERROR_VARIABLE no_error GET "${json}" benchmarks ${index} error_occurred)
  if(NOT no_error AND failed)
    string(JSON reason GET "${json}" benchmarks ${index} error_message)
    if(reason MATCHES "^SKIP:")
      message(STATUS "skipped ${name}: ${reason}")
      continue()
    endif()
    message(FATAL_ERROR "${name} failed: ${reason}")
  endif()
  string(JSON rate ERROR_VARIABLE no_rate GET "${json}" benchmarks ${index} items_per_second)
  if(no_rate OR NOT rate GREATER 0)
    message(FATAL_ERROR "${name}: no items_per_second > 0 in\n${json}")
  endif()
  message(STATUS "ok ${name}: ${rate} items/s")
  math(EXPR ran "${ran} + 1")
endforeach()
message(STATUS "${ran} of ${case_count} benchmarks ran")
