# Triton kernels on the CPU: TRITON_INTERPRET=1 runs each kernel's logic with numpy against
# float64 references (kernels/tests). Needs triton==3.6.0 in the test venv (make test-deps).
add_test(NAME triton_kernels_interpret
         COMMAND ${CMAKE_COMMAND} -E env TRITON_INTERPRET=1
                 ${TRITIUM_TEST_PYTHON} -m pytest ${CMAKE_SOURCE_DIR}/kernels/tests -q -p no:cacheprovider)
set_tests_properties(triton_kernels_interpret PROPERTIES LABELS unit TIMEOUT 900)
