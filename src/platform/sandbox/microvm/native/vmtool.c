// thaw's page-level helper for microVM snapshots: what Node.js cannot do from JavaScript
// (O_DIRECT reads into aligned memory, posix_fadvise, mincore, hole punching, threads doing
// concurrent pread). Built on first use by src/platform/sandbox/microvm/vmtool.ts with the host's cc.
// Every command prints one JSON object on stdout; errors go to stderr with exit status 1.
//
//   vmtool reap-install WS MEM           read the REAP working-set file WS in one O_DIRECT read and
//                                        write its pages into MEM at their offsets (page cache)
//   vmtool prefetch LOADSET MEM THREADS  FaaSnap: pread MEM's loading-set runs, in group order,
//                                        with THREADS threads (populates MEM's page cache)
//   vmtool resident FILE                 bytes of FILE in the page cache (mincore)
//   vmtool drop FILE...                  fdatasync + POSIX_FADV_DONTNEED: evict from the page cache
//   vmtool sparsify FILE                 punch holes where FILE has all-zero 4 KiB pages
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ULL

static void die(const char *what, const char *path) {
  fprintf(stderr, "vmtool: %s %s: %s\n", what, path ? path : "", strerror(errno));
  exit(1);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// ---------------------------------------------------------------- REAP
// Working-set file: one 4 KiB header page {magic "THAWWS01", u32 page size, u32 pad, u64 pages},
// then the page numbers (u64 each) padded to 4 KiB, then the pages themselves, in that order.

static int reap_install(const char *ws_path, const char *mem_path) {
  double t0 = now_ms();
  int fd = open(ws_path, O_RDONLY | O_DIRECT);
  if (fd < 0) {
    // Some filesystems (tmpfs) refuse O_DIRECT: read through the page cache, and say so.
    fd = open(ws_path, O_RDONLY);
    if (fd < 0) die("open", ws_path);
    fprintf(stderr, "vmtool: %s: O_DIRECT refused, reading through the page cache\n", ws_path);
  }
  struct stat st;
  if (fstat(fd, &st) < 0) die("stat", ws_path);
  size_t size = (size_t)st.st_size;
  if (size < PAGE || size % PAGE != 0) { errno = EINVAL; die("not a working-set file (size)", ws_path); }
  void *buf;
  if (posix_memalign(&buf, PAGE, size) != 0) die("posix_memalign", NULL);
  size_t done = 0;
  while (done < size) {  // one read() call; the loop only covers short reads
    ssize_t n = read(fd, (char *)buf + done, size - done);
    if (n < 0) die("read", ws_path);
    if (n == 0) break;
    done += (size_t)n;
  }
  close(fd);
  double t1 = now_ms();
  if (memcmp(buf, "THAWWS01", 8) != 0) { errno = EINVAL; die("bad magic in", ws_path); }
  uint32_t page_size;
  uint64_t pages;
  memcpy(&page_size, (char *)buf + 8, 4);
  memcpy(&pages, (char *)buf + 16, 8);
  size_t index_bytes = ((pages * 8 + PAGE - 1) / PAGE) * PAGE;
  if (page_size != PAGE || PAGE + index_bytes + pages * PAGE != size) { errno = EINVAL; die("inconsistent working-set file", ws_path); }
  const uint64_t *index = (const uint64_t *)((char *)buf + PAGE);
  const char *data = (const char *)buf + PAGE + index_bytes;

  int mem = open(mem_path, O_WRONLY);
  if (mem < 0) die("open", mem_path);
  uint64_t runs = 0;
  for (uint64_t i = 0; i < pages;) {
    uint64_t j = i + 1;
    while (j < pages && index[j] == index[j - 1] + 1) j++;
    size_t len = (size_t)((j - i) * PAGE);
    off_t off = (off_t)(index[i] * PAGE);
    size_t w = 0;
    while (w < len) {
      ssize_t n = pwrite(mem, data + i * PAGE + w, len - w, off + (off_t)w);
      if (n <= 0) die("pwrite", mem_path);
      w += (size_t)n;
    }
    runs++;
    i = j;
  }
  close(mem);
  double t2 = now_ms();
  printf("{\"bytesRead\":%zu,\"pages\":%llu,\"runs\":%llu,\"readMs\":%.3f,\"installMs\":%.3f}\n", done,
         (unsigned long long)pages, (unsigned long long)runs, t1 - t0, t2 - t1);
  free(buf);
  return 0;
}

// ---------------------------------------------------------------- FaaSnap
// Loading-set file: {magic "THAWLS01", u64 runs}, then runs of {u64 first page, u32 pages, u32 group},
// groups in first-touch order, runs sorted by offset within each group.

struct run { uint64_t page; uint32_t pages; uint32_t group; };
static struct run *g_runs;
static uint64_t g_nruns;
static uint64_t g_next;
static int g_mem;
static uint64_t g_bytes[64];

static void *prefetch_worker(void *arg) {
  int me = (int)(intptr_t)arg;
  char *buf = NULL;
  size_t cap = 0;
  for (;;) {
    uint64_t i = __atomic_fetch_add(&g_next, 1, __ATOMIC_RELAXED);
    if (i >= g_nruns) break;
    size_t len = (size_t)g_runs[i].pages * PAGE;
    if (len > cap) { free(buf); buf = malloc(len); cap = len; if (!buf) die("malloc", NULL); }
    ssize_t n = pread(g_mem, buf, len, (off_t)(g_runs[i].page * PAGE));
    if (n > 0) g_bytes[me] += (uint64_t)n;
  }
  free(buf);
  return NULL;
}

static int prefetch(const char *ls_path, const char *mem_path, int threads) {
  double t0 = now_ms();
  FILE *f = fopen(ls_path, "rb");
  if (!f) die("open", ls_path);
  char magic[8];
  if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "THAWLS01", 8) != 0) { errno = EINVAL; die("not a loading-set file", ls_path); }
  if (fread(&g_nruns, 8, 1, f) != 1) { errno = EINVAL; die("truncated loading-set file", ls_path); }
  g_runs = calloc(g_nruns ? g_nruns : 1, sizeof *g_runs);
  for (uint64_t i = 0; i < g_nruns; i++) {
    if (fread(&g_runs[i].page, 8, 1, f) != 1 || fread(&g_runs[i].pages, 4, 1, f) != 1 || fread(&g_runs[i].group, 4, 1, f) != 1) {
      errno = EINVAL;
      die("truncated loading-set file", ls_path);
    }
  }
  fclose(f);
  g_mem = open(mem_path, O_RDONLY);
  if (g_mem < 0) die("open", mem_path);
  // Read exactly the runs asked for: no readahead around them.
  posix_fadvise(g_mem, 0, 0, POSIX_FADV_RANDOM);
  if (threads < 1) threads = 1;
  if (threads > 64) threads = 64;
  pthread_t tid[64];
  for (int t = 0; t < threads; t++) pthread_create(&tid[t], NULL, prefetch_worker, (void *)(intptr_t)t);
  uint64_t bytes = 0;
  for (int t = 0; t < threads; t++) { pthread_join(tid[t], NULL); bytes += g_bytes[t]; }
  close(g_mem);
  printf("{\"bytesRead\":%llu,\"runs\":%llu,\"threads\":%d,\"prefetchMs\":%.3f}\n", (unsigned long long)bytes,
         (unsigned long long)g_nruns, threads, now_ms() - t0);
  return 0;
}

