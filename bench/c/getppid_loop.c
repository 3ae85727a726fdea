/*
 * getppid(2) load generator for bench/syscall_loop.ts and bench/ring_throughput.ts.
 *
 *   getppid_loop count N CPU
 *       N raw getppid syscalls in a tight loop (after 1/10 of N as warm-up); prints
 *       calls=<N> ns=<wall ns> ns_per_call=<x>
 *   getppid_loop timed SECONDS RATE CPU
 *       waits for a line on stdin, then calls getppid for SECONDS; RATE > 0 limits the rate to
 *       RATE calls/s (in bursts of 64 calls); prints calls=<n> ns=<wall ns>
 *
 * CPU >= 0 pins the process to that CPU; -1 leaves it unpinned.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		perror("sched_setaffinity");
}

static int usage(void)
{
	fprintf(stderr, "usage: getppid_loop count N CPU | getppid_loop timed SECONDS RATE CPU\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "count") == 0) {
		long n = atol(argv[2]);
		long long start, end;

		pin(atoi(argv[3]));
		for (long i = 0; i < n / 10; i++)
			syscall(SYS_getppid);
		start = now_ns();
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		end = now_ns();
		printf("calls=%ld ns=%lld ns_per_call=%.2f\n", n, end - start,
		       (double)(end - start) / (double)n);
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "timed") == 0) {
		double seconds = atof(argv[2]);
		double rate = atof(argv[3]);
		long long calls = 0, start, now, deadline;
		char line[64];

		pin(atoi(argv[4]));
		if (!fgets(line, sizeof(line), stdin))
			return 1;
		start = now_ns();
		deadline = start + (long long)(seconds * 1e9);
		for (now = start; now < deadline; now = now_ns()) {
			for (int i = 0; i < 64; i++)
				syscall(SYS_getppid);
			calls += 64;
			if (rate > 0) {
				/* Wait until the schedule allows the next burst. */
				long long due = start + (long long)((double)calls / rate * 1e9);

				while ((now = now_ns()) < due && now < deadline)
					;
			}
		}
		printf("calls=%lld ns=%lld\n", calls, now_ns() - start);
		return 0;
	}
	return usage();
}
