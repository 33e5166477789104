/* t_mtp.h — opening a fixture target and its MTP drafter (tests/data/<name>.gguf and
 * <assistant>-f32.gguf) for test_mtp and test_spec. Include after t.h. */
#ifndef G4_T_MTP_H
#define G4_T_MTP_H
#include <stdio.h>

#include "g4.h"
#include "mtp/mtp.h"
#include "t_model.h"

/* Both or neither (a failure is a recorded check). */
static bool t_open_pair(const char *target, const char *asst, g4_engine **e, g4_drafter **d) {
    *d = NULL;
    if (!(*e = t_open_fixture(target, G4_LOAD_AUTO))) return false;
    char path[512];
    snprintf(path, sizeof path, G4_TEST_DATA "/%s-f32.gguf", asst);
    g4_error err = {0};
    T_CHECKF(g4_drafter_open(path, *e, d, &err) == G4_OK, "%s: %s", path, err.msg);
    if (!*d) {
        g4_engine_free(*e);
        *e = NULL;
        return false;
    }
    return true;
}

#endif
