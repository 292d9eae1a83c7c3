// thaw's helper inside a microVM guest (static, no libraries): started as root by the runtime
// agent before it drops privileges, it does the two privileged things a restored clone needs, on
// request, one command per line on stdin, answering "ok" or "err <why>" per line on stdout:
//
//   time MS       set the wall clock to MS milliseconds since the epoch (a restored guest wakes
//                 at its snapshot's time)
//   reseed HEX    credit these random bytes (from the host) to the kernel's entropy pool and
//                 reseed its generator now (every clone of a snapshot starts with the same one)
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static const char *reseed(const char *hex) {
  // rand_pool_info ends in a flexible array (buf): `bytes` is its storage.
  struct {
    struct rand_pool_info info;
    unsigned char bytes[256];
  } req;
  size_t n = 0;
  while (hex[0] && hex[1] && hexval(hex[0]) >= 0 && hexval(hex[1]) >= 0 && n < sizeof req.bytes) {
    req.bytes[n++] = (unsigned char)(hexval(hex[0]) * 16 + hexval(hex[1]));
    hex += 2;
  }
  if (n < 16) return "need at least 16 bytes";
  int fd = open("/dev/random", O_WRONLY);
  if (fd < 0) return "cannot open /dev/random";
  req.info.entropy_count = (int)(n * 8);
  req.info.buf_size = (int)n;
  const char *why = NULL;
  if (ioctl(fd, RNDADDENTROPY, &req.info) < 0) why = "RNDADDENTROPY failed";
  else if (ioctl(fd, RNDRESEEDCRNG) < 0) why = "RNDRESEEDCRNG failed";
  close(fd);
  return why;
}

static const char *set_time(const char *ms_text) {
  char *end;
  long long ms = strtoll(ms_text, &end, 10);
  if (end == ms_text || ms <= 0) return "bad time";
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
  return clock_settime(CLOCK_REALTIME, &ts) < 0 ? "clock_settime failed" : NULL;
}

int main(void) {
  char line[1024];
  setvbuf(stdout, NULL, _IOLBF, 0);
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\r\n")] = 0;
    const char *why = "unknown command";
    if (strncmp(line, "time ", 5) == 0) why = set_time(line + 5);
    else if (strncmp(line, "reseed ", 7) == 0) why = reseed(line + 7);
    if (why) printf("err %s\n", why);
    else printf("ok\n");
  }
  return 0;
}
