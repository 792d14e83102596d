// unibit-sim's Verilator harness for the whole-network engine (NetEngine, top module `top`,
// yosys's SB_SPRAM256KA model linked in): drives its host memory port and start/stop_after
// from commands on stdin (protocol in net_verilator.rs), -DUNIBIT_TRACE for VCD support.
#include "Vtop.h"
#include "verilated.h"
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#ifdef UNIBIT_TRACE
#include "verilated_vcd_c.h"
#endif
static std::unique_ptr<Vtop> top;
static uint64_t ticks = 0;
#ifdef UNIBIT_TRACE
static VerilatedVcdC* tfp = nullptr;
#endif

static void step() {
  top->clock = 0; top->eval();
#ifdef UNIBIT_TRACE
  if (tfp) tfp->dump(2 * ticks);
#endif
  top->clock = 1; top->eval();
#ifdef UNIBIT_TRACE
  if (tfp) tfp->dump(2 * ticks + 1);
#endif
  ++ticks;
}

static void idle(unsigned stop_after) {
  top->start = 0; top->stop_after = stop_after; top->host_en = 0; top->host_we = 0;
}

int main(int argc, char** argv) {
  Verilated::commandArgs(argc, argv);
  top.reset(new Vtop);
#ifdef UNIBIT_TRACE
  Verilated::traceEverOn(true);
#endif
  idle(0xffff);
  top->clock = 0; top->eval();
  char cmd[2];
  while (scanf("%1s", cmd) == 1) {
    switch (cmd[0]) {
    case 'W': {  // W base n w0 … w(n-1): n words (hex) through the host port, all bytes enabled
      unsigned long base, n;
      if (scanf("%lu %lu", &base, &n) != 2) return 2;
      for (unsigned long i = 0; i < n; ++i) {
        uint64_t w;
        if (scanf("%" SCNx64, &w) != 1) return 2;
        top->host_addr = base + i; top->host_wdata = w; top->host_be = 0xff;
        top->host_en = 1; top->host_we = 1; step();
      }
      top->host_en = 0; top->host_we = 0;
      break; }
    case 'R': {  // R base n → one line of n hex words (each read is one clock: SPRAM latency 1)
      unsigned long base, n;
      if (scanf("%lu %lu", &base, &n) != 2) return 2;
      top->host_we = 0;
      for (unsigned long i = 0; i < n; ++i) {
        top->host_addr = base + i; top->host_en = 1; step();
        printf(i ? " %" PRIx64 : "%" PRIx64, (uint64_t)top->host_rdata);
      }
      top->host_en = 0;
      printf("\n"); fflush(stdout);
      break; }
    case 'S': {  // S stop_after max: start, clock until done (at most max clocks)
      unsigned long stop, max;
      if (scanf("%lu %lu", &stop, &max) != 2) return 2;
      idle(stop); top->start = 1; step(); top->start = 0;
      unsigned long n = 1;
      while (!top->done && n < max) { step(); ++n; }
      if (top->done)
        printf("D %" PRIu64 " %d %lu\n", (uint64_t)top->cycles, (int)top->fault, n);
      else
        printf("T %" PRIu64 "\n", (uint64_t)top->cycles);
      fflush(stdout);
      break; }
    case 'V': {  // V path | V - : start / stop a VCD trace
      char path[4096];
      if (scanf("%4095s", path) != 1) return 2;
#ifdef UNIBIT_TRACE
      if (tfp) { tfp->close(); delete tfp; tfp = nullptr; }
      if (std::string(path) != "-") { tfp = new VerilatedVcdC; top->trace(tfp, 99); tfp->open(path); }
      printf("ok\n");
#else
      printf("error: not a trace build\n");
#endif
      fflush(stdout);
      break; }
    case 'Q':
      printf("ticks %" PRIu64 "\n", ticks); fflush(stdout);
      top->final();
      return 0;
    default:
      return 2;
    }
  }
  top->final();
  return 0;
}
