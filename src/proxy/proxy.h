// The capture proxy's interface (see write_capture.h for now).
#pragma once

#include "proxy/write_capture.h"
