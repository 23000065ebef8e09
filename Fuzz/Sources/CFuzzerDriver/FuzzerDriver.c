// Declarations only (include/FuzzerDriver.h); libFuzzer itself comes from `-sanitize=fuzzer`.
#include "FuzzerDriver.h"
