/* Load generator for benches/sensor_overhead.rs, run inside a runc
 * container. Times its own loop and prints "ops=N ns=ELAPSED".
 *
 *   load exec N                 fork + exec /bin/true, N times
 *   load open N PATH            open + close PATH, N times
 *   load connect N              TCP connect to a loopback listener, accept, close; N times
 *   load rate-open RATE SECS PATH   open + close at RATE per second for SECS seconds
 *   load cmd N PROGRAM ARG...   run PROGRAM (fork, exec, wait) N times; each must succeed
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int loop_exec(long n)
{
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, NULL, 0) < 0)
			return -1;
	}
	return 0;
}

static int loop_open(long n, const char *path)
{
	for (long i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			return -1;
		close(fd);
	}
	return 0;
}

static int loop_connect(long n)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1024) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	for (long i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return -1;
		int a = accept(l, NULL, NULL);
		if (a < 0)
			return -1;
		close(a);
		close(c);
	}
	return 0;
}

static int loop_cmd(long n, char **argv)
{
	for (long i = 0; i < n; i++) {
		int status;
		pid_t pid = fork();
		if (pid == 0) {
			execv(argv[0], argv);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) < 0)
			return -1;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "%s: wait status %d\n", argv[0], status);
			return -2;
		}
	}
	return 0;
}

/* Paces opens in 1 ms slots; returns the number done. */
static long rate_open(long rate, long secs, const char *path)
{
	long per_ms = rate / 1000, carry = rate % 1000, done = 0, acc = 0;
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (long ms = 0; ms < secs * 1000; ms++) {
		long batch = per_ms;
		acc += carry;
		if (acc >= 1000) {
			batch++;
			acc -= 1000;
		}
		for (long i = 0; i < batch; i++) {
			int fd = open(path, O_RDONLY);
			if (fd >= 0)
				close(fd);
			done++;
		}
		next.tv_nsec += 1000000;
		if (next.tv_nsec >= 1000000000) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return done;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	long n = atol(argv[2]);
	long long t0 = now_ns();
	long ops = n;
	int rc = 0;
	if (!strcmp(argv[1], "exec"))
		rc = loop_exec(n);
	else if (!strcmp(argv[1], "open") && argc == 4)
		rc = loop_open(n, argv[3]);
	else if (!strcmp(argv[1], "connect"))
		rc = loop_connect(n);
	else if (!strcmp(argv[1], "cmd") && argc >= 4)
		rc = loop_cmd(n, argv + 3);
	else if (!strcmp(argv[1], "rate-open") && argc == 5)
		ops = rate_open(n, atol(argv[3]), argv[4]);
	else
		return 2;
	if (rc == -1)
		perror(argv[1]);
	if (rc < 0)
		return 1;
	printf("ops=%ld ns=%lld\n", ops, now_ns() - t0);
	return 0;
}
