# Turns one .spv file into a C++ byte array definition (used by EmbedShaders.cmake).
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" len)
math(EXPR rem "${len} % 8")
if(len EQUAL 0 OR NOT rem EQUAL 0)
  message(FATAL_ERROR "${IN} is not a whole number of SPIR-V words")
endif()
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "alignas(4) const unsigned char ${SYMBOL}[] = {${bytes}};\n")
