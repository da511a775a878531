/* Monotonic and wall clocks in nanoseconds; thread names. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "weft/base.h"

static uint64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t weft_clock_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

uint64_t weft_clock_wall_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

void weft_thread_name(const char *name)
{
    char n[16];
    snprintf(n, sizeof(n), "%s", name);
    (void)pthread_setname_np(pthread_self(), n);
}
