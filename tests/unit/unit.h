/* Shared scaffolding for the check-based unit tests. */
#ifndef KK_TESTS_UNIT_H
#define KK_TESTS_UNIT_H

#include <check.h>
#include <stdlib.h>

#define KK_UNIT_MAIN(suite_fn)                                                                     \
  int main(void) {                                                                                 \
    SRunner *sr = srunner_create(suite_fn());                                                      \
    srunner_run_all(sr, CK_ENV);                                                                   \
    int failed = srunner_ntests_failed(sr);                                                        \
    srunner_free(sr);                                                                              \
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;                                              \
  }

/* A temporary directory removed (rm -rf) when the test ends. */
char *kk_test_tmpdir(void);

#endif
