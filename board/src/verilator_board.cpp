// unibit-board's Verilator virtual board: runs a board top (ports clock, rx, tx, idle) and
// bridges a pseudo-terminal to its UART at UNIBIT_CPB clocks per bit (8N1), so a host opens
// the PTY exactly like a USB serial port. Built by board/src/verilator.rs with
// -DUNIBIT_CPB=<clocks per bit>.
//
// stdout, one line each: "speed <cycles/s>" (a calibration run before serving), then
// "pty <path>"; afterwards, per "c" line on stdin, "cycles <n>": clocks simulated so far.
// End of stdin stops the board.
//
// Time: every clock is simulated while anything is under way. When the top reports `idle`
// (no partial frame, no command, no reply on the wire), no byte is queued for rx and the rx
// line has been high for two byte times, nothing in the design can change until the next
// byte, so the harness waits for the PTY without simulating: simulated time then stands
// still (a real board would idle in those gaps; they are the host's, not the board's).
#include "Vtop.h"
#include "verilated.h"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <termios.h>
#include <unistd.h>
#include <vector>
#ifndef UNIBIT_CPB
#error "build with -DUNIBIT_CPB=<clocks per bit>"
#endif
static const int CPB = UNIBIT_CPB;
static Vtop* top;
static uint64_t cycles = 0;

static void step() {
  top->clock = 0; top->eval();
  top->clock = 1; top->eval();
  ++cycles;
}

int main(int argc, char** argv) {
  Verilated::commandArgs(argc, argv);
  top = new Vtop;
  top->rx = 1; top->clock = 0; top->eval();
  // Calibration: simulation speed of this top, idle line.
  {
    auto t0 = std::chrono::steady_clock::now();
    const uint64_t n = 1000000;
    for (uint64_t i = 0; i < n; ++i) step();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("speed %.0f\n", n / s);
  }
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) || unlockpt(master)) { perror("pty"); return 1; }
  const char* path = ptsname(master);
  // Hold the slave open (raw) so the master never sees a hang-up between host sessions.
  int slave = open(path, O_RDWR | O_NOCTTY);
  if (slave < 0) { perror("pty slave"); return 1; }
  struct termios tio;
  tcgetattr(slave, &tio); cfmakeraw(&tio); tcsetattr(slave, TCSANOW, &tio);
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  printf("pty %s\n", path);
  fflush(stdout);

  std::deque<uint8_t> rxq;        // bytes from the host, to send on rx
  int rx_bit = -1, rx_ctr = 0;    // bit being sent (0 start, 1..8 data, 9 stop), clocks in it
  uint8_t rx_cur = 0;
  uint64_t rx_quiet = 0;          // clocks since the rx line last carried a byte
  int tx_t = -1; unsigned tx_byte = 0;  // UART decoder of tx
  std::vector<uint8_t> out;       // bytes for the host
  uint8_t buf[4096];
  char line[64];
  bool in_open = true;
  for (;;) {
    // Host → board bytes: a non-blocking read every 64 clocks (a byte lasts 10·CPB ≥ 40).
    if ((cycles & 63) == 0) {
      ssize_t n = read(master, buf, sizeof buf);
      for (ssize_t i = 0; i < n; ++i) rxq.push_back(buf[i]);
    }
    if (!out.empty()) {
      ssize_t n = write(master, out.data(), out.size());
      if (n > 0) out.erase(out.begin(), out.begin() + n);
    }
    bool quiet = rxq.empty() && rx_bit < 0 && rx_quiet >= (uint64_t)20 * CPB;
    if (top->idle && quiet && tx_t < 0 && out.empty()) {
      struct pollfd p[2] = {{master, POLLIN, 0}, {0, POLLIN, 0}};
      poll(p, in_open ? 2 : 1, 100);
      if (p[0].revents & POLLIN) {
        ssize_t n = read(master, buf, sizeof buf);
        for (ssize_t i = 0; i < n; ++i) rxq.push_back(buf[i]);
      }
      if (in_open && (p[1].revents & (POLLIN | POLLHUP))) {
        if (!fgets(line, sizeof line, stdin)) break;
        if (line[0] == 'c') { printf("cycles %llu\n", (unsigned long long)cycles); fflush(stdout); }
      }
      continue;
    }
    // Drive rx: 10 bits of CPB clocks per byte.
    if (rx_bit < 0 && !rxq.empty()) { rx_cur = rxq.front(); rxq.pop_front(); rx_bit = 0; rx_ctr = 0; }
    if (rx_bit < 0) { top->rx = 1; ++rx_quiet; }
    else {
      top->rx = rx_bit == 0 ? 0 : rx_bit == 9 ? 1 : (rx_cur >> (rx_bit - 1)) & 1;
      rx_quiet = 0;
      if (++rx_ctr == CPB) { rx_ctr = 0; if (++rx_bit == 10) rx_bit = -1; }
    }
    step();
    // Decode tx, sampling mid-bit.
    int level = top->tx;
    if (tx_t < 0) { if (!level) { tx_t = 0; tx_byte = 0; } }
    else {
      ++tx_t;
      if (tx_t >= CPB + CPB / 2 && (tx_t - CPB / 2) % CPB == 0) {
        int bit = (tx_t - CPB / 2) / CPB;
        if (bit <= 8) tx_byte |= (unsigned)level << (bit - 1);
        else { if (level) out.push_back((uint8_t)tx_byte); tx_t = -1; }
      }
    }
    // Commands from the parent while busy too (rarely checked).
    if ((cycles & 0xFFFF) == 0 && in_open) {
      struct pollfd p = {0, POLLIN, 0};
      if (poll(&p, 1, 0) > 0) {
        if (!fgets(line, sizeof line, stdin)) break;
        if (line[0] == 'c') { printf("cycles %llu\n", (unsigned long long)cycles); fflush(stdout); }
      }
    }
  }
  top->final();
  delete top;
  close(slave);
  close(master);
  return 0;
}
