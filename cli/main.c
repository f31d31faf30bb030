#include "ragc/core.h"
int main(void) { return 0; }
