/* x86_avx2.c — placeholder: no overrides yet. */
#include "kernels/kernels.h"
void g4_kernels_avx2(g4_kernels *k) { (void)k; }
