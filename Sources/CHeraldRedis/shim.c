// SwiftPM needs a source file in a C target; everything is in include/herald_redis.h.
#include "herald_redis.h"
