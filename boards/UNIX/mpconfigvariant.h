// microformer UNIX: the unix port's standard feature set, plus _uformer (a user C
// module) and the frozen uformer package; see mpconfigvariant.mk.
#define MICROPY_CONFIG_ROM_LEVEL (MICROPY_CONFIG_ROM_LEVEL_EXTRA_FEATURES)

// Path relative to ports/unix (on the include path): this variant lives outside the tree.
#include "variants/mpconfigvariant_common.h"
