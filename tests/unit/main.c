/* main.c - the CUnit runner for microtask's unit tests.
 *
 *   unit-tests          runs every suite
 *   unit-tests NAME     runs the suite NAME (buf, config, delta, exec, ops,
 *                       source, split, task, wordcount); an unknown name is an error
 *                       (exit 2)
 *
 * Exits 0 when every test passed, 1 when a test failed or CUnit reported an
 * error, 2 on a usage error. */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include "suites.h"

int unit_add_suite(const char *name, const unit_test_t *tests) {
    CU_pSuite suite = CU_add_suite(name, NULL, NULL);
    if (!suite) return -1;
    for (const unit_test_t *t = tests; t->name; t++)
        if (!CU_add_test(suite, t->name, t->fn)) return -1;
    return 0;
}

static int (*const registrars[])(void) = {
    register_buf_suite,   register_config_suite, register_delta_suite,
    register_exec_suite,  register_ops_suite,    register_source_suite,
    register_split_suite,
    register_task_suite,  register_wordcount_suite,
};

static void list_suites(FILE *out) {
    CU_pTestRegistry reg = CU_get_registry();
    fprintf(out, "suites:");
    for (CU_pSuite s = reg ? reg->pSuite : NULL; s; s = s->pNext)
        fprintf(out, " %s", s->pName);
    fprintf(out, "\n");
}

int main(int argc, char **argv) {
    if (argc > 2 || (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
                                   strcmp(argv[1], "--help") == 0))) {
        fprintf(stderr, "usage: %s [SUITE]\n", argv[0]);
        return 2;
    }
    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "cannot initialise CUnit: %s\n", CU_get_error_msg());
        return 1;
    }
    for (size_t k = 0; k < sizeof registrars / sizeof registrars[0]; k++) {
        if (registrars[k]() != 0) {
            fprintf(stderr, "cannot register the tests: %s\n",
                    CU_get_error_msg());
            CU_cleanup_registry();
            return 1;
        }
    }

    CU_pSuite only = NULL;
    if (argc == 2) {
        only = CU_get_suite(argv[1]);
        if (!only) {
            fprintf(stderr, "%s: no suite named \"%s\"\n", argv[0], argv[1]);
            list_suites(stderr);
            CU_cleanup_registry();
            return 2;
        }
    }

    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_ErrorCode rc = only ? CU_basic_run_suite(only) : CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures();
    CU_ErrorCode error = CU_get_error();
    if (rc != CUE_SUCCESS && error == CUE_SUCCESS) error = rc;
    if (error != CUE_SUCCESS)
        fprintf(stderr, "CUnit error: %s\n", CU_get_error_msg());
    CU_cleanup_registry();
    return failures > 0 || error != CUE_SUCCESS ? 1 : 0;
}
