/* bench/launch.c: runs one command and reports what wait4 says about it, for bench/run.py.
 *
 * Why not straight from Python: on Linux a process's ru_maxrss keeps the high-water mark of the
 * memory image it had before exec, which for a child of the harness is a copy (or, with vfork,
 * the very image) of the Python interpreter, some 20 MiB. Forked from this small program instead,
 * the floor is this program's own image (about 1 MiB), and the figure is the command's own.
 *
 * usage: launch REPORT_FILE TIMEOUT_SECONDS COMMAND [ARGS...]
 * Writes one JSON line to REPORT_FILE: CLOCK_MONOTONIC seconds just before fork and right after
 * the command exited, its exit code or signal, user and system CPU seconds and peak resident
 * memory in KiB. The command gets SIGKILL when TIMEOUT_SECONDS pass. Exit: 0 when the report
 * was written (whatever the command did), 2 on a usage or system error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile pid_t child = -1;

static void on_alarm(int sig) {
    (void)sig;
    if (child > 0) kill(child, SIGKILL);
}

static double monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: launch REPORT_FILE TIMEOUT_SECONDS COMMAND [ARGS...]\n");
        return 2;
    }
    FILE *report = fopen(argv[1], "w");
    if (report == NULL) {
        perror(argv[1]);
        return 2;
    }
    unsigned timeout = (unsigned)strtoul(argv[2], NULL, 10);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_alarm;
    sigaction(SIGALRM, &action, NULL);

    double started = monotonic();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[3], argv + 3);
        perror(argv[3]);
        _exit(127);
    }
    child = pid;
    alarm(timeout > 0 ? timeout : 1);

    /* Wait without reaping, so the alarm can never hit a reused pid; then reap with rusage. */
    siginfo_t info;
    while (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) < 0) {
        if (errno != EINTR) {
            perror("waitid");
            return 2;
        }
    }
    double ended = monotonic();
    alarm(0);
    child = -1;
    int status = 0;
    struct rusage usage;
    while (wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) {
            perror("wait4");
            return 2;
        }
    }
    fprintf(report,
            "{\"started\": %.6f, \"ended\": %.6f, \"exit\": %d, \"signal\": %d, "
            "\"user_s\": %ld.%06ld, \"sys_s\": %ld.%06ld, \"max_rss_kib\": %ld}\n",
            started, ended, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
            WIFSIGNALED(status) ? WTERMSIG(status) : 0, (long)usage.ru_utime.tv_sec,
            (long)usage.ru_utime.tv_usec, (long)usage.ru_stime.tv_sec, (long)usage.ru_stime.tv_usec,
            usage.ru_maxrss);
    return fclose(report) == 0 ? 0 : 2;
}
