# Writes a C++ file defining `const char* const NAME` with the text of INPUT (a raw string
# literal split into pieces, so no compiler limit on one literal is reached).
#   cmake -DINPUT=file -DOUTPUT=file.cpp -DNAME=tritium::server::kWebPage -P embed_text.cmake
file(READ "${INPUT}" text)
string(LENGTH "${text}" n)
set(out "// Generated from ${INPUT} by cmake/embed_text.cmake; do not edit.\n")
string(REGEX MATCH "^(.*)::([^:]+)$" _ "${NAME}")
set(ns "${CMAKE_MATCH_1}")
set(var "${CMAKE_MATCH_2}")
string(APPEND out "namespace ${ns} {\nextern const char* const ${var};\nconst char* const ${var} =\n")
set(pos 0)
while(pos LESS n)
  string(SUBSTRING "${text}" ${pos} 4000 piece)
  string(APPEND out "R\"TRITIUM_EMBED(${piece})TRITIUM_EMBED\"\n")
  math(EXPR pos "${pos} + 4000")
endwhile()
string(APPEND out ";\n}\n")
file(WRITE "${OUTPUT}.tmp" "${out}")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
