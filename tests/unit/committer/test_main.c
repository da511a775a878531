/* Unit tests of the peer's validator and committer (weft/committer.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "test_committer.h"

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_der),
        cmocka_unit_test(test_code_names),
        cmocka_unit_test(test_conformance_replay),
        cmocka_unit_test(test_tampered_blocks),
        cmocka_unit_test(test_committer_pipeline),
        cmocka_unit_test(test_deliver_and_pull),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
