/*
 * Exec storm driver for bench/exec_storm.ts: fork + execve(/bin/true) + waitpid, N times.
 * Usage: exec_storm N [PATH]
 * Prints one line: pid=<own pid> execs=<N> failures=<children that did not exit 0> ns=<wall ns>
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000;
	const char *path = argc > 2 ? argv[2] : "/bin/true";
	char *child_argv[] = { (char *)path, NULL };
	char *child_envp[] = { NULL };
	long failures = 0;
	long long start, end;

	start = now_ns();
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		int status;

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			execve(path, child_argv, child_envp);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0) {
			perror("waitpid");
			return 1;
		}
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failures++;
	}
	end = now_ns();
	printf("pid=%d execs=%ld failures=%ld ns=%lld\n", getpid(), n, failures, end - start);
	return 0;
}
