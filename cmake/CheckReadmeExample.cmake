# Fails when the README's embedding example differs from examples/minimal.c, which a test
# builds and runs: the README shows only code that is known to work.
#   cmake -DREADME=README.md -DEXAMPLE=examples/minimal.c -P CheckReadmeExample.cmake
file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)
set(marker "<!-- example: examples/minimal.c -->\n```c\n")
string(FIND "${readme}" "${marker}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "README.md has no block after '<!-- example: examples/minimal.c -->'")
endif()
string(LENGTH "${marker}" skip)
math(EXPR from "${at} + ${skip}")
string(SUBSTRING "${readme}" ${from} -1 rest)
string(FIND "${rest}" "```" end)
string(SUBSTRING "${rest}" 0 ${end} block)
if(NOT block STREQUAL example)
  message(FATAL_ERROR "README.md's example differs from examples/minimal.c: copy the file into the README")
endif()
message(STATUS "README example matches examples/minimal.c")
