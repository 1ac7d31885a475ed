/* Progress on stderr: a one-line bar on a terminal, plain lines every few
 * seconds otherwise, nothing with --quiet. Also the interruption flag. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "mpi_shard.h"
#include "util.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

void tool_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int tool_interrupted(void) { return interrupted != 0; }

double tool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t tool_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (uint64_t)ru.ru_maxrss * 1024u; /* Linux reports KiB */
}

void tool_utc_now(char buf[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void tool_progress_init(struct tool_progress *p, int quiet)
{
    memset(p, 0, sizeof *p);
    p->quiet = quiet || tool_mpi_rank() > 0; /* under MPI only rank 0 reports progress */
    p->tty = isatty(fileno(stderr));
}

void tool_progress_end(struct tool_progress *p)
{
    if (p->line_open) {
        fputc('\n', stderr);
        p->line_open = 0;
    }
}

void tool_progress_note(struct tool_progress *p, const char *fmt, ...)
{
    if (p->quiet) return;
    tool_progress_end(p);
    va_list ap;
    va_start(ap, fmt);
    fputs("profs: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Units shown for the known stages of the library. */
static const char *unit_of(const char *stage)
{
    if (strcmp(stage, "save") == 0 || strcmp(stage, "copy") == 0 || strcmp(stage, "check") == 0) return "bytes";
    if (strcmp(stage, "collect") == 0) return "tokens";
    if (strcmp(stage, "eval") == 0) return "prompts";
    if (strcmp(stage, "perplexity") == 0) return "windows";
    if (strcmp(stage, "forward") == 0) return "tokens";
    if (strcmp(stage, "edit") == 0 || strcmp(stage, "apply") == 0) return "tensors";
    if (strcmp(stage, "estimate") == 0) return "layers";
    return "";
}

static void fmt_count(char *buf, size_t len, uint64_t v, int bytes)
{
    if (bytes) {
        if (v >= (1ull << 30)) snprintf(buf, len, "%.2f GiB", (double)v / (1ull << 30));
        else if (v >= (1ull << 20)) snprintf(buf, len, "%.1f MiB", (double)v / (1ull << 20));
        else if (v >= 1024) snprintf(buf, len, "%.1f KiB", (double)v / 1024);
        else snprintf(buf, len, "%llu B", (unsigned long long)v);
    } else snprintf(buf, len, "%llu", (unsigned long long)v);
}

static void fmt_eta(char *buf, size_t len, double s)
{
    if (s < 0 || s > 1e7) { snprintf(buf, len, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

int tool_progress_cb(void *userdata, const char *stage, uint64_t done, uint64_t total)
{
    struct tool_progress *p = userdata;
    if (interrupted) return 1;
    if (!p || p->quiet) return 0;
    double now = tool_now();
    if (strncmp(p->stage, stage, sizeof p->stage - 1) != 0) {
        tool_progress_end(p);
        snprintf(p->stage, sizeof p->stage, "%s", stage);
        p->t_stage = now;
        p->t_last = 0;
    }
    int finished = total > 0 && done >= total;
    double interval = p->tty ? 0.1 : 2.0;
    if (!finished && now - p->t_last < interval && done != 0) return 0;
    if (finished && p->last_done == done && p->last_total == total && p->t_last > 0) return 0;
    p->t_last = now;
    p->last_done = done;
    p->last_total = total;

    const char *unit = unit_of(stage);
    int bytes = strcmp(unit, "bytes") == 0;
    double el = now - p->t_stage;
    char d[32], t[32], rate[64] = "", eta[48] = "";
    fmt_count(d, sizeof d, done, bytes);
    fmt_count(t, sizeof t, total, bytes);
    if (el > 0.05 && done > 0) {
        double r = (double)done / el;
        if (p->tokens_per_unit > 0 && p->unit_stage && strcmp(p->unit_stage, stage) == 0)
            snprintf(rate, sizeof rate, ", %.0f tokens/s", r * p->tokens_per_unit);
        else if (bytes)
            snprintf(rate, sizeof rate, ", %.1f MiB/s", r / (1 << 20));
        else
            snprintf(rate, sizeof rate, ", %.1f %s/s", r, unit[0] ? unit : "units");
        if (total > done) {
            char e[32];
            fmt_eta(e, sizeof e, (double)(total - done) / r);
            snprintf(eta, sizeof eta, ", ETA %s", e);
        }
    }
    if (p->tty) {
        int width = 24, fill = total ? (int)((double)done / (double)total * width) : 0;
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\r\033[K%-8s [%s] %3d%% %s/%s %s%s%s", stage, bar,
                total ? (int)(100.0 * (double)done / (double)total) : 0, d, t, bytes ? "" : unit, rate, eta);
        p->line_open = 1;
        if (finished) tool_progress_end(p);
    } else {
        if (total)
            fprintf(stderr, "profs: %s %s/%s%s%s (%d%%)%s%s\n", stage, d, t, bytes || !unit[0] ? "" : " ", bytes ? "" : unit,
                    (int)(100.0 * (double)done / (double)total), rate, eta);
        else
            fprintf(stderr, "profs: %s %s%s%s%s\n", stage, d, bytes || !unit[0] ? "" : " ", bytes ? "" : unit, rate);
    }
    fflush(stderr);
    return 0;
}
