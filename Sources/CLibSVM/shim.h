#pragma once
// Debian's libsvm-dev installs the header under libsvm/ and ships no pkg-config file.
#include <libsvm/svm.h>

/// The library's version as a function: Swift 6 refuses to read the mutable global directly.
static inline int clibsvm_version(void) { return libsvm_version; }
