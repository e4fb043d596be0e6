# FindLibPfm: libpfm4 (Debian libpfm4-dev ships neither pkg-config nor CMake config).
# Creates the imported target LibPfm::LibPfm.
find_path(LibPfm_INCLUDE_DIR NAMES perfmon/pfmlib_perf_event.h)
find_library(LibPfm_LIBRARY NAMES pfm)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LibPfm REQUIRED_VARS LibPfm_LIBRARY LibPfm_INCLUDE_DIR)
if(LibPfm_FOUND AND NOT TARGET LibPfm::LibPfm)
  add_library(LibPfm::LibPfm UNKNOWN IMPORTED)
  set_target_properties(LibPfm::LibPfm PROPERTIES
    IMPORTED_LOCATION "${LibPfm_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${LibPfm_INCLUDE_DIR}")
endif()
mark_as_advanced(LibPfm_INCLUDE_DIR LibPfm_LIBRARY)
