/* x86_avx512.c — placeholder: no overrides yet. */
#include "kernels/kernels.h"
void g4_kernels_avx512(g4_kernels *k) { (void)k; }
