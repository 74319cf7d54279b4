/* Scenario helper (Falco PtraceAttachedToProcess): start a child that
 * sleeps, PTRACE_ATTACH to it, detach, kill it. Built static by
 * nanoseg_scenarios.rs and bind-mounted into the container. */
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    pid_t child = fork();
    if (child < 0) { perror("fork"); return 1; }
    if (child == 0) { for (;;) pause(); }
    usleep(100000);
    long rc = ptrace(PTRACE_ATTACH, child, 0, 0);
    if (rc == 0) {
        waitpid(child, NULL, 0);
        ptrace(PTRACE_DETACH, child, 0, 0);
    } else {
        perror("ptrace");
    }
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    return rc == 0 ? 0 : 1;
}
