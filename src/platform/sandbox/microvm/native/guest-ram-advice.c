// Preloaded into QEMU (LD_PRELOAD) for snapshot restores: QEMU madvise()s all guest RAM with
// MADV_HUGEPAGE, so every fault on a file-backed guest memory reads a 2 MiB block of the snapshot.
// THAW_GUEST_RAM_ADVICE chooses what happens instead:
//   normal  ignore MADV_HUGEPAGE: 4 KiB faults with the kernel's normal readahead
//   random  MADV_RANDOM instead: each fault reads exactly its 4 KiB page (no readahead), which is
//           also what makes the pages QEMU maps exactly the pages the guest touched
// Anything else (or unset) leaves QEMU's own advice alone.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int madvise(void *addr, size_t len, int advice) {
  static int (*real)(void *, size_t, int);
  if (!real) real = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "madvise");
  if (advice == MADV_HUGEPAGE) {
    const char *mode = getenv("THAW_GUEST_RAM_ADVICE");
    if (mode && strcmp(mode, "normal") == 0) return 0;
    if (mode && strcmp(mode, "random") == 0) return real(addr, len, MADV_RANDOM);
  }
  return real(addr, len, advice);
}
