# Embeds connectors/pg/migrations/NNN_name.sql into a C file at build time, so the library never
# reads files at run time. cmake -DDIR=<migrations dir> -DOUT=<file.c> -P embed_migrations.cmake
# File names must be NNN_name.sql (three digits, lowercase name); versions must be unique.
if(NOT DIR OR NOT OUT)
  message(FATAL_ERROR "embed_migrations.cmake: DIR and OUT are required")
endif()

file(GLOB files RELATIVE ${DIR} ${DIR}/*)
list(SORT files)
set(arrays "")
set(table "")
set(count 0)
set(prev 0)
foreach(f IN LISTS files)
  if(NOT f MATCHES "^([0-9][0-9][0-9])_([a-z0-9_]+)\\.sql$")
    message(FATAL_ERROR "${DIR}/${f}: migration files are named NNN_name.sql (lowercase name)")
  endif()
  set(nnn ${CMAKE_MATCH_1})
  set(name ${CMAKE_MATCH_2})
  string(REGEX REPLACE "^0+" "" version "${nnn}")
  if(version STREQUAL "")
    message(FATAL_ERROR "${DIR}/${f}: version 000 is reserved")
  endif()
  if(NOT version GREATER prev)
    message(FATAL_ERROR "${DIR}/${f}: version ${version} is used twice")
  endif()
  set(prev ${version})
  file(READ ${DIR}/${f} hex HEX)
  if(hex STREQUAL "")
    message(FATAL_ERROR "${DIR}/${f}: empty migration")
  endif()
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  # 16 bytes a line (CMake regexes have no {n})
  string(REPEAT "0x[0-9a-f][0-9a-f]," 16 line_re)
  string(REGEX REPLACE "(${line_re})" "\\1\n    " bytes "${bytes}")
  string(APPEND arrays "/* ${f} */\nstatic const unsigned char m${nnn}_sql[] = {\n    ${bytes}0x00};\n\n")
  string(APPEND table "    {${version}, \"${name}\", (const char *)m${nnn}_sql},\n")
  math(EXPR count "${count} + 1")
endforeach()
if(count EQUAL 0)
  message(FATAL_ERROR "${DIR}: no migrations")
endif()

file(WRITE ${OUT}.tmp
"/* Generated from connectors/pg/migrations/ by connectors/pg/gen/embed_migrations.cmake: do not
 * edit. */
#include \"connectors/pg/store.h\"

${arrays}static const wg_pg_migration_t migrations[] = {
${table}};

const wg_pg_migration_t *wg_pg_migrations(size_t *count)
{
    *count = ${count};
    return migrations;
}
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
