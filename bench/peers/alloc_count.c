// Counts a process's heap allocations, for `bench/peers/run allocs`.
//
//   cc -O2 -shared -fPIC -o alloc_count.so alloc_count.c
//   ALLOC_COUNT_OUT=/tmp/a.txt LD_PRELOAD=./alloc_count.so secure_api ...
//   kill -USR2 <pid>   # writes the counts so far to ALLOC_COUNT_OUT
//
// Every malloc, calloc, realloc (to a new block), aligned_alloc,
// posix_memalign and memalign of every thread is counted with its size;
// operator new and Asio's frame allocator end in these. aligned_alloc is
// counted apart as well: in this program only Asio's recycling allocator
// (awaitable frames and handlers it could not serve from its per-thread
// cache) calls it, so that count is the recycler's misses.
//
// The snapshot is written from the signal handler with write(2) only, as a
// few `name value` lines and then `size count` lines for every size seen
// (`size 65536` counts that size and every larger one), and the same
// `aligned_size size count` lines for aligned_alloc. The difference of two
// snapshots around a wrk run, divided by the requests, is the cost of one
// request. Counting uses relaxed atomics: a few ns per call, the same for
// every server measured.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void* __libc_malloc(size_t);
extern void* __libc_calloc(size_t, size_t);
extern void* __libc_realloc(void*, size_t);
extern void* __libc_memalign(size_t, size_t);
extern void __libc_free(void*);

enum { max_exact = 65536 };

static unsigned long calls, bytes, aligned_calls, frees;
static unsigned long by_size[max_exact + 1];  // the last: every larger size
static unsigned long by_aligned_size[max_exact + 1];

static void count(size_t size, int aligned) {
  __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&bytes, size, __ATOMIC_RELAXED);
  unsigned long* sizes = aligned ? by_aligned_size : by_size;
  if (aligned) __atomic_add_fetch(&aligned_calls, 1, __ATOMIC_RELAXED);
  __atomic_add_fetch(&sizes[size < max_exact ? size : max_exact], 1, __ATOMIC_RELAXED);
}

void* malloc(size_t size) {
  count(size, 0);
  return __libc_malloc(size);
}

void* calloc(size_t n, size_t size) {
  count(n * size, 0);
  return __libc_calloc(n, size);
}

void* realloc(void* p, size_t size) {
  // Growing in place or moving: either way one call that may take a new block.
  if (size != 0) count(size, 0);
  return __libc_realloc(p, size);
}

void* aligned_alloc(size_t align, size_t size) {
  count(size, 1);
  return __libc_memalign(align, size);
}

void* memalign(size_t align, size_t size) {
  count(size, 0);
  return __libc_memalign(align, size);
}

int posix_memalign(void** out, size_t align, size_t size) {
  count(size, 0);
  void* p = __libc_memalign(align, size);
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

void free(void* p) {
  if (p != NULL) __atomic_add_fetch(&frees, 1, __ATOMIC_RELAXED);
  __libc_free(p);
}

// Appends `value` in decimal to buf at n (async-signal-safe, no stdio).
static size_t digits(char* buf, size_t n, unsigned long value) {
  char tmp[24];
  int d = 0;
  do {
    tmp[d++] = (char)('0' + value % 10);
    value /= 10;
  } while (value != 0);
  while (d > 0) buf[n++] = tmp[--d];
  return n;
}

// Writes "name value\n", or "name key value\n" when key is not -1.
static void put(int fd, const char* name, long key, unsigned long value) {
  char buf[80];
  size_t n = strlen(name);
  memcpy(buf, name, n);
  buf[n++] = ' ';
  if (key >= 0) {
    n = digits(buf, n, (unsigned long)key);
    buf[n++] = ' ';
  }
  n = digits(buf, n, value);
  buf[n++] = '\n';
  ssize_t unused = write(fd, buf, n);
  (void)unused;
}

static void snapshot(int sig) {
  (void)sig;
  int saved = errno;
  // Written to PATH.tmp and renamed, so that a reader never sees half of it.
  const char* path = getenv("ALLOC_COUNT_OUT");
  if (path == NULL) path = "alloc_count.txt";
  char tmp[4096];
  size_t len = strlen(path);
  if (len + 5 > sizeof tmp) return;
  memcpy(tmp, path, len);
  memcpy(tmp + len, ".tmp", 5);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    put(fd, "calls", -1, __atomic_load_n(&calls, __ATOMIC_RELAXED));
    put(fd, "bytes", -1, __atomic_load_n(&bytes, __ATOMIC_RELAXED));
    put(fd, "aligned", -1, __atomic_load_n(&aligned_calls, __ATOMIC_RELAXED));
    put(fd, "frees", -1, __atomic_load_n(&frees, __ATOMIC_RELAXED));
    for (long s = 0; s <= max_exact; ++s) {
      unsigned long c = __atomic_load_n(&by_size[s], __ATOMIC_RELAXED);
      if (c != 0) put(fd, "size", s, c);  // size 65536: that size or more
      c = __atomic_load_n(&by_aligned_size[s], __ATOMIC_RELAXED);
      if (c != 0) put(fd, "aligned_size", s, c);
    }
    close(fd);
    rename(tmp, path);
  }
  errno = saved;
}

__attribute__((constructor)) static void install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = snapshot;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR2, &sa, NULL);
}
