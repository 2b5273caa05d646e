# cmake -DAR=<ar> -DOUT=<archive> -DIN="<a>;<b>;..." -P MergeArchives.cmake
# One static library out of several (ar's MRI script), so that an installed libtessera.a is one
# file holding the runtime, the compute code, the model readers and the embedded shaders.
set(script "create ${OUT}\n")
foreach(lib ${IN})
  string(APPEND script "addlib ${lib}\n")
endforeach()
string(APPEND script "save\nend\n")
file(REMOVE "${OUT}")
file(WRITE "${OUT}.mri" "${script}")
execute_process(COMMAND "${AR}" -M INPUT_FILE "${OUT}.mri" RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "merging ${IN} into ${OUT} failed: ${err}")
endif()
