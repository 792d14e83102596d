// unibit-sim's Verilator harness: drives the engine's host ports from commands on stdin
// (protocol in verilator.rs). Built with -DUNIBIT_WMEM_BITS=R*C -DUNIBIT_AMEM_BITS=9*C, and
// -DUNIBIT_TRACE for VCD support.
#include "Vtop.h"
#include "verilated.h"
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <string>
#include <memory>
#ifdef UNIBIT_TRACE
#include "verilated_vcd_c.h"
#endif
static std::unique_ptr<Vtop> top;
static uint64_t ticks = 0;
#ifdef UNIBIT_TRACE
static VerilatedVcdC* tfp = nullptr;
#endif
static int hexval(char c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }
static uint64_t parse_u64(const char* h) { uint64_t v = 0; for (; *h > ' '; ++h) v = (v << 4) | hexval(*h); return v; }
static void parse_wide(const char* h, uint32_t* w, int words) {
  for (int i = 0; i < words; ++i) w[i] = 0;
  int n = 0; while (h[n] > ' ') ++n;
  for (int i = 0; i < n; ++i) { int bit = 4 * (n - 1 - i); if (bit / 32 < words) w[bit / 32] |= (uint32_t)hexval(h[i]) << (bit % 32); }
}
// The weight and activation write ports: a plain integer in Verilator's model up to 64 bits,
// a VlWide of 32-bit words above.
#if !defined(UNIBIT_WMEM_BITS) || !defined(UNIBIT_AMEM_BITS)
#error "build with -DUNIBIT_WMEM_BITS=<R*C> -DUNIBIT_AMEM_BITS=<9*C>"
#endif
#if UNIBIT_WMEM_BITS > 64
#define SET_WMEM(hex) parse_wide(hex, top->wmem_wdata.data(), (UNIBIT_WMEM_BITS + 31) / 32)
#else
#define SET_WMEM(hex) (top->wmem_wdata = parse_u64(hex))
#endif
#if UNIBIT_AMEM_BITS > 64
#define SET_AMEM(hex) parse_wide(hex, top->amem_wdata.data(), (UNIBIT_AMEM_BITS + 31) / 32)
#else
#define SET_AMEM(hex) (top->amem_wdata = parse_u64(hex))
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
int main(int argc, char** argv) {
  Verilated::commandArgs(argc, argv);
  top.reset(new Vtop);
#ifdef UNIBIT_TRACE
  Verilated::traceEverOn(true);
#endif
  top->clock = 0; top->eval();
  static char line[1 << 16];
  while (fgets(line, sizeof line, stdin)) {
    char* a = line + 2;
    switch (line[0]) {
    case 'W': { long addr = strtol(a, &a, 10); const char* hex = a + 1;
      top->wmem_we = 1; top->wmem_waddr = addr; SET_WMEM(hex); step(); top->wmem_we = 0; break; }
    case 'A': { long addr = strtol(a, &a, 10); const char* hex = a + 1;
      top->amem_we = 1; top->amem_waddr = addr; SET_AMEM(hex); step(); top->amem_we = 0; break; }
    case 'P': { long addr = strtol(a, &a, 10); const char* hex = a + 1;
      top->pmem_we = 1; top->pmem_waddr = addr; top->pmem_wdata = parse_u64(hex); step(); top->pmem_we = 0; break; }
    case 'R': { unsigned long v[8];
      for (int i = 0; i < 8; ++i) v[i] = strtoul(a, &a, 10);
      top->desc_rows = v[0]; top->desc_chunks = v[1]; top->desc_vectors = v[2]; top->desc_wbase = v[3];
      top->desc_abase = v[4]; top->desc_obase = v[5]; top->desc_pbase = v[6];
      top->start = 1; step(); top->start = 0;
      unsigned long n = 0;
      while (!(top->done && !top->busy) && n < v[7]) { step(); ++n; }
      if (top->done && !top->busy) printf("C %lu\n", (unsigned long)top->cycles); else printf("T\n");
      fflush(stdout); break; }
    case 'O': { long addr = strtol(a, &a, 10); long n = strtol(a, &a, 10);
      for (long i = 0; i < n; ++i) { top->omem_raddr = addr + i; step(); printf("%d\n", (int32_t)top->omem_rdata); }
      fflush(stdout); break; }
    case 'V': {
#ifdef UNIBIT_TRACE
      std::string path(a); while (!path.empty() && path.back() <= ' ') path.pop_back();
      if (tfp) { tfp->close(); delete tfp; tfp = nullptr; }
      if (path != "-") { tfp = new VerilatedVcdC; top->trace(tfp, 99); tfp->open(path.c_str()); }
      printf("ok\n");
#else
      printf("error: not a trace build\n");
#endif
      fflush(stdout); break; }
    case 'Q': printf("ticks %llu\n", (unsigned long long)ticks); fflush(stdout); top->final(); return 0;
    default: break;
    }
  }
  top->final();
  return 0;
}
