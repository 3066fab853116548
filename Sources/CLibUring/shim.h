/* liburing for CShockwave's io_uring backend (Sources/CShockwave/loop_uring.c includes <liburing.h> itself;
 * this module exists so SwiftPM finds the library through pkg-config, links it, and names the package to
 * install when it is missing). */
#ifndef SW_CLIBURING_SHIM_H
#define SW_CLIBURING_SHIM_H
#include <liburing.h>
#endif
