/* CShockwave: the C core of Shockwave. Every exported symbol starts with sw_ / SW_. */
#ifndef SHOCKWAVE_H
#define SHOCKWAVE_H

#include "sw_parse.h"
#include "sw_chunked.h"
#include "sw_tables.h"
#include "sw_server.h"
#include "sw_lock.h"

#endif
