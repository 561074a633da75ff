/*
 * threads.h - running one worker function on several threads.
 */
#ifndef CT_THREADS_H
#define CT_THREADS_H

#include <stddef.h>

/* The most threads any job starts. */
#define CT_MAX_THREADS 256

/* Runs fn(arg) on up to threads threads, this one included, and at most
 * one per unit of work (work 0 counts as one); returns when all are done.
 * The workers share arg and take their units from it themselves. When a
 * thread cannot be started, the ones that were do the work. */
void ct_run_threads(void *(*fn)(void *), void *arg, int threads, size_t work);

#endif
