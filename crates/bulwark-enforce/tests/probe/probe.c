/* A tiny static program run inside test containers to make exactly one
 * syscall of interest and report its errno. Built by tests/support/probe.rs
 * with `cc -static`; not part of the product.
 *
 *   probe execveat PATH            execveat(open(PATH, O_PATH), "", AT_EMPTY_PATH)
 *   probe memfd PATH               copy PATH into a memfd and execute it
 *   probe memfd-path FORM PATH     copy PATH into memfd "probe-FORM" (no flags) and execve it
 *                                  by path: FORM is self (/proc/self/fd/N), thread
 *                                  (/proc/thread-self/fd/N), pid (/proc/PID/fd/N), dev (/dev/fd/N)
 *   probe connect IP PORT          TCP connect
 *   probe sendto IP PORT           one unconnected UDP datagram
 *   probe bind PORT                bind a TCP socket to 0.0.0.0:PORT
 *   probe write PATH               open(PATH, O_WRONLY|O_CREAT) and write a byte
 *   probe read PATH                open(PATH, O_RDONLY) and read a byte
 *   probe sys NAME                 one raw syscall: getpid, uname, unshare (UTS), chroot (/)
 *   probe loop-exec N PATH         fork+exec PATH N times, print how many exec'd
 *   probe bench-exec N PATH        fork+exec+wait PATH N times: "ns N" per round
 *   probe bench-exec-each N DIR    fork+exec+wait DIR/t0 .. DIR/t(N-1) once each
 *   probe bench-connect N IP PORT  N x (socket, connect, close with RST): ns per round
 *   probe bench-sendto N IP PORT   N unconnected 64-byte UDP datagrams: ns per send
 *   probe bench-stream N IP PORT   one TCP connection, N writes of 64 KiB: ns per write
 * Every bench also times each call and prints, on a second line, either
 * "lat T1 T2 ..." (ns; up to 5,000 calls) or "pct P50 P99" (ns; more calls).
 *
 * Prints "ok" or "errno N" and exits 0 on success, 1 on failure. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sched.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int report(int rc) {
	if (rc < 0) {
		printf("errno %d\n", errno);
		return 1;
	}
	printf("ok\n");
	return 0;
}

static struct sockaddr_in addr(const char *ip, const char *port) {
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)atoi(port));
	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static long long now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int run_once(const char *path) {
	char *const args[] = {(char *)path, NULL};
	char *const env[] = {NULL};
	pid_t p = fork();
	if (p == 0) {
		execve(path, args, env);
		_exit(127);
	}
	int st = 0;
	waitpid(p, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int cmp_ll(const void *x, const void *y) {
	long long a = *(const long long *)x, b = *(const long long *)y;
	return (a > b) - (a < b);
}

static int bench(const char *what, int n, char **a, int na) {
	long long *lat = calloc(n > 0 ? n : 1, sizeof *lat);
	int timed = 0;
	if (!lat)
		return report(-1);
	long long t0 = now_ns();
	int failed = 0;
	if (!strcmp(what, "exec")) {
		for (int i = 0; i < n; i++) {
			long long t = now_ns();
			failed += run_once(a[0]) != 0;
			lat[timed++] = now_ns() - t;
		}
	} else if (!strcmp(what, "exec-each")) {
		char path[4096];
		for (int i = 0; i < n; i++) {
			snprintf(path, sizeof path, "%s/t%d", a[0], i);
			long long t = now_ns();
			failed += run_once(path) != 0;
			lat[timed++] = now_ns() - t;
		}
	} else if (!strcmp(what, "connect") && na >= 2) {
		struct sockaddr_in s = addr(a[0], a[1]);
		/* Closed with RST (linger 0): thousands of connects in a row
		 * would otherwise run out of ports held in TIME_WAIT. */
		struct linger l = {1, 0};
		for (int i = 0; i < n; i++) {
			long long t = now_ns();
			int fd = socket(AF_INET, SOCK_STREAM, 0);
			failed += connect(fd, (struct sockaddr *)&s, sizeof s) != 0;
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
			close(fd);
			lat[timed++] = now_ns() - t;
		}
	} else if (!strcmp(what, "sendto") && na >= 2) {
		struct sockaddr_in s = addr(a[0], a[1]);
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		char buf[64] = {0};
		for (int i = 0; i < n; i++) {
			long long t = now_ns();
			failed += sendto(fd, buf, sizeof buf, 0, (struct sockaddr *)&s, sizeof s) != sizeof buf;
			lat[timed++] = now_ns() - t;
		}
	} else if (!strcmp(what, "stream") && na >= 2) {
		struct sockaddr_in s = addr(a[0], a[1]);
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		static char buf[65536];
		if (connect(fd, (struct sockaddr *)&s, sizeof s) != 0)
			return report(-1);
		t0 = now_ns();
		for (int i = 0; i < n; i++) {
			long long t = now_ns();
			ssize_t left = sizeof buf;
			while (left > 0) {
				ssize_t w = write(fd, buf + (sizeof buf - left), left);
				if (w <= 0) {
					failed++;
					break;
				}
				left -= w;
			}
			lat[timed++] = now_ns() - t;
		}
		close(fd);
	} else {
		return 2;
	}
	long long dt = now_ns() - t0;
	printf("ns %lld failed %d\n", dt / (n > 0 ? n : 1), failed);
	if (timed > 5000) {
		/* Too many to print: the percentiles only. */
		qsort(lat, timed, sizeof *lat, cmp_ll);
		printf("pct %lld %lld\n", lat[timed / 2], lat[timed * 99 / 100]);
	} else if (timed) {
		printf("lat");
		for (int i = 0; i < timed; i++)
			printf(" %lld", lat[i]);
		printf("\n");
	}
	free(lat);
	return failed ? 1 : 0;
}

