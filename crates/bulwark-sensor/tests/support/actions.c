/* Actions the sensor's integration tests run inside containers, where
 * busybox has no applet for them. Built statically by tests/support/mod.rs
 * (gcc -static) and bind-mounted into the container.
 *
 *   actions openat-dirfd DIR NAME   openat() relative to an open directory
 *   actions proc-fd DIR NAME        open("/proc/self/fd/N/NAME")
 *   actions execveat-fd PATH ARG..  execveat(fd, "", AT_EMPTY_PATH)
 *   actions memfd-exec PATH ARG..   copy PATH into a memfd and execute it
 *   actions ptrace-traceme          ptrace(PTRACE_TRACEME)
 *   actions setuid UID              setuid(UID)
 *   actions connect PORT            TCP connect to 127.0.0.1:PORT, report errno
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

extern char **environ;

static int fail(const char *what)
{
	perror(what);
	return 2;
}

static int copy_to_memfd(const char *path)
{
	int src = open(path, O_RDONLY);
	int mfd = memfd_create("payload", 0);
	char buf[65536];
	ssize_t n;
	if (src < 0 || mfd < 0)
		return -1;
	while ((n = read(src, buf, sizeof(buf))) > 0)
		if (write(mfd, buf, n) != n)
			return -1;
	close(src);
	return mfd;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return fail("usage");
	const char *a = argv[1];
	if (!strcmp(a, "openat-dirfd") && argc == 4) {
		int dfd = open(argv[2], O_RDONLY | O_DIRECTORY);
		if (dfd < 0)
			return fail("open dir");
		int fd = openat(dfd, argv[3], O_RDONLY);
		printf("%d\n", fd < 0 ? -errno : 0);
		return 0;
	}
	if (!strcmp(a, "proc-fd") && argc == 4) {
		char p[256];
		int dfd = open(argv[2], O_RDONLY | O_DIRECTORY);
		snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dfd, argv[3]);
		int fd = open(p, O_RDONLY);
		printf("%d\n", fd < 0 ? -errno : 0);
		return 0;
	}
	if (!strcmp(a, "execveat-fd") && argc >= 3) {
		int fd = open(argv[2], O_PATH);
		if (fd < 0)
			return fail("open");
		syscall(SYS_execveat, fd, "", &argv[2], environ, AT_EMPTY_PATH);
		return fail("execveat");
	}
	if (!strcmp(a, "memfd-exec") && argc >= 3) {
		int fd = copy_to_memfd(argv[2]);
		if (fd < 0)
			return fail("memfd");
		syscall(SYS_execveat, fd, "", &argv[2], environ, AT_EMPTY_PATH);
		return fail("fexecve");
	}
	if (!strcmp(a, "ptrace-traceme")) {
		long r = ptrace(PTRACE_TRACEME, 0, 0, 0);
		printf("%ld\n", r);
		return 0;
	}
	if (!strcmp(a, "setuid") && argc == 3) {
		printf("%d\n", setuid(atoi(argv[2])) < 0 ? -errno : 0);
		return 0;
	}
	if (!strcmp(a, "connect") && argc == 3) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
		inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
		printf("%d\n", connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0);
		return 0;
	}
	return fail("unknown action");
}