// ---------------------------------------------------------------- page cache and holes

static int resident(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) die("open", path);
  struct stat st;
  if (fstat(fd, &st) < 0) die("stat", path);
  uint64_t pages = ((uint64_t)st.st_size + PAGE - 1) / PAGE, in_cache = 0;
  if (st.st_size > 0) {
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) die("mmap", path);
    unsigned char *vec = malloc(pages);
    if (mincore(map, (size_t)st.st_size, vec) < 0) die("mincore", path);
    for (uint64_t i = 0; i < pages; i++) in_cache += vec[i] & 1;
    free(vec);
    munmap(map, (size_t)st.st_size);
  }
  close(fd);
  printf("{\"residentBytes\":%llu,\"sizeBytes\":%lld}\n", (unsigned long long)(in_cache * PAGE), (long long)st.st_size);
  return 0;
}

static int drop(int n, char **paths) {
  for (int i = 0; i < n; i++) {
    int fd = open(paths[i], O_RDONLY);
    if (fd < 0) die("open", paths[i]);
    fdatasync(fd);
    int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    if (rc != 0) { errno = rc; die("posix_fadvise", paths[i]); }
    close(fd);
  }
  printf("{\"dropped\":%d}\n", n);
  return 0;
}

static int sparsify(const char *path) {
  int fd = open(path, O_RDWR);
  if (fd < 0) die("open", path);
  struct stat st;
  if (fstat(fd, &st) < 0) die("stat", path);
  static char chunk[1 << 20];
  static const char zero[PAGE];
  uint64_t punched = 0, data = 0;
  off_t off = 0;
  while (off < st.st_size) {
    off_t d = lseek(fd, off, SEEK_DATA);
    if (d < 0) break;  // only holes from here
    off_t h = lseek(fd, d, SEEK_HOLE);
    if (h < 0) h = st.st_size;
    for (off_t p = d; p < h;) {
      size_t len = (size_t)(h - p) < sizeof chunk ? (size_t)(h - p) : sizeof chunk;
      ssize_t n = pread(fd, chunk, len, p);
      if (n <= 0) die("pread", path);
      for (ssize_t q = 0; q < n; q += PAGE) {
        size_t plen = (size_t)(n - q) < PAGE ? (size_t)(n - q) : PAGE;
        if (plen == PAGE && memcmp(chunk + q, zero, PAGE) == 0) {
          if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, p + q, PAGE) < 0) die("fallocate", path);
          punched += PAGE;
        } else {
          data += plen;
        }
      }
      p += n;
    }
    off = h;
  }
  fsync(fd);
  close(fd);
  printf("{\"punchedBytes\":%llu,\"dataBytes\":%llu}\n", (unsigned long long)punched, (unsigned long long)data);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 4 && strcmp(argv[1], "reap-install") == 0) return reap_install(argv[2], argv[3]);
  if (argc >= 5 && strcmp(argv[1], "prefetch") == 0) return prefetch(argv[2], argv[3], atoi(argv[4]));
  if (argc == 3 && strcmp(argv[1], "resident") == 0) return resident(argv[2]);
  if (argc >= 3 && strcmp(argv[1], "drop") == 0) return drop(argc - 2, argv + 2);
  if (argc == 3 && strcmp(argv[1], "sparsify") == 0) return sparsify(argv[2]);
  fprintf(stderr, "usage: vmtool reap-install WS MEM | prefetch LOADSET MEM THREADS | resident FILE | drop FILE... | sparsify FILE\n");
  return 2;
}
