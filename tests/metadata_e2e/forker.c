/*
 * A fork-heavy workload for tests/metadata_e2e: forks WORKERS children that never exec; each one
 * creates and removes a file in DIR (raw unlinkat, which the file-deletion policy hooks) every
 * PERIOD_MS milliseconds for SECONDS seconds, then exits 0. The parent waits for all of them.
 *
 *   forker WORKERS SECONDS PERIOD_MS DIR
 *
 * Prints "worker <pid>" per child and "done" at the end.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int work(int index, long seconds, long period_ms, const char *dir)
{
	long long end = now_ms() + seconds * 1000LL;
	struct timespec pause = { period_ms / 1000, (period_ms % 1000) * 1000000L };
	char path[4096];
	long n = 0;

	while (now_ms() < end) {
		int fd;

		snprintf(path, sizeof(path), "%s/forker-%d-%ld", dir, index, n++);
		fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
		if (fd < 0)
			return 1;
		close(fd);
		if (syscall(SYS_unlinkat, AT_FDCWD, path, 0) != 0)
			return 1;
		nanosleep(&pause, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int workers, failed = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: forker WORKERS SECONDS PERIOD_MS DIR\n");
		return 2;
	}
	workers = atoi(argv[1]);
	for (int i = 0; i < workers; i++) {
		pid_t pid = fork();

		if (pid < 0)
			return 1;
		if (pid == 0)
			_exit(work(i, atol(argv[2]), atol(argv[3]), argv[4]));
		printf("worker %d\n", pid);
		fflush(stdout);
	}
	for (int i = 0; i < workers; i++) {
		int status;

		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	}
	printf("done\n");
	return failed ? 1 : 0;
}