int main(int argc, char **argv) {
	if (argc < 3)
		return 2;
	const char *op = argv[1];
	char *const args[] = {"probe-child", NULL};
	char *const env[] = {NULL};
	if (!strcmp(op, "execveat")) {
		int fd = open(argv[2], O_PATH | O_CLOEXEC);
		if (fd < 0)
			return report(-1);
		return report(syscall(SYS_execveat, fd, "", args, env, AT_EMPTY_PATH));
	}
	if (!strcmp(op, "memfd")) {
		int src = open(argv[2], O_RDONLY);
		int mfd = syscall(SYS_memfd_create, "probe", 0x0010U /* MFD_EXEC */);
		if (mfd < 0)
			mfd = syscall(SYS_memfd_create, "probe", 0);
		if (src < 0 || mfd < 0)
			return report(-1);
		char buf[65536];
		ssize_t n;
		while ((n = read(src, buf, sizeof buf)) > 0)
			if (write(mfd, buf, n) != n)
				return report(-1);
		fchmod(mfd, 0755);
		return report(syscall(SYS_execveat, mfd, "", args, env, AT_EMPTY_PATH));
	}
	if (!strcmp(op, "memfd-path") && argc >= 4) {
		char name[32], path[64];
		snprintf(name, sizeof name, "probe-%s", argv[2]);
		int src = open(argv[3], O_RDONLY);
		int mfd = syscall(SYS_memfd_create, name, 0);
		if (src < 0 || mfd < 0)
			return report(-1);
		char buf[65536];
		ssize_t n;
		while ((n = read(src, buf, sizeof buf)) > 0)
			if (write(mfd, buf, n) != n)
				return report(-1);
		if (!strcmp(argv[2], "self"))
			snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
		else if (!strcmp(argv[2], "thread"))
			snprintf(path, sizeof path, "/proc/thread-self/fd/%d", mfd);
		else if (!strcmp(argv[2], "pid"))
			snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)getpid(), mfd);
		else if (!strcmp(argv[2], "dev"))
			snprintf(path, sizeof path, "/dev/fd/%d", mfd);
		else
			return 2;
		return report(execve(path, args, env));
	}
	if (!strcmp(op, "connect") && argc >= 4) {
		struct sockaddr_in a = addr(argv[2], argv[3]);
		int s = socket(AF_INET, SOCK_STREAM, 0);
		return report(connect(s, (struct sockaddr *)&a, sizeof a));
	}
	if (!strcmp(op, "sendto") && argc >= 4) {
		struct sockaddr_in a = addr(argv[2], argv[3]);
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		return report((int)sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof a));
	}
	if (!strcmp(op, "bind")) {
		struct sockaddr_in a = addr("0.0.0.0", argv[2]);
		int s = socket(AF_INET, SOCK_STREAM, 0);
		return report(bind(s, (struct sockaddr *)&a, sizeof a));
	}
	if (!strcmp(op, "write")) {
		int fd = open(argv[2], O_WRONLY | O_CREAT, 0644);
		if (fd < 0)
			return report(-1);
		return report((int)write(fd, "x", 1));
	}
	if (!strcmp(op, "read")) {
		char c;
		int fd = open(argv[2], O_RDONLY);
		if (fd < 0)
			return report(-1);
		return report((int)read(fd, &c, 1));
	}
	if (!strcmp(op, "sys")) {
		struct utsname u;
		const char *n = argv[2];
		long rc = !strcmp(n, "getpid")	  ? syscall(SYS_getpid)
			  : !strcmp(n, "uname")	  ? syscall(SYS_uname, &u)
			  : !strcmp(n, "unshare") ? syscall(SYS_unshare, CLONE_NEWUTS)
			  : !strcmp(n, "chroot")  ? syscall(SYS_chroot, "/")
						  : -2;
		if (rc == -2)
			return 2;
		return report(rc < 0 ? -1 : 0);
	}
	if (!strcmp(op, "loop-exec") && argc >= 4) {
		int n = atoi(argv[2]), ran = 0, refused = 0;
		for (int i = 0; i < n; i++) {
			pid_t p = fork();
			if (p == 0) {
				execve(argv[3], args, env);
				_exit(errno == EPERM ? 100 : 101);
			}
			int st = 0;
			waitpid(p, &st, 0);
			if (WIFEXITED(st) && WEXITSTATUS(st) == 100)
				refused++;
			else
				ran++;
		}
		printf("ran %d refused %d\n", ran, refused);
		return 0;
	}
	if (!strncmp(op, "bench-", 6) && argc >= 4)
		return bench(op + 6, atoi(argv[2]), argv + 3, argc - 3);
	return 2;
}
