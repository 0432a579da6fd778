# llguidance (structured output: JSON schema, regex, Lark grammars; Rust, from crates.io) built
# by cargo into a static library and linked into libtritium. Included by the top-level
# CMakeLists.txt; defines the imported target `llguidance` (its C API: llguidance.h).
#
# The crate and every dependency are pinned (Cargo.toml, Cargo.lock; cargo runs --locked).
# Configuring fetches the sources (`cargo metadata`, crates.io or cargo's cache) to find the
# header; building compiles them once into the build tree (1.5 to 3.5 minutes on 2 cores) with the
# release profile whatever CMAKE_BUILD_TYPE is. Needs cargo and rustc >= 1.87:
# scripts/install-deps.sh installs them (Debian 12: rustc-web / cargo-web) when missing.
set(_llg_dir ${CMAKE_CURRENT_LIST_DIR})
set(_llg_min_rust 1.87)

# cargo: from PATH or ~/.cargo/bin (rustup), else a versioned Debian/Ubuntu package (cargo-1.NN).
find_program(TRITIUM_CARGO NAMES cargo HINTS $ENV{CARGO_HOME}/bin $ENV{HOME}/.cargo/bin)
set(TRITIUM_RUSTC "" CACHE FILEPATH "rustc for the llguidance build (empty: the one next to cargo)")
if(NOT TRITIUM_CARGO)
  set(_versions "")
  foreach(_v RANGE 87 130)
    list(PREPEND _versions ${_v})
  endforeach()
  foreach(_v IN LISTS _versions)
    find_program(_llg_cargo_v NAMES cargo-1.${_v})
    find_program(_llg_rustc_v NAMES rustc-1.${_v})
    if(_llg_cargo_v AND _llg_rustc_v)
      set(TRITIUM_CARGO ${_llg_cargo_v} CACHE FILEPATH "cargo for the llguidance build" FORCE)
      set(TRITIUM_RUSTC ${_llg_rustc_v} CACHE FILEPATH "rustc for the llguidance build" FORCE)
      break()
    endif()
    unset(_llg_cargo_v CACHE)
    unset(_llg_rustc_v CACHE)
  endforeach()
endif()
if(NOT TRITIUM_CARGO)
  message(FATAL_ERROR "tritium: cargo not found (llguidance, for structured output, is built with it); "
                      "run scripts/install-deps.sh, or install Rust >= ${_llg_min_rust}")
endif()
if(TRITIUM_RUSTC)
  set(_llg_env ${CMAKE_COMMAND} -E env RUSTC=${TRITIUM_RUSTC})
  set(_llg_rustc ${TRITIUM_RUSTC})
else()
  set(_llg_env ${CMAKE_COMMAND} -E env)
  get_filename_component(_llg_bin ${TRITIUM_CARGO} DIRECTORY)
  find_program(_llg_rustc NAMES rustc HINTS ${_llg_bin} NO_CACHE)
endif()
execute_process(COMMAND ${_llg_rustc} --version OUTPUT_VARIABLE _llg_rv OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE _llg_rc ERROR_QUIET)
string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" _llg_rv_num "${_llg_rv}")
if(NOT _llg_rc EQUAL 0 OR NOT _llg_rv_num OR _llg_rv_num VERSION_LESS ${_llg_min_rust})
  message(FATAL_ERROR "tritium: llguidance needs rustc >= ${_llg_min_rust}; ${_llg_rustc} is '${_llg_rv}'. "
                      "scripts/install-deps.sh installs a new enough one (Debian 12: rustc-web cargo-web)")
endif()

set(_llg_target_dir ${CMAKE_BINARY_DIR}/cargo)
set(_llg_manifest ${_llg_dir}/Cargo.toml)
# Fetch the locked sources and find llguidance's own directory (it holds llguidance.h).
execute_process(COMMAND ${_llg_env} ${TRITIUM_CARGO} metadata --format-version 1 --locked
                        --manifest-path ${_llg_manifest}
                OUTPUT_VARIABLE _llg_meta RESULT_VARIABLE _llg_rc ERROR_VARIABLE _llg_err)
if(NOT _llg_rc EQUAL 0)
  message(FATAL_ERROR "tritium: `cargo metadata` for ${_llg_manifest} failed (crates.io unreachable and "
                      "nothing in cargo's cache?):\n${_llg_err}")
endif()
set(_llg_src "")
string(JSON _llg_n LENGTH "${_llg_meta}" packages)
math(EXPR _llg_last "${_llg_n} - 1")
foreach(_i RANGE ${_llg_last})
  string(JSON _name GET "${_llg_meta}" packages ${_i} name)
  if(_name STREQUAL "llguidance")
    string(JSON _mp GET "${_llg_meta}" packages ${_i} manifest_path)
    string(JSON _ver GET "${_llg_meta}" packages ${_i} version)
    get_filename_component(_llg_src ${_mp} DIRECTORY)
  endif()
endforeach()
if(NOT EXISTS ${_llg_src}/llguidance.h)
  message(FATAL_ERROR "tritium: llguidance.h not found in the llguidance crate ('${_llg_src}')")
endif()
message(STATUS "tritium: llguidance ${_ver} (${_llg_rv}), header in ${_llg_src}")

set(_llg_lib ${_llg_target_dir}/release/libtritium_llguidance.a)
add_custom_command(
  OUTPUT ${_llg_lib}
  COMMAND ${_llg_env} CARGO_TARGET_DIR=${_llg_target_dir} ${TRITIUM_CARGO} build --release --locked --quiet
          --manifest-path ${_llg_manifest}
  DEPENDS ${_llg_dir}/Cargo.toml ${_llg_dir}/Cargo.lock ${_llg_dir}/lib.rs
  COMMENT "cargo: building llguidance ${_ver} (release)"
  VERBATIM)
add_custom_target(llguidance_build DEPENDS ${_llg_lib})
add_library(llguidance STATIC IMPORTED GLOBAL)
set_target_properties(llguidance PROPERTIES IMPORTED_LOCATION ${_llg_lib}
                      INTERFACE_INCLUDE_DIRECTORIES ${_llg_src}
                      INTERFACE_LINK_LIBRARIES "Threads::Threads;${CMAKE_DL_LIBS};m;rt")
add_dependencies(llguidance llguidance_build)
