/* cli/main.c — placeholder until the CLI lands. */
#include <stdio.h>
int main(void) { fprintf(stderr, "gemma4c: not built yet\n"); return 1; }
