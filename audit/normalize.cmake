# Text normalization (audit/normalize.c) and its fold tables, generated at build time from
# OpenCC's traditional->simplified character dictionary by the host tool audit/gen/t2s_gen.c.
# Defines the static library wg_audit_normalize. The generated files stay in the build tree.

find_program(WG_OPENCC_DICT opencc_dict)
if(NOT WG_OPENCC_DICT)
  message(FATAL_ERROR "opencc_dict not found: install Debian's packages opencc (the tool) and "
                      "libopencc-data (the dictionaries), or set WG_OPENCC_DICT")
endif()
find_file(WG_OPENCC_TSCHARACTERS TSCharacters.ocd2
          PATHS /usr/share/opencc /usr/local/share/opencc NO_DEFAULT_PATH)
if(NOT WG_OPENCC_TSCHARACTERS)
  message(FATAL_ERROR "OpenCC's TSCharacters.ocd2 not found: install Debian's package "
                      "libopencc-data, or set WG_OPENCC_TSCHARACTERS")
endif()

set(wg_t2s_dump ${CMAKE_CURRENT_BINARY_DIR}/TSCharacters.txt)
add_custom_command(
  OUTPUT ${wg_t2s_dump}
  COMMAND ${WG_OPENCC_DICT} -i ${WG_OPENCC_TSCHARACTERS} -o ${wg_t2s_dump} -f ocd2 -t text
  DEPENDS ${WG_OPENCC_TSCHARACTERS}
  COMMENT "Dumping OpenCC's TSCharacters dictionary"
  VERBATIM)

add_executable(wg_audit_t2s_gen ${CMAKE_CURRENT_SOURCE_DIR}/gen/t2s_gen.c)
add_custom_command(
  OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/t2s_table.c ${CMAKE_CURRENT_BINARY_DIR}/t2s_table.h
  COMMAND wg_audit_t2s_gen ${wg_t2s_dump} ${CMAKE_CURRENT_BINARY_DIR}/t2s_table.c
          ${CMAKE_CURRENT_BINARY_DIR}/t2s_table.h
  DEPENDS wg_audit_t2s_gen ${wg_t2s_dump}
  COMMENT "Generating the traditional->simplified fold tables"
  VERBATIM)

add_library(wg_audit_normalize STATIC ${CMAKE_CURRENT_SOURCE_DIR}/normalize.c
                                      ${CMAKE_CURRENT_BINARY_DIR}/t2s_table.c
                                      ${CMAKE_CURRENT_BINARY_DIR}/t2s_table.h)
target_include_directories(wg_audit_normalize PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
