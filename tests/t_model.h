/* t_model.h — opening a fixture model (tests/data/<name>.gguf) with 2 threads. Include
 * after t.h; a failure is a recorded check and returns NULL. */
#ifndef G4_T_MODEL_H
#define G4_T_MODEL_H
#include <stdio.h>

#include "g4.h"

static g4_engine *t_open_fixture(const char *name, g4_load_mode load) {
    char path[512];
    snprintf(path, sizeof path, G4_TEST_DATA "/%s.gguf", name);
    g4_engine_config cfg = g4_engine_config_default();
    cfg.model_path = path;
    cfg.n_threads = 2;
    cfg.load = load;
    g4_engine *e = NULL;
    g4_error err = {0};
    T_CHECKF(g4_engine_open(&cfg, &e, &err) == G4_OK, "%s: %s", path, err.msg);
    return e;
}

#endif
