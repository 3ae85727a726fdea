/*
 * File create/unlink churn for bench/policy_churn.ts.
 *
 *   file_churn N DIR CPU
 *       N times: creat DIR/churn-<i % 64> (open O_CREAT|O_WRONLY|O_TRUNC), close it, then remove it
 *       with a raw unlinkat(AT_FDCWD, path, 0) (one deletion syscall per iteration, whatever libc's
 *       unlink() uses), after N/10 iterations of warm-up; prints
 *       iterations=<N> ns=<wall ns> ns_per_iter=<x> unlinks=<N + warm-up>
 *
 * CPU >= 0 pins the process to that CPU; -1 leaves it unpinned.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int churn(const char *dir, long i)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/churn-%ld", dir, i % 64);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd < 0) {
		perror(path);
		return -1;
	}
	close(fd);
	if (syscall(SYS_unlinkat, AT_FDCWD, path, 0) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long n, warm;
	long long start, end;
	int cpu;

	if (argc != 4) {
		fprintf(stderr, "usage: file_churn N DIR CPU\n");
		return 2;
	}
	n = atol(argv[1]);
	cpu = atoi(argv[3]);
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) != 0)
			perror("sched_setaffinity");
	}
	warm = n / 10;
	for (long i = 0; i < warm; i++)
		if (churn(argv[2], i))
			return 1;
	start = now_ns();
	for (long i = 0; i < n; i++)
		if (churn(argv[2], i))
			return 1;
	end = now_ns();
	printf("iterations=%ld ns=%lld ns_per_iter=%.2f unlinks=%ld\n", n, end - start,
	       (double)(end - start) / (double)n, n + warm);
	return 0;
}
