/* Scenario helper (Falco FilelessExecutionViaMemfdCreate): copy
 * /bin/busybox into an anonymous memfd and execute it from there as
 * `true`. Built static by nanoseg_scenarios.rs. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    int src = open("/bin/busybox", O_RDONLY);
    if (src < 0) { perror("open"); return 1; }
    int mem = memfd_create("payload", MFD_CLOEXEC);
    if (mem < 0) { perror("memfd_create"); return 1; }
    char buf[65536];
    ssize_t n;
    while ((n = read(src, buf, sizeof buf)) > 0) {
        if (write(mem, buf, (size_t)n) != n) { perror("write"); return 1; }
    }
    char *argv[] = {"true", NULL};
    char *envp[] = {NULL};
    syscall(SYS_execveat, mem, "", argv, envp, AT_EMPTY_PATH);
    perror("execveat");
    return 1;
}
