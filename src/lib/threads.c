#include "threads.h"

#include <pthread.h>

void ct_run_threads(void *(*fn)(void *), void *arg, int threads, size_t work)
{
	if (threads > CT_MAX_THREADS)
		threads = CT_MAX_THREADS;
	if (threads < 1 || work == 0)
		threads = 1;
	if ((size_t)threads > work && work > 0)
		threads = (int)work;
	pthread_t tid[CT_MAX_THREADS];
	int started = 0;
	for (int i = 1; i < threads; i++) {
		if (pthread_create(&tid[started], NULL, fn, arg) != 0)
			break;
		started++;
	}
	fn(arg);
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
}
